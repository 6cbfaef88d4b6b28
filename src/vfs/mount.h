// Mount descriptions: which backend serves which virtual prefix.
//
// HostDirMount maps a prefix to a real host directory (the read-only bundle
// pieces, the tenant's data directory); MemDirMount maps it to an in-memory
// tree that several FileSystems may share; OverlayMount maps it to a
// copy-on-write union of a read-only template directory and the tenant's own
// directory (overlay_dir.h). FileSystem::create() turns them into
// MountPoints.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "vfs/host_dir.h"
#include "vfs/mem_dir.h"
#include "vfs/overlay_dir.h"
#include "vfs/space_quota.h"

namespace pgthaw::vfs {

// A disk quota on a host or overlay mount (an overlay: its upper layer, the
// tenant's own files). Usage is the sum of the regular files' sizes, counted
// by one walk of the directory on the first growth, then kept up to date by
// every write, extension, truncation, unlink, rename over a file and copy-up
// (quota_ops.cc). Growth that would pass the limit fails with ENOSPC for the
// files it may refuse; the others are counted but always allowed.
struct DiskQuota {
  std::string virtual_prefix;         // the mount it applies to
  std::shared_ptr<SpaceQuota> quota;  // null: no quota
  // Which paths below the mount may have their growth refused; null: all.
  // Postgres writes WAL, SLRU and map files inside critical sections, where
  // an error becomes a PANIC, so only relation and temporary files are
  // refused there (host/guest_files.cc).
  std::function<bool(std::string_view rel)> may_refuse;
};

struct HostDirMount {
  std::string virtual_prefix;  // absolute guest path, e.g. "/pglite/data"
  std::string host_dir;        // existing host directory
  bool read_only = false;      // writes give EROFS, access(W_OK) EACCES
};

struct MemDirMount {
  std::string virtual_prefix;
  std::shared_ptr<MemDir> dir;  // may be shared with other FileSystems
  bool read_only = false;
  // save_state() includes every file and directory of `dir` and
  // restore_state() replaces the tree with them: right for a per-instance
  // MemDir such as /dev/shm (Postgres' DSM segments). Clear it for a MemDir
  // shared with other FileSystems, whose contents are the caller's business.
  bool save_contents = true;
};

// Reads come from upper, else from the lower layers; writes copy a lower
// file up first. Lower layers are never written. All must exist; upper gets
// a hidden metadata directory, ".pgthaw-overlay".
struct OverlayMount {
  std::string virtual_prefix;
  // Bottom first: the shared read-only template, then the frozen layers of
  // the forks this tenant descends from (layer_stack.h).
  std::vector<std::string> lower_dirs;
  std::string upper_dir;  // the tenant's own directory
};

using Mount = std::variant<HostDirMount, MemDirMount, OverlayMount>;

// A mount as the FileSystem holds it. Constant after construction but for
// `quota_counted`.
struct MountPoint {
  std::string prefix;  // normalised
  bool read_only = false;
  // Exactly one of host, overlay and mem is set. Overlay mounts resolve to
  // Resolved::Kind::kHost and host-file descriptions like HostDir mounts.
  std::unique_ptr<HostDir> host;
  std::unique_ptr<OverlayDir> overlay;
  std::shared_ptr<MemDir> mem;
  bool save_contents = false;  // mem: see MemDirMount
  // host, overlay: the disk quota; `quota_counted` once the initial walk ran
  // (the only mutable part, changed by the first charge).
  DiskQuota quota;
  bool quota_counted = false;
};

}  // namespace pgthaw::vfs
