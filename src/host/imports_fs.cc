// File-system imports: the __syscall_* family and WASI fd_* calls. Each one
// decodes guest pointers and structs and calls the VFS, which owns the
// semantics, the sandbox and errno translation (vfs/).
#include <array>
#include <string>

#include "host/imports.h"
#include "vfs/wasm_errno.h"

using pgthaw::host::Host;
using pgthaw::host::host_of;
using pgthaw::host::kWasmEFAULT;
using pgthaw::host::kWasmEINVAL;
using pgthaw::host::kWasmENOSYS;
using pgthaw::host::kWasmENOTTY;
using pgthaw::host::neg;

namespace {

pgthaw::vfs::FileSystem& fs_of(const void* env) { return host_of(env)->fs(); }

// A guest path argument; nullopt-equivalent empty when unreadable.
std::string path_arg(const void* env, u32 addr) { return std::string(host_of(env)->CString(addr)); }

u32 result(int64_t r) { return static_cast<u32>(static_cast<int32_t>(r)); }

// struct stat, 96 bytes (pglite-host-abi.md §1.4).
u32 store_stat(Host* h, u32 addr, const pgthaw::vfs::Stat& st) {
  uint8_t* p = h->Bytes(addr, 96);
  if (p == nullptr) return neg(kWasmEFAULT);
  std::memset(p, 0, 96);
  h->Store<uint32_t>(addr + 0, static_cast<uint32_t>(st.dev));
  h->Store<uint32_t>(addr + 4, st.mode);
  h->Store<uint32_t>(addr + 8, static_cast<uint32_t>(st.nlink));
  h->Store<uint32_t>(addr + 12, st.uid);
  h->Store<uint32_t>(addr + 16, st.gid);
  h->Store<uint32_t>(addr + 20, static_cast<uint32_t>(st.rdev));
  h->Store<int64_t>(addr + 24, st.size);
  h->Store<int32_t>(addr + 32, st.blksize);
  h->Store<int32_t>(addr + 36, static_cast<int32_t>(st.blocks));
  h->Store<int64_t>(addr + 40, st.atime.sec);
  h->Store<uint32_t>(addr + 48, static_cast<uint32_t>(st.atime.nsec));
  h->Store<int64_t>(addr + 56, st.mtime.sec);
  h->Store<uint32_t>(addr + 64, static_cast<uint32_t>(st.mtime.nsec));
  h->Store<int64_t>(addr + 72, st.ctime.sec);
  h->Store<uint32_t>(addr + 80, static_cast<uint32_t>(st.ctime.nsec));
  h->Store<int64_t>(addr + 88, static_cast<int64_t>(st.ino));
  return 0;
}

// Walks a WASI iovec array; `op(buf, len)` returns bytes moved or -errno.
template <typename Op>
u32 for_each_iovec(Host* h, u32 iov, u32 iovcnt, u32 nbytes_out, Op op) {
  uint64_t total = 0;
  for (u32 i = 0; i < iovcnt; ++i) {
    u32 base = h->Load<uint32_t>(iov + 8 * i);
    u32 len = h->Load<uint32_t>(iov + 8 * i + 4);
    uint8_t* buf = h->Bytes(base, len);
    if (buf == nullptr) return kWasmEFAULT;
    int64_t n = op(buf, len, total);
    if (n < 0) return static_cast<u32>(-n);  // WASI: positive errno
    total += static_cast<uint64_t>(n);
    if (static_cast<u32>(n) < len) break;  // short transfer: stop here
  }
  return h->Store<uint32_t>(nbytes_out, static_cast<uint32_t>(total)) ? 0 : kWasmEFAULT;
}

}  // namespace

