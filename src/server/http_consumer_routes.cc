#include "server/http_consumer_routes.h"

#include "server/http_api_info.h"
#include "server/http_query_exec.h"

namespace pgthaw::server {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

const std::vector<RouteInfo> kRoutes = {
    {"GET", "/", "API info"},
    {"POST", "/direct", "Query via the tenant's own instance {sql, params?, tenant?}"},
    {"POST", "/factory", "Query via the factory binding"},
    {"POST", "/compare", "Run both (direct, then factory) and compare timings"},
    {"POST", "/cold-direct", "Force a cold start: a brand-new tenant instance"},
    {"POST", "/cold-factory", "Force a cold start via the factory"},
    {"GET", "/metrics", "Prometheus metrics"},
};

int64_t total_us(const Reply& reply) {
  auto t = reply.body.find("timings");
  if (t == reply.body.end() || !t->is_object()) return -1;
  return t->value("totalUs", int64_t{-1});
}

}  // namespace

Router ConsumerService::Routes() {
  Router router;
  router.Add("GET", "/", RouteAccess::Public(), [this](const Request&, Respond respond) {
    Reply reply = api_info_reply(
        "consumer", "Tenants' own instances, and a binding to the factory to compare", kRoutes);
    reply.body["binding"] = {{"kind", binding_.kind()}, {"target", binding_.target()}};
    respond(std::move(reply));
  });
  router.Add("POST", "/direct", RouteAccess::Tenant(kDefaultTenant),
             query_handler(kDefaultTenant, [this](QueryRequest q, Clock::time_point t, Respond r) {
               Direct(q, t, std::move(r));
             }));
  router.Add("POST", "/factory", RouteAccess::Tenant(kDefaultTenant),
             query_handler(kDefaultTenant, [this](QueryRequest q, Clock::time_point t, Respond r) {
               ViaFactory(FactoryBinding::Call::kQuery, q, t, std::move(r));
             }));
  router.Add("POST", "/compare", RouteAccess::Tenant(kDefaultTenant),
             query_handler(kDefaultTenant, [this](QueryRequest q, Clock::time_point t, Respond r) {
               Compare(q, t, std::move(r));
             }));
  router.Add("POST", "/cold-direct",
             query_handler(kDefaultTenant, [this](QueryRequest q, Clock::time_point t, Respond r) {
               cold_.Run(q, t, counting_cold_starts(metrics_, "consumer", std::move(r)));
             }));
  router.Add("POST", "/cold-factory",
             query_handler(kDefaultTenant, [this](QueryRequest q, Clock::time_point t, Respond r) {
               ViaFactory(FactoryBinding::Call::kColdStart, q, t, std::move(r));
             }));
  router.Add("GET", "/metrics", metrics_handler(metrics_));
  return router;
}

void ConsumerService::Direct(const QueryRequest& request, Clock::time_point start,
                             Respond respond) {
  query_tenant(runtime_, request, start,
               counting_cold_starts(metrics_, "consumer", std::move(respond)), &handover_,
               &activity_);
}

// The factory's reply, with "binding": kind, target and the round trip as
// the consumer saw it (bindingUs: call to reply, including the factory's
// own totalUs).
void ConsumerService::ViaFactory(FactoryBinding::Call call, const QueryRequest& request,
                                 Clock::time_point start, Respond respond) {
  Clock::time_point called = Clock::now();
  binding_.Run(call, request, [this, called, start, respond = std::move(respond)](Reply reply) {
    reply.body["binding"] = {{"kind", binding_.kind()},
                             {"target", binding_.target()},
                             {"bindingUs", micros_since(called)},
                             {"consumerTotalUs", micros_since(start)}};
    respond(std::move(reply));
  });
}

void ConsumerService::Compare(const QueryRequest& request, Clock::time_point start,
                              Respond respond) {
  // Sequential, so neither path competes with the other for the CPU.
  Clock::time_point direct_start = Clock::now();
  Direct(request, start, [this, request, direct_start, respond = std::move(respond)](Reply direct) {
    int64_t direct_us = micros_since(direct_start);
    Clock::time_point factory_start = Clock::now();
    ViaFactory(FactoryBinding::Call::kQuery, request, factory_start,
               [this, direct = std::move(direct), direct_us, factory_start,
                respond = std::move(respond)](Reply factory) {
                 int64_t factory_us = micros_since(factory_start);
                 Reply reply;
                 bool both_ok = direct.status == 200 && factory.status == 200;
                 reply.status = direct.status != 200 ? direct.status : factory.status;
                 reply.body = {{"binding", binding_.kind()},
                               {"bindingTarget", binding_.target()},
                               {"direct",
                                {{"status", direct.status},
                                 {"elapsedUs", direct_us},
                                 {"serverTotalUs", total_us(direct)},
                                 {"result", direct.body}}},
                               {"factory",
                                {{"status", factory.status},
                                 {"elapsedUs", factory_us},
                                 {"serverTotalUs", total_us(factory)},
                                 {"result", factory.body}}},
                               {"differenceUs", direct_us - factory_us},
                               {"faster", direct_us <= factory_us ? "direct" : "factory"},
                               {"sameRows", direct.body.value("rows", json()) ==
                                                factory.body.value("rows", json())}};
                 if (!both_ok) {
                   reply.body["error"] = {{"message", "one side failed; see direct/factory"},
                                          {"code", "compare_failed"}};
                 }
                 respond(std::move(reply));
               });
  });
}

}  // namespace pgthaw::server
