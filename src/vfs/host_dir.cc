// Host-directory mounts confined with openat2 (see host_dir.h).
#include "vfs/host_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "common/env.h"
#include "vfs/wasm_abi.h"
#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {
namespace {

namespace abi = wasm_abi;

// Cleared when the kernel answers ENOSYS (or a test asks).
std::atomic<bool> openat2_usable{true};

int open_with_openat2(int dirfd, const char* path, int flags, uint32_t mode) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = (flags & O_CREAT) ? mode : 0;  // openat2 rejects a mode without O_CREAT
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(syscall(SYS_openat2, dirfd, path, &how, sizeof(how)));
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));  // EAGAIN: a rename raced
  return fd;
}

uint8_t to_wasm_dtype(unsigned char t) {
  switch (t) {
    case DT_DIR:
      return abi::kDT_DIR;
    case DT_REG:
      return abi::kDT_REG;
    case DT_LNK:
      return abi::kDT_LNK;
    case DT_CHR:
      return abi::kDT_CHR;
    default:
      return t;  // DT_FIFO 1, DT_BLK 6, DT_SOCK 12 match musl
  }
}

struct timespec to_host_timespec(const Timespec& t) {
  struct timespec ts = {};
  if (t.nsec == abi::kUTIME_NOW) {
    ts.tv_nsec = UTIME_NOW;
  } else if (t.nsec == abi::kUTIME_OMIT) {
    ts.tv_nsec = UTIME_OMIT;
  } else {
    ts.tv_sec = t.sec;
    ts.tv_nsec = t.nsec;
  }
  return ts;
}

}  // namespace

int to_host_open_flags(int w, bool durable) {
  int f = 0;
  switch (w & abi::kO_ACCMODE) {
    case abi::kO_WRONLY:
      f = O_WRONLY;
      break;
    case abi::kO_RDWR:
      f = O_RDWR;
      break;
    default:
      f = O_RDONLY;
      break;
  }
  if (w & abi::kO_CREAT) f |= O_CREAT;
  if (w & abi::kO_EXCL) f |= O_EXCL;
  if (w & abi::kO_TRUNC) f |= O_TRUNC;
  if (w & abi::kO_DIRECTORY) f |= O_DIRECTORY;
  if (durable && (w & abi::kO_DSYNC)) f |= O_DSYNC;
  return f;
}

Stat to_vfs_stat(const struct stat& s) {
  Stat st;
  st.dev = static_cast<uint32_t>(s.st_dev);
  st.ino = s.st_ino;
  st.mode = s.st_mode;  // S_IF* octal values are the same in musl
  st.nlink = static_cast<uint32_t>(s.st_nlink);
  st.rdev = static_cast<uint32_t>(s.st_rdev);
  st.size = s.st_size;
  st.blksize = 4096;
  st.blocks = s.st_blocks;
  st.atime = {s.st_atim.tv_sec, s.st_atim.tv_nsec};
  st.mtime = {s.st_mtim.tv_sec, s.st_mtim.tv_nsec};
  st.ctime = {s.st_ctim.tv_sec, s.st_ctim.tv_nsec};
  return st;
}

