// pglite_node_peer: runs pglite_node.mjs (PGlite 0.5.16 in a fresh Node
// process) and reads its one-line JSON into EngineBenchRows.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bench_rows.h"
#include "common/status.h"

namespace pgthaw::bench {

struct PgliteNodeOptions {
  std::string node = "node";  // the Node binary, looked up in PATH
  std::string script;         // bench/engine/pglite_node.mjs
  std::string node_modules;   // holds @electric-sql/pglite; bench/node/node_modules
  // Appended to the script's arguments, e.g. {"--extra-initdb"} (bench_thaw).
  std::vector<std::string> extra_args = {};
};

// Why the peer cannot run here (no node, no script, no node_modules), or
// nullopt.
std::optional<std::string> pglite_node_missing(const PgliteNodeOptions& options);

// Runs `node SCRIPT WORK_DIR --node-modules DIR [EXTRA_ARGS...]`; the
// database goes in WORK_DIR/pglite.
Result<EngineBenchRows> measure_pglite_node(const std::string& work_dir,
                                            const PgliteNodeOptions& options);

}  // namespace pgthaw::bench
