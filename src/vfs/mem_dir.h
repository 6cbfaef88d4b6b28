// vfs::MemDir: an in-memory directory tree (files are byte vectors), mounted
// into one or more FileSystems with MemDirMount.
//
// Used for /dev/shm (Postgres DSM segments), /tmp, and the scratch files that
// initdb.wasm and its helper postgres instance share (/pglite/pgstdin,
// /pglite/pgstdout): two FileSystems holding the same shared_ptr<MemDir> see
// the same nodes.
//
// Threads: not thread-safe. A MemDir shared by several FileSystems must be
// used by one thread at a time (initdb and its helper run in turn on one
// thread).
//
// Lifetime: open file descriptions hold shared_ptr<MemNode>, so an unlinked
// file stays readable until its last descriptor is closed, as in POSIX.
//
// Space: a MemDir may have a SpaceQuota (space_quota.h), shared with other
// MemDirs (an instance's /tmp and /dev/shm have one together). Its files
// charge it for their bytes: growth past it fails with ENOSPC, and a file's
// bytes come back when it is truncated or its last reference goes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "vfs/space_quota.h"
#include "vfs/types.h"

namespace pgthaw::vfs {

// Largest in-memory file; writes past it fail with ENOSPC.
inline constexpr int64_t kMaxMemFileBytes = int64_t{1} << 30;

struct MemNode {
  enum class Type { kFile, kDir, kSymlink };
  MemNode(Type type, uint32_t perms, std::shared_ptr<SpaceQuota> quota = nullptr);
  ~MemNode();  // gives its bytes back to the quota
  MemNode(const MemNode&) = delete;
  MemNode& operator=(const MemNode&) = delete;

  Type type;
  uint32_t perms;  // permission bits only (07777)
  uint64_t ino;
  uint32_t nlink = 1;  // names that refer to this node (files)
  Timespec atime, mtime, ctime;
  // kFile. Its size changes only through resize_data (the quota's count).
  std::vector<uint8_t> data;
  std::map<std::string, std::shared_ptr<MemNode>, std::less<>> children;  // kDir
  std::string target;                                                     // kSymlink

  // The quota this file charges (null: none).
  const std::shared_ptr<SpaceQuota> quota;

  // Resizes `data` (new bytes are zero). 0, or -ENOSPC (wasm) when the size
  // passes kMaxMemFileBytes or the quota; then nothing changed.
  int resize_data(size_t size);

  bool is_dir() const { return type == Type::kDir; }
  void touch_modified();  // mtime = ctime = now
  Stat stat(uint32_t dev) const;
};

Timespec now_timespec();

// st_dev of the files of MemDir `memdir_id`.
inline uint32_t memdir_dev(uint64_t memdir_id) { return static_cast<uint32_t>(0x100 + memdir_id); }

class MemDir {
 public:
  // `quota` (may be null) is charged by the files created in this tree.
  explicit MemDir(std::shared_ptr<SpaceQuota> quota = nullptr);
  MemDir(const MemDir&) = delete;
  MemDir& operator=(const MemDir&) = delete;

  // Unique per process; names this tree in fd-table descriptions (snapshots)
  // and is its st_dev.
  uint64_t id() const { return id_; }
  const std::shared_ptr<MemNode>& root() const { return root_; }
  const std::shared_ptr<SpaceQuota>& quota() const { return quota_; }
  // A new node for this tree: files charge its quota.
  std::shared_ptr<MemNode> new_node(MemNode::Type type, uint32_t perms) const {
    return std::make_shared<MemNode>(type, perms, type == MemNode::Type::kFile ? quota_ : nullptr);
  }

  // `rel` is a path below the root without a leading '/' ("" is the root),
  // normalised, with symlinks already expanded by the caller (except maybe
  // the last component). Returns 0, -ENOENT or -ENOTDIR (wasm).
  int lookup(std::string_view rel, std::shared_ptr<MemNode>* out) const;
  // The directory holding `rel`'s last component, and that component. For
  // rel "" returns -EBUSY (the root has no parent here).
  int lookup_parent(std::string_view rel, std::shared_ptr<MemNode>* dir,
                    std::string_view* name) const;
  // Walks `rel` and stops at the first symlink that path resolution must
  // follow (any component but the last; the last too if `follow_last`).
  // Returns 1 with *consumed = length of rel up to and including that
  // component and *target = its target; 0 if there is none to follow.
  int find_symlink(std::string_view rel, bool follow_last, size_t* consumed,
                   std::string* target) const;

  // Setup helpers for the host (not for guest calls): create a file with
  // `bytes` (and missing parent directories, 0755), or read one.
  Status put_file(std::string_view rel, std::string_view bytes, uint32_t perms = 0644);
  Result<std::string> get_file(std::string_view rel) const;

 private:
  uint64_t id_;
  std::shared_ptr<SpaceQuota> quota_;
  std::shared_ptr<MemNode> root_;
};

}  // namespace pgthaw::vfs
