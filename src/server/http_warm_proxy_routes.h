// The warm-proxy role: ONE shared instance, no persistence (the seed's Warm
// Proxy Worker, PGlite at module level, no DO).
//
//   GET  /         API info        GET  /ping     health check
//   GET  /status   the instance's state, data directory, queries served, uptime
//   POST /query    run a query on the shared instance ("tenant" is ignored)
//   POST /timing   /query with a phase list
//   GET  /metrics  Prometheus text
//
// Persistence: none, by design. The instance is created from the template
// (copy-on-write, no initdb) over a scratch data directory under /dev/shm
// (tmpfs; the system temp dir if /dev/shm is unusable), on the first query
// (that query reports cold, coldKind "created"). Stop() drops the instance
// without a checkpoint and removes the directory: every write is gone when
// the process ends, as a Worker's memory is gone when its isolate ends.
// The directory is named after its data directory and process
// (owned_scratch_dir.h): Create() first removes those a killed process of
// the same data directory left behind.
// The instance is not under the runtime's memory budget.
//
// Threads: queries run one at a time, in arrival order, on the service's own
// thread (the instance is not thread-safe). Public methods are thread-safe.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "runtime/scratch.h"
#include "server/http_router.h"
#include "server/metrics.h"
#include "server/query_json.h"

namespace pgthaw::server {

class WarmProxyService {
 public:
  // Removes stale scratch directories of `data_dir`, makes this one's (not
  // the instance).
  static Result<std::unique_ptr<WarmProxyService>> Create(runtime::ScratchTemplate tmpl,
                                                          Metrics& metrics,
                                                          const std::string& data_dir);
  ~WarmProxyService();  // Stop()

  Router Routes();

  // Waits for queued queries, drops the instance, removes the directory.
  // False if the queries were not done by `deadline`: then the service must
  // be leaked (its thread may be stuck in guest code; see bounded_join.h).
  bool Stop(std::chrono::steady_clock::time_point deadline =
                std::chrono::steady_clock::time_point::max());

  const std::string& data_dir() const { return data_dir_; }
  bool warm() const { return warm_; }
  // The server's --statement-timeout for the one instance; set before the
  // first query.
  void set_statement_timeout_ms(int64_t ms) { statement_timeout_ms_ = ms; }
  // --max-queued-per-tenant for its one instance: a query past that many
  // waiting is refused at once (503). 0: no cap.
  void set_max_pending(uint64_t n) { max_pending_ = n; }

 private:
  int64_t statement_timeout_ms_ = 0;
  uint64_t max_pending_ = 0;
  std::atomic<uint64_t> pending_{0};
  WarmProxyService(runtime::ScratchTemplate tmpl, std::string scratch, Metrics& metrics);
  void Query(const QueryRequest& request, bool detailed,
             std::chrono::steady_clock::time_point start, Respond respond);
  // On thread_: creates the instance if needed and runs the query.
  Reply RunQuery(const std::string& wire, bool detailed,
                 std::chrono::steady_clock::time_point start);
  Reply StatusReply() const;

  const runtime::ScratchTemplate template_;
  const std::string scratch_dir_, data_dir_;
  Metrics& metrics_;
  const std::chrono::steady_clock::time_point started_;
  boost::asio::thread_pool thread_{1};
  // Only on thread_:
  std::unique_ptr<runtime::ScratchInstance> instance_;
  std::atomic<bool> warm_{false};
  std::atomic<uint64_t> queries_{0};
  std::atomic<int64_t> created_us_{0};
  std::atomic<bool> stopped_{false};
};

// The name prefix of the warm proxy's scratch directories.
inline constexpr const char* kWarmProxyScratchPrefix = "pgthaw-warm-proxy";

}  // namespace pgthaw::server
