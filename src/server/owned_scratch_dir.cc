#include "server/owned_scratch_dir.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace pgthaw::server {

namespace fs = std::filesystem;

namespace {

std::string owner_tag(const std::string& owner) {
  std::error_code ec;
  std::string path = fs::weakly_canonical(fs::absolute(owner, ec), ec).string();
  if (path.empty()) path = owner;
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : path) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<std::string> scratch_roots() {
  std::vector<std::string> roots;
  std::error_code ec;
  if (fs::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0) {
    roots.push_back("/dev/shm");
  }
  std::string tmp = fs::temp_directory_path(ec).string();
  if (!ec && !tmp.empty()) roots.push_back(tmp);
  return roots;
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return true;  // not a pid we could judge: keep
  return kill(pid, 0) == 0 || errno != ESRCH;
}

}  // namespace

std::string owned_scratch_name_start(const std::string& prefix, const std::string& owner) {
  return prefix + "-" + owner_tag(owner) + "-";
}

Result<std::string> make_owned_scratch_dir(const std::string& prefix, const std::string& owner) {
  std::vector<std::string> roots = scratch_roots();
  if (roots.empty()) return Status::IoError("no writable /dev/shm or temp directory");
  std::string pattern = roots.front() + "/" + owned_scratch_name_start(prefix, owner) +
                        std::to_string(getpid()) + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) return Status::FromErrno("mkdtemp " + pattern, errno);
  return pattern;
}

size_t remove_stale_scratch_dirs(const std::string& prefix, const std::string& owner) {
  const std::string start = owned_scratch_name_start(prefix, owner);
  size_t removed = 0;
  for (const std::string& root : scratch_roots()) {
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
      std::string name = e.path().filename().string();
      if (name.rfind(start, 0) != 0) continue;
      // PID-XXXXXX after the start.
      std::string rest = name.substr(start.size());
      size_t dash = rest.find('-');
      if (dash == 0 || dash == std::string::npos || rest.size() - dash - 1 != 6) continue;
      pid_t pid = 0;
      bool digits = true;
      for (size_t i = 0; i < dash; ++i) {
        if (rest[i] < '0' || rest[i] > '9' || pid > 100'000'000) digits = false;
        if (digits) pid = pid * 10 + (rest[i] - '0');
      }
      if (!digits || pid == getpid() || process_alive(pid)) continue;
      struct stat st {};
      if (lstat(e.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        continue;
      }
      std::error_code rm_ec;
      fs::remove_all(e.path(), rm_ec);
      if (rm_ec) {
        spdlog::warn("removing stale {}: {}", e.path().string(), rm_ec.message());
      } else {
        spdlog::info("removed {}, left by process {} which is gone", e.path().string(), pid);
        ++removed;
      }
    }
  }
  return removed;
}

}  // namespace pgthaw::server
