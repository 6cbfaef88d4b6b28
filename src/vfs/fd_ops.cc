// FileSystem operations on fds: the fd table, I/O on each kind of open file
// (host file, mem file, device, pipe), seek, getdents, fcntl, poll, sync.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "common/env.h"
#include "vfs/filesystem.h"
#include "vfs/path.h"

namespace pgthaw::vfs {

namespace abi = wasm_abi;
namespace err = wasm_errno;

namespace {

constexpr size_t kMaxIoBytes = 0x7ffff000;        // Linux's per-call limit
constexpr size_t kMaxStdioLineBytes = 64 * 1024;  // longer partial lines are flushed

bool is_pipe(const OpenFile& f) {
  return f.kind == FileKind::kPipeRead || f.kind == FileKind::kPipeWrite;
}

// Seekable: regular files and /dev/blob.
bool is_seekable(const OpenFile& f) {
  return f.kind == FileKind::kHostFile || f.kind == FileKind::kMemFile ||
         (f.kind == FileKind::kDevice &&
          (f.device == Device::kBlob || f.device == Device::kConnections));
}

uint8_t dtype_of(const MemNode& n) {
  switch (n.type) {
    case MemNode::Type::kDir:
      return abi::kDT_DIR;
    case MemNode::Type::kSymlink:
      return abi::kDT_LNK;
    case MemNode::Type::kFile:
      return abi::kDT_REG;
  }
  return abi::kDT_UNKNOWN;
}

}  // namespace

// --- the fd table ---------------------------------------------------------------

OpenFile* FileSystem::file(int fd) const {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) return nullptr;
  OpenFile* f = fds_[fd].get();
  // Reopening changes no state a caller can see but the cache, hence the
  // const_cast on this accessor every operation goes through.
  if (f != nullptr && f->deferred && const_cast<FileSystem*>(this)->reopen_deferred(*f) < 0) {
    return nullptr;
  }
  return f;
}

int FileSystem::reopen_saved(std::string_view path, int flags, FileKind kind,
                             std::shared_ptr<OpenFile>* out) {
  // By path, without creating, truncating or excluding.
  flags &= ~(abi::kO_CREAT | abi::kO_EXCL | abi::kO_TRUNC);
  int rc = open_description(abi::kAT_FDCWD, path, flags, 0, out);
  if (rc == 0 && (*out)->kind != kind) return kReopenedOtherKind;
  return rc;
}

int FileSystem::reopen_deferred(OpenFile& f) {
  std::shared_ptr<OpenFile> opened;
  if (int rc = reopen_saved(f.path, f.flags, f.kind, &opened); rc != 0) {
    return rc < 0 ? rc : -err::kENOENT;  // stays deferred: every use fails alike (EBADF)
  }
  f.deferred = false;
  f.mount = opened->mount;
  f.host_fd = std::exchange(opened->host_fd, -1);
  f.lower = opened->lower;
  f.lower_unlinked = opened->lower_unlinked;
  f.layered = std::move(opened->layered);
  return 0;
}

void FileSystem::reopen_all_deferred() {
  for (const std::shared_ptr<OpenFile>& f : fds_) {
    if (f != nullptr && f->deferred) (void)reopen_deferred(*f);
  }
}

int FileSystem::lowest_free_fd(int from) const {
  for (int fd = std::max(from, 0); fd < kMaxFds; ++fd) {
    if (static_cast<size_t>(fd) >= fds_.size() || fds_[fd] == nullptr) return fd;
  }
  return -1;
}

int FileSystem::install(int fd, std::shared_ptr<OpenFile> f) {
  if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(fd + 1);
  if (fds_[fd] == nullptr) ++open_count_;
  fds_[fd] = std::move(f);
  return fd;
}

void FileSystem::release(int fd) {
  std::shared_ptr<OpenFile>& slot = fds_[fd];
  // The last fd of a stdout/stderr description flushes its partial line.
  if (slot.use_count() == 1 && slot->kind == FileKind::kDevice) flush_stdio(slot->device);
  slot.reset();
  --open_count_;
}

int FileSystem::open_fd_count() const { return open_count_; }

