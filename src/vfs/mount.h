// Mount descriptions: which backend serves which virtual prefix.
//
// HostDirMount maps a prefix to a real host directory (the read-only bundle
// pieces, the tenant's data directory); MemDirMount maps it to an in-memory
// tree that several FileSystems may share. FileSystem::create() turns them
// into MountPoints.
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "vfs/host_dir.h"
#include "vfs/mem_dir.h"

namespace pgthaw::vfs {

struct HostDirMount {
  std::string virtual_prefix;  // absolute guest path, e.g. "/pglite/data"
  std::string host_dir;        // existing host directory
  bool read_only = false;      // writes give EROFS, access(W_OK) EACCES
};

struct MemDirMount {
  std::string virtual_prefix;
  std::shared_ptr<MemDir> dir;  // may be shared with other FileSystems
  bool read_only = false;
};

using Mount = std::variant<HostDirMount, MemDirMount>;

// A mount as the FileSystem holds it. Constant after construction.
struct MountPoint {
  std::string prefix;  // normalised
  bool read_only = false;
  std::unique_ptr<HostDir> host;  // exactly one of host and mem is set
  std::shared_ptr<MemDir> mem;
};

}  // namespace pgthaw::vfs
