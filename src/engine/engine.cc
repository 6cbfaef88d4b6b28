#include "engine/engine.h"

#include <sys/stat.h>

#include <cstdlib>
#include <memory>

#include "host/guest_files.h"

namespace pgthaw::engine {

Result<std::unique_ptr<Engine>> Engine::Open(EngineOptions options) {
  if (options.share_dir.empty()) {
    const char* env = std::getenv("PGTHAW_SHARE_DIR");
    options.share_dir = env != nullptr ? env : PGTHAW_SHARE_DIR;
  }
  struct stat st;
  std::string probe = options.share_dir + "/pglite/bin/postgres";
  if (stat(probe.c_str(), &st) != 0) {
    return Status::NotFound("PGlite share tree not found at " + options.share_dir +
                            " (run `make build`)");
  }
  return std::unique_ptr<Engine>(new Engine(std::move(options)));
}

host::GuestFilesOptions Engine::guest_files() const {
  host::GuestFilesOptions files;
  files.share_dir = options_.share_dir;
  files.disk_max_bytes = options_.tenant_disk_max_bytes;
  files.tmp_max_bytes = options_.tenant_tmp_max_bytes;
  files.durable = options_.durable;
  return files;
}

}  // namespace pgthaw::engine
