#include "engine/engine.h"

#include <sys/stat.h>

#include <cstdlib>
#include <memory>

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

}  // namespace pgthaw::engine
