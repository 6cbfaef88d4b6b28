// Scratch directories that name their owner, so a later process can tell
// which leftovers are provably its own and dead.
//
//   ROOT/PREFIX-TAG-PID-XXXXXX
//     ROOT  /dev/shm when it is a writable directory, else the temp dir
//     TAG   16 hex digits of a hash (FNV-1a 64) of the owner's canonical
//           path (the data directory of `pgthaw serve`)
//     PID   the process that made it
//
// A SIGKILLed server cannot remove its directory (the warm proxy's lives in
// /dev/shm, i.e. RAM). remove_stale_scratch_dirs deletes the directories of
// the same owner (same TAG) whose PID is not a live process, that belong to
// our uid, in both roots. A PID that is alive again (reused) keeps its
// directory: a leak, never a wrong delete. Directories of other data
// directories, other users or the older PREFIX-XXXXXX naming are left alone.
#pragma once

#include <string>

#include "common/status.h"

namespace pgthaw::server {

Result<std::string> make_owned_scratch_dir(const std::string& prefix, const std::string& owner);

// Returns how many directories it removed (failures are logged).
size_t remove_stale_scratch_dirs(const std::string& prefix, const std::string& owner);

// "PREFIX-TAG-": what every directory of this owner's name starts with.
std::string owned_scratch_name_start(const std::string& prefix, const std::string& owner);

}  // namespace pgthaw::server
