// Small files written and read whole, one way for every layer (snapshots,
// tenant layer lists, pool slots, credentials, tenant settings). Linux;
// errors name the syscall and path.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace pgthaw {

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

// An empty file at PATH (mode 0600; one already there is kept), its name
// durable with `durable` (its directory is fsync()ed): a marker whose
// existence is what counts.
Status create_marker_file(const std::string& path, bool durable);

// Writes BYTES to the new file PATH (mode 0600, replacing one there) and
// fsync()s it: for a file in a staging directory that is renamed into place
// as a whole (a snapshot).
Status write_file_synced(const std::string& path, std::string_view bytes);

// The whole of the regular file PATH; NotFound if it does not exist.
Result<std::string> read_whole_file(const std::string& path);

}  // namespace pgthaw
