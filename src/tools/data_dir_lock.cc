#include "tools/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace pgthaw::tools {

namespace fs = std::filesystem;

namespace {

std::string read_owner(int fd) {
  char buf[32] = {};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

}  // namespace

Status lock_data_dir(const std::string& data_dir) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return Status::FromErrno("mkdir " + data_dir, ec.value());
  const std::string path = data_dir + "/" + kDataDirLockFile;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    std::string owner = read_owner(fd);
    close(fd);
    if (err != EWOULDBLOCK) return Status::FromErrno("flock " + path, err);
    return Status::Unavailable("data directory " + data_dir + " is in use by another pgthaw serve" +
                               (owner.empty() ? "" : " (pid " + owner + ")") + "; lock file " +
                               path);
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock is what matters; the pid is only for messages.
  }
  // `fd` stays open until the process ends: that is the lock.
  return Status::Ok();
}

}  // namespace pgthaw::tools