int FileSystem::close(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size() || fds_[fd] == nullptr) {
    return -err::kEBADF;  // (a deferred file is closed without being opened)
  }
  release(fd);
  return 0;
}

int FileSystem::dup(int fd) {
  if (file(fd) == nullptr) return -err::kEBADF;
  int nfd = lowest_free_fd(0);
  if (nfd < 0) return -err::kEMFILE;
  return install(nfd, fds_[fd]);
}

int FileSystem::dup3(int oldfd, int newfd, int flags) {
  if (flags & ~abi::kO_CLOEXEC) return -err::kEINVAL;
  if (file(oldfd) == nullptr) return -err::kEBADF;
  if (newfd < 0 || newfd >= kMaxFds) return -err::kEBADF;
  if (oldfd == newfd) return -err::kEINVAL;
  std::shared_ptr<OpenFile> f = fds_[oldfd];
  if (file(newfd) != nullptr) release(newfd);
  return install(newfd, std::move(f));
}

int FileSystem::pipe2(int flags, std::array<int, 2>* fds) {
  if (flags & ~(abi::kO_NONBLOCK | abi::kO_CLOEXEC)) return -err::kEINVAL;
  int rfd = lowest_free_fd(0);
  int wfd = rfd < 0 ? -1 : lowest_free_fd(rfd + 1);
  if (wfd < 0) return -err::kEMFILE;
  auto pipe = std::make_shared<Pipe>();
  int id = next_pipe_id_++;
  auto make_end = [&](FileKind kind, int access) {
    auto f = std::make_shared<OpenFile>();
    f->kind = kind;
    f->flags = access | (flags & abi::kO_NONBLOCK);
    f->path = "pipe:[" + std::to_string(id) + "]";
    f->pipe = pipe;
    f->pipe_id = id;
    return f;
  };
  pipe->readers = 1;
  pipe->writers = 1;
  install(rfd, make_end(FileKind::kPipeRead, abi::kO_RDONLY));
  install(wfd, make_end(FileKind::kPipeWrite, abi::kO_WRONLY));
  (*fds)[0] = rfd;
  (*fds)[1] = wfd;
  return 0;
}

// --- data -------------------------------------------------------------------------

int64_t FileSystem::read_at(OpenFile& f, void* buf, size_t len, int64_t offset) {
  len = std::min(len, kMaxIoBytes);
  switch (f.kind) {
    case FileKind::kHostFile: {
      if (f.layered != nullptr) return f.layered->pread(buf, len, offset);
      ssize_t n;
      do {
        n = env().Pread(f.host_fd, buf, len, offset);
      } while (n < 0 && errno == EINTR);
      return n < 0 ? neg_wasm_errno_from_host() : n;
    }
    case FileKind::kMemFile: {
      const std::vector<uint8_t>& data = f.node->data;
      if (offset >= static_cast<int64_t>(data.size())) return 0;
      size_t n = std::min(len, data.size() - static_cast<size_t>(offset));
      std::memcpy(buf, data.data() + offset, n);
      return static_cast<int64_t>(n);
    }
    case FileKind::kDevice: {  // /dev/blob, /dev/pgthaw-connections
      const std::string& data = f.device == Device::kBlob ? blob_input_ : f.report;
      if (offset >= static_cast<int64_t>(data.size())) return 0;
      size_t n = std::min(len, data.size() - static_cast<size_t>(offset));
      std::memcpy(buf, data.data() + offset, n);
      return static_cast<int64_t>(n);
    }
    default:
      return -err::kESPIPE;
  }
}

