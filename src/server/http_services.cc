#include "server/http_services.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "runtime/scratch.h"
#include "server/bounded_join.h"
#include "server/factory_binding.h"
#include "server/http_admin_routes.h"
#include "server/http_cold_start.h"
#include "server/http_consumer_routes.h"
#include "server/http_factory_routes.h"
#include "server/http_server.h"
#include "server/http_warm_proxy_routes.h"
#include "server/query_json.h"
#include "server/tenant_admin.h"

namespace pgthaw::server {

namespace fs = std::filesystem;
using tcp = boost::asio::ip::tcp;

// Declaration order is construction order; members are destroyed in reverse,
// so servers go before the services they call, and those before runtimes.
struct HttpServices::Parts {
  explicit Parts(unsigned blocking_threads) : blocking(blocking_threads) {}
  std::unique_ptr<Metrics> metrics = std::make_unique<Metrics>();
  boost::asio::thread_pool blocking;
  std::unique_ptr<runtime::Runtime> tenant_runtime, factory_runtime;
  // Whose settings each of tenant_runtime's sessions holds: shared by the
  // consumer's queries and the Postgres listener's connections.
  std::shared_ptr<SessionHandover> tenant_handover = std::make_shared<SessionHandover>();
  // What pg_stat_activity shows of the listener's connections, to both.
  std::shared_ptr<ConnectionActivity> tenant_activity = std::make_shared<ConnectionActivity>();
  std::unique_ptr<ColdStarter> consumer_cold, factory_cold;
  std::unique_ptr<FactoryService> factory;
  std::unique_ptr<FactoryBinding> binding;
  std::unique_ptr<ConsumerService> consumer;
  // The tenant admin API (with a credential store only), on the consumer.
  std::shared_ptr<CredentialStore> credentials;  // kept alive for tenant_admin
  std::unique_ptr<TenantAdmin> tenant_admin;
  std::unique_ptr<AdminService> admin;
  std::string upload_dir;  // the admin API's archives; "" without it
  std::unique_ptr<WarmProxyService> warm_proxy;
  std::unique_ptr<HttpServer> factory_server, consumer_server, warm_proxy_server;
  bool shut_down = false;
  bool abandoned = false;  // Shutdown ran out of time
  Status shutdown_status;
};

namespace {

constexpr std::chrono::milliseconds kJoinGrace{200};

Result<std::unique_ptr<runtime::Runtime>> start_runtime(const runtime::Engine& engine,
                                                        const HttpServicesOptions& o,
                                                        const std::string& root,
                                                        bool create_on_first_use, bool with_store) {
  runtime::RuntimeOptions ro;
  ro.data_root = root;
  if (with_store) {
    ro.store = o.store;
    ro.store_key = o.store_key;
    ro.may_open_tenant = o.may_open_tenant;
  }
  ro.create_on_first_use = create_on_first_use;
  ro.threads = o.runtime_threads;
  ro.idle_timeout_ms = o.idle_timeout_ms;
  ro.statement_timeout_ms = o.statement_timeout_ms;
  ro.idle_in_transaction_timeout_ms = o.idle_in_transaction_timeout_ms;
  ro.memory_budget_bytes = o.memory_budget_bytes;
  ro.warm_pool_size = o.pool_size;
  ro.max_queued_per_tenant = o.max_queued_per_tenant;
  ro.max_tenants = o.max_tenants;
  auto rt = runtime::Runtime::Start(engine, ro);
  if (!rt.ok()) return rt.status().Annotate("runtime over " + root + ": ");
  return std::move(rt).value();
}

Result<std::unique_ptr<ColdStarter>> make_cold_starter(const runtime::Engine& engine,
                                                       const std::string& root,
                                                       boost::asio::thread_pool& pool) {
  auto tmpl = runtime::ScratchTemplate::Ensure(engine, root);
  if (!tmpl.ok()) return tmpl.status().Annotate("template in " + root + ": ");
  std::string scratch = root + "/scratch";
  std::error_code ec;
  fs::remove_all(scratch, ec);  // leftovers of a killed process
  return std::make_unique<ColdStarter>(std::move(tmpl).value(), scratch, pool);
}

Result<std::unique_ptr<HttpServer>> listen(boost::asio::io_context& io, const tcp::endpoint& at,
                                           Router router, const char* role,
                                           const HttpServicesOptions& o, Metrics* metrics,
                                           const std::string& upload_dir = "") {
  HttpServerOptions so;
  so.upload_dir = upload_dir;
  so.max_upload_bytes = o.max_upload_bytes;
  so.role = role;
  so.max_body_bytes = o.max_body_bytes;
  so.access.credentials = o.credentials;
  so.access.allowed_hosts = o.allowed_hosts;
  so.access.allowed_origins = o.allowed_origins;
  so.tls = o.tls;
  return HttpServer::Start(io, at, std::move(router), so, metrics);
}

}  // namespace

Result<std::unique_ptr<HttpServices>> HttpServices::Start(boost::asio::io_context& io,
                                                          const runtime::Engine& engine,
                                                          HttpServicesOptions o) {
  auto p = std::make_unique<Parts>(std::max(1u, o.blocking_threads));
  set_max_result_bytes(o.max_result_bytes);
  std::error_code ec;
  fs::create_directories(o.data_dir, ec);
  if (ec) return Status::IoError("mkdir " + o.data_dir + ": " + ec.message());
  const std::string factory_root = o.data_dir + "/factory";

  if (o.consumer) {
    auto rt = start_runtime(engine, o, o.data_dir, o.auto_create_tenants, /*with_store=*/true);
    if (!rt.ok()) return rt.status();
    p->tenant_runtime = std::move(rt).value();
    p->metrics->AddRuntime("tenants", p->tenant_runtime.get());
    auto cold = make_cold_starter(engine, o.data_dir, p->blocking);
    if (!cold.ok()) return cold.status();
    p->consumer_cold = std::move(cold).value();
    p->consumer_cold->set_statement_timeout_ms(o.statement_timeout_ms);
    p->consumer_cold->set_max_pending(o.max_queued_per_tenant);
  }
  if (o.factory) {
    fs::create_directories(factory_root, ec);
    if (ec) return Status::IoError("mkdir " + factory_root + ": " + ec.message());
    // The factory's tenants are its own namespace: always made on first use.
    auto rt = start_runtime(engine, o, factory_root, /*create_on_first_use=*/true,
                            /*with_store=*/false);
    if (!rt.ok()) return rt.status();
    p->factory_runtime = std::move(rt).value();
    p->metrics->AddRuntime("factory", p->factory_runtime.get());
    auto cold = make_cold_starter(engine, factory_root, p->blocking);
    if (!cold.ok()) return cold.status();
    p->factory_cold = std::move(cold).value();
    p->factory_cold->set_statement_timeout_ms(o.statement_timeout_ms);
    p->factory_cold->set_max_pending(o.max_queued_per_tenant);
    p->factory = std::make_unique<FactoryService>(*p->factory_runtime, *p->factory_cold,
                                                  *p->metrics, p->blocking, o.pool_size);
  }
  if (o.consumer) {
    if (p->factory && o.factory_url.empty()) {
      p->binding = make_in_process_binding(*p->factory);
    } else {
      std::string url = o.factory_url;
      if (url.empty()) {
        // A factory listening on every address is reached on loopback: the
        // Host it checks must be one of its own (http_access.h).
        boost::asio::ip::address at = o.factory_listen.address();
        if (at.is_unspecified()) {
          at = at.is_v4() ? boost::asio::ip::address(boost::asio::ip::address_v4::loopback())
                          : boost::asio::ip::address(boost::asio::ip::address_v6::loopback());
        }
        url = "http://" + at.to_string() + ":" + std::to_string(o.factory_listen.port());
      }
      auto binding = make_http_binding(io, url, o.binding_timeout);
      if (!binding.ok()) return binding.status();
      p->binding = std::move(binding).value();
    }
    p->consumer = std::make_unique<ConsumerService>(*p->tenant_runtime, *p->tenant_handover,
                                                    *p->tenant_activity, *p->consumer_cold,
                                                    *p->binding, *p->metrics);
    if (o.credentials != nullptr) {
      p->credentials = o.credentials;
      p->tenant_admin =
          std::make_unique<TenantAdmin>(*p->tenant_runtime, *o.credentials, p->tenant_handover);
      // Archives uploaded to and downloaded from the admin API pass here;
      // what a killed process left goes.
      p->upload_dir = o.data_dir + "/uploads";
      std::error_code ec;
      fs::remove_all(p->upload_dir, ec);
      fs::create_directories(p->upload_dir, ec);
      if (ec) return Status::FromErrno("mkdir " + p->upload_dir, ec.value());
      p->admin = std::make_unique<AdminService>(*p->tenant_admin, p->blocking, p->upload_dir);
    }
  }
  if (o.warm_proxy) {
    auto tmpl = runtime::ScratchTemplate::Ensure(engine, o.data_dir);
    if (!tmpl.ok()) return tmpl.status().Annotate("template in " + o.data_dir + ": ");
    auto wp = WarmProxyService::Create(std::move(tmpl).value(), *p->metrics, o.data_dir);
    if (!wp.ok()) return wp.status();
    p->warm_proxy = std::move(wp).value();
    p->warm_proxy->set_statement_timeout_ms(o.statement_timeout_ms);
    p->warm_proxy->set_max_pending(o.max_queued_per_tenant);
  }

  Metrics* m = p->metrics.get();
  if (p->factory) {
    auto s = listen(io, o.factory_listen, p->factory->Routes(), "factory", o, m);
    if (!s.ok()) return s.status();
    p->factory_server = std::move(s).value();
  }
  if (p->consumer) {
    Router router = p->consumer->Routes();
    if (p->admin) p->admin->AddRoutes(router);  // trust mode: no admin routes (404)
    auto s = listen(io, o.consumer_listen, std::move(router), "consumer", o, m, p->upload_dir);
    if (!s.ok()) return s.status();
    p->consumer_server = std::move(s).value();
  }
  if (p->warm_proxy) {
    auto s = listen(io, o.warm_proxy_listen, p->warm_proxy->Routes(), "warm-proxy", o, m);
    if (!s.ok()) return s.status();
    p->warm_proxy_server = std::move(s).value();
  }
  return std::unique_ptr<HttpServices>(new HttpServices(std::move(p)));
}

HttpServices::HttpServices(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

HttpServices::~HttpServices() {
  if (Status st = Shutdown(std::chrono::seconds(5)); !st.ok()) {
    spdlog::error("shutdown: {}", st.ToString());
  }
  // Threads stuck in guest code still use the parts: leak them.
  if (parts_->abandoned) (void)parts_.release();
}

bool HttpServices::abandoned() const { return parts_->abandoned; }

std::optional<tcp::endpoint> HttpServices::factory_endpoint() const {
  if (!parts_->factory_server) return std::nullopt;
  return parts_->factory_server->local_endpoint();
}
std::optional<tcp::endpoint> HttpServices::consumer_endpoint() const {
  if (!parts_->consumer_server) return std::nullopt;
  return parts_->consumer_server->local_endpoint();
}
std::optional<tcp::endpoint> HttpServices::warm_proxy_endpoint() const {
  if (!parts_->warm_proxy_server) return std::nullopt;
  return parts_->warm_proxy_server->local_endpoint();
}
const char* HttpServices::binding_kind() const {
  return parts_->binding ? parts_->binding->kind() : "none";
}
runtime::Runtime* HttpServices::tenant_runtime() const { return parts_->tenant_runtime.get(); }

std::shared_ptr<SessionHandover> HttpServices::tenant_handover() const {
  return parts_->tenant_handover;
}

std::shared_ptr<ConnectionActivity> HttpServices::tenant_activity() const {
  return parts_->tenant_activity;
}
Metrics& HttpServices::metrics() { return *parts_->metrics; }

Status HttpServices::Shutdown(std::chrono::milliseconds timeout) {
  Parts& p = *parts_;
  if (p.shut_down) return p.shutdown_status;
  p.shut_down = true;
  HttpServer* servers[] = {p.factory_server.get(), p.consumer_server.get(),
                           p.warm_proxy_server.get()};
  for (HttpServer* s : servers) {
    if (s) s->Stop();
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (HttpServer* s : servers) {
    if (!s) continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!s->WaitDrained(std::max(left, std::chrono::milliseconds(0)))) {
      spdlog::warn("shutdown: requests still in flight after {} ms; going on", timeout.count());
    }
  }
  bool finished = true;
  // Idle threads need a moment to be joined even when the drain used the
  // whole budget.
  auto join_deadline = std::max(deadline, std::chrono::steady_clock::now() + kJoinGrace);
  if (p.warm_proxy && !p.warm_proxy->Stop(join_deadline)) finished = false;
  if (!join_by(p.blocking, join_deadline)) {
    spdlog::error("shutdown: a cold start is still running at the deadline; abandoned");
    finished = false;
  }
  Status result;
  for (runtime::Runtime* rt : {p.tenant_runtime.get(), p.factory_runtime.get()}) {
    if (!rt) continue;
    Status st = rt->Shutdown(deadline);
    if (rt->abandoned()) finished = false;
    if (!st.ok() && result.ok()) result = st;
  }
  if (!finished) {
    p.abandoned = true;
    if (result.ok()) {
      result = Status::Unavailable("shutdown timed out after " + std::to_string(timeout.count()) +
                                   " ms; work still running was abandoned");
    }
  }
  p.shutdown_status = result;
  return result;
}

}  // namespace pgthaw::server
