// engine::Engine: what every instance in the process shares: the natively
// compiled PGlite modules (initialised once) and the read-only share tree
// unpacked from PGlite's data bundle. Open() once; thread-safe after that.
#pragma once

#include <string>

#include "common/status.h"

namespace pgthaw::engine {

struct EngineOptions {
  // The unpacked data bundle (holds pglite/, home/). Default: the one the
  // build produced (PGTHAW_SHARE_DIR compiled in).
  std::string share_dir;
  // fsync/fdatasync reach the disk, so a committed transaction survives a
  // power cut, not only a process kill.
  bool durable = true;
};

class Engine {
 public:
  static Result<const Engine*> Open(EngineOptions options = {});
  const EngineOptions& options() const { return options_; }

 private:
  explicit Engine(EngineOptions options) : options_(std::move(options)) {}
  EngineOptions options_;
};

}  // namespace pgthaw::engine