extern "C" {

// --- paths ---------------------------------------------------------------------

u32 Z_envZ___syscall_openat(struct Z_env_instance_t* env, u32 dirfd, u32 path, u32 flags,
                            u32 varargs) {
  Host* h = host_of(env);
  u32 mode = varargs != 0 ? h->Load<uint32_t>(varargs) : 0;
  return result(h->fs().openat(static_cast<int32_t>(dirfd), path_arg(env, path),
                               static_cast<int32_t>(flags), mode));
}

u32 Z_envZ___syscall_stat64(struct Z_env_instance_t* env, u32 path, u32 buf) {
  pgthaw::vfs::Stat st;
  int r = fs_of(env).stat(pgthaw::vfs::wasm_abi::kAT_FDCWD, path_arg(env, path), &st, 0);
  return r < 0 ? result(r) : store_stat(host_of(env), buf, st);
}

u32 Z_envZ___syscall_lstat64(struct Z_env_instance_t* env, u32 path, u32 buf) {
  pgthaw::vfs::Stat st;
  int r = fs_of(env).stat(pgthaw::vfs::wasm_abi::kAT_FDCWD, path_arg(env, path), &st,
                          pgthaw::vfs::wasm_abi::kAT_SYMLINK_NOFOLLOW);
  return r < 0 ? result(r) : store_stat(host_of(env), buf, st);
}

u32 Z_envZ___syscall_newfstatat(struct Z_env_instance_t* env, u32 dirfd, u32 path, u32 buf,
                                u32 flags) {
  pgthaw::vfs::Stat st;
  int r = fs_of(env).stat(static_cast<int32_t>(dirfd), path_arg(env, path), &st,
                          static_cast<int32_t>(flags));
  return r < 0 ? result(r) : store_stat(host_of(env), buf, st);
}

u32 Z_envZ___syscall_fstat64(struct Z_env_instance_t* env, u32 fd, u32 buf) {
  pgthaw::vfs::Stat st;
  int r = fs_of(env).fstat(static_cast<int32_t>(fd), &st);
  return r < 0 ? result(r) : store_stat(host_of(env), buf, st);
}

u32 Z_envZ___syscall_mkdirat(struct Z_env_instance_t* env, u32 dirfd, u32 path, u32 mode) {
  return result(fs_of(env).mkdirat(static_cast<int32_t>(dirfd), path_arg(env, path), mode));
}

u32 Z_envZ___syscall_rmdir(struct Z_env_instance_t* env, u32 path) {
  return result(fs_of(env).unlinkat(pgthaw::vfs::wasm_abi::kAT_FDCWD, path_arg(env, path),
                                    pgthaw::vfs::wasm_abi::kAT_REMOVEDIR));
}

u32 Z_envZ___syscall_unlinkat(struct Z_env_instance_t* env, u32 dirfd, u32 path, u32 flags) {
  return result(fs_of(env).unlinkat(static_cast<int32_t>(dirfd), path_arg(env, path),
                                    static_cast<int32_t>(flags)));
}

u32 Z_envZ___syscall_renameat(struct Z_env_instance_t* env, u32 olddirfd, u32 oldpath, u32 newdirfd,
                              u32 newpath) {
  return result(fs_of(env).renameat(static_cast<int32_t>(olddirfd), path_arg(env, oldpath),
                                    static_cast<int32_t>(newdirfd), path_arg(env, newpath)));
}

u32 Z_envZ___syscall_linkat(struct Z_env_instance_t* env, u32 olddirfd, u32 oldpath, u32 newdirfd,
                            u32 newpath, u32 flags) {
  return result(fs_of(env).linkat(static_cast<int32_t>(olddirfd), path_arg(env, oldpath),
                                  static_cast<int32_t>(newdirfd), path_arg(env, newpath),
                                  static_cast<int32_t>(flags)));
}

u32 Z_envZ___syscall_symlinkat(struct Z_env_instance_t* env, u32 target, u32 newdirfd,
                               u32 linkpath) {
  return result(fs_of(env).symlinkat(path_arg(env, target), static_cast<int32_t>(newdirfd),
                                     path_arg(env, linkpath)));
}

u32 Z_envZ___syscall_readlinkat(struct Z_env_instance_t* env, u32 dirfd, u32 path, u32 buf,
                                u32 bufsize) {
  Host* h = host_of(env);
  std::string target;
  int r = h->fs().readlinkat(static_cast<int32_t>(dirfd), path_arg(env, path), &target);
  if (r < 0) return result(r);
  size_t n = std::min<size_t>(target.size(), bufsize);
  uint8_t* p = h->Bytes(buf, n);
  if (p == nullptr) return neg(kWasmEFAULT);
  std::memcpy(p, target.data(), n);
  return static_cast<u32>(n);
}

u32 Z_envZ___syscall_faccessat(struct Z_env_instance_t* env, u32 dirfd, u32 path, u32 amode,
                               u32 flags) {
  return result(fs_of(env).faccessat(static_cast<int32_t>(dirfd), path_arg(env, path),
                                     static_cast<int32_t>(amode), static_cast<int32_t>(flags)));
}

u32 Z_envZ___syscall_chmod(struct Z_env_instance_t* env, u32 path, u32 mode) {
  return result(
      fs_of(env).fchmodat(pgthaw::vfs::wasm_abi::kAT_FDCWD, path_arg(env, path), mode, 0));
}

u32 Z_envZ___syscall_fchmodat2(struct Z_env_instance_t* env, u32 dirfd, u32 path, u32 mode,
                               u32 flags) {
  return result(fs_of(env).fchmodat(static_cast<int32_t>(dirfd), path_arg(env, path), mode,
                                    static_cast<int32_t>(flags)));
}

u32 Z_envZ___syscall_fchmod(struct Z_env_instance_t* env, u32 fd, u32 mode) {
  return result(fs_of(env).fchmod(static_cast<int32_t>(fd), mode));
}

// Owners are not modelled: one user owns everything.
u32 Z_envZ___syscall_fchown32(struct Z_env_instance_t* env, u32 fd, u32, u32) {
  return result(fs_of(env).fchown(static_cast<int32_t>(fd)));
}

u32 Z_envZ___syscall_fchownat(struct Z_env_instance_t* env, u32 dirfd, u32 path, u32, u32,
                              u32 flags) {
  return result(fs_of(env).fchownat(static_cast<int32_t>(dirfd), path_arg(env, path),
                                    static_cast<int32_t>(flags)));
}

u32 Z_envZ___syscall_truncate64(struct Z_env_instance_t* env, u32 path, u64 length) {
  return result(fs_of(env).truncate(pgthaw::vfs::wasm_abi::kAT_FDCWD, path_arg(env, path),
                                    static_cast<int64_t>(length)));
}

u32 Z_envZ___syscall_utimensat(struct Z_env_instance_t* env, u32 dirfd, u32 path, u32 times,
                               u32 flags) {
  Host* h = host_of(env);
  pgthaw::vfs::Timespec ts[2];
  const pgthaw::vfs::Timespec* tsp = nullptr;
  if (times != 0) {
    for (int i = 0; i < 2; ++i) {
      ts[i].sec = h->Load<int64_t>(times + 16 * i);
      ts[i].nsec = h->Load<int32_t>(times + 16 * i + 8);
    }
    tsp = ts;
  }
  return result(h->fs().utimensat(static_cast<int32_t>(dirfd), path_arg(env, path), tsp,
                                  static_cast<int32_t>(flags)));
}

u32 Z_envZ___syscall_getcwd(struct Z_env_instance_t* env, u32 buf, u32 size) {
  Host* h = host_of(env);
  std::string cwd = h->fs().getcwd();
  if (size < cwd.size() + 1) return neg(68);  // ERANGE
  uint8_t* p = h->Bytes(buf, cwd.size() + 1);
  if (p == nullptr) return neg(kWasmEFAULT);
  std::memcpy(p, cwd.c_str(), cwd.size() + 1);
  return static_cast<u32>(cwd.size() + 1);
}

u32 Z_envZ___syscall_chdir(struct Z_env_instance_t* env, u32 path) {
  return result(fs_of(env).chdir(path_arg(env, path)));
}

u32 Z_envZ___syscall_umask(struct Z_env_instance_t* env, u32 mask) {
  return static_cast<u32>(fs_of(env).umask(mask));
}

u32 Z_envZ___syscall_statfs64(struct Z_env_instance_t*, u32, u32, u32) { return neg(kWasmENOSYS); }

// --- descriptors -----------------------------------------------------------------

u32 Z_envZ___syscall_dup(struct Z_env_instance_t* env, u32 fd) {
  return result(fs_of(env).dup(static_cast<int32_t>(fd)));
}

u32 Z_envZ___syscall_dup3(struct Z_env_instance_t* env, u32 oldfd, u32 newfd, u32 flags) {
  return result(fs_of(env).dup3(static_cast<int32_t>(oldfd), static_cast<int32_t>(newfd),
                                static_cast<int32_t>(flags)));
}

u32 Z_envZ___syscall_fcntl64(struct Z_env_instance_t* env, u32 fd, u32 cmd, u32 varargs) {
  Host* h = host_of(env);
  constexpr u32 kGetLock = 12;
  u32 arg = 0;
  if (cmd != kGetLock && varargs != 0) arg = h->Load<uint32_t>(varargs);
  int r = h->fs().fcntl(static_cast<int32_t>(fd), static_cast<int32_t>(cmd), static_cast<int>(arg));
  if (r >= 0 && cmd == kGetLock && varargs != 0) {
    // No locks exist between processes we do not have: report F_UNLCK.
    u32 lock = h->Load<uint32_t>(varargs);
    h->Store<int16_t>(lock, 2);
  }
  return result(r);
}

u32 Z_envZ___syscall_ioctl(struct Z_env_instance_t* env, u32 fd, u32, u32) {
  // No file here is a terminal; musl asks (TIOCGWINSZ) on every fopen to
  // pick line buffering.
  pgthaw::vfs::Stat st;
  int r = fs_of(env).fstat(static_cast<int32_t>(fd), &st);
  return r < 0 ? result(r) : neg(kWasmENOTTY);
}

u32 Z_envZ___syscall_ftruncate64(struct Z_env_instance_t* env, u32 fd, u64 length) {
  return result(fs_of(env).ftruncate(static_cast<int32_t>(fd), static_cast<int64_t>(length)));
}

u32 Z_envZ___syscall_fallocate(struct Z_env_instance_t* env, u32 fd, u32 mode, u64 offset,
                               u64 length) {
  return result(fs_of(env).fallocate(static_cast<int32_t>(fd), static_cast<int32_t>(mode),
                                     static_cast<int64_t>(offset), static_cast<int64_t>(length)));
}

u32 Z_envZ___syscall_fadvise64(struct Z_env_instance_t* env, u32 fd, u64, u64, u32) {
  return result(fs_of(env).fadvise(static_cast<int32_t>(fd)));
}

u32 Z_envZ___syscall_fdatasync(struct Z_env_instance_t* env, u32 fd) {
  return result(fs_of(env).fdatasync(static_cast<int32_t>(fd)));
}

u32 Z_envZ___syscall_getdents64(struct Z_env_instance_t* env, u32 fd, u32 dirp, u32 count) {
  Host* h = host_of(env);
  constexpr u32 kRecord = 280;
  std::vector<pgthaw::vfs::DirEntry> entries;
  int r = h->fs().getdents(static_cast<int32_t>(fd), count / kRecord, &entries);
  if (r < 0) return result(r);
  if (entries.empty()) return 0;
  uint8_t* p = h->Bytes(dirp, entries.size() * kRecord);
  if (p == nullptr) return neg(kWasmEFAULT);
  for (size_t i = 0; i < entries.size(); ++i) {
    u32 rec = dirp + static_cast<u32>(i) * kRecord;
    std::memset(h->Bytes(rec, kRecord), 0, kRecord);
    h->Store<uint64_t>(rec, entries[i].ino);
    h->Store<int64_t>(rec + 8, (entries[i].index + 1) * kRecord);
    h->Store<uint16_t>(rec + 16, static_cast<uint16_t>(kRecord));
    h->Store<uint8_t>(rec + 18, entries[i].type);
    size_t n = std::min<size_t>(entries[i].name.size(), 255);
    std::memcpy(h->Bytes(rec + 19, n), entries[i].name.data(), n);
  }
  return static_cast<u32>(entries.size() * kRecord);
}

u32 Z_envZ___syscall_pipe2(struct Z_env_instance_t* env, u32 fds, u32 flags) {
  Host* h = host_of(env);
  std::array<int, 2> pair{};
  int r = h->fs().pipe2(static_cast<int32_t>(flags), &pair);
  if (r < 0) return result(r);
  h->Store<int32_t>(fds, pair[0]);
  h->Store<int32_t>(fds + 4, pair[1]);
  return 0;
}

u32 Z_envZ___syscall_poll(struct Z_env_instance_t* env, u32 fds, u32 nfds, u32 /*timeout*/) {
  Host* h = host_of(env);
  std::vector<pgthaw::vfs::PollFd> polls(nfds);
  for (u32 i = 0; i < nfds; ++i) {
    polls[i].fd = h->Load<int32_t>(fds + 8 * i);
    polls[i].events = h->Load<int16_t>(fds + 8 * i + 4);
    polls[i].revents = 0;
  }
  // Single-threaded guest: nothing can change while we wait, so readiness
  // is answered at once, as PGlite's glue does.
  int r = h->fs().poll(polls);
  for (u32 i = 0; i < nfds; ++i) h->Store<int16_t>(fds + 8 * i + 6, polls[i].revents);
  return result(r);
}

// --- WASI fd ops (positive errno) ---------------------------------------------------

u32 Z_wasi_snapshot_preview1Z_fd_read(struct Z_wasi_snapshot_preview1_instance_t* env, u32 fd,
                                      u32 iov, u32 iovcnt, u32 nread) {
  Host* h = host_of(env);
  return for_each_iovec(h, iov, iovcnt, nread, [&](uint8_t* buf, u32 len, uint64_t) {
    return h->fs().read(static_cast<int32_t>(fd), buf, len);
  });
}

u32 Z_wasi_snapshot_preview1Z_fd_write(struct Z_wasi_snapshot_preview1_instance_t* env, u32 fd,
                                       u32 iov, u32 iovcnt, u32 nwritten) {
  Host* h = host_of(env);
  return for_each_iovec(h, iov, iovcnt, nwritten, [&](uint8_t* buf, u32 len, uint64_t) {
    return h->fs().write(static_cast<int32_t>(fd), buf, len);
  });
}

u32 Z_wasi_snapshot_preview1Z_fd_pread(struct Z_wasi_snapshot_preview1_instance_t* env, u32 fd,
                                       u32 iov, u32 iovcnt, u64 offset, u32 nread) {
  Host* h = host_of(env);
  return for_each_iovec(h, iov, iovcnt, nread, [&](uint8_t* buf, u32 len, uint64_t done) {
    return h->fs().pread(static_cast<int32_t>(fd), buf, len, static_cast<int64_t>(offset + done));
  });
}

u32 Z_wasi_snapshot_preview1Z_fd_pwrite(struct Z_wasi_snapshot_preview1_instance_t* env, u32 fd,
                                        u32 iov, u32 iovcnt, u64 offset, u32 nwritten) {
  Host* h = host_of(env);
  return for_each_iovec(h, iov, iovcnt, nwritten, [&](uint8_t* buf, u32 len, uint64_t done) {
    return h->fs().pwrite(static_cast<int32_t>(fd), buf, len, static_cast<int64_t>(offset + done));
  });
}

u32 Z_wasi_snapshot_preview1Z_fd_seek(struct Z_wasi_snapshot_preview1_instance_t* env, u32 fd,
                                      u64 offset, u32 whence, u32 newoffset) {
  Host* h = host_of(env);
  // Directory positions are entry indices in the VFS, records of 280 bytes
  // (getdents64) in the guest.
  constexpr int64_t kRecord = 280;
  bool dir = h->fs().fdstat_filetype(static_cast<int32_t>(fd)) ==
             pgthaw::vfs::wasm_abi::kFiletypeDirectory;
  int64_t off = static_cast<int64_t>(offset);
  int64_t r = h->fs().seek(static_cast<int32_t>(fd), dir ? off / kRecord : off,
                           static_cast<int32_t>(whence));
  if (r < 0) return static_cast<u32>(-r);
  if (dir) r *= kRecord;
  return h->Store<uint64_t>(newoffset, static_cast<uint64_t>(r)) ? 0 : kWasmEFAULT;
}

u32 Z_wasi_snapshot_preview1Z_fd_close(struct Z_wasi_snapshot_preview1_instance_t* env, u32 fd) {
  int r = fs_of(env).close(static_cast<int32_t>(fd));
  return r < 0 ? static_cast<u32>(-r) : 0;
}

u32 Z_wasi_snapshot_preview1Z_fd_sync(struct Z_wasi_snapshot_preview1_instance_t* env, u32 fd) {
  int r = fs_of(env).fsync(static_cast<int32_t>(fd));
  return r < 0 ? static_cast<u32>(-r) : 0;
}

u32 Z_wasi_snapshot_preview1Z_fd_fdstat_get(struct Z_wasi_snapshot_preview1_instance_t* env, u32 fd,
                                            u32 buf) {
  Host* h = host_of(env);
  int type = h->fs().fdstat_filetype(static_cast<int32_t>(fd));
  if (type < 0) return static_cast<u32>(-type);
  uint8_t* p = h->Bytes(buf, 24);
  if (p == nullptr) return kWasmEFAULT;
  std::memset(p, 0, 24);
  p[0] = static_cast<uint8_t>(type);
  return 0;
}

}  // extern "C"
