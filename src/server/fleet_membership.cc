#include "server/fleet_membership.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <charconv>
#include <utility>

namespace pgthaw::server {

namespace {

// Remembered claims; past it the map starts over (claims are asked again).
constexpr size_t kMaxRememberedTenants = 100'000;

}  // namespace

Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return Status::InvalidArgument("\"" + address + "\": expected HOST:PORT");
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = address.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return Status::InvalidArgument("\"" + address + "\": the port must be 1 to 65535");
  }
  return std::make_pair(std::move(host), static_cast<uint16_t>(port));
}

Result<std::shared_ptr<FleetMembership>> FleetMembership::Join(FleetOptions options) {
  fleet::EtcdClient::Options client_options;
  client_options.endpoints = options.etcd;
  std::shared_ptr<FleetMembership> m(new FleetMembership());
  m->client_ = std::make_shared<fleet::EtcdClient>(std::move(client_options));
  fleet::NodeLease::Options lease_options;
  lease_options.node_id = options.node_id;
  lease_options.addresses = {options.advertise_pg, options.advertise_http};
  lease_options.ttl = options.lease_ttl;
  // The renewal thread calls these; it stops (in ~NodeLease) before the
  // membership goes, so the raw pointer is safe.
  FleetMembership* self = m.get();
  lease_options.on_serving_changed = [self](bool serving) {
    if (serving) {
      spdlog::info("fleet: node {} holds its lease: serving", self->node_id());
    } else {
      self->OwnershipLost("node " + self->node_id() +
                          " lost its etcd lease (not renewed in time): it no longer serves its "
                          "tenants");
    }
  };
  lease_options.on_lease_replaced = [self](int64_t old_lease, int64_t new_lease) {
    self->OwnershipLost("node " + self->node_id() + " lost its etcd lease " +
                        std::to_string(old_lease) + " (registered again under " +
                        std::to_string(new_lease) + "): its tenants may have moved");
  };
  auto lease = fleet::NodeLease::Start(m->client_, std::move(lease_options));
  if (!lease.ok()) {
    return lease.status().Annotate("fleet: registering node " + options.node_id + " in etcd: ");
  }
  m->lease_ = std::move(lease).value();
  m->placement_ = std::make_unique<fleet::Placement>(m->client_, m->lease_.get());
  spdlog::info("fleet: node {} registered (lease {}, TTL {} s, postgres at {})", options.node_id,
               m->lease_->lease_id(), m->lease_->ttl().count(), options.advertise_pg);
  return m;
}

FleetMembership::~FleetMembership() {
  pool_.join();  // routes in flight end (each bounded by the etcd timeouts)
  lease_.reset();
}

Status FleetMembership::Leave() {
  Status st = lease_->Leave();
  if (st.ok()) spdlog::info("fleet: node {} left (lease revoked)", node_id());
  {
    MutexLock lock(mutex_);
    owned_.clear();
  }
  return st;
}

Status FleetMembership::CheckServing() const {
  if (lease_->serving()) return Status::Ok();
  return Status::Unavailable("node " + node_id() +
                             " lost its etcd lease (not renewed in time) and serves no tenant");
}

Result<TenantRoute> FleetMembership::Route(const std::string& tenant) {
  PGTHAW_RETURN_IF_ERROR(CheckServing());
  const int64_t lease = lease_->lease_id();
  {
    MutexLock lock(mutex_);
    auto known = owned_.find(tenant);
    if (known != owned_.end() && known->second == lease) {
      TenantRoute route;
      route.local = true;
      route.owner = node_id();
      return route;
    }
  }
  auto owner = placement_->Claim(tenant);
  if (!owner.ok()) {
    return Status::Unavailable("cannot find tenant " + tenant +
                               "'s owner in etcd: " + owner.status().message());
  }
  TenantRoute route;
  route.owner = owner->node_id;
  if (owner->owned_by_me) {
    route.local = true;
    MutexLock lock(mutex_);
    if (owned_.size() >= kMaxRememberedTenants) owned_.clear();
    owned_[tenant] = owner->lease;
    return route;
  }
  auto address = SplitHostPort(owner->addresses.postgres);
  if (!address.ok()) {
    return Status::Unavailable("tenant " + tenant + "'s owner, node " + owner->node_id +
                               ", advertises no usable Postgres address (" +
                               owner->addresses.postgres + ")");
  }
  route.owner_host = address->first;
  route.owner_port = address->second;
  return route;
}

void FleetMembership::RouteAsync(std::string tenant,
                                 std::function<void(Result<TenantRoute>)> done) {
  boost::asio::post(
      pool_, [this, tenant = std::move(tenant), done = std::move(done)] { done(Route(tenant)); });
}

void FleetMembership::SetOwnershipLostHandler(std::function<void(const std::string& why)> handler) {
  MutexLock lock(mutex_);
  ownership_lost_ = std::move(handler);
}

void FleetMembership::OwnershipLost(const std::string& why) {
  spdlog::error("fleet: {}", why);
  std::function<void(const std::string&)> handler;
  {
    MutexLock lock(mutex_);
    owned_.clear();
    handler = ownership_lost_;
  }
  if (handler) handler(why);
}

}  // namespace pgthaw::server
