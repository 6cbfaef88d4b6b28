#include "common/fault_injection_env.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace pgthaw {

std::string path_of_fd(int fd) {
  if (fd < 0) return "";
  char buf[4096];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

namespace {

std::string path_at(int dirfd, const char* name) {
  if (name[0] == '/' || dirfd == AT_FDCWD) return name;
  return path_of_fd(dirfd) + "/" + name;
}

}  // namespace

FaultInjectionEnv::FaultInjectionEnv(std::string prefix) : prefix_(std::move(prefix)) {}

void FaultInjectionEnv::Arm(const Fault& fault) {
  std::lock_guard lock(mu_);
  fault_ = fault;
  armed_ = true;
  calls_.fill(0);
}

void FaultInjectionEnv::Disarm() {
  std::lock_guard lock(mu_);
  armed_ = false;
}

uint64_t FaultInjectionEnv::calls(Kind kind) const {
  std::lock_guard lock(mu_);
  return calls_[static_cast<size_t>(kind)];
}

uint64_t FaultInjectionEnv::injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

bool FaultInjectionEnv::Matches(const std::string& path) const {
  return prefix_.empty() || path.starts_with(prefix_);
}

FaultInjectionEnv::Verdict FaultInjectionEnv::Decide(Kind kind, const std::string& path) {
  if (!Matches(path)) return Verdict::kPass;
  std::lock_guard lock(mu_);
  const uint64_t n = ++calls_[static_cast<size_t>(kind)];
  if (!armed_ || fault_.kind != kind) return Verdict::kPass;
  const bool hit = fault_.effect == Effect::kFailFromNow ? n >= fault_.nth : n == fault_.nth;
  if (!hit) return Verdict::kPass;
  ++injected_;
  switch (fault_.effect) {
    case Effect::kExit:
      ::_exit(fault_.exit_code);
    case Effect::kShortWrite:
      return Verdict::kShort;
    case Effect::kFailOnce:
    case Effect::kFailFromNow:
      break;
  }
  errno = fault_.error;
  return Verdict::kFail;
}

int FaultInjectionEnv::Open(const char* path, int flags, mode_t mode) {
  if (Decide(Kind::kOpen, path) != Verdict::kPass) return -1;
  return Env::Open(path, flags, mode);
}

int FaultInjectionEnv::OpenAt(int dirfd, const char* name, int flags, mode_t mode) {
  if (Decide(Kind::kOpen, path_at(dirfd, name)) != Verdict::kPass) return -1;
  return Env::OpenAt(dirfd, name, flags, mode);
}

int FaultInjectionEnv::MkdirAt(int dirfd, const char* name, mode_t mode) {
  // Creating a name is an open's kind of failure (ENOSPC, EMFILE aside).
  if (Decide(Kind::kOpen, path_at(dirfd, name)) != Verdict::kPass) return -1;
  return Env::MkdirAt(dirfd, name, mode);
}

ssize_t FaultInjectionEnv::Write(int fd, const void* buf, size_t len) {
  switch (Decide(Kind::kWrite, path_of_fd(fd))) {
    case Verdict::kFail:
      return -1;
    case Verdict::kShort:
      return Env::Write(fd, buf, len / 2);
    case Verdict::kPass:
      break;
  }
  return Env::Write(fd, buf, len);
}

ssize_t FaultInjectionEnv::Pwrite(int fd, const void* buf, size_t len, off_t offset) {
  switch (Decide(Kind::kWrite, path_of_fd(fd))) {
    case Verdict::kFail:
      return -1;
    case Verdict::kShort:
      return Env::Pwrite(fd, buf, len / 2, offset);
    case Verdict::kPass:
      break;
  }
  return Env::Pwrite(fd, buf, len, offset);
}

ssize_t FaultInjectionEnv::Pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  switch (Decide(Kind::kWrite, path_of_fd(fd))) {
    case Verdict::kFail:
      return -1;
    case Verdict::kShort:
      // The first buffer only, or half of it when it is the only one.
      if (count > 1) return Env::Pwritev(fd, iov, 1, offset);
      return Env::Pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, offset);
    case Verdict::kPass:
      break;
  }
  return Env::Pwritev(fd, iov, count, offset);
}

int FaultInjectionEnv::Ftruncate(int fd, off_t length) {
  if (Decide(Kind::kWrite, path_of_fd(fd)) != Verdict::kPass) return -1;
  return Env::Ftruncate(fd, length);
}

int FaultInjectionEnv::Fallocate(int fd, int mode, off_t offset, off_t length) {
  if (Decide(Kind::kWrite, path_of_fd(fd)) != Verdict::kPass) return -1;
  return Env::Fallocate(fd, mode, offset, length);
}

int FaultInjectionEnv::Fsync(int fd) {
  if (Decide(Kind::kSync, path_of_fd(fd)) != Verdict::kPass) return -1;
  return Env::Fsync(fd);
}

int FaultInjectionEnv::Fdatasync(int fd) {
  if (Decide(Kind::kSync, path_of_fd(fd)) != Verdict::kPass) return -1;
  return Env::Fdatasync(fd);
}

int FaultInjectionEnv::Rename(const char* from, const char* to) {
  if (Decide(Kind::kRename, from) != Verdict::kPass) return -1;
  return Env::Rename(from, to);
}

int FaultInjectionEnv::RenameAt(int from_dir, const char* from, int to_dir, const char* to) {
  if (Decide(Kind::kRename, path_at(from_dir, from)) != Verdict::kPass) return -1;
  return Env::RenameAt(from_dir, from, to_dir, to);
}

void* FaultInjectionEnv::Mmap(void* addr, size_t len, int prot, int flags, int fd, off_t offset) {
  if (Decide(Kind::kMmap, path_of_fd(fd)) != Verdict::kPass) return MAP_FAILED;
  return Env::Mmap(addr, len, prot, flags, fd, offset);
}

}  // namespace pgthaw
