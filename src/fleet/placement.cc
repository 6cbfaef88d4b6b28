#include "fleet/placement.h"

#include "fleet/assign_or_return.h"

namespace pgthaw::fleet {
namespace {

constexpr std::string_view kTenantsPrefix = "/pgthaw/tenants/";
constexpr std::string_view kOwnerSuffix = "/owner";
constexpr std::string_view kNodesPrefix = "/pgthaw/nodes/";

}  // namespace

std::string TenantOwnerKey(std::string_view tenant) {
  return std::string(kTenantsPrefix) + std::string(tenant) + std::string(kOwnerSuffix);
}

Placement::Placement(std::shared_ptr<EtcdClient> client, const NodeLease* node)
    : client_(std::move(client)), node_(node) {}

Status Placement::RequireServing(std::string_view what) const {
  if (node_->serving()) return Status::Ok();
  return Status::Unavailable("node " + node_->node_id() +
                             " is fenced (lease not renewed): " + std::string(what) + " refused");
}

Result<TenantOwner> Placement::DescribeOwner(const KeyValue& owner_key, int64_t my_lease) {
  TenantOwner owner;
  owner.node_id = owner_key.value;
  owner.fencing_token = owner_key.mod_revision;
  owner.lease = owner_key.lease;
  owner.owned_by_me = owner.node_id == node_->node_id() && owner.lease == my_lease;
  if (owner.owned_by_me) {
    owner.addresses = node_->addresses();
    return owner;
  }
  RangeResult node;
  PGTHAW_ASSIGN_OR_RETURN(node, client_->Range(NodeKey(owner.node_id)));
  if (!node.kvs.empty()) {
    Result<NodeAddresses> addresses = ParseNodeRecord(node.kvs.front().value);
    if (addresses.ok()) owner.addresses = std::move(addresses).value();
  }
  return owner;
}

Result<TenantOwner> Placement::Claim(std::string_view tenant) {
  PGTHAW_RETURN_IF_ERROR(ValidateIdSegment("tenant id", tenant));
  PGTHAW_RETURN_IF_ERROR(RequireServing("claiming tenant " + std::string(tenant)));
  const std::string key = TenantOwnerKey(tenant);
  const int64_t my_lease = node_->lease_id();
  TxnResult txn;
  PGTHAW_ASSIGN_OR_RETURN(
      txn, client_->Txn({Compare::CreateRevisionIs(key, 0)},
                        {TxnOp::Put(key, node_->node_id(), my_lease), TxnOp::Get(key)},
                        {TxnOp::Get(key)}));
  // Either branch ends by reading the key: the put's mod_revision comes back.
  if (txn.responses.empty() || txn.responses.back().kvs.empty()) {
    // The owner vanished between the compare and the read: impossible in one
    // txn, so the answer is malformed.
    return Status::Corruption("claim txn of tenant " + std::string(tenant) + " read no owner");
  }
  return DescribeOwner(txn.responses.back().kvs.front(), my_lease);
}

Result<std::optional<TenantOwner>> Placement::Owner(std::string_view tenant) {
  PGTHAW_RETURN_IF_ERROR(ValidateIdSegment("tenant id", tenant));
  RangeResult range;
  PGTHAW_ASSIGN_OR_RETURN(range, client_->Range(TenantOwnerKey(tenant)));
  if (range.kvs.empty()) return std::optional<TenantOwner>();
  TenantOwner owner;
  PGTHAW_ASSIGN_OR_RETURN(owner, DescribeOwner(range.kvs.front(), node_->lease_id()));
  return std::optional<TenantOwner>(std::move(owner));
}

Status Placement::Release(std::string_view tenant) {
  PGTHAW_RETURN_IF_ERROR(ValidateIdSegment("tenant id", tenant));
  const std::string key = TenantOwnerKey(tenant);
  TxnResult txn;
  PGTHAW_ASSIGN_OR_RETURN(txn, client_->Txn({Compare::ValueIs(key, node_->node_id()),
                                             Compare::LeaseIs(key, node_->lease_id())},
                                            {TxnOp::Delete(key)}, {}));
  if (!txn.succeeded) {
    return Status::NotFound("tenant " + std::string(tenant) + " is not owned by node " +
                            node_->node_id());
  }
  return Status::Ok();
}

Result<std::map<std::string, int64_t>> Placement::TenantCountsByNode() {
  RangeResult owners;
  PGTHAW_ASSIGN_OR_RETURN(owners, client_->RangePrefix(kTenantsPrefix));
  std::map<std::string, int64_t> counts;
  for (const KeyValue& kv : owners.kvs) {
    const std::string_view key = kv.key;
    // Only /pgthaw/tenants/<id>/owner: other per-tenant keys may live there.
    if (key.size() <= kTenantsPrefix.size() + kOwnerSuffix.size() ||
        key.substr(key.size() - kOwnerSuffix.size()) != kOwnerSuffix) {
      continue;
    }
    const std::string_view tenant =
        key.substr(kTenantsPrefix.size(), key.size() - kTenantsPrefix.size() - kOwnerSuffix.size());
    if (tenant.find('/') != std::string_view::npos) continue;
    ++counts[kv.value];
  }
  return counts;
}

Result<std::vector<NodeStatus>> Placement::ListNodes() {
  std::map<std::string, int64_t> counts;
  PGTHAW_ASSIGN_OR_RETURN(counts, TenantCountsByNode());
  RangeResult nodes;
  PGTHAW_ASSIGN_OR_RETURN(nodes, client_->RangePrefix(kNodesPrefix));
  std::vector<NodeStatus> statuses;
  for (const KeyValue& kv : nodes.kvs) {
    NodeStatus status;
    status.node_id = kv.key.substr(kNodesPrefix.size());
    status.lease = kv.lease;
    Result<NodeAddresses> addresses = ParseNodeRecord(kv.value);
    if (addresses.ok()) status.addresses = std::move(addresses).value();
    if (auto it = counts.find(status.node_id); it != counts.end()) {
      status.tenants = it->second;
      counts.erase(it);
    }
    statuses.push_back(std::move(status));
  }
  // Owners whose node key is gone (their lease is ending as we read).
  for (const auto& [node_id, tenants] : counts) {
    NodeStatus status;
    status.node_id = node_id;
    status.tenants = tenants;
    statuses.push_back(std::move(status));
  }
  return statuses;
}

std::vector<Compare> Placement::FenceCompares(std::string_view tenant,
                                              int64_t fencing_token) const {
  const std::string key = TenantOwnerKey(tenant);
  return {Compare::ModRevisionIs(key, fencing_token), Compare::ValueIs(key, node_->node_id())};
}

Status Placement::CheckFence(std::string_view tenant, int64_t fencing_token) {
  PGTHAW_RETURN_IF_ERROR(ValidateIdSegment("tenant id", tenant));
  PGTHAW_RETURN_IF_ERROR(RequireServing("writing tenant " + std::string(tenant)));
  TxnResult txn;
  PGTHAW_ASSIGN_OR_RETURN(txn, client_->Txn(FenceCompares(tenant, fencing_token), {}, {}));
  if (!txn.succeeded) {
    return Status::Aborted("node " + node_->node_id() + " no longer owns tenant " +
                           std::string(tenant) + " (fencing token " +
                           std::to_string(fencing_token) + " is stale)");
  }
  return Status::Ok();
}

Status Placement::GuardedPut(std::string_view tenant, int64_t fencing_token, std::string_view key,
                             std::string_view value) {
  PGTHAW_RETURN_IF_ERROR(ValidateIdSegment("tenant id", tenant));
  PGTHAW_RETURN_IF_ERROR(RequireServing("writing tenant " + std::string(tenant)));
  TxnResult txn;
  PGTHAW_ASSIGN_OR_RETURN(txn,
                          client_->Txn(FenceCompares(tenant, fencing_token),
                                       {TxnOp::Put(std::string(key), std::string(value))}, {}));
  if (!txn.succeeded) {
    return Status::Aborted("write for tenant " + std::string(tenant) + " rejected: node " +
                           node_->node_id() + " is a stale owner (fencing token " +
                           std::to_string(fencing_token) + ")");
  }
  return Status::Ok();
}

}  // namespace pgthaw::fleet
