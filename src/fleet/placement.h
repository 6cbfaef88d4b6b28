// Placement: which node owns which tenant, decided in etcd.
//
// A tenant's owner key /pgthaw/tenants/<tenant>/owner holds the owning
// node's id and is bound to that node's lease: when the node's lease ends
// (it died, or left), the key is deleted and the tenant is free.
//
// Claim() is one txn: if the owner key does not exist (create_revision 0),
// put it = our node id under our lease; else read it. Exactly one of two
// nodes racing for a free tenant wins. The owner key's mod_revision is the
// owner's fencing token: it changes whenever ownership changes, so a write
// guarded by it (GuardedPut) fails after another node took the tenant over,
// however late the stale owner's write arrives.
//
// A node that is fenced (NodeLease::serving() false) claims nothing and
// guards no write. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "fleet/etcd_client.h"
#include "fleet/node_lease.h"

namespace pgthaw::fleet {

// /pgthaw/tenants/<tenant>/owner.
std::string TenantOwnerKey(std::string_view tenant);

struct TenantOwner {
  bool owned_by_me = false;
  std::string node_id;
  // The owner's advertised addresses (empty when its node key is gone).
  NodeAddresses addresses;
  // The owner key's mod_revision: what GuardedPut compares.
  int64_t fencing_token = 0;
  int64_t lease = 0;  // the owner's lease
};

struct NodeStatus {
  std::string node_id;
  NodeAddresses addresses;
  int64_t lease = 0;
  int64_t tenants = 0;  // owner keys naming this node
};

class Placement {
 public:
  // `node` is this process's registration; it outlives the Placement.
  Placement(std::shared_ptr<EtcdClient> client, const NodeLease* node);

  // Takes the tenant if nobody owns it; otherwise says who does. Ours
  // already (under our current lease) counts as owned_by_me.
  Result<TenantOwner> Claim(std::string_view tenant);
  // Who owns the tenant; nullopt when nobody does.
  Result<std::optional<TenantOwner>> Owner(std::string_view tenant);
  // Gives the tenant up if it is still ours (node id and lease match);
  // NotFound when it was not.
  Status Release(std::string_view tenant);

  // Every registered node with the number of tenants it owns (owner keys
  // of nodes no longer registered are counted under their id too).
  Result<std::vector<NodeStatus>> ListNodes();
  // Owner node id -> tenants it owns.
  Result<std::map<std::string, int64_t>> TenantCountsByNode();

  // Ok when `fencing_token` is still the tenant's owner key's mod_revision
  // and names this node; Aborted (a stale owner) otherwise.
  Status CheckFence(std::string_view tenant, int64_t fencing_token);
  // Puts key = value only if CheckFence's condition holds in the same txn:
  // a write of a stale owner is rejected (Aborted) by etcd itself.
  Status GuardedPut(std::string_view tenant, int64_t fencing_token, std::string_view key,
                    std::string_view value);

 private:
  // A TenantOwner from its owner key, with the owner's addresses read.
  Result<TenantOwner> DescribeOwner(const KeyValue& owner_key, int64_t my_lease);
  // The compares that hold while `fencing_token` is ours.
  std::vector<Compare> FenceCompares(std::string_view tenant, int64_t fencing_token) const;
  Status RequireServing(std::string_view what) const;

  const std::shared_ptr<EtcdClient> client_;
  const NodeLease* const node_;
};

}  // namespace pgthaw::fleet
