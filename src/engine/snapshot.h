// Snapshot directories: what a captured instance looks like on disk.
//
//   meta.json  format, build id, PGlite version, memory size, base, checksums,
//              the server values behind session defaults (session_settings.h)
//   state      host state outside linear memory (host::Host::SaveState)
//   vfs        fd table, cwd, in-memory files (vfs::FileSystem::save_state)
//   memory     full sparse memory image (a snapshot with no base)
//   delta      pages written since the base image, shared buffers left out
//              (buffer_eviction.h): long runs at their own offsets in a
//              sparse file, short ones packed after it (wasm::write_delta);
//              delta.pages lists them (a snapshot with a base)
//
// A snapshot names nothing of the machine it was taken on: its base is a
// path relative to it, its overlay's layers are the caller's (the tenant
// store's layer list), and its host state names function-table entries
// instead of storing addresses (host_snapshot.cc).
//
// A snapshot is written to a sibling directory and renamed into place, so it
// is whole or absent. It only loads into the build that wrote it; a missing,
// truncated, corrupt or foreign snapshot is reported as an error and the
// caller boots from files instead.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/snapshot_cache.h"

namespace pgthaw::engine {

struct SnapshotMeta {
  std::string build_id;
  std::string pglite_version;
  uint32_t memory_pages = 0;
  // Snapshot dir whose full `memory` image this one's delta applies to;
  // empty for a full image.
  std::string base;
  uint64_t state_hash = 0, vfs_hash = 0, memory_hash = 0, pages_hash = 0;
  // SessionSettings::Save(): the server's values behind the session
  // defaults in force ("" when none were ever set).
  std::string session_settings;
};

struct SnapshotFiles {
  SnapshotMeta meta;
  std::string state;
  std::string vfs;
  std::string delta_path;             // empty for a full image
  std::vector<uint32_t> delta_pages;  // ascending
  std::string memory_path;            // the image to map: own or the base's
};

// What Snapshot() hands write_snapshot(): exactly one of the two writers
// is used, by whether meta.base is set. memory_hash is the caller's (for a
// delta: hash of the pages' bytes, checked after they are mapped).
struct SnapshotWrite {
  SnapshotMeta meta;
  std::string state, vfs;
  std::vector<uint32_t> delta_pages;
  std::function<Status(const std::string& path)> write_full_image;
  std::function<Status(const std::string& path)> write_delta;
};

// Writes a snapshot atomically into `dir` (replacing an older one); `cache`
// trusts the memory file it wrote and synced.
Status write_snapshot(const std::string& dir, SnapshotWrite snapshot, SnapshotCache& cache);

// Reads and validates a snapshot (build id, sizes, checksums; the base's
// image too, once per `cache`). Kept snapshots (templates, which never change
// once written) are read through cache.ReadKept() instead.
Result<SnapshotFiles> read_snapshot(const std::string& dir, SnapshotCache& cache);

// Marks a tenant snapshot used: removed so it can never be restored over
// data committed after it. Templates are never consumed. Its meta.json is
// removed and the rest renamed aside (kConsumedSuffix); the removal is
// durable once that directory and `dir`'s parent are fsynced, which must
// happen before the tenant's first durable write: Instance::Restore owes
// those syncs to the tenant's file system, so a thaw waits for no disk.
Status consume_snapshot(const std::string& dir);
// What consume_snapshot() leaves of `dir` (renamed with this suffix), removed
// by remove_consumed_snapshot() once the thawed tenant has answered, or by
// the next consume or hibernation.
inline constexpr const char* kConsumedSuffix = ".consumed";
void remove_consumed_snapshot(const std::string& dir);

}  // namespace pgthaw::engine
