// vfs::HostDir: a real host directory as a mount backend, confined to its
// root.
//
// Every path it is given is a normalised remainder below the mount (no "."
// or ".." components; see path.h). Lookups never follow symlinks: opens use
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) relative to an O_PATH fd of
// the root; if the kernel lacks openat2 (ENOSYS) each component is opened
// with O_NOFOLLOW instead. Other calls resolve the parent directory that way
// and then act on the last component with *at(..., AT_SYMLINK_NOFOLLOW) or
// after checking it is not a symlink. A symlink anywhere in the host tree
// therefore yields ELOOP (ENOTDIR on the fallback path) instead of leaving
// the mount. Linux-only.
//
// A frozen HostDir (a layer nothing writes any more: a template's data
// directory, a fork's frozen layers) keeps the O_PATH fds of the parent
// directories it has resolved, so a lookup below one is a single *at()
// call on that fd with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW: a thaw reopens and
// stats every file a snapshot had open, in each layer of the stack.
//
// Methods return 0 (or a host fd / count) on success and a negative wasm
// errno on failure. Thread-safe: const methods use the root fd and, frozen,
// the parent cache under its own lock.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "vfs/types.h"

namespace pgthaw::vfs {

// Host O_* flags for a guest open: access mode, O_CREAT, O_EXCL, O_TRUNC,
// O_DIRECTORY and (when `durable`) O_DSYNC. O_APPEND and O_NONBLOCK are
// handled by the FileSystem, which writes at its own offsets.
int to_host_open_flags(int wasm_flags, bool durable);

// A host struct stat in vfs terms (uid/gid reported as 0).
Stat to_vfs_stat(const struct stat& st);

class HostDir {
 public:
  enum class Mutability { kWritable, kFrozen };
  // Opens `host_dir` (which must be a directory) as the root. kFrozen
  // promises that no one changes the tree's directories while it is open
  // (files may not be written through it either: the parent cache would
  // outlive a renamed directory).
  static Result<std::unique_ptr<HostDir>> open(const std::string& host_dir,
                                               Mutability mutability = Mutability::kWritable);
  ~HostDir();
  HostDir(const HostDir&) = delete;
  HostDir& operator=(const HostDir&) = delete;

  const std::string& host_dir() const { return host_dir_; }

  // Opens `rel` ("" is the root) with host flags (O_CLOEXEC and O_NOFOLLOW
  // are added). Returns the host fd, which the caller owns.
  int open_file(std::string_view rel, int host_flags, uint32_t mode) const;
  int stat(std::string_view rel, Stat* st) const;  // lstat semantics
  int mkdir(std::string_view rel, uint32_t mode) const;
  int unlink(std::string_view rel, bool is_dir) const;
  int rename(std::string_view old_rel, std::string_view new_rel) const;
  int link(std::string_view old_rel, std::string_view new_rel) const;
  int readlink(std::string_view rel, std::string* target) const;
  int chmod(std::string_view rel, uint32_t mode) const;
  // `times` are guest timespecs (nsec may be UTIME_NOW/UTIME_OMIT), or null
  // for "now".
  int utimens(std::string_view rel, const Timespec* times) const;
  int truncate(std::string_view rel, int64_t length) const;

  // utimens on an open host fd.
  static int futimens(int host_fd, const Timespec* times);

  // The entries of the open host directory `host_fd`, without "." and "..".
  static int list(int host_fd, std::vector<DirEntry>* out);

  // Makes this process use the per-component O_NOFOLLOW walk as if openat2
  // were missing.
  static void disable_openat2_for_test(bool disable);

 private:
  HostDir(std::string host_dir, int root_fd, bool frozen)
      : host_dir_(std::move(host_dir)), root_fd_(root_fd), frozen_(frozen) {}

  // A parent directory fd that may be borrowed (the root) or owned.
  struct DirRef {
    int fd = -1;
    bool owned = false;
    DirRef() = default;
    DirRef(const DirRef&) = delete;
    DirRef& operator=(const DirRef&) = delete;
    ~DirRef();
  };
  int open_beneath(std::string_view rel, int host_flags, uint32_t mode) const;
  int open_parent(std::string_view rel, DirRef* parent, std::string* name) const;
  // Frozen only: the cached O_PATH fd of directory `rel` (opened beneath the
  // root on first use), borrowed; or a negative wasm errno.
  int cached_dir(std::string_view rel) const;

  std::string host_dir_;
  int root_fd_;  // O_PATH | O_DIRECTORY; constant after construction
  const bool frozen_;
  mutable std::mutex cache_mutex_;
  // Frozen: rel -> O_PATH fd, or -ENOENT / -ENOTDIR (wasm) for a missing one.
  mutable std::map<std::string, int, std::less<>> dir_cache_;
};

}  // namespace pgthaw::vfs
