// Small host file helpers for the runtime's own files (pool slots, tenant
// directories). Linux; errors name the syscall and path.
#pragma once

#include <string>

#include "common/status.h"

namespace pgthaw::runtime {

// fsync()s the directory DIR, so entries created or renamed in it persist.
Status fsync_dir(const std::string& dir);

// Writes BYTES to PATH through PATH.tmp and a rename; with `durable`, the
// file and its directory are fsync()ed.
Status write_file_atomically(const std::string& path, const std::string& bytes, bool durable);

}  // namespace pgthaw::runtime
