#include "fleet/node_lease.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "fleet/assign_or_return.h"

namespace pgthaw::fleet {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr size_t kMaxIdBytes = 200;
// After a failed renewal the next try comes sooner than TTL/3.
constexpr milliseconds kRetryAfterFailure{500};

milliseconds DefaultMargin(std::chrono::seconds ttl) {
  // In milliseconds before dividing: seconds(10) / 4 would be 2 s.
  return std::max<milliseconds>(std::chrono::seconds(1), milliseconds(ttl) / 4);
}

}  // namespace

std::string NodeKey(std::string_view node_id) { return "/pgthaw/nodes/" + std::string(node_id); }

std::string NodeRecordJson(std::string_view node_id, const NodeAddresses& addresses) {
  return nlohmann::json{
      {"node_id", node_id}, {"postgres", addresses.postgres}, {"http", addresses.http}}
      .dump();
}

Result<NodeAddresses> ParseNodeRecord(std::string_view json_text) {
  const nlohmann::json record = nlohmann::json::parse(json_text, nullptr, false);
  if (record.is_discarded() || !record.is_object()) {
    return Status::Corruption("node record is not a JSON object");
  }
  NodeAddresses addresses;
  if (auto it = record.find("postgres"); it != record.end() && it->is_string()) {
    addresses.postgres = it->get<std::string>();
  }
  if (auto it = record.find("http"); it != record.end() && it->is_string()) {
    addresses.http = it->get<std::string>();
  }
  return addresses;
}

Status ValidateIdSegment(std::string_view what, std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) {
    return Status::InvalidArgument(std::string(what) + " must have 1 to 200 bytes");
  }
  for (unsigned char c : id) {
    if (c == '/' || c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument(std::string(what) + " may not contain '/' or control bytes");
    }
  }
  return Status::Ok();
}

NodeLease::NodeLease(std::shared_ptr<EtcdClient> client, Options options)
    : client_(std::move(client)),
      options_(std::move(options)),
      ttl_(options_.ttl),
      margin_(options_.safety_margin.value_or(DefaultMargin(options_.ttl))) {}

Result<std::unique_ptr<NodeLease>> NodeLease::Start(std::shared_ptr<EtcdClient> client,
                                                    Options options) {
  PGTHAW_RETURN_IF_ERROR(ValidateIdSegment("node id", options.node_id));
  if (options.ttl < std::chrono::seconds(2)) {
    return Status::InvalidArgument("node lease TTL must be at least 2 s (etcd's minimum)");
  }
  if (options.safety_margin &&
      (*options.safety_margin <= milliseconds(0) || *options.safety_margin >= options.ttl)) {
    return Status::InvalidArgument("safety margin must be positive and below the TTL");
  }
  std::unique_ptr<NodeLease> lease(new NodeLease(std::move(client), std::move(options)));
  PGTHAW_RETURN_IF_ERROR(lease->Register());
  lease->ReportServing();
  if (lease->options_.background_renewal) {
    lease->renewal_thread_ = std::thread([raw = lease.get()] { raw->RenewalLoop(); });
  }
  return lease;
}

NodeLease::~NodeLease() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (renewal_thread_.joinable()) renewal_thread_.join();
}

steady_clock::time_point NodeLease::Now() const {
  return options_.clock ? options_.clock() : steady_clock::now();
}

Status NodeLease::Register() {
  // Counted from before the grant: etcd starts the TTL later than this.
  const steady_clock::time_point sent = Now();
  Lease lease;
  PGTHAW_ASSIGN_OR_RETURN(lease, client_->LeaseGrant(ttl_.count()));
  Result<int64_t> put = client_->Put(
      NodeKey(options_.node_id), NodeRecordJson(options_.node_id, options_.addresses), lease.id);
  if (!put.ok()) {
    (void)client_->LeaseRevoke(lease.id);  // best effort; it expires anyway
    return put.status().Annotate("registering node " + options_.node_id + ": ");
  }
  MutexLock lock(mutex_);
  lease_id_ = lease.id;
  registered_ = true;
  last_renewal_sent_ = sent;
  return Status::Ok();
}

