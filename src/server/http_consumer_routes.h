// The consumer role: each tenant's own instance (the seed's Consumer DO) and
// the binding to the factory (the seed's service binding).
//
//   GET  /              API info
//   POST /direct        the query on the tenant's own instance ("default" if none)
//   POST /factory       the same query through the binding to the factory
//   POST /compare       both, one after the other, with the difference
//   POST /cold-direct   a brand-new tenant instance (created, queried, deleted)
//   POST /cold-factory  a cold start through the factory (its /cold-start)
//   GET  /metrics       Prometheus text
//
// Thread-safe; everything it references must outlive it.
#pragma once

#include <chrono>

#include "runtime/runtime.h"
#include "server/connection_activity.h"
#include "server/factory_binding.h"
#include "server/http_cold_start.h"
#include "server/http_router.h"
#include "server/metrics.h"
#include "server/session_handover.h"

namespace pgthaw::server {

class ConsumerService {
 public:
  // `handover`, `activity`: the tenants' sessions are shared with the
  // Postgres listener (session_handover.h, connection_activity.h).
  ConsumerService(runtime::Runtime& runtime, SessionHandover& handover,
                  const ConnectionActivity& activity, ColdStarter& cold, FactoryBinding& binding,
                  Metrics& metrics)
      : runtime_(runtime),
        handover_(handover),
        activity_(activity),
        cold_(cold),
        binding_(binding),
        metrics_(metrics) {}

  Router Routes();

  static constexpr const char* kDefaultTenant = "default";

 private:
  void Direct(const QueryRequest& request, std::chrono::steady_clock::time_point start,
              Respond respond);
  void ViaFactory(FactoryBinding::Call call, const QueryRequest& request,
                  std::chrono::steady_clock::time_point start, Respond respond);
  void Compare(const QueryRequest& request, std::chrono::steady_clock::time_point start,
               Respond respond);

  runtime::Runtime& runtime_;
  SessionHandover& handover_;
  const ConnectionActivity& activity_;
  ColdStarter& cold_;
  FactoryBinding& binding_;
  Metrics& metrics_;
};

}  // namespace pgthaw::server
