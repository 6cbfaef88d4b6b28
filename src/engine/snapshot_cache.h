// engine::SnapshotCache: what one Engine remembers of snapshot files.
//
// Snapshot files are written once (a temp file, renamed) and never changed,
// so two things are worth remembering for the life of an Engine:
//  - kept snapshots (templates): read and verified once, then served from
//    memory to every thaw of a tenant over them;
//  - files whose checksum was checked, or that this Engine wrote and
//    synced: not hashed again while they are the same file (device, inode,
//    size, mtime), as a hard link to one is (a fork's share of its source's
//    snapshot).
//
// Thread-safe. The first reader of a kept snapshot reads and hashes it with
// only that snapshot's entry locked: readers of other snapshots do not wait
// for it, and a failed read is not remembered (the next caller tries again).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/status.h"

namespace pgthaw::engine {

struct SnapshotFiles;

class SnapshotCache {
 public:
  // read_snapshot(dir), once per `dir` while it succeeds.
  Result<std::shared_ptr<const SnapshotFiles>> ReadKept(const std::string& dir);

  bool VerifiedBefore(const std::string& path, uint64_t expected) const;
  void RememberVerified(const std::string& path, uint64_t expected);
  // For tests: trusts nothing any more, as after a restart.
  void ForgetVerifiedForTest();

 private:
  struct Kept {
    std::mutex mutex;  // held by the one reader of this snapshot
    std::shared_ptr<const SnapshotFiles> files;
  };
  mutable std::mutex mutex_;  // guards the two maps, never held for I/O
  std::map<std::string, std::shared_ptr<Kept>> kept_;
  std::set<std::string> verified_;
};

}  // namespace pgthaw::engine
