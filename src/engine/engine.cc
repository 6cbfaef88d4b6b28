#include "engine/engine.h"

#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

namespace pgthaw::engine {

Result<const Engine*> Engine::Open(EngineOptions options) {
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
  // Engines are few and live as long as the process; instances point at them.
  static std::mutex mutex;
  static std::vector<std::unique_ptr<Engine>> engines;
  std::lock_guard lock(mutex);
  engines.push_back(std::unique_ptr<Engine>(new Engine(std::move(options))));
  return static_cast<const Engine*>(engines.back().get());
}

}  // namespace pgthaw::engine
