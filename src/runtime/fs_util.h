// Small host file helpers for the runtime's own files (pool slots, tenant
// directories). Linux; errors name the syscall and path.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace pgthaw::runtime {

// fsync()s the directory DIR, so entries created or renamed in it persist.
Status fsync_dir(const std::string& dir);
// fsync()s the file PATH.
Status fsync_file(const std::string& path);

// Writes BYTES to PATH (mode 0600) through PATH.tmp and a rename; with
// `durable`, the file and its directory are fsync()ed. A failure before the
// rename removes PATH.tmp and leaves PATH as it was. `renamed`, if given,
// says whether the new file took PATH's place, even when an error follows
// (the directory's fsync failed: the change may not survive a crash).
Status write_file_atomically(const std::string& path, std::string_view bytes, bool durable,
                             bool* renamed = nullptr);

}  // namespace pgthaw::runtime