int64_t FileSystem::write_at(OpenFile& f, const void* buf, size_t len, int64_t offset) {
  len = std::min(len, kMaxIoBytes);
  switch (f.kind) {
    case FileKind::kHostFile: {
      if (int rc = make_writable(f); rc < 0) return rc;
      const int64_t end = offset + static_cast<int64_t>(len);
      int64_t charged = 0;
      if (int rc = charge_file_growth(f, end, &charged); rc < 0) return rc;
      ssize_t n;
      if (f.layered != nullptr) {
        n = f.layered->pwrite(buf, len, offset);
        // The layered file writes through its own fd: O_DSYNC is kept here.
        if (n > 0 && options_.durable && (f.flags & abi::kO_DSYNC)) {
          if (int rc = f.layered->sync(); rc < 0) n = rc;
        }
      } else {
        do {
          n = env().Pwrite(f.host_fd, buf, len, offset);
        } while (n < 0 && errno == EINTR);
        if (n < 0) n = neg_wasm_errno_from_host();
      }
      int64_t result = n;
      settle_file_growth(f, charged, end, n < 0 ? -1 : offset + n);
      return result;
    }
    case FileKind::kMemFile: {
      if (len == 0) return 0;
      if (offset + static_cast<int64_t>(len) > kMaxMemFileBytes) return -err::kENOSPC;
      size_t end = static_cast<size_t>(offset) + len;
      if (f.node->data.size() < end) {
        if (int rc = f.node->resize_data(end); rc < 0) return rc;
      }
      std::memcpy(f.node->data.data() + offset, buf, len);
      f.node->touch_modified();
      return static_cast<int64_t>(len);
    }
    case FileKind::kDevice:  // /dev/blob: writes append, whatever the offset
      blob_output_.append(static_cast<const char*>(buf), len);
      return static_cast<int64_t>(len);
    default:
      return -err::kESPIPE;
  }
}

int64_t FileSystem::read(int fd, void* buf, size_t len) {
  OpenFile* f = file(fd);
  if (f == nullptr || (f->flags & abi::kO_ACCMODE) == abi::kO_WRONLY) return -err::kEBADF;
  if (f->is_dir()) return -err::kEISDIR;
  switch (f->kind) {
    case FileKind::kPipeRead:
      return f->pipe->read(buf, std::min(len, kMaxIoBytes));
    case FileKind::kPipeWrite:
      return -err::kEBADF;
    case FileKind::kDevice:
      switch (f->device) {
        case Device::kUrandom:
        case Device::kRandom:
          return read_random(buf, std::min(len, kMaxIoBytes));
        case Device::kBlob:
        case Device::kConnections:
          break;  // positional, below
        default:
          return 0;  // null, stdin (EOF), stdout/stderr
      }
      break;
    default:
      break;
  }
  int64_t n = read_at(*f, buf, len, f->offset);
  if (n > 0) f->offset += n;
  return n;
}

int64_t FileSystem::write(int fd, const void* buf, size_t len) {
  OpenFile* f = file(fd);
  if (f == nullptr || (f->flags & abi::kO_ACCMODE) == abi::kO_RDONLY) return -err::kEBADF;
  if (f->is_dir()) return -err::kEISDIR;
  switch (f->kind) {
    case FileKind::kPipeWrite:
      return f->pipe->write(buf, std::min(len, kMaxIoBytes));
    case FileKind::kPipeRead:
      return -err::kEBADF;
    case FileKind::kDevice:
      switch (f->device) {
        case Device::kBlob:
          return write_at(*f, buf, len, 0);
        case Device::kStdout:
        case Device::kStderr:
          return write_stdio(f->device, static_cast<const char*>(buf), len);
        default:
          return static_cast<int64_t>(len);  // null, random: swallowed
      }
    default:
      break;
  }
  int64_t offset = f->offset;
  if (f->flags & abi::kO_APPEND) {
    offset = file_size(*f);
    if (offset < 0) return offset;
  }
  int64_t n = write_at(*f, buf, len, offset);
  if (n >= 0) f->offset = offset + n;
  return n;
}

int64_t FileSystem::pread(int fd, void* buf, size_t len, int64_t offset) {
  OpenFile* f = file(fd);
  if (f == nullptr || (f->flags & abi::kO_ACCMODE) == abi::kO_WRONLY) return -err::kEBADF;
  if (f->is_dir()) return -err::kEISDIR;
  if (!is_seekable(*f)) return -err::kESPIPE;
  if (offset < 0) return -err::kEINVAL;
  return read_at(*f, buf, len, offset);
}

