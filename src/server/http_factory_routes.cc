#include "server/http_factory_routes.h"

#include <boost/asio/post.hpp>
#include <cstring>

#include "server/http_api_info.h"
#include "server/http_query_exec.h"

namespace pgthaw::server {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

const std::vector<RouteInfo> kRoutes = {
    {"GET", "/", "API info"},
    {"GET", "/ping", "Health check"},
    {"GET", "/status", "Factory status: pool, tenants, memory, uptime"},
    {"POST", "/warmup", "Fill the warm pool; reports how long it took"},
    {"POST", "/query", "Execute a query {sql, params?, tenant?} on a factory tenant"},
    {"POST", "/timing", "Query with detailed timings"},
    {"POST", "/cold-start", "Force a cold start: a brand-new instance, bypassing the pool"},
    {"GET", "/metrics", "Prometheus metrics"},
};

}  // namespace

const char* tenant_state_name(runtime::TenantState state) {
  switch (state) {
    case runtime::TenantState::kCold:
      return "cold";
    case runtime::TenantState::kThawing:
      return "thawing";
    case runtime::TenantState::kWarm:
      return "warm";
    case runtime::TenantState::kHibernating:
      return "hibernating";
  }
  return "unknown";
}

Handler query_handler(const char* default_tenant,
                      std::function<void(QueryRequest, Clock::time_point, Respond)> run) {
  return [default_tenant, run = std::move(run)](const Request& http, Respond respond) {
    auto request = parse_query_body(http.body, default_tenant);
    if (!request.ok()) return respond(error_reply(400, "bad_request", request.status().message()));
    if (http.scope && http.scope->kind == TokenScope::Kind::kTenant) {
      // The server checked the tenant before the handler ran (the route is
      // a tenant route); checked again here so that a route registered
      // with the wrong access can never serve another tenant.
      if (request->tenant != http.scope->tenant) {
        return respond(
            error_reply(403, "forbidden", "the token is scoped to tenant " + http.scope->tenant));
      }
      request->read_only = http.scope->read_only;
    }
    request->bearer = http.bearer;
    request->role = http.role;
    run(std::move(request).value(), http.received, std::move(respond));
  };
}

Handler metrics_handler(Metrics& metrics) {
  return [&metrics](const Request&, Respond respond) {
    Reply reply;
    reply.text = metrics.Render();
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    respond(std::move(reply));
  };
}

Router FactoryService::Routes() {
  Router router;
  router.Add("GET", "/", RouteAccess::Public(), [](const Request&, Respond respond) {
    respond(api_info_reply(
        "factory", "A warm pool of PGlite instances (native) serving queries for anyone", kRoutes));
  });
  router.Add("GET", "/ping", RouteAccess::Public(), [this](const Request&, Respond respond) {
    Reply reply;
    reply.body = {{"ok", true}, {"role", "factory"}, {"uptimeMs", micros_since(started_) / 1000}};
    respond(std::move(reply));
  });
  router.Add("GET", "/status", [this](const Request&, Respond respond) { respond(StatusReply()); });
  router.Add("POST", "/warmup", [this](const Request&, Respond respond) { Warmup(respond); });
  router.Add("POST", "/query", RouteAccess::Tenant(kDefaultTenant),
             query_handler(kDefaultTenant, [this](QueryRequest q, Clock::time_point t, Respond r) {
               Query(q, false, t, std::move(r));
             }));
  router.Add("POST", "/timing", RouteAccess::Tenant(kDefaultTenant),
             query_handler(kDefaultTenant, [this](QueryRequest q, Clock::time_point t, Respond r) {
               Query(q, true, t, std::move(r));
             }));
  router.Add("POST", "/cold-start",
             query_handler(kDefaultTenant, [this](QueryRequest q, Clock::time_point t, Respond r) {
               ColdStart(q, t, std::move(r));
             }));
  router.Add("GET", "/metrics", metrics_handler(metrics_));
  return router;
}

void FactoryService::Query(const QueryRequest& request, bool detailed, Clock::time_point start,
                           Respond respond) {
  respond = counting_cold_starts(metrics_, "factory", std::move(respond));
  if (!detailed) return query_tenant(runtime_, request, start, std::move(respond));
  const char* before = tenant_state_name(runtime_.state(request.tenant));
  query_tenant(runtime_, request, start,
               [before, tenant = request.tenant, respond = std::move(respond)](Reply reply) {
                 reply.body["tenant"] = tenant;
                 reply.body["stateBefore"] = before;
                 auto t = reply.body.find("timings");
                 if (t != reply.body.end()) {
                   json phases = json::array();
                   for (const char* name : {"queueUs", "thawUs", "execUs", "encodeUs"}) {
                     phases.push_back(
                         {{"phase", std::string(name, std::strlen(name) - 2)}, {"us", (*t)[name]}});
                   }
                   reply.body["phases"] = std::move(phases);
                 }
                 respond(std::move(reply));
               });
}

void FactoryService::ColdStart(const QueryRequest& request, Clock::time_point start,
                               Respond respond) {
  cold_.Run(request, start, counting_cold_starts(metrics_, "factory", std::move(respond)));
}

Reply FactoryService::StatusReply() const {
  runtime::RuntimeStats s = runtime_.stats();
  Reply reply;
  reply.body = {
      {"role", "factory"},
      {"uptimeMs", micros_since(started_) / 1000},
      {"pool", {{"size", pool_size_}, {"ready", s.pool_ready}}},
      {"tenants", {{"warm", s.warm_tenants}, {"hibernated", s.hibernated_tenants}}},
      {"memory",
       {{"warmTenantBytes", s.warm_memory_bytes}, {"residentBytes", process_resident_bytes()}}},
      {"coldStarts",
       {{"created", s.cold_starts_created},
        {"thawed", s.cold_starts_thawed},
        {"booted", s.cold_starts_booted}}},
      {"hibernations", s.hibernations}};
  return reply;
}

void FactoryService::Warmup(Respond respond) {
  // Warmup() blocks until the pool is full: not on an io thread.
  boost::asio::post(blocking_, [this, respond = std::move(respond)] {
    Clock::time_point start = Clock::now();
    size_t before = runtime_.stats().pool_ready;
    Status st = runtime_.Warmup();
    if (!st.ok()) return respond(status_reply(st));
    Reply reply;
    reply.body = {{"ok", true},
                  {"warmupUs", micros_since(start)},
                  {"poolSize", pool_size_},
                  {"poolReadyBefore", before},
                  {"poolReady", runtime_.stats().pool_ready}};
    respond(std::move(reply));
  });
}

}  // namespace pgthaw::server