Result<std::unique_ptr<HostDir>> HostDir::open(const std::string& host_dir, Mutability mutability) {
  int fd = env().Open(host_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open mount directory " + host_dir, errno);
  return std::unique_ptr<HostDir>(new HostDir(host_dir, fd, mutability == Mutability::kFrozen));
}

HostDir::~HostDir() {
  for (const auto& [rel, fd] : dir_cache_) {
    if (fd >= 0) ::close(fd);
  }
  ::close(root_fd_);
}

int HostDir::cached_dir(std::string_view rel) const {
  {
    std::lock_guard lock(cache_mutex_);
    if (auto it = dir_cache_.find(rel); it != dir_cache_.end()) return it->second;
  }
  int fd = open_beneath(rel, O_PATH | O_DIRECTORY, 0);
  // A directory a frozen layer lacks stays missing: that answer is kept too
  // (most lookups in a stack miss in every layer but one).
  if (fd < 0 && fd != -wasm_errno::kENOENT && fd != -wasm_errno::kENOTDIR) return fd;
  std::lock_guard lock(cache_mutex_);
  auto [it, inserted] = dir_cache_.emplace(std::string(rel), fd);
  if (!inserted && fd >= 0) ::close(fd);  // another thread resolved it meanwhile
  return it->second;
}

HostDir::DirRef::~DirRef() {
  if (owned) ::close(fd);
}

void HostDir::disable_openat2_for_test(bool disable) { openat2_usable = !disable; }

int HostDir::open_beneath(std::string_view rel, int flags, uint32_t mode) const {
  std::string path = rel.empty() ? std::string(".") : std::string(rel);
  flags |= O_CLOEXEC | O_NOFOLLOW;
  if (openat2_usable) {
    int fd = open_with_openat2(root_fd_, path.c_str(), flags, mode);
    if (fd >= 0) return fd;
    if (errno != ENOSYS) return neg_wasm_errno_from_host();
    openat2_usable = false;
  }
  // Fallback: one component at a time, none of them a symlink. `rel` is
  // normalised, so no component is "." or "..".
  int dir = root_fd_;
  size_t i = 0;
  while (true) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) break;
    std::string comp = path.substr(i, j - i);
    int next = env().OpenAt(dir, comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    if (dir != root_fd_) ::close(dir);
    if (next < 0) return -to_wasm_errno(saved);
    dir = next;
    i = j + 1;
  }
  int fd;
  do {
    fd = env().OpenAt(dir, path.c_str() + i, flags, mode);
  } while (fd < 0 && errno == EINTR);
  int saved = errno;
  if (dir != root_fd_) ::close(dir);
  return fd >= 0 ? fd : -to_wasm_errno(saved);
}