int64_t FileSystem::pwrite(int fd, const void* buf, size_t len, int64_t offset) {
  OpenFile* f = file(fd);
  if (f == nullptr || (f->flags & abi::kO_ACCMODE) == abi::kO_RDONLY) return -err::kEBADF;
  if (!is_seekable(*f)) return -err::kESPIPE;
  if (offset < 0) return -err::kEINVAL;
  // Like Emscripten (and unlike Linux), O_APPEND does not move pwrite.
  return write_at(*f, buf, len, offset);
}

int64_t FileSystem::file_size(const OpenFile& f) const {
  switch (f.kind) {
    case FileKind::kHostFile: {
      struct stat s;
      if (::fstat(f.host_fd, &s) < 0) return neg_wasm_errno_from_host();
      return s.st_size;
    }
    case FileKind::kMemFile:
      return static_cast<int64_t>(f.node->data.size());
    case FileKind::kDevice:
      return static_cast<int64_t>(f.device == Device::kBlob ? blob_input_.size() : f.report.size());
    default:
      return -err::kEINVAL;
  }
}

int64_t FileSystem::seek(int fd, int64_t offset, int whence) {
  OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  if (!is_seekable(*f) && !f->is_dir()) return -err::kESPIPE;
  int64_t base;
  switch (whence) {
    case abi::kSEEK_SET:
      base = 0;
      break;
    case abi::kSEEK_CUR:
      base = f->offset;
      break;
    case abi::kSEEK_END:
      if (f->is_dir()) return -err::kEINVAL;
      base = file_size(*f);
      if (base < 0) return base;
      break;
    default:
      return -err::kEINVAL;
  }
  if ((offset > 0 && base > std::numeric_limits<int64_t>::max() - offset)) return -err::kEOVERFLOW;
  int64_t pos = base + offset;
  if (pos < 0) return -err::kEINVAL;
  if (f->is_dir() && pos == 0) f->listed = false;  // rewinddir re-reads the directory
  f->offset = pos;
  return pos;
}

int FileSystem::ftruncate(int fd, int64_t length) {
  OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  if (length < 0 || (f->flags & abi::kO_ACCMODE) == abi::kO_RDONLY) return -err::kEINVAL;
  switch (f->kind) {
    case FileKind::kHostFile: {
      if (int rc = make_writable(*f); rc < 0) return rc;
      struct stat s;
      if (::fstat(f->host_fd, &s) < 0) return neg_wasm_errno_from_host();
      int64_t charged = 0;
      if (int rc = charge_file_growth(*f, length, &charged); rc < 0) return rc;
      int rc = f->layered != nullptr                     ? f->layered->truncate(length)
               : env().Ftruncate(f->host_fd, length) < 0 ? neg_wasm_errno_from_host()
                                                         : 0;
      if (rc < 0) {
        release_disk(f->mount, charged);
        return rc;
      }
      if (length < s.st_size) release_disk(f->mount, s.st_size - length);
      return 0;
    }
    case FileKind::kMemFile:
      if (length > kMaxMemFileBytes) return -err::kEFBIG;
      if (int rc = f->node->resize_data(static_cast<size_t>(length)); rc < 0) return rc;
      f->node->touch_modified();
      return 0;
    default:
      return -err::kEINVAL;
  }
}

int FileSystem::fallocate(int fd, int mode, int64_t offset, int64_t length) {
  OpenFile* f = file(fd);
  if (f == nullptr || (f->flags & abi::kO_ACCMODE) == abi::kO_RDONLY) return -err::kEBADF;
  if (mode != 0) return -err::kEOPNOTSUPP;
  if (offset < 0 || length <= 0) return -err::kEINVAL;
  if (is_pipe(*f)) return -err::kESPIPE;
  int64_t end = offset + length;
  switch (f->kind) {
    case FileKind::kHostFile: {
      if (int rc = make_writable(*f); rc < 0) return rc;
      int64_t charged = 0;
      if (int rc = charge_file_growth(*f, end, &charged); rc < 0) return rc;
      // Real allocation, so ENOSPC shows up now rather than at write time.
      int rc = 0;
      if (env().Fallocate(f->host_fd, 0, offset, length) != 0) {
        struct stat s;
        if (errno != EOPNOTSUPP || ::fstat(f->host_fd, &s) < 0) {
          rc = neg_wasm_errno_from_host();
        } else if (s.st_size < end && env().Ftruncate(f->host_fd, end) < 0) {
          rc = neg_wasm_errno_from_host();
        }
      }
      if (rc < 0) release_disk(f->mount, charged);
      return rc;
    }
    case FileKind::kMemFile:
      if (end > kMaxMemFileBytes) return -err::kENOSPC;
      if (static_cast<int64_t>(f->node->data.size()) < end) {
        if (int rc = f->node->resize_data(static_cast<size_t>(end)); rc < 0) return rc;
        f->node->touch_modified();
      }
      return 0;
    default:
      return -err::kENODEV;
  }
}

