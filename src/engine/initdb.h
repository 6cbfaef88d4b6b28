// initdb, natively: initdb.wasm driving PGlite's postgres as a helper.
//
// initdb.wasm runs `postgres` through system()/popen(); we emulate fork+exec
// the way PGlite's initdb.ts does (pglite-host-abi.md §2.5): each command is a
// fresh pglite.wasm instance (a new "process") whose fd table, kept outside
// linear memory, persists across runs, so its stdin/stdout stay redirected to
// two scratch files initdb writes and reads (/tmp/pgstdin, /tmp/pgstdout).
//
// Runs in a temporary sibling of `data_dir` and renames it into place on
// success, so a crash mid-initdb never leaves a half-made database behind.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace pgthaw::engine {

Status run_initdb(const Engine& engine, const std::string& data_dir);

}  // namespace pgthaw::engine
