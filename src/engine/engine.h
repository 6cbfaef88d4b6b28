// engine::Engine: what the instances made through it share: the natively
// compiled PGlite modules (initialised once per process), the read-only
// share tree unpacked from PGlite's data bundle, the watchdog that makes
// deadlines reach running guest code, and what is known of snapshot files
// (snapshot_cache.h). The caller owns it and keeps it for as long as any
// instance, template or runtime made through it. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "engine/snapshot_cache.h"
#include "host/watchdog.h"

namespace pgthaw::host {
struct GuestFilesOptions;
}

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
  static Result<std::unique_ptr<Engine>> Open(EngineOptions options = {});
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineOptions& options() const { return options_; }
  // What the file trees of its instances' programs are made of.
  host::GuestFilesOptions guest_files() const;
  // Makes statement deadlines and cancels reach running instances.
  host::Watchdog* watchdog() const { return watchdog_.get(); }
  // Snapshots read and verified (or written) through this engine.
  SnapshotCache& snapshots() const { return *snapshots_; }

 private:
  explicit Engine(EngineOptions options)
      : options_(std::move(options)),
        watchdog_(std::make_unique<host::Watchdog>()),
        snapshots_(std::make_unique<SnapshotCache>()) {}
  EngineOptions options_;
  std::unique_ptr<host::Watchdog> watchdog_;
  std::unique_ptr<SnapshotCache> snapshots_;
};

}  // namespace pgthaw::engine