int HostDir::open_parent(std::string_view rel, DirRef* parent, std::string* name) const {
  if (rel.empty()) {
    parent->fd = root_fd_;
    name->assign(1, '.');  // not `= "."`: g++ 12 -O3 reports a bogus -Wrestrict
    return 0;
  }
  size_t slash = rel.rfind('/');
  if (slash == std::string_view::npos) {
    parent->fd = root_fd_;
    *name = std::string(rel);
    return 0;
  }
  if (frozen_) {
    int fd = cached_dir(rel.substr(0, slash));
    if (fd < 0) return fd;
    parent->fd = fd;  // borrowed from the cache
  } else {
    int fd = open_beneath(rel.substr(0, slash), O_PATH | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    parent->fd = fd;
    parent->owned = true;
  }
  *name = std::string(rel.substr(slash + 1));
  return 0;
}

int HostDir::open_file(std::string_view rel, int host_flags, uint32_t mode) const {
  if (!frozen_ || rel.find('/') == std::string_view::npos) {
    return open_beneath(rel, host_flags, mode);
  }
  // The parent was resolved beneath the root once; the last component must
  // not be a symlink either.
  DirRef parent;
  std::string name;
  if (int rc = open_parent(rel, &parent, &name); rc < 0) return rc;
  int fd;
  do {
    fd = env().OpenAt(parent.fd, name.c_str(), host_flags | O_CLOEXEC | O_NOFOLLOW, mode);
  } while (fd < 0 && errno == EINTR);
  return fd >= 0 ? fd : neg_wasm_errno_from_host();
}

int HostDir::stat(std::string_view rel, Stat* st) const {
  DirRef parent;
  std::string name;
  if (int rc = open_parent(rel, &parent, &name); rc < 0) return rc;
  struct stat s;
  if (::fstatat(parent.fd, name.c_str(), &s, AT_SYMLINK_NOFOLLOW) < 0) {
    return neg_wasm_errno_from_host();
  }
  *st = to_vfs_stat(s);
  return 0;
}

int HostDir::mkdir(std::string_view rel, uint32_t mode) const {
  DirRef parent;
  std::string name;
  if (int rc = open_parent(rel, &parent, &name); rc < 0) return rc;
  return env().MkdirAt(parent.fd, name.c_str(), mode) < 0 ? neg_wasm_errno_from_host() : 0;
}

int HostDir::unlink(std::string_view rel, bool is_dir) const {
  DirRef parent;
  std::string name;
  if (int rc = open_parent(rel, &parent, &name); rc < 0) return rc;
  return ::unlinkat(parent.fd, name.c_str(), is_dir ? AT_REMOVEDIR : 0) < 0
             ? neg_wasm_errno_from_host()
             : 0;
}

int HostDir::rename(std::string_view old_rel, std::string_view new_rel) const {
  DirRef p1, p2;
  std::string n1, n2;
  if (int rc = open_parent(old_rel, &p1, &n1); rc < 0) return rc;
  if (int rc = open_parent(new_rel, &p2, &n2); rc < 0) return rc;
  return env().RenameAt(p1.fd, n1.c_str(), p2.fd, n2.c_str()) < 0 ? neg_wasm_errno_from_host() : 0;
}

int HostDir::link(std::string_view old_rel, std::string_view new_rel) const {
  DirRef p1, p2;
  std::string n1, n2;
  if (int rc = open_parent(old_rel, &p1, &n1); rc < 0) return rc;
  if (int rc = open_parent(new_rel, &p2, &n2); rc < 0) return rc;
  return ::linkat(p1.fd, n1.c_str(), p2.fd, n2.c_str(), 0) < 0 ? neg_wasm_errno_from_host() : 0;
}

int HostDir::readlink(std::string_view rel, std::string* target) const {
  DirRef parent;
  std::string name;
  if (int rc = open_parent(rel, &parent, &name); rc < 0) return rc;
  char buf[4096];
  ssize_t n = ::readlinkat(parent.fd, name.c_str(), buf, sizeof(buf));
  if (n < 0) return neg_wasm_errno_from_host();
  target->assign(buf, static_cast<size_t>(n));
  return 0;
}

int HostDir::chmod(std::string_view rel, uint32_t mode) const {
  DirRef parent;
  std::string name;
  if (int rc = open_parent(rel, &parent, &name); rc < 0) return rc;
  // fchmodat cannot refuse to follow a final symlink; check first. Only the
  // host itself could swap in a symlink afterwards (guests cannot create any).
  struct stat s;
  if (::fstatat(parent.fd, name.c_str(), &s, AT_SYMLINK_NOFOLLOW) < 0) {
    return neg_wasm_errno_from_host();
  }
  if (S_ISLNK(s.st_mode)) return -wasm_errno::kELOOP;
  return ::fchmodat(parent.fd, name.c_str(), mode & 07777, 0) < 0 ? neg_wasm_errno_from_host() : 0;
}

int HostDir::utimens(std::string_view rel, const Timespec* times) const {
  DirRef parent;
  std::string name;
  if (int rc = open_parent(rel, &parent, &name); rc < 0) return rc;
  struct timespec ts[2];
  if (times != nullptr) {
    ts[0] = to_host_timespec(times[0]);
    ts[1] = to_host_timespec(times[1]);
  }
  return ::utimensat(parent.fd, name.c_str(), times != nullptr ? ts : nullptr,
                     AT_SYMLINK_NOFOLLOW) < 0
             ? neg_wasm_errno_from_host()
             : 0;
}

int HostDir::futimens(int host_fd, const Timespec* times) {
  struct timespec ts[2];
  if (times != nullptr) {
    ts[0] = to_host_timespec(times[0]);
    ts[1] = to_host_timespec(times[1]);
  }
  return ::futimens(host_fd, times != nullptr ? ts : nullptr) < 0 ? neg_wasm_errno_from_host() : 0;
}

int HostDir::truncate(std::string_view rel, int64_t length) const {
  int fd = open_beneath(rel, O_WRONLY, 0);
  if (fd < 0) return fd;
  int rc = env().Ftruncate(fd, length) < 0 ? neg_wasm_errno_from_host() : 0;
  ::close(fd);
  return rc;
}

int HostDir::list(int host_fd, std::vector<DirEntry>* out) {
  int fd = env().OpenAt(host_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return neg_wasm_errno_from_host();
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    int rc = neg_wasm_errno_from_host();
    ::close(fd);
    return rc;
  }
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    out->push_back(DirEntry{e->d_ino, to_wasm_dtype(e->d_type), std::string(name), 0});
  }
  int rc = errno != 0 ? neg_wasm_errno_from_host() : 0;
  ::closedir(d);
  return rc;
}

}  // namespace pgthaw::vfs