int FileSystem::fadvise(int fd) {
  const OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  return is_pipe(*f) ? -err::kESPIPE : 0;
}

void FileSystem::owe_host_sync(std::string host_path) {
  if (options_.durable) owed_host_syncs_.push_back(std::move(host_path));
}

int FileSystem::pay_owed_host_syncs() const {
  // In the order owed (a file before its directory, a directory before its
  // parent); what is paid is forgotten at once, so a failure leaves only the
  // rest owed.
  while (!owed_host_syncs_.empty()) {
    int fd = env().Open(owed_host_syncs_.front().c_str(), O_RDONLY | O_CLOEXEC);
    // A path removed since needs no sync of its own: its parent's covers it.
    if (fd < 0 && errno != ENOENT) return neg_wasm_errno_from_host();
    if (fd >= 0) {
      const int rc = env().Fsync(fd) < 0 ? neg_wasm_errno_from_host() : 0;
      ::close(fd);
      if (rc < 0) return rc;
    }
    owed_host_syncs_.erase(owed_host_syncs_.begin());
  }
  return 0;
}

int FileSystem::pay_owed_syncs(const OpenFile& f) {
  if (int rc = pay_owed_host_syncs(); rc < 0) return rc;
  if (f.mount < 0 || is_pipe(f)) return 0;
  OverlayDir* overlay = mounts_[f.mount].overlay.get();
  return overlay != nullptr ? overlay->sync_owed() : 0;
}

int FileSystem::fsync(int fd) {
  const OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  if (int rc = pay_owed_syncs(*f); rc < 0) return rc;
  // A partial copy's map is saved even when nothing is synced; its
  // fdatasync covers the size, which is all the metadata a read needs.
  if (f->layered != nullptr && !f->lower) return f->layered->sync();
  if (!options_.durable || f->host_fd < 0) return 0;
  // A lower file has nothing of the tenant's to sync; a lower directory may
  // have gained an upper twin since it was opened (entries created in it).
  if (f->lower) return f->kind == FileKind::kHostDir ? sync_lower_dir(*f) : 0;
  return env().Fsync(f->host_fd) < 0 ? neg_wasm_errno_from_host() : 0;
}

int FileSystem::fdatasync(int fd) {
  const OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  if (int rc = pay_owed_syncs(*f); rc < 0) return rc;
  if (f->layered != nullptr && !f->lower) return f->layered->sync();
  if (!options_.durable || f->host_fd < 0) return 0;
  if (f->lower) return f->kind == FileKind::kHostDir ? sync_lower_dir(*f) : 0;
  return env().Fdatasync(f->host_fd) < 0 ? neg_wasm_errno_from_host() : 0;
}

// --- metadata -----------------------------------------------------------------------

