// Metrics: what /metrics reports, in Prometheus text format (version 0.0.4).
//
//   pgthaw_http_requests_total{role,route,method,status}       counter
//   pgthaw_http_request_duration_seconds{role,route}            histogram
//   pgthaw_cold_starts_total{role,kind}                         counter
//   pgthaw_tenants{runtime,state="warm"|"hibernated"|"pool"}    gauge
//   pgthaw_runtime_cold_starts_total{runtime,kind}              counter
//   pgthaw_tenants_created_total{runtime}                       counter
//   pgthaw_queued_requests{runtime}                             gauge
//   pgthaw_hibernations_total{runtime}                          counter
//   pgthaw_warm_memory_bytes{runtime}                           gauge
//   pgthaw_warm_proxy_instances                                 gauge
//   pgthaw_process_resident_memory_bytes                        gauge
//   pgthaw_auth_failures_total{listener,tenant?,reason}         counter
//
// Route labels are the route table's paths (unknown paths count as
// "unmatched"), so label cardinality stays bounded; so are auth failures'
// tenant labels, which name only tenants that exist.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/thread_annotations.h"
#include "runtime/runtime.h"

namespace pgthaw::server {

class Metrics {
 public:
  void RecordRequest(const std::string& role, const std::string& route, const std::string& method,
                     int status, int64_t latency_us);
  // A request answered by an instance that was not warm (kind: created,
  // thawed, booted, pool).
  void RecordColdStart(const std::string& role, const std::string& kind);
  // A refused authentication or authorization attempt.
  //   listener  "http" or "postgres"
  //   tenant    the tenant it was about, only if that tenant exists (in the
  //             credential store), else "" (no tenant label): a stranger's
  //             made-up names must not grow the label set
  //   reason    snake_case: HTTP gives "missing" (no token), "invalid" (a
  //             bad, unknown or revoked token), "forbidden" (a valid token
  //             outside its scope)
  void RecordAuthFailure(std::string_view listener, std::string_view tenant,
                         std::string_view reason);

  // Runtimes whose stats are sampled at render time. Not owned; must outlive
  // the last Render().
  void AddRuntime(const std::string& name, const runtime::Runtime* runtime);
  // Extra gauge lines, sampled at render time (the warm proxy's instance).
  void AddGauge(const std::string& name, const std::string& help, std::function<double()> sample);

  std::string Render() const;

  // Upper bounds of the latency histogram, seconds.
  static constexpr std::array<double, 14> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};  // non-cumulative
    uint64_t count = 0;
    double sum_seconds = 0;
  };
  struct Gauge {
    std::string name, help;
    std::function<double()> sample;
  };

  mutable Mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string, int>, uint64_t> requests_
      GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, Histogram> latency_ GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, uint64_t> cold_starts_ GUARDED_BY(mu_);
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> auth_failures_
      GUARDED_BY(mu_);
  std::vector<std::pair<std::string, const runtime::Runtime*>> runtimes_ GUARDED_BY(mu_);
  std::vector<Gauge> gauges_ GUARDED_BY(mu_);
};

// Resident set size of this process, bytes (from /proc/self/statm); 0 if unknown.
uint64_t process_resident_bytes();

}  // namespace pgthaw::server
