// The OS boundary: every call through which pgthaw's durable state can fail
// (open, read, write, sync, rename, map) goes through one Env, the way
// SQLite routes its OS calls through one VFS table and LevelDB through its
// Env. Production uses the POSIX calls as they are; a test installs an Env
// that fails chosen calls on purpose (common/fault_injection_env.h).
//
// The methods keep the syscalls' contracts: -1 (MAP_FAILED for Mmap) and
// errno on failure. Callers that only close, stat or list are not routed:
// nothing durable is at stake in them.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>

namespace pgthaw {

class Env {
 public:
  virtual ~Env() = default;

  virtual int Open(const char* path, int flags, mode_t mode = 0);
  virtual int OpenAt(int dirfd, const char* name, int flags, mode_t mode = 0);
  virtual ssize_t Read(int fd, void* buf, size_t len);
  virtual ssize_t Pread(int fd, void* buf, size_t len, off_t offset);
  virtual ssize_t Preadv(int fd, const struct iovec* iov, int count, off_t offset);
  virtual ssize_t Write(int fd, const void* buf, size_t len);
  virtual ssize_t Pwrite(int fd, const void* buf, size_t len, off_t offset);
  virtual ssize_t Pwritev(int fd, const struct iovec* iov, int count, off_t offset);
  virtual int Ftruncate(int fd, off_t length);
  virtual int Fallocate(int fd, int mode, off_t offset, off_t length);
  virtual int Fsync(int fd);
  virtual int Fdatasync(int fd);
  virtual int Rename(const char* from, const char* to);
  virtual int RenameAt(int from_dir, const char* from, int to_dir, const char* to);
  virtual int MkdirAt(int dirfd, const char* name, mode_t mode);
  virtual void* Mmap(void* addr, size_t len, int prot, int flags, int fd, off_t offset);
};

// The process's Env: the POSIX one unless a test installed another.
Env& env();

// Installs ENV as the process's Env for its lifetime (tests only; the
// previous one comes back at destruction). Install it while nothing else
// runs I/O, e.g. before the engine or runtime under test is opened.
class ScopedEnv {
 public:
  explicit ScopedEnv(Env& env);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  Env* previous_;
};

}  // namespace pgthaw