int FileSystem::stat_open_file(const OpenFile& f, Stat* st) const {
  switch (f.kind) {
    case FileKind::kHostFile:
    case FileKind::kHostDir: {
      struct stat s;
      if (::fstat(f.host_fd, &s) < 0) return neg_wasm_errno_from_host();
      *st = to_vfs_stat(s);
      return 0;
    }
    case FileKind::kMemFile:
    case FileKind::kMemDir:
      *st = f.node->stat(memdir_dev(f.memdir_id));
      return 0;
    case FileKind::kVirtualDir:
      *st = virtual_dir_stat(f.path);
      return 0;
    case FileKind::kDevice:
      *st = device_stat(f.device);
      return 0;
    case FileKind::kPipeRead:
    case FileKind::kPipeWrite: {
      Stat s;
      s.dev = 6;
      s.ino = static_cast<uint64_t>(f.pipe_id) + 1;
      s.mode = abi::kS_IFIFO | 0600;
      s.size = static_cast<int64_t>(f.pipe->buffered());
      s.atime = s.mtime = s.ctime = created_at_;
      *st = s;
      return 0;
    }
  }
  return -err::kEBADF;
}

int FileSystem::fstat(int fd, Stat* st) {
  const OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  return stat_open_file(*f, st);
}

int FileSystem::fchmod(int fd, uint32_t mode) {
  OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  switch (f->kind) {
    case FileKind::kHostFile:
    case FileKind::kHostDir:
      if (mounts_[f->mount].read_only) return -err::kEROFS;
      if (int rc = make_writable(*f); rc < 0) return rc;
      return ::fchmod(f->host_fd, mode & 07777) < 0 ? neg_wasm_errno_from_host() : 0;
    case FileKind::kMemFile:
    case FileKind::kMemDir:
      if (mounts_[f->mount].read_only) return -err::kEROFS;
      f->node->perms = mode & 07777;
      f->node->ctime = now_timespec();
      return 0;
    case FileKind::kVirtualDir:
      return -err::kEROFS;
    default:
      return 0;
  }
}

int FileSystem::fchown(int fd) { return file(fd) == nullptr ? -err::kEBADF : 0; }

int FileSystem::fdstat_filetype(int fd) const {
  const OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  switch (f->kind) {
    case FileKind::kDevice:
      return abi::kFiletypeCharacterDevice;
    case FileKind::kHostDir:
    case FileKind::kMemDir:
    case FileKind::kVirtualDir:
      return abi::kFiletypeDirectory;
    default:
      return abi::kFiletypeRegularFile;  // files and pipes, as Emscripten reports
  }
}

int FileSystem::isatty(int fd) const {
  const OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  return f->kind == FileKind::kDevice &&
         (f->device == Device::kStdin || f->device == Device::kStdout ||
          f->device == Device::kStderr);
}

// --- directories ------------------------------------------------------------------------

int FileSystem::fill_listing(OpenFile* f) {
  std::vector<DirEntry> children;
  uint64_t self_ino = 0;
  switch (f->kind) {
    case FileKind::kHostDir: {
      const MountPoint& mp = mounts_[f->mount];
      int rc = mp.overlay != nullptr
                   ? mp.overlay->list(path_remainder(f->path, mp.prefix), &children)
                   : HostDir::list(f->host_fd, &children);
      if (rc < 0) return rc;
      struct stat s;
      if (::fstat(f->host_fd, &s) == 0) self_ino = s.st_ino;
      break;
    }
    case FileKind::kMemDir:
      for (const auto& [name, child] : f->node->children) {
        children.push_back(DirEntry{child->ino, dtype_of(*child), name, 0});
      }
      self_ino = f->node->ino;
      break;
    case FileKind::kVirtualDir:
      self_ino = virtual_dir_stat(f->path).ino;
      break;
    default:
      return -err::kENOTDIR;
  }
  add_mount_children(f->path, &children);
  f->listing.clear();
  f->listing.push_back(DirEntry{self_ino, abi::kDT_DIR, ".", 0});
  f->listing.push_back(DirEntry{self_ino, abi::kDT_DIR, "..", 0});
  for (DirEntry& e : children) f->listing.push_back(std::move(e));
  for (size_t i = 0; i < f->listing.size(); ++i) f->listing[i].index = static_cast<int64_t>(i);
  f->listed = true;
  return 0;
}

int FileSystem::getdents(int fd, size_t max_entries, std::vector<DirEntry>* out) {
  OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  if (!f->is_dir()) return -err::kENOTDIR;
  if (!f->listed) {
    if (int rc = fill_listing(f); rc < 0) return rc;
  }
  out->clear();
  while (out->size() < max_entries && f->offset < static_cast<int64_t>(f->listing.size())) {
    out->push_back(f->listing[f->offset]);
    ++f->offset;
  }
  return 0;
}

