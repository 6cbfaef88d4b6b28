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

#include "engine/instance.h"
#include "engine/template.h"
#include "server/http_router.h"
#include "server/metrics.h"
#include "server/query_json.h"

namespace pgthaw::server {

class WarmProxyService {
 public:
  // Makes the scratch directory (not the instance).
  static Result<std::unique_ptr<WarmProxyService>> Create(engine::Template tmpl, Metrics& metrics);
  ~WarmProxyService();  // Stop()

  Router Routes();

  // Waits for queued queries, drops the instance, removes the directory.
  void Stop();

  const std::string& data_dir() const { return data_dir_; }
  bool warm() const { return warm_; }

 private:
  WarmProxyService(engine::Template tmpl, std::string scratch, Metrics& metrics);
  void Query(const QueryRequest& request, bool detailed,
             std::chrono::steady_clock::time_point start, Respond respond);
  Reply StatusReply() const;

  const engine::Template template_;
  const std::string scratch_dir_, data_dir_;
  Metrics& metrics_;
  const std::chrono::steady_clock::time_point started_;
  boost::asio::thread_pool thread_{1};
  // Only on thread_:
  std::unique_ptr<engine::Instance> instance_;
  std::atomic<bool> warm_{false};
  std::atomic<uint64_t> queries_{0};
  std::atomic<int64_t> created_us_{0};
  std::atomic<bool> stopped_{false};
};

// A fresh directory for data that need not survive: under /dev/shm when it
// is a writable directory, else under the system temp dir.
Result<std::string> make_memory_scratch_dir(const std::string& name_prefix);

}  // namespace pgthaw::server
