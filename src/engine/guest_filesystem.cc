#include "engine/guest_filesystem.h"

#include "engine/process_env.h"
#include "host/host.h"

namespace pgthaw::engine {

Result<std::unique_ptr<vfs::FileSystem>> make_guest_filesystem(const EngineOptions& options,
                                                               const std::string& data_dir,
                                                               const std::string& lower_dir,
                                                               std::shared_ptr<vfs::MemDir> tmp) {
  const std::string& share = options.share_dir;
  vfs::FileSystemOptions fs;
  // The bundle, read-only; the tenant's directory is mounted inside it.
  fs.mounts.push_back(vfs::HostDirMount{"/pglite", share + "/pglite", /*read_only=*/true});
  fs.mounts.push_back(vfs::HostDirMount{"/home/postgres", share + "/home/postgres", true});
  if (lower_dir.empty()) {
    fs.mounts.push_back(vfs::HostDirMount{kDataDir, data_dir, false});
  } else {
    fs.mounts.push_back(vfs::OverlayMount{kDataDir, lower_dir, data_dir});
  }
  fs.mounts.push_back(vfs::MemDirMount{"/dev/shm", std::make_shared<vfs::MemDir>(), false});
  fs.mounts.push_back(vfs::MemDirMount{"/tmp", tmp ? tmp : std::make_shared<vfs::MemDir>(), false});
  fs.durable = options.durable;
  fs.stdio_sink = [](int, std::string_view line) { host::Host::Log(line); };
  return vfs::FileSystem::create(std::move(fs));
}

}  // namespace pgthaw::engine