// --- fcntl, poll ---------------------------------------------------------------------------

int FileSystem::fcntl(int fd, int cmd, int arg) {
  OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  switch (cmd) {
    case abi::kF_DUPFD:
    case abi::kF_DUPFD_CLOEXEC: {
      if (arg < 0 || arg >= kMaxFds) return -err::kEINVAL;
      int nfd = lowest_free_fd(arg);
      if (nfd < 0) return -err::kEMFILE;
      return install(nfd, fds_[fd]);
    }
    case abi::kF_GETFD:
    case abi::kF_SETFD:
      return 0;
    case abi::kF_GETFL:
      return f->flags;
    case abi::kF_SETFL: {
      constexpr int kMutable = abi::kO_APPEND | abi::kO_NONBLOCK;
      f->flags = (f->flags & ~kMutable) | (arg & kMutable);
      return 0;
    }
    case abi::kF_GETLK:
      return 0;  // always unlocked: the host writes l_type = F_UNLCK
    case abi::kF_SETLK:
    case abi::kF_SETLKW:
      return 0;
    default:
      return -err::kEINVAL;
  }
}

int FileSystem::poll(std::span<PollFd> fds) {
  int ready = 0;
  for (PollFd& p : fds) {
    p.revents = 0;
    if (p.fd < 0) continue;  // ignored, as in POSIX
    const OpenFile* f = file(p.fd);
    if (f == nullptr) {
      p.revents = abi::kPOLLNVAL;
    } else if (f->kind == FileKind::kPipeRead) {
      if (f->pipe->buffered() > 0 || f->pipe->writers == 0) p.revents |= p.events & abi::kPOLLIN;
      if (f->pipe->writers == 0) p.revents |= abi::kPOLLHUP;
    } else if (f->kind == FileKind::kPipeWrite) {
      if (f->pipe->readers == 0) {
        p.revents |= abi::kPOLLERR;
      } else if (f->pipe->has_space()) {
        p.revents |= p.events & abi::kPOLLOUT;
      }
    } else {
      p.revents = p.events & (abi::kPOLLIN | abi::kPOLLOUT);
    }
    if (p.revents != 0) ++ready;
  }
  return ready;
}

// --- devices ----------------------------------------------------------------------------------

void FileSystem::set_blob_input(std::string bytes) { blob_input_ = std::move(bytes); }

std::string FileSystem::take_blob_output() {
  std::string out = std::move(blob_output_);
  blob_output_.clear();
  return out;
}

int64_t FileSystem::write_stdio(Device device, const char* data, size_t len) {
  int stream = device == Device::kStdout ? 1 : 2;
  std::string& line = stdio_line_[stream - 1];
  line.append(data, len);
  size_t start = 0;
  for (size_t nl; (nl = line.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (options_.stdio_sink)
      options_.stdio_sink(stream, std::string_view(line).substr(start, nl - start));
  }
  line.erase(0, start);
  if (line.size() > kMaxStdioLineBytes) flush_stdio(device);
  return static_cast<int64_t>(len);
}

void FileSystem::flush_stdio(Device device) {
  if (device != Device::kStdout && device != Device::kStderr) return;
  int stream = device == Device::kStdout ? 1 : 2;
  std::string& line = stdio_line_[stream - 1];
  if (line.empty()) return;
  if (options_.stdio_sink) options_.stdio_sink(stream, line);
  line.clear();
}

// --- introspection ----------------------------------------------------------------------------

std::vector<OpenFileInfo> FileSystem::describe_open_files() const {
  std::vector<OpenFileInfo> out;
  for (size_t fd = 0; fd < fds_.size(); ++fd) {
    const OpenFile* f = fds_[fd].get();
    if (f == nullptr) continue;
    out.push_back(OpenFileInfo{static_cast<int>(fd), f->kind, f->path, f->flags, f->offset,
                               f->memdir_id, f->pipe_id});
  }
  return out;
}

}  // namespace pgthaw::vfs
