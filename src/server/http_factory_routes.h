// The factory role: a warm pool of instances answering anyone's queries (the
// seed's Factory Worker + Factory DO).
//
//   GET  /            API info          GET  /ping    health check
//   GET  /status      pool, tenants, memory, uptime
//   POST /warmup      fill the warm pool; reports how long it took
//   POST /query       run a query on a factory tenant ("default" if none given)
//   POST /timing      /query with the tenant's state before and a phase list
//   POST /cold-start  answer from a brand-new instance, bypassing the pool
//   GET  /metrics     Prometheus text
//
// The factory's tenants live in their own runtime (its own data root), apart
// from the consumer's tenants, as the seed's Factory DO was apart from each
// Consumer DO. Query() and ColdStart() are what the in-process binding calls.
// Thread-safe; everything it references must outlive it.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>

#include "runtime/runtime.h"
#include "server/http_cold_start.h"
#include "server/http_router.h"
#include "server/metrics.h"
#include "server/query_json.h"

namespace pgthaw::server {

class FactoryService {
 public:
  FactoryService(runtime::Runtime& runtime, ColdStarter& cold, Metrics& metrics,
                 boost::asio::thread_pool& blocking, unsigned pool_size)
      : runtime_(runtime),
        cold_(cold),
        metrics_(metrics),
        blocking_(blocking),
        pool_size_(pool_size),
        started_(std::chrono::steady_clock::now()) {}

  Router Routes();

  // The bodies of POST /query (detailed = /timing) and POST /cold-start.
  void Query(const QueryRequest& request, bool detailed,
             std::chrono::steady_clock::time_point start, Respond respond);
  void ColdStart(const QueryRequest& request, std::chrono::steady_clock::time_point start,
                 Respond respond);

  static constexpr const char* kDefaultTenant = "default";

 private:
  Reply StatusReply() const;
  void Warmup(Respond respond);

  runtime::Runtime& runtime_;
  ColdStarter& cold_;
  Metrics& metrics_;
  boost::asio::thread_pool& blocking_;
  const unsigned pool_size_;
  const std::chrono::steady_clock::time_point started_;
};

// Name of a runtime::TenantState ("cold", "thawing", "warm", "hibernating").
const char* tenant_state_name(runtime::TenantState state);

// Handler for a POST whose body is a query: parses it (400 on failure) and
// passes it on with the time its header arrived.
Handler query_handler(
    const char* default_tenant,
    std::function<void(QueryRequest, std::chrono::steady_clock::time_point, Respond)> run);

// GET /metrics for `metrics`.
Handler metrics_handler(Metrics& metrics);

}  // namespace pgthaw::server
