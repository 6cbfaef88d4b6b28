#include "server/metrics.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace pgthaw::server {

namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

void Metrics::RecordRequest(const std::string& role, const std::string& route,
                            const std::string& method, int status, int64_t latency_us) {
  double seconds = static_cast<double>(latency_us) / 1e6;
  MutexLock lock(mu_);
  ++requests_[{role, route, method, status}];
  Histogram& h = latency_[{role, route}];
  ++h.count;
  h.sum_seconds += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
}

void Metrics::RecordColdStart(const std::string& role, const std::string& kind) {
  MutexLock lock(mu_);
  ++cold_starts_[{role, kind.empty() ? "unknown" : kind}];
}

void Metrics::RecordAuthFailure(std::string_view listener, std::string_view tenant,
                                std::string_view reason) {
  MutexLock lock(mu_);
  ++auth_failures_[{std::string(listener), std::string(tenant), std::string(reason)}];
}

void Metrics::AddRuntime(const std::string& name, const runtime::Runtime* runtime) {
  MutexLock lock(mu_);
  runtimes_.emplace_back(name, runtime);
}

void Metrics::AddGauge(const std::string& name, const std::string& help,
                       std::function<double()> sample) {
  MutexLock lock(mu_);
  gauges_.push_back({name, help, std::move(sample)});
}

