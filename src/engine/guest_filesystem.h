// The file tree every PGlite process sees (pglite-host-abi.md §3.2):
//   /pglite/{bin,lib,share,icu}, /home/postgres   the data bundle, read-only
//   /pglite/data                                   the tenant's directory
//   /dev/shm, /tmp                                 in memory, per process
//   /dev/null, /dev/urandom, /dev/blob             devices
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "vfs/filesystem.h"

namespace pgthaw::engine {

// `lower_dirs` (bottom first), when set, make /pglite/data an overlay:
// `data_dir` on top of them. `tmp` may be shared between processes (initdb's pipes); null makes
// one.
Result<std::unique_ptr<vfs::FileSystem>> make_guest_filesystem(
    const EngineOptions& options, const std::string& data_dir,
    const std::vector<std::string>& lower_dirs, std::shared_ptr<vfs::MemDir> tmp);

}  // namespace pgthaw::engine