Status NodeLease::RenewOnce() {
  int64_t lease = 0;
  bool registered = false;
  steady_clock::time_point fence_at;
  {
    MutexLock lock(mutex_);
    lease = lease_id_;
    registered = registered_;
    fence_at = last_renewal_sent_ + ttl_ - margin_;
  }
  if (!registered) {
    Status status = Register();
    ReportServing();
    return status;
  }
  const steady_clock::time_point sent = Now();
  // A renewal that hangs must not keep the thread past the fence, where it
  // has to report that serving stopped; past it, one try gets TTL/3.
  milliseconds timeout = std::chrono::duration_cast<milliseconds>(ttl_) / 3;
  if (fence_at > sent) {
    timeout = std::min(timeout, std::chrono::duration_cast<milliseconds>(fence_at - sent));
  }
  timeout = std::max(timeout, milliseconds(100));
  Result<int64_t> renewed = client_->LeaseKeepAlive(lease, timeout);
  if (!renewed.ok()) {
    ReportServing();
    return renewed.status().Annotate("renewing lease of node " + options_.node_id + ": ");
  }
  if (renewed.value() > 0) {
    {
      MutexLock lock(mutex_);
      if (lease_id_ == lease) last_renewal_sent_ = std::max(last_renewal_sent_, sent);
    }
    ReportServing();
    return Status::Ok();
  }
  // The lease expired (or was revoked): every key bound to it is gone.
  {
    MutexLock lock(mutex_);
    if (lease_id_ == lease) registered_ = false;
  }
  ReportServing();
  Status status = Register();
  if (status.ok() && options_.on_lease_replaced) options_.on_lease_replaced(lease, lease_id());
  ReportServing();
  return status;
}

void NodeLease::RenewalLoop() {
  const milliseconds interval = std::chrono::duration_cast<milliseconds>(ttl_) / 3;
  steady_clock::time_point next_renewal = Now() + interval;
  while (true) {
    {
      MutexLock lock(mutex_);
      // Wake for the next renewal, or at the fence to report it on time.
      steady_clock::time_point wake_at = next_renewal;
      const steady_clock::time_point fence_at = last_renewal_sent_ + ttl_ - margin_;
      if (registered_ && fence_at > Now()) wake_at = std::min(wake_at, fence_at);
      const auto wait = wake_at - Now();
      if (wait > steady_clock::duration::zero()) {
        wake_.wait_for(lock, wait, [&]() REQUIRES(mutex_) { return stopping_; });
      }
      if (stopping_) return;
    }
    if (Now() < next_renewal) {
      ReportServing();
      continue;
    }
    const Status status = RenewOnce();
    next_renewal = Now() + (status.ok() ? interval : std::min(interval, kRetryAfterFailure));
  }
}

bool NodeLease::ServingLocked() const {
  return registered_ && Now() - last_renewal_sent_ < ttl_ - margin_;
}

bool NodeLease::serving() const {
  MutexLock lock(mutex_);
  return ServingLocked();
}

void NodeLease::ReportServing() {
  MutexLock report_lock(report_mutex_);
  const bool now_serving = serving();
  if (reported_serving_ == now_serving) return;
  const bool first_report = !reported_serving_.has_value();
  reported_serving_ = now_serving;
  if (!first_report && options_.on_serving_changed) options_.on_serving_changed(now_serving);
}

int64_t NodeLease::lease_id() const {
  MutexLock lock(mutex_);
  return lease_id_;
}

steady_clock::time_point NodeLease::last_renewal_sent() const {
  MutexLock lock(mutex_);
  return last_renewal_sent_;
}

steady_clock::time_point NodeLease::fence_deadline() const {
  MutexLock lock(mutex_);
  return last_renewal_sent_ + ttl_ - margin_;
}

Status NodeLease::Leave() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (renewal_thread_.joinable()) renewal_thread_.join();
  int64_t lease = 0;
  {
    MutexLock lock(mutex_);
    lease = lease_id_;
    registered_ = false;
  }
  Status status = client_->LeaseRevoke(lease);
  if (status.code() == StatusCode::kNotFound) return Status::Ok();  // expired already
  return status;
}

}  // namespace pgthaw::fleet
