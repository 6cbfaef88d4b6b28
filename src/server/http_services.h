// HttpServices: the three roles of `pgthaw serve`, assembled and torn down.
//
// What runs where (DATA = options.data_dir):
//   consumer   tenants' own instances: runtime over DATA (tenants in
//              DATA/tenants/<id>, the template in DATA); /cold-direct
//              scratch in DATA/scratch. The Postgres listener, when started,
//              serves this runtime.
//   factory    its own runtime over DATA/factory (a namespace apart from the
//              consumer's tenants, like the seed's Factory DO); /cold-start
//              scratch in DATA/factory/scratch.
//   warm-proxy one instance from DATA's template over a tmpfs directory.
// The consumer's binding is in-process when the factory runs here and no
// factory_url is given, else HTTP to factory_url.
//
// Threads: the io_context is run by the caller's threads; queries run on the
// runtimes' pools, cold starts and /warmup on a small blocking pool.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "objstore/object_store.h"
#include "runtime/runtime.h"
#include "server/connection_activity.h"
#include "server/credential_store.h"
#include "server/metrics.h"
#include "server/session_handover.h"
#include "server/tls_credentials.h"

namespace pgthaw::server {

struct HttpServicesOptions {
  bool factory = true, consumer = true, warm_proxy = true;
  std::string data_dir = "./data";
  boost::asio::ip::tcp::endpoint factory_listen, consumer_listen, warm_proxy_listen;
  std::string factory_url;  // consumer -> factory over HTTP; "" = in-process if possible
  unsigned pool_size = 2;
  int64_t idle_timeout_ms = 60'000;
  int64_t statement_timeout_ms = 0;                 // RuntimeOptions
  int64_t idle_in_transaction_timeout_ms = 60'000;  // RuntimeOptions
  uint64_t memory_budget_bytes = uint64_t{4} << 30;
  unsigned runtime_threads = 0;  // 0: RuntimeOptions default, max(4, 2 x cores)
  // The tenants' runtime's RuntimeOptions::store and store_key (the
  // factory's tenants stay on this disk).
  std::shared_ptr<objstore::ObjectStore> store;
  std::string store_key;
  std::function<Status(const std::string& tenant)> may_open_tenant;  // RuntimeOptions
  uint64_t max_body_bytes = 1 << 20;
  uint64_t max_result_bytes = uint64_t{64} << 20;  // HTTP JSON results; past it 413
  // An archive uploaded to the admin API (tenant import); past it 413.
  uint64_t max_upload_bytes = uint64_t{10} << 30;
  unsigned blocking_threads = 2;  // cold starts, /warmup
  std::chrono::milliseconds binding_timeout{60'000};
  // Each runtime's admission limits (runtime/admission.h): 0 is unlimited.
  uint64_t max_queued_per_tenant = 64;
  uint64_t max_tenants = 0;
  // Who may reach a tenant (credential_store.h), shared with the Postgres
  // listener. Null: trust mode, the loopback default (no passwords, no
  // tokens). Set: the consumer also serves the tenant admin API
  // (http_admin_routes.h).
  std::shared_ptr<CredentialStore> credentials;
  // A tenant's first mention creates it (trust mode's default); off, an
  // unknown tenant is an error and tenants come from the tenant API. The
  // consumer runtime's RuntimeOptions::create_on_first_use; the factory's
  // tenants are always made on first use.
  bool auto_create_tenants = true;
  // HTTPS on every HTTP role with these (reloadable) credentials; null: HTTP.
  std::shared_ptr<TlsCredentials> tls;
  // Every HTTP listener's browser protections (http_access.h), also in
  // trust mode. allowed_hosts: further names the listeners answer to besides
  // their own addresses (and, on loopback, localhost), as "name" or
  // "name:port". allowed_origins: web origins ("https://app.example.com")
  // whose pages may call them; none by default, so no web page can.
  std::vector<std::string> allowed_hosts;
  std::vector<std::string> allowed_origins;
};

class HttpServices {
 public:
  // Opens runtimes and templates (building a template the first time a data
  // directory is used), binds every listener. Returns once all accept.
  static Result<std::unique_ptr<HttpServices>> Start(boost::asio::io_context& io,
                                                     const runtime::Engine& engine,
                                                     HttpServicesOptions options);
  ~HttpServices();  // Shutdown() if not done

  // Bound addresses (port 0 in the options: the port the kernel chose).
  std::optional<boost::asio::ip::tcp::endpoint> factory_endpoint() const;
  std::optional<boost::asio::ip::tcp::endpoint> consumer_endpoint() const;
  std::optional<boost::asio::ip::tcp::endpoint> warm_proxy_endpoint() const;
  const char* binding_kind() const;

  // The consumer's runtime (the tenants the Postgres listener serves), or
  // null when the consumer role is not run.
  // Shared with a Postgres listener on tenant_runtime() (PgListenerOptions).
  std::shared_ptr<SessionHandover> tenant_handover() const;
  std::shared_ptr<ConnectionActivity> tenant_activity() const;
  runtime::Runtime* tenant_runtime() const;
  Metrics& metrics();

  // Stops accepting, waits for requests in flight, drops the warm proxy and
  // shuts the runtimes down (hibernating warm tenants), all within
  // `timeout`. What is still running then (a query stuck in guest code) is
  // abandoned: abandoned() turns true, the result is Unavailable, this
  // object's parts are leaked by the destructor (detached threads use them)
  // and the process should exit; abandoned tenants recover from their files
  // at the next start. The io_context must still be running. Idempotent.
  Status Shutdown(std::chrono::milliseconds timeout);
  bool abandoned() const;

  struct Parts;

 private:
  explicit HttpServices(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace pgthaw::server
