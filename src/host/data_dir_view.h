// host::DataDirView: a tenant's data directory as Postgres sees it, read
// from the host: the merged view of an overlay (its upper directory on its
// lower layers, vfs/overlay_dir.h) or a plain directory tree. Only regular
// files and directories are listed; the overlay's metadata never is.
//
// For reading a data directory while no instance writes to it (exporting
// it as an archive). Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "vfs/layered_file.h"
#include "vfs/overlay_dir.h"

namespace pgthaw::host {

class DataDirView {
 public:
  struct Member {
    std::string rel;  // below the data directory
    bool dir = false;
    int64_t size = 0;
    int64_t mtime = 0;  // seconds
  };

  // `data` with `lower` (bottom first; empty: `data` is a plain tree).
  static Result<DataDirView> Open(const std::string& data, const std::vector<std::string>& lower);

  // Appends the members of directory `rel` ("" is the top) to `out`.
  Status List(const std::string& rel, std::vector<Member>* out) const;
  // A reader of regular file `rel`'s bytes (pread; a partial copy-up reads
  // across layers).
  Result<std::shared_ptr<vfs::LayeredFile>> OpenFile(const std::string& rel) const;

 private:
  std::string data_;
  std::unique_ptr<vfs::OverlayDir> overlay_;
};

}  // namespace pgthaw::host
