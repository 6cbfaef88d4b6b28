// FileSystem side of disk quotas (DiskQuota in mount.h): what each
// size-changing operation on a host or overlay mount charges or gives back.
//
// Sizes are st_size of regular files, so the count matches what `du
// --apparent-size` would say of the tenant's own files; directories and the
// overlay's lower layer (the shared template) are not counted. The count
// starts from one walk of the directory, done on the first charge, so a
// read-only tenant never walks. It can drift only through files changed
// behind the FileSystem's back, and is walked again by the next FileSystem
// (the next boot or thaw of the tenant).
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "vfs/filesystem.h"
#include "vfs/path.h"

namespace pgthaw::vfs {

namespace err = wasm_errno;

namespace {

int64_t directory_file_bytes(const std::string& dir) {
  namespace fs = std::filesystem;
  int64_t total = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code stat_ec;
    if (!it->is_regular_file(stat_ec) || it->is_symlink(stat_ec)) continue;
    uintmax_t size = it->file_size(stat_ec);
    if (!stat_ec) total += static_cast<int64_t>(size);
  }
  return total;
}

bool refusable(const MountPoint& mp, std::string_view rel) {
  return !mp.quota.may_refuse || mp.quota.may_refuse(rel);
}

int64_t host_file_size(int host_fd) {
  struct stat s;
  return ::fstat(host_fd, &s) == 0 ? s.st_size : -1;
}

}  // namespace

SpaceQuota* FileSystem::disk_quota(int m) {
  MountPoint& mp = mounts_[m];
  SpaceQuota* quota = mp.quota.quota.get();
  if (quota == nullptr || mp.quota_counted) return quota;
  mp.quota_counted = true;
  const HostDir& dir = mp.overlay != nullptr ? mp.overlay->upper() : *mp.host;
  quota->charge(directory_file_bytes(dir.host_dir()));
  return quota;
}

int FileSystem::charge_path_growth(int m, std::string_view rel, int64_t old_size, int64_t new_size,
                                   int64_t* charged) {
  *charged = 0;
  if (m < 0 || mounts_[m].quota.quota == nullptr) return 0;
  // Counted before the operation changes anything, so the walk sees the
  // state the charge or the later release is relative to.
  SpaceQuota* quota = disk_quota(m);
  if (new_size <= old_size) return 0;
  int64_t growth = new_size - old_size;
  if (refusable(mounts_[m], rel)) {
    if (!quota->try_charge(growth)) return -err::kENOSPC;
  } else {
    quota->charge(growth);
  }
  *charged = growth;
  return 0;
}

int FileSystem::charge_file_growth(const OpenFile& f, int64_t new_end, int64_t* charged) {
  *charged = 0;
  if (f.mount < 0 || mounts_[f.mount].quota.quota == nullptr) return 0;
  int64_t size = host_file_size(f.host_fd);
  if (size < 0) return 0;  // the operation itself reports the error
  const MountPoint& mp = mounts_[f.mount];
  return charge_path_growth(f.mount, path_remainder(f.path, mp.prefix), size, new_end, charged);
}

void FileSystem::settle_file_growth(const OpenFile& f, int64_t charged, int64_t wanted_end,
                                    int64_t reached_end) {
  if (charged <= 0) return;
  int64_t old_size = wanted_end - charged;
  int64_t grown = reached_end > old_size ? reached_end - old_size : 0;
  release_disk(f.mount, charged - grown);
}

void FileSystem::release_disk(int m, int64_t bytes) {
  if (m < 0 || bytes <= 0) return;
  if (SpaceQuota* quota = disk_quota(m)) quota->release(bytes);
}

int64_t FileSystem::counted_file_bytes(int m, std::string_view rel, bool last_link_only) {
  if (m < 0) return 0;
  const MountPoint& mp = mounts_[m];
  if (mp.quota.quota == nullptr || mp.mem != nullptr) return 0;
  disk_quota(m);  // counted before the operation changes the file
  const HostDir& dir = mp.overlay != nullptr ? mp.overlay->upper() : *mp.host;
  Stat st;
  if (dir.stat(rel, &st) < 0) return 0;
  if ((st.mode & wasm_abi::kS_IFMT) != wasm_abi::kS_IFREG) return 0;
  if (last_link_only && st.nlink != 1) return 0;
  return st.size;
}

int64_t FileSystem::memdir_bytes() const {
  std::vector<const SpaceQuota*> seen;
  int64_t total = 0;
  for (const MountPoint& mp : mounts_) {
    const SpaceQuota* q = mp.mem != nullptr ? mp.mem->quota().get() : nullptr;
    if (q == nullptr || std::find(seen.begin(), seen.end(), q) != seen.end()) continue;
    seen.push_back(q);
    total += q->used();
  }
  return total;
}

}  // namespace pgthaw::vfs
