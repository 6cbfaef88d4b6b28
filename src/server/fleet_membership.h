// FleetMembership: this server as one node of a fleet (serve --etcd).
//
// At start the node registers in etcd under a lease (fleet::NodeLease, with
// its advertised Postgres address) and leaves (revokes the lease) at
// shutdown. Route(tenant) decides where a connection naming the tenant is
// served: here when this node owns it or has just claimed it
// (fleet::Placement::Claim), else at its owner's advertised address, to
// which the listener proxies the connection.
//
// Fencing: once the lease is overdue (NodeLease::serving() false) or was
// found gone, the node no longer owns its tenants: Route refuses
// (Unavailable, which clients see as 57P03) and the ownership-lost handler
// is told, so that the listener ends its connections to local tenants.
//
// Tenants this node claimed under its current lease are remembered: their
// connections are routed without asking etcd (an owner key bound to our
// lease goes only when the lease does). Thread-safe.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "fleet/etcd_client.h"
#include "fleet/node_lease.h"
#include "fleet/placement.h"

namespace pgthaw::server {

struct FleetOptions {
  std::vector<fleet::EtcdEndpoint> etcd;
  std::string node_id;
  // "host:port" where other nodes reach this node's Postgres listener.
  std::string advertise_pg;
  std::string advertise_http;  // informational (fleet status); may be empty
  std::chrono::seconds lease_ttl{10};
};

struct TenantRoute {
  bool local = false;  // this node owns the tenant: serve it here
  std::string owner;   // the owning node's id
  // The owner's advertised Postgres address (host, port) when not local.
  std::string owner_host;
  uint16_t owner_port = 0;
};

class FleetMembership {
 public:
  // Registers the node; Unavailable when etcd cannot be reached.
  static Result<std::shared_ptr<FleetMembership>> Join(FleetOptions options);
  // Stops renewing without revoking (the lease then expires): call Leave()
  // first for a graceful exit.
  ~FleetMembership();
  FleetMembership(const FleetMembership&) = delete;
  FleetMembership& operator=(const FleetMembership&) = delete;

  // Revokes the lease: every tenant of this node is free at once.
  Status Leave();

  // Where `tenant` is served; claims it when nobody owns it. Blocks for an
  // etcd round trip unless the tenant is known to be ours. Unavailable
  // (with the reason) when the node is fenced or etcd does not answer.
  Result<TenantRoute> Route(const std::string& tenant) EXCLUDES(mutex_);
  // Route() on the membership's own threads; `done` is called there.
  void RouteAsync(std::string tenant, std::function<void(Result<TenantRoute>)> done);

  bool serving() const { return lease_->serving(); }
  // Ok while serving; Unavailable (saying why) once fenced.
  Status CheckServing() const;
  const std::string& node_id() const { return lease_->node_id(); }

  // Called (on the lease's renewal thread) when the node stops owning its
  // tenants, with the reason: fenced, or its lease found gone.
  void SetOwnershipLostHandler(std::function<void(const std::string& why)> handler)
      EXCLUDES(mutex_);

 private:
  FleetMembership() = default;
  void OwnershipLost(const std::string& why) EXCLUDES(mutex_);

  std::shared_ptr<fleet::EtcdClient> client_;
  std::unique_ptr<fleet::NodeLease> lease_;
  std::unique_ptr<fleet::Placement> placement_;
  boost::asio::thread_pool pool_{2};

  Mutex mutex_;
  // Tenant -> the lease under which we claimed it.
  std::map<std::string, int64_t> owned_ GUARDED_BY(mutex_);
  std::function<void(const std::string&)> ownership_lost_ GUARDED_BY(mutex_);
};

// "host:port" ("[v6]:port" too) split; InvalidArgument if malformed.
Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& address);

}  // namespace pgthaw::server
