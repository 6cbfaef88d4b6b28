// FencedObjectStore: the tenant store as a fleet node writes it. Every write
// (Put, PutIfAbsent, Delete) first asks `may_write` — FleetMembership's
// CheckServing — so a node whose lease is overdue pushes nothing: a
// hibernation after it was fenced cannot overwrite what the tenant's new
// owner pushed. Reads pass through.
//
// The check is made just before each write, not inside it: a process paused
// between the two for longer than the fencing margin could still write
// late. Guarding the manifest's write by the owner's fencing token
// (fleet::Placement::GuardedPut) would close that; it is not done yet.
#pragma once

#include <functional>
#include <memory>

#include "objstore/object_store.h"

namespace pgthaw::server {

class FencedObjectStore final : public objstore::ObjectStore {
 public:
  FencedObjectStore(std::shared_ptr<objstore::ObjectStore> inner, std::function<Status()> may_write)
      : inner_(std::move(inner)), may_write_(std::move(may_write)) {}

  Status Put(std::string_view key, std::string_view bytes) override;
  Status PutIfAbsent(std::string_view key, std::string_view bytes) override;
  Result<std::string> Get(std::string_view key) override { return inner_->Get(key); }
  Result<objstore::ObjectInfo> Head(std::string_view key) override { return inner_->Head(key); }
  Result<std::vector<std::string>> List(std::string_view prefix) override {
    return inner_->List(prefix);
  }
  Status Delete(std::string_view key) override;

 private:
  const std::shared_ptr<objstore::ObjectStore> inner_;
  const std::function<Status()> may_write_;
};

}  // namespace pgthaw::server
