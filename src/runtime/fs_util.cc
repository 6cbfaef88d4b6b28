#include "runtime/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace pgthaw::runtime {

namespace {

Status fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::FromErrno("fsync " + path, saved);
}

}  // namespace

Status fsync_dir(const std::string& dir) { return fsync_path(dir, O_DIRECTORY); }

Status fsync_file(const std::string& path) { return fsync_path(path, 0); }

Status write_file_atomically(const std::string& path, std::string_view bytes, bool durable,
                             bool* renamed) {
  if (renamed != nullptr) *renamed = false;
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno("open " + tmp, errno);
  auto abandon = [&](Status status) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return status;
  };
  // O_CREAT's mode does not apply to a leftover temp file, and umask may
  // have narrowed it: say it exactly.
  if (::fchmod(fd, 0600) != 0) return abandon(Status::FromErrno("fchmod " + tmp, errno));
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return abandon(Status::FromErrno("write " + tmp, errno));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  if (durable && ::fsync(fd) != 0) return abandon(Status::FromErrno("fsync " + tmp, errno));
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) return abandon(Status::FromErrno("close " + tmp, errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return abandon(Status::FromErrno("rename " + tmp + " to " + path, errno));
  }
  if (renamed != nullptr) *renamed = true;
  if (!durable) return Status::Ok();
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return fsync_dir(dir.empty() ? "." : dir);
}

}  // namespace pgthaw::runtime
