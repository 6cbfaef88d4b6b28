// The trees of guest_files.h.
#include "host/guest_files.h"

#include "host/host.h"
#include "vfs/space_quota.h"

namespace pgthaw::host {

namespace {

bool starts_with_digit(std::string_view s) { return !s.empty() && s[0] >= '0' && s[0] <= '9'; }

// The data-directory files whose growth the disk quota may refuse: relation
// files (base/<db>/<relfilenode>[_fork][.segment], temporary relations
// t<proc>_<relfilenode>, shared catalogs in global/) and temporary files
// (base/pgsql_tmp/). Postgres extends these outside critical sections and
// reports ENOSPC as 53100 "could not extend file ...". Everything else (WAL,
// SLRUs, relation maps, control files) is written inside critical sections,
// where an error is a PANIC, and is bounded by Postgres itself.
bool relation_or_temp_file(std::string_view rel) {
  if (rel.starts_with("base/pgsql_tmp/")) return true;
  if (!rel.starts_with("base/") && !rel.starts_with("global/")) return false;
  std::string_view name = rel.substr(rel.rfind('/') + 1);
  return starts_with_digit(name) ||
         (name.size() > 1 && name[0] == 't' && starts_with_digit(name.substr(1)));
}

}  // namespace

Result<std::unique_ptr<vfs::FileSystem>> postgres_files(const GuestFilesOptions& options,
                                                        const std::string& data_dir,
                                                        const std::vector<std::string>& lower_dirs,
                                                        SharedTmp tmp) {
  const std::string& share = options.share_dir;
  vfs::FileSystemOptions fs;
  // The bundle, read-only; the tenant's directory is mounted inside it.
  fs.mounts.push_back(vfs::HostDirMount{"/pglite", share + "/pglite", /*read_only=*/true});
  fs.mounts.push_back(vfs::HostDirMount{"/home/postgres", share + "/home/postgres", true});
  if (lower_dirs.empty()) {
    fs.mounts.push_back(vfs::HostDirMount{kGuestDataDir, data_dir, false});
  } else {
    fs.mounts.push_back(vfs::OverlayMount{kGuestDataDir, lower_dirs, data_dir});
  }
  vfs::DiskQuota disk;
  disk.virtual_prefix = kGuestDataDir;
  disk.quota = std::make_shared<vfs::SpaceQuota>(options.disk_max_bytes);
  disk.may_refuse = relation_or_temp_file;
  fs.disk_quotas.push_back(std::move(disk));
  // /dev/shm and /tmp share one cap.
  auto mem_quota = std::make_shared<vfs::SpaceQuota>(options.tmp_max_bytes);
  fs.mounts.push_back(
      vfs::MemDirMount{"/dev/shm", std::make_shared<vfs::MemDir>(mem_quota), false});
  fs.mounts.push_back(
      vfs::MemDirMount{"/tmp", tmp ? tmp : std::make_shared<vfs::MemDir>(mem_quota), false});
  fs.durable = options.durable;
  fs.stdio_sink = [](int, std::string_view line) { Host::Log(line); };
  return vfs::FileSystem::create(std::move(fs));
}

Result<std::unique_ptr<vfs::FileSystem>> pg_dump_files(
    const GuestFilesOptions& options, const std::string& output_dir,
    std::function<void(std::string_view line)> on_line) {
  vfs::FileSystemOptions files;
  auto memory = std::make_shared<vfs::SpaceQuota>(options.tmp_max_bytes);
  // The bundle (read-only) holds the /pglite/bin/pg_dump pg_dump looks for.
  files.mounts.push_back(
      vfs::HostDirMount{"/pglite", options.share_dir + "/pglite", /*read_only=*/true});
  files.mounts.push_back(vfs::MemDirMount{"/tmp", std::make_shared<vfs::MemDir>(memory), false});
  files.mounts.push_back(
      vfs::MemDirMount{"/home/postgres", std::make_shared<vfs::MemDir>(memory), false});
  files.mounts.push_back(vfs::HostDirMount{kPgDumpOutDir, output_dir, false});
  files.durable = false;  // the caller syncs the finished file
  files.stdio_sink = [on_line = std::move(on_line)](int, std::string_view line) { on_line(line); };
  return vfs::FileSystem::create(std::move(files));
}

}  // namespace pgthaw::host
