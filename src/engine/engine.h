// engine::Engine: what every instance in the process shares: the natively
// compiled PGlite modules (initialised once) and the read-only share tree
// unpacked from PGlite's data bundle. Open() once; thread-safe after that.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "host/watchdog.h"

namespace pgthaw::engine {

struct EngineOptions {
  // The unpacked data bundle (holds pglite/, home/). Default: the one the
  // build produced (PGTHAW_SHARE_DIR compiled in).
  std::string share_dir;
  // fsync/fdatasync reach the disk, so a committed transaction survives a
  // power cut, not only a process kill.
  bool durable = true;
  // Per-instance limits; 0 means none. Memory is the guest's linear memory
  // (growth past it fails, so Postgres reports 53200 "out of memory"); tmp is
  // /tmp and /dev/shm together; disk is the tenant's data directory (an
  // overlay's upper layer), past which writes fail with ENOSPC (53100).
  uint64_t tenant_memory_max_bytes = uint64_t{512} << 20;
  uint64_t tenant_tmp_max_bytes = uint64_t{64} << 20;
  uint64_t tenant_disk_max_bytes = uint64_t{10} << 30;
};

class Engine {
 public:
  static Result<const Engine*> Open(EngineOptions options = {});
  const EngineOptions& options() const { return options_; }
  // Makes statement deadlines and cancels reach running instances.
  host::Watchdog* watchdog() const { return watchdog_.get(); }

 private:
  explicit Engine(EngineOptions options)
      : options_(std::move(options)), watchdog_(std::make_unique<host::Watchdog>()) {}
  EngineOptions options_;
  std::unique_ptr<host::Watchdog> watchdog_;
};

}  // namespace pgthaw::engine
