// vfs::SpaceQuota: a byte budget shared by the files it covers.
//
// One quota covers the in-memory /tmp and /dev/shm of an instance (their file
// bytes together), another the tenant's data directory on disk. Backends
// charge a quota before they grow a file and release it when a file shrinks
// or goes away; a charge that would pass the limit fails and the guest sees
// ENOSPC, so nothing is half-written. `used` is exact for what went through
// the quota; the disk quota starts from one walk of the directory
// (FileSystem, lazily on the first write).
//
// Threads: the counter is atomic; a quota may be shared by FileSystems that
// run on different threads (it never is today).
#pragma once

#include <atomic>
#include <cstdint>

namespace pgthaw::vfs {

class SpaceQuota {
 public:
  // `limit_bytes` 0: no limit, usage is only counted.
  explicit SpaceQuota(int64_t limit_bytes) : limit_(limit_bytes) {}
  SpaceQuota(const SpaceQuota&) = delete;
  SpaceQuota& operator=(const SpaceQuota&) = delete;

  int64_t limit() const { return limit_; }
  int64_t used() const { return used_.load(std::memory_order_relaxed); }

  // Adds `bytes` (>= 0) if the total stays within the limit; otherwise
  // changes nothing and returns false.
  bool try_charge(int64_t bytes);
  // Adds `bytes` whatever the limit: for space that already exists (the
  // initial walk, a restored snapshot's files).
  void charge(int64_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
  // Gives `bytes` back (never below zero).
  void release(int64_t bytes);

 private:
  const int64_t limit_;
  std::atomic<int64_t> used_{0};
};

}  // namespace pgthaw::vfs
