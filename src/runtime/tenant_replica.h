// runtime::TenantReplica: hibernated tenants and the template in an object
// store (objstore/), so that a node with an empty disk thaws any tenant.
//
// LAYOUT in the store (keys under the store's prefix):
//   blobs/SHA256                 one file's bytes, immutable, named by the
//                                SHA-256 of what it holds (shared by every
//                                tenant and hibernation that has that file)
//   templates/BUILD/manifest     the template's files (the first node of a
//                                build to start puts it; the others take it,
//                                so every node's tenants stack on one template)
//   tenants/ID/manifest          a hibernated tenant's files
//                                (engine::TenantStore::PortableFiles)
// A blob is zstd over a sparse stream: the file's size, then its data
// extents (offset, length, bytes); holes stay holes on the way back.
//
// TRUST. A bucket is writable by more than this process, so nothing read
// from it is believed until checked: a manifest carries an HMAC-SHA256 of
// its body under the fleet key, verified before it is parsed; its paths are
// checked against the layout (no "..", nothing outside what a tenant is);
// each blob is checked against the size and SHA-256 its manifest names
// before a byte of it is written. Pulled files land in a staging directory
// the caller renames into place, so a failed pull leaves nothing behind.
//
// Threads: thread-safe if the store is (calls for different tenants may
// run at once; calls for one tenant are serialised by the runtime).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/tenant_store.h"
#include "objstore/object_store.h"

namespace pgthaw::runtime {

struct ReplicaStats {
  uint64_t pushes = 0, pulls = 0, failures = 0;
  uint64_t bytes_up = 0, bytes_down = 0;  // objects' bytes as stored
  uint64_t push_us = 0, pull_us = 0;      // time spent, summed
};

class TenantReplica {
 public:
  // `key`: the fleet key every node of the fleet shares (at least 32 bytes).
  static Result<std::unique_ptr<TenantReplica>> Create(std::shared_ptr<objstore::ObjectStore> store,
                                                       std::string key, engine::TenantStore layout,
                                                       bool durable);

  // Puts hibernated tenant `id`'s files; its previous manifest is replaced
  // once every blob it names is in the store.
  Status PushTenant(const std::string& id);
  // Writes tenant `id`'s files from the store into the new directory
  // `staging` (the caller renames it into the tenants' directory). False if
  // the store has no such tenant.
  Result<bool> PullTenant(const std::string& id, const std::string& staging);
  // Removes tenant `id`'s manifest (its blobs may be shared; they stay).
  Status ForgetTenant(const std::string& id);
  // Whether the store has tenant `id`.
  Result<bool> HasTenant(const std::string& id);

  // The template of build `build` (its directory `dir`), put only if no
  // node put one first: Ok if the store's is this one (same files),
  // AlreadyExists if it is another. Marks `dir` once done, so that later
  // starts check nothing.
  Status PushTemplate(const std::string& build, const std::string& dir);
  // Writes the template into the new directory `staging`; false if the
  // store has none for `build`.
  Result<bool> PullTemplate(const std::string& build, const std::string& staging);

  ReplicaStats stats() const;

 private:
  TenantReplica(std::shared_ptr<objstore::ObjectStore> store, std::string key,
                engine::TenantStore layout, bool durable)
      : store_(std::move(store)),
        key_(std::move(key)),
        layout_(std::move(layout)),
        durable_(durable) {}

  // Puts the blobs of `entries` under `dir` and returns the signed manifest.
  Result<std::string> PushTree(const std::string& kind, const std::string& name,
                               const std::string& dir,
                               const std::vector<engine::TenantStore::PortableEntry>& entries);
  // Fetches and checks manifest `key`, then writes its files under `staging`.
  // `allowed` says which paths such a tree may hold.
  Result<bool> PullTree(const std::string& kind, const std::string& name,
                        const std::string& manifest_key, const std::string& staging,
                        bool (*allowed)(const std::string& rel));

  const std::shared_ptr<objstore::ObjectStore> store_;
  const std::string key_;
  const engine::TenantStore layout_;
  const bool durable_;

  std::atomic<uint64_t> pushes_{0}, pulls_{0}, failures_{0};
  std::atomic<uint64_t> bytes_up_{0}, bytes_down_{0}, push_us_{0}, pull_us_{0};
};

}  // namespace pgthaw::runtime