std::string Metrics::Render() const {
  std::ostringstream out;
  MutexLock lock(mu_);
  out << "# HELP pgthaw_http_requests_total HTTP requests answered.\n"
      << "# TYPE pgthaw_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [role, route, method, status] = key;
    out << "pgthaw_http_requests_total{role=\"" << role << "\",route=\"" << route << "\",method=\""
        << method << "\",status=\"" << status << "\"} " << n << "\n";
  }
  out << "# HELP pgthaw_http_request_duration_seconds Time from request header to reply.\n"
      << "# TYPE pgthaw_http_request_duration_seconds histogram\n";
  for (const auto& [key, h] : latency_) {
    std::string labels = "role=\"" + key.first + "\",route=\"" + key.second + "\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      out << "pgthaw_http_request_duration_seconds_bucket{" << labels << ",le=\""
          << number(kBuckets[i]) << "\"} " << cumulative << "\n";
    }
    out << "pgthaw_http_request_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} " << h.count
        << "\n";
    out << "pgthaw_http_request_duration_seconds_sum{" << labels << "} " << number(h.sum_seconds)
        << "\n";
    out << "pgthaw_http_request_duration_seconds_count{" << labels << "} " << h.count << "\n";
  }
  out << "# HELP pgthaw_cold_starts_total HTTP requests answered by an instance that was not "
         "warm, by kind.\n"
      << "# TYPE pgthaw_cold_starts_total counter\n";
  for (const auto& [key, n] : cold_starts_) {
    out << "pgthaw_cold_starts_total{role=\"" << key.first << "\",kind=\"" << key.second << "\"} "
        << n << "\n";
  }
  out << "# HELP pgthaw_auth_failures_total Refused authentication and authorization "
         "attempts, by listener and reason.\n"
      << "# TYPE pgthaw_auth_failures_total counter\n";
  for (const auto& [key, n] : auth_failures_) {
    const auto& [listener, tenant, reason] = key;
    out << "pgthaw_auth_failures_total{listener=\"" << listener << "\"";
    if (!tenant.empty()) out << ",tenant=\"" << tenant << "\"";
    out << ",reason=\"" << reason << "\"} " << n << "\n";
  }
  out << "# HELP pgthaw_tenants Tenants by state.\n# TYPE pgthaw_tenants gauge\n";
  for (const auto& [name, rt] : runtimes_) {
    runtime::RuntimeStats s = rt->stats();
    out << "pgthaw_tenants{runtime=\"" << name << "\",state=\"warm\"} " << s.warm_tenants << "\n"
        << "pgthaw_tenants{runtime=\"" << name << "\",state=\"hibernated\"} "
        << s.hibernated_tenants << "\n"
        << "pgthaw_tenants{runtime=\"" << name << "\",state=\"pool\"} " << s.pool_ready << "\n";
  }
  out << "# HELP pgthaw_runtime_cold_starts_total Instances the runtime started, by kind.\n"
      << "# TYPE pgthaw_runtime_cold_starts_total counter\n";
  for (const auto& [name, rt] : runtimes_) {
    runtime::RuntimeStats s = rt->stats();
    out << "pgthaw_runtime_cold_starts_total{runtime=\"" << name << "\",kind=\"created\"} "
        << s.cold_starts_created << "\n"
        << "pgthaw_runtime_cold_starts_total{runtime=\"" << name << "\",kind=\"thawed\"} "
        << s.cold_starts_thawed << "\n"
        << "pgthaw_runtime_cold_starts_total{runtime=\"" << name << "\",kind=\"booted\"} "
        << s.cold_starts_booted << "\n";
  }
  out << "# HELP pgthaw_tenants_created_total New tenants (directories) the runtime made.\n"
      << "# TYPE pgthaw_tenants_created_total counter\n";
  for (const auto& [name, rt] : runtimes_) {
    out << "pgthaw_tenants_created_total{runtime=\"" << name << "\"} "
        << rt->stats().tenants_created << "\n";
  }
  out << "# HELP pgthaw_queued_requests Work items waiting for their tenant's turn.\n"
      << "# TYPE pgthaw_queued_requests gauge\n";
  for (const auto& [name, rt] : runtimes_) {
    out << "pgthaw_queued_requests{runtime=\"" << name << "\"} " << rt->stats().queued << "\n";
  }
  out << "# HELP pgthaw_hibernations_total Tenants hibernated.\n"
      << "# TYPE pgthaw_hibernations_total counter\n";
  for (const auto& [name, rt] : runtimes_) {
    out << "pgthaw_hibernations_total{runtime=\"" << name << "\"} " << rt->stats().hibernations
        << "\n";
  }
  // The object store (RuntimeOptions::store); zeros for a runtime without.
  struct StoreCounter {
    const char* name;
    const char* help;
    uint64_t runtime::ReplicaStats::*field;
    double scale;
  };
  const StoreCounter store_counters[] = {
      {"pgthaw_store_pushes_total", "Hibernated tenants put into the object store.",
       &runtime::ReplicaStats::pushes, 1},
      {"pgthaw_store_pulls_total", "Tenants taken from the object store.",
       &runtime::ReplicaStats::pulls, 1},
      {"pgthaw_store_failures_total", "Pushes and pulls that failed.",
       &runtime::ReplicaStats::failures, 1},
      {"pgthaw_store_sent_bytes_total", "Bytes put into the object store.",
       &runtime::ReplicaStats::bytes_up, 1},
      {"pgthaw_store_received_bytes_total", "Bytes read from the object store.",
       &runtime::ReplicaStats::bytes_down, 1},
      {"pgthaw_store_push_seconds_total", "Time spent pushing tenants.",
       &runtime::ReplicaStats::push_us, 1e-6},
      {"pgthaw_store_pull_seconds_total", "Time spent pulling tenants.",
       &runtime::ReplicaStats::pull_us, 1e-6},
  };
  for (const StoreCounter& c : store_counters) {
    out << "# HELP " << c.name << " " << c.help << "\n# TYPE " << c.name << " counter\n";
    for (const auto& [name, rt] : runtimes_) {
      const double value = static_cast<double>(rt->stats().replica.*c.field) * c.scale;
      out << c.name << "{runtime=\"" << name << "\"} " << value << "\n";
    }
  }
  out << "# HELP pgthaw_warm_memory_bytes Estimated private memory of warm tenants.\n"
      << "# TYPE pgthaw_warm_memory_bytes gauge\n";
  for (const auto& [name, rt] : runtimes_) {
    out << "pgthaw_warm_memory_bytes{runtime=\"" << name << "\"} " << rt->stats().warm_memory_bytes
        << "\n";
  }
  for (const Gauge& g : gauges_) {
    out << "# HELP " << g.name << " " << g.help << "\n# TYPE " << g.name << " gauge\n"
        << g.name << " " << number(g.sample()) << "\n";
  }
  out << "# HELP pgthaw_process_resident_memory_bytes Resident set size of the process.\n"
      << "# TYPE pgthaw_process_resident_memory_bytes gauge\n"
      << "pgthaw_process_resident_memory_bytes " << process_resident_bytes() << "\n";
  return out.str();
}

uint64_t process_resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace pgthaw::server
