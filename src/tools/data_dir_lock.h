// One `pgthaw serve` per data directory.
//
// lock_data_dir takes an exclusive flock(2) on DATA/pgthaw.lock and keeps it
// until the process ends: the descriptor is never closed, and the kernel
// drops the lock however the process ends (exit, SIGKILL, a crash), so a
// killed server leaves no stale lock behind. The file holds the owner's pid,
// only to name it in the next process's message. Two servers on one data
// directory would each reset the other's pool slots and open the same
// tenant's files with two instances; this is what keeps them apart.
//
// Roles run as separate processes need separate data directories.
#pragma once

#include <string>

#include "common/status.h"

namespace pgthaw::tools {

inline constexpr const char* kDataDirLockFile = "pgthaw.lock";

// Creates DATA if needed. Unavailable, naming DATA and the owner's pid, when
// another process holds the lock; IoError when the file cannot be opened.
Status lock_data_dir(const std::string& data_dir);

}  // namespace pgthaw::tools
