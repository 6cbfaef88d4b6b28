#include "common/durable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/env.h"

namespace pgthaw {

namespace {

Status fsync_path(const std::string& path, int flags) {
  int fd = env().Open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  int rc = env().Fsync(fd);
  int saved = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::FromErrno("fsync " + path, saved);
}

// Writes all of BYTES to FD; with `sync`, fsync()s it. Closes FD.
Status write_all(int fd, const std::string& path, std::string_view bytes, bool sync) {
  auto fail = [&](const char* what) {
    Status st = Status::FromErrno(std::string(what) + " " + path, errno);
    ::close(fd);
    return st;
  };
  // O_CREAT's mode does not apply to a file that was there, and umask may
  // have narrowed it: say it exactly.
  if (::fchmod(fd, 0600) != 0) return fail("fchmod");
  while (!bytes.empty()) {
    ssize_t n = env().Write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write");
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  if (sync && env().Fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) return Status::FromErrno("close " + path, errno);
  return Status::Ok();
}

// Makes PATH's name (a create or a rename) durable.
Status fsync_parent(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return fsync_path(dir.empty() ? "." : dir, O_DIRECTORY);
}

}  // namespace

Status fsync_dir(const std::string& dir) { return fsync_path(dir, O_DIRECTORY); }

Status fsync_file(const std::string& path) { return fsync_path(path, 0); }

Status create_marker_file(const std::string& path, bool durable) {
  int fd = env().Open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno("create " + path, errno);
  ::close(fd);
  return durable ? fsync_parent(path) : Status::Ok();
}

Status write_file_synced(const std::string& path, std::string_view bytes) {
  int fd = env().Open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  return write_all(fd, path, bytes, /*sync=*/true);
}

Status write_file_atomically(const std::string& path, std::string_view bytes, bool durable,
                             bool* renamed) {
  if (renamed != nullptr) *renamed = false;
  const std::string tmp = path + ".tmp";
  int fd = env().Open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno("open " + tmp, errno);
  if (Status st = write_all(fd, tmp, bytes, durable); !st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (env().Rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = Status::FromErrno("rename " + tmp + " to " + path, errno);
    ::unlink(tmp.c_str());
    return st;
  }
  if (renamed != nullptr) *renamed = true;
  return durable ? fsync_parent(path) : Status::Ok();
}

Result<std::string> read_whole_file(const std::string& path) {
  int fd = env().Open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + " is missing");
    return Status::FromErrno("open " + path, errno);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status failed = Status::FromErrno("stat " + path, errno);
    ::close(fd);
    return failed;
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = env().Read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got != bytes.size()) return Status::IoError(path + ": short read");
  return bytes;
}

}  // namespace pgthaw
