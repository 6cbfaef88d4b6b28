#include "server/http_warm_proxy_routes.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <exception>
#include <filesystem>

#include "runtime/admission.h"
#include "runtime/runtime.h"
#include "server/bounded_join.h"
#include "server/http_api_info.h"
#include "server/http_factory_routes.h"
#include "server/http_query_exec.h"
#include "server/owned_scratch_dir.h"

namespace pgthaw::server {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

const std::vector<RouteInfo> kRoutes = {
    {"GET", "/", "API info"},
    {"GET", "/ping", "Health check"},
    {"GET", "/status", "Worker and instance status"},
    {"POST", "/query", "Execute a query {sql, params?} on the shared in-memory instance"},
    {"POST", "/timing", "Query with detailed timings"},
    {"GET", "/metrics", "Prometheus metrics"},
};

}  // namespace

Result<std::unique_ptr<WarmProxyService>> WarmProxyService::Create(runtime::ScratchTemplate tmpl,
                                                                   Metrics& metrics,
                                                                   const std::string& data_dir) {
  remove_stale_scratch_dirs(kWarmProxyScratchPrefix, data_dir);
  auto dir = make_owned_scratch_dir(kWarmProxyScratchPrefix, data_dir);
  if (!dir.ok()) return dir.status();
  auto service = std::unique_ptr<WarmProxyService>(
      new WarmProxyService(std::move(tmpl), std::move(dir).value(), metrics));
  metrics.AddGauge("pgthaw_warm_proxy_instances", "Warm instances of the warm proxy (0 or 1).",
                   [s = service.get()] { return s->warm() ? 1.0 : 0.0; });
  return service;
}

WarmProxyService::WarmProxyService(runtime::ScratchTemplate tmpl, std::string scratch,
                                   Metrics& metrics)
    : template_(std::move(tmpl)),
      scratch_dir_(std::move(scratch)),
      data_dir_(scratch_dir_ + "/data"),
      metrics_(metrics),
      started_(Clock::now()) {}

WarmProxyService::~WarmProxyService() { Stop(); }

bool WarmProxyService::Stop(Clock::time_point deadline) {
  if (stopped_.exchange(true)) return true;
  boost::asio::post(thread_, [this] {
    if (instance_) instance_->Abandon();
    instance_.reset();
    warm_ = false;
  });
  if (!join_by(thread_, deadline)) {
    spdlog::error("warm proxy: a query is still running at the shutdown deadline; abandoned");
    return false;
  }
  std::error_code ec;
  fs::remove_all(scratch_dir_, ec);
  if (ec) spdlog::warn("warm proxy: remove {}: {}", scratch_dir_, ec.message());
  return true;
}

Router WarmProxyService::Routes() {
  Router router;
  router.Add("GET", "/", RouteAccess::Public(), [](const Request&, Respond respond) {
    Reply reply = api_info_reply(
        "warm-proxy",
        "One shared in-memory instance, no persistence: fastest, state is lost at exit", kRoutes);
    respond(std::move(reply));
  });
  router.Add("GET", "/ping", RouteAccess::Public(), [this](const Request&, Respond respond) {
    Reply reply;
    reply.body = {
        {"ok", true}, {"role", "warm-proxy"}, {"uptimeMs", micros_since(started_) / 1000}};
    respond(std::move(reply));
  });
  router.Add("GET", "/status", [this](const Request&, Respond respond) { respond(StatusReply()); });
  router.Add("POST", "/query",
             query_handler("", [this](QueryRequest q, Clock::time_point t, Respond r) {
               Query(q, false, t, std::move(r));
             }));
  router.Add("POST", "/timing",
             query_handler("", [this](QueryRequest q, Clock::time_point t, Respond r) {
               Query(q, true, t, std::move(r));
             }));
  router.Add("GET", "/metrics", metrics_handler(metrics_));
  return router;
}

void WarmProxyService::Query(const QueryRequest& request, bool detailed, Clock::time_point start,
                             Respond respond) {
  auto wire = encode_query(request);
  if (!wire.ok()) return respond(status_reply(wire.status()));
  if (stopped_) return respond(status_reply(Status::Unavailable("warm proxy is shutting down")));
  if (pending_.fetch_add(1) >= max_pending_ && max_pending_ != 0) {
    pending_.fetch_sub(1);
    return respond(status_reply(runtime::QueueFullError("warm-proxy", max_pending_)));
  }
  respond = counting_cold_starts(metrics_, "warm-proxy", std::move(respond));
  boost::asio::post(thread_, [this, wire = std::move(wire).value(), detailed, start,
                              respond = std::move(respond)]() mutable {
    struct Done {
      std::atomic<uint64_t>& pending;
      ~Done() { pending.fetch_sub(1); }
    } done{pending_};
    // An exception must not end this thread (nor the process): the query
    // fails, and the instance it may have unwound through is dropped.
    Reply reply;
    try {
      reply = RunQuery(wire, detailed, start);
    } catch (const std::exception& e) {
      spdlog::error("warm proxy: query threw ({}); the instance is dropped", e.what());
      if (instance_) instance_->Abandon();
      instance_.reset();
      warm_ = false;
      reply = error_reply(500, "internal", std::string("the query failed: ") + e.what());
    }
    respond(std::move(reply));
  });
}

Reply WarmProxyService::RunQuery(const std::string& wire, bool detailed, Clock::time_point start) {
  QueryTimings timings;
  timings.queue_us = micros_since(start);
  if (!instance_) {
    Clock::time_point create_start = Clock::now();
    auto made = template_.New(data_dir_, statement_timeout_ms_);
    timings.thaw_us = micros_since(create_start);
    if (!made.ok()) return with_timings(status_reply(made.status()), timings, start);
    instance_ = std::move(made).value();
    timings.cold = true;
    timings.cold_kind = runtime::cold_kind_name(runtime::ColdKind::kCreated);
    created_us_ = timings.thaw_us;
    warm_ = true;
  }
  Reply reply = execute_query(instance_->session(), wire, timings, start);
  ++queries_;
  if (detailed) {
    json phases = json::array();
    const json& t = reply.body["timings"];
    for (const char* name : {"queueUs", "thawUs", "execUs", "encodeUs"}) {
      phases.push_back({{"phase", std::string(name).substr(0, std::strlen(name) - 2)},
                        {"us", t.value(name, int64_t{0})}});
    }
    reply.body["phases"] = std::move(phases);
    reply.body["queriesServed"] = queries_.load();
  }
  return reply;
}

Reply WarmProxyService::StatusReply() const {
  Reply reply;
  reply.body = {{"role", "warm-proxy"},
                {"uptimeMs", micros_since(started_) / 1000},
                {"instance",
                 {{"state", warm_ ? "warm" : "cold"},
                  {"createdUs", created_us_.load()},
                  {"dataDir", data_dir_},
                  {"persistent", false},
                  {"queriesServed", queries_.load()}}},
                {"memory", {{"residentBytes", process_resident_bytes()}}}};
  return reply;
}

}  // namespace pgthaw::server
