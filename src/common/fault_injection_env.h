// An Env for tests that fails calls on purpose: the Nth call of a kind
// (open, write, sync, rename, mmap) to a file under a chosen directory fails
// with a chosen errno, once or from then on (a full disk stays full), or
// writes half of what it was given (a short write), or ends the process
// there (a crash at that point: what was written so far is in the page
// cache and survives, what would have followed never happens).
//
// Calls are counted per kind, so a test can first count a scenario's
// fsyncs and then crash it at each one in turn.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>

#include "common/env.h"

namespace pgthaw {

class FaultInjectionEnv : public Env {
 public:
  enum class Kind { kOpen, kWrite, kSync, kRename, kMmap };
  static constexpr size_t kKinds = 5;

  enum class Effect {
    kFailOnce,     // the Nth call fails; later ones succeed
    kFailFromNow,  // the Nth call and every later one of its kind fail
    kShortWrite,   // the Nth write writes half its bytes (kWrite only)
    kExit,         // the process _exit()s at the Nth call, before it is made
  };

  struct Fault {
    Kind kind = Kind::kWrite;
    uint64_t nth = 1;  // 1 = the next matching call after Arm()
    Effect effect = Effect::kFailOnce;
    int error = EIO;
    int exit_code = 77;  // for kExit
  };

  // Only calls on files whose path starts with PREFIX are counted and
  // failed: an absolute, canonical path ("DIR/" for what is under DIR), or
  // "" for every call, anonymous maps included.
  explicit FaultInjectionEnv(std::string prefix = "");

  // Arms FAULT, replacing any armed one, and restarts the counts.
  void Arm(const Fault& fault);
  // Stops failing; the counts go on.
  void Disarm();
  // Matching calls of KIND since the last Arm() (or construction).
  uint64_t calls(Kind kind) const;
  // How many calls were failed (or shortened) since construction.
  uint64_t injected() const;

  int Open(const char* path, int flags, mode_t mode) override;
  int OpenAt(int dirfd, const char* name, int flags, mode_t mode) override;
  ssize_t Write(int fd, const void* buf, size_t len) override;
  ssize_t Pwrite(int fd, const void* buf, size_t len, off_t offset) override;
  ssize_t Pwritev(int fd, const struct iovec* iov, int count, off_t offset) override;
  int Ftruncate(int fd, off_t length) override;
  int Fallocate(int fd, int mode, off_t offset, off_t length) override;
  int Fsync(int fd) override;
  int Fdatasync(int fd) override;
  int Rename(const char* from, const char* to) override;
  int RenameAt(int from_dir, const char* from, int to_dir, const char* to) override;
  int MkdirAt(int dirfd, const char* name, mode_t mode) override;
  void* Mmap(void* addr, size_t len, int prot, int flags, int fd, off_t offset) override;

 private:
  enum class Verdict { kPass, kFail, kShort };
  // Counts a call of KIND on PATH and says what to do with it (kExit does
  // not return).
  Verdict Decide(Kind kind, const std::string& path);
  bool Matches(const std::string& path) const;

  const std::string prefix_;
  mutable std::mutex mu_;
  std::array<uint64_t, kKinds> calls_{};
  bool armed_ = false;
  Fault fault_;
  uint64_t injected_ = 0;
};

// The path a descriptor names (its /proc/self/fd link), "" if none.
std::string path_of_fd(int fd);

}  // namespace pgthaw
