// engine::SnapshotCache (snapshot_cache.h says what and why).
#include "engine/snapshot_cache.h"

#include <sys/stat.h>

#include "engine/snapshot.h"

namespace pgthaw::engine {

namespace {

// Device, inode, size and mtime (ns) of `path`, and the checksum it must
// have; empty if it cannot be stat'ed.
std::string identity(const std::string& path, uint64_t expected) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(expected);
}

}  // namespace

Result<std::shared_ptr<const SnapshotFiles>> SnapshotCache::ReadKept(const std::string& dir) {
  std::shared_ptr<Kept> entry;
  {
    std::lock_guard lock(mutex_);
    std::shared_ptr<Kept>& slot = kept_[dir];
    if (slot == nullptr) slot = std::make_shared<Kept>();
    entry = slot;
  }
  std::lock_guard lock(entry->mutex);
  if (entry->files != nullptr) return entry->files;
  auto files = read_snapshot(dir, *this);
  if (!files.ok()) return files.status();
  entry->files = std::make_shared<const SnapshotFiles>(std::move(files).value());
  return entry->files;
}

bool SnapshotCache::VerifiedBefore(const std::string& path, uint64_t expected) const {
  const std::string key = identity(path, expected);
  std::lock_guard lock(mutex_);
  return !key.empty() && verified_.count(key) != 0;
}

void SnapshotCache::RememberVerified(const std::string& path, uint64_t expected) {
  const std::string key = identity(path, expected);
  if (key.empty()) return;
  std::lock_guard lock(mutex_);
  verified_.insert(key);
}

void SnapshotCache::ForgetVerifiedForTest() {
  std::lock_guard lock(mutex_);
  verified_.clear();
}

}  // namespace pgthaw::engine
