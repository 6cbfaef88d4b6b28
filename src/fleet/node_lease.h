// NodeLease: one pgthaw node's registration in etcd, and its fence.
//
// Start() grants a lease of Options::ttl and puts /pgthaw/nodes/<node-id> =
// {"node_id", "postgres", "http"} (the node's advertised addresses) bound
// to it. A background thread renews the lease every TTL/3. Every tenant
// owner key the node writes is bound to the same lease (Placement), so when
// the node dies its lease expires and its tenants are free.
//
// Fencing: etcd lets the lease expire TTL after the last renewal it
// received; this node counts from the moment it *sent* its last successful
// renewal, which is earlier. serving() turns false once
//   now - last_renewal_sent >= TTL - safety_margin
// (margin max(1 s, TTL/4) unless given): the node stops serving and writing
// its tenants while its lease still holds them, before another node can
// take them over. A renewal that works again (the lease still alive) turns
// serving() back on. When a renewal finds the lease gone (etcd answers
// TTL 0), the node's tenants are gone too: it registers again with a new
// lease and tells on_lease_replaced; its tenants must be claimed anew.
//
// The clock (Options::clock) decides fencing; the renewal thread paces
// itself in real time. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "fleet/etcd_client.h"

namespace pgthaw::fleet {

// Where clients reach a node ("host:port"); empty when it does not serve that.
struct NodeAddresses {
  std::string postgres;
  std::string http;
};

// The key of a node's registration: /pgthaw/nodes/<node-id>.
std::string NodeKey(std::string_view node_id);
// The registration's value (JSON) and back.
std::string NodeRecordJson(std::string_view node_id, const NodeAddresses& addresses);
Result<NodeAddresses> ParseNodeRecord(std::string_view json_text);
// Node and tenant ids become key segments: non-empty, at most 200 bytes, no
// '/' and no control characters.
Status ValidateIdSegment(std::string_view what, std::string_view id);

class NodeLease {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Options {
    std::string node_id;
    NodeAddresses addresses;
    std::chrono::seconds ttl{10};
    // How long before the lease could expire the node stops serving; unset:
    // max(1 s, ttl/4). Must be less than ttl.
    std::optional<std::chrono::milliseconds> safety_margin;
    Clock clock;  // unset: steady_clock::now
    // false: no renewal thread; the caller calls RenewOnce (tests).
    bool background_renewal = true;
    // Called on the renewal thread when serving() changes.
    std::function<void(bool serving)> on_serving_changed;
    // Called on the renewal thread after the lease was found gone and the
    // node registered again under `new_lease`.
    std::function<void(int64_t old_lease, int64_t new_lease)> on_lease_replaced;
  };

  // Registers the node (grant, put) and starts renewing.
  static Result<std::unique_ptr<NodeLease>> Start(std::shared_ptr<EtcdClient> client,
                                                  Options options);
  // Stops renewing; the lease is left to expire (Leave() revokes it).
  ~NodeLease();
  NodeLease(const NodeLease&) = delete;
  NodeLease& operator=(const NodeLease&) = delete;

  // A graceful exit: stops renewing and revokes the lease, which deletes
  // the node key and every owner key bound to it at once.
  Status Leave();

  // One renewal now. Ok when the lease was renewed, or was found gone and
  // the node registered again; the failure otherwise.
  Status RenewOnce() EXCLUDES(mutex_);

  // Whether the node may serve and write its tenants (see the file comment).
  bool serving() const EXCLUDES(mutex_);
  // The current lease (changes when the node registers again).
  int64_t lease_id() const EXCLUDES(mutex_);
  const std::string& node_id() const { return options_.node_id; }
  const NodeAddresses& addresses() const { return options_.addresses; }
  std::chrono::seconds ttl() const { return ttl_; }
  std::chrono::milliseconds safety_margin() const { return margin_; }
  // When the last successful renewal (or the registration) was sent.
  std::chrono::steady_clock::time_point last_renewal_sent() const EXCLUDES(mutex_);
  // When serving() turns false unless a renewal succeeds first.
  std::chrono::steady_clock::time_point fence_deadline() const EXCLUDES(mutex_);

 private:
  NodeLease(std::shared_ptr<EtcdClient> client, Options options);
  // Grants a lease and puts the node key under it; on success the lease and
  // last_renewal_sent_ are the new ones.
  Status Register() EXCLUDES(mutex_);
  void RenewalLoop() EXCLUDES(mutex_);
  bool ServingLocked() const REQUIRES(mutex_);
  // Calls on_serving_changed when serving() differs from what was reported.
  void ReportServing() EXCLUDES(mutex_, report_mutex_);
  std::chrono::steady_clock::time_point Now() const;

  const std::shared_ptr<EtcdClient> client_;
  const Options options_;
  // As asked: etcd grants at least that, so fencing by it is conservative.
  const std::chrono::seconds ttl_;
  const std::chrono::milliseconds margin_;

  mutable Mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ GUARDED_BY(mutex_) = false;
  int64_t lease_id_ GUARDED_BY(mutex_) = 0;
  // No lease (between finding it gone and registering again): not serving.
  bool registered_ GUARDED_BY(mutex_) = false;
  std::chrono::steady_clock::time_point last_renewal_sent_ GUARDED_BY(mutex_);
  // Taken around the report so that callbacks come one at a time, in order.
  Mutex report_mutex_ ACQUIRED_BEFORE(mutex_);
  std::optional<bool> reported_serving_ GUARDED_BY(report_mutex_);
  std::thread renewal_thread_;
};

}  // namespace pgthaw::fleet
