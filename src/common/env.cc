#include "common/env.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace pgthaw {

int Env::Open(const char* path, int flags, mode_t mode) { return ::open(path, flags, mode); }

int Env::OpenAt(int dirfd, const char* name, int flags, mode_t mode) {
  return ::openat(dirfd, name, flags, mode);
}

ssize_t Env::Read(int fd, void* buf, size_t len) { return ::read(fd, buf, len); }

ssize_t Env::Pread(int fd, void* buf, size_t len, off_t offset) {
  return ::pread(fd, buf, len, offset);
}

ssize_t Env::Preadv(int fd, const struct iovec* iov, int count, off_t offset) {
  return ::preadv(fd, iov, count, offset);
}

ssize_t Env::Write(int fd, const void* buf, size_t len) { return ::write(fd, buf, len); }

ssize_t Env::Pwrite(int fd, const void* buf, size_t len, off_t offset) {
  return ::pwrite(fd, buf, len, offset);
}

ssize_t Env::Pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  return ::pwritev(fd, iov, count, offset);
}

int Env::Ftruncate(int fd, off_t length) { return ::ftruncate(fd, length); }

int Env::Fallocate(int fd, int mode, off_t offset, off_t length) {
  return ::fallocate(fd, mode, offset, length);
}

int Env::Fsync(int fd) { return ::fsync(fd); }

int Env::Fdatasync(int fd) { return ::fdatasync(fd); }

int Env::Rename(const char* from, const char* to) { return ::rename(from, to); }

int Env::RenameAt(int from_dir, const char* from, int to_dir, const char* to) {
  return ::renameat(from_dir, from, to_dir, to);
}

int Env::MkdirAt(int dirfd, const char* name, mode_t mode) { return ::mkdirat(dirfd, name, mode); }

void* Env::Mmap(void* addr, size_t len, int prot, int flags, int fd, off_t offset) {
  return ::mmap(addr, len, prot, flags, fd, offset);
}

namespace {

Env& posix_env() {
  static Env posix;  // stateless: the syscalls themselves
  return posix;
}

// Relaxed is enough: an Env is installed before the I/O it governs starts
// (ScopedEnv's contract), and the thread that starts that I/O happens-after.
std::atomic<Env*>& current_env() {
  static std::atomic<Env*> current{&posix_env()};
  return current;
}

}  // namespace

Env& env() { return *current_env().load(std::memory_order_relaxed); }

ScopedEnv::ScopedEnv(Env& env)
    : previous_(current_env().exchange(&env, std::memory_order_acq_rel)) {}

ScopedEnv::~ScopedEnv() { current_env().store(previous_, std::memory_order_release); }

}  // namespace pgthaw
