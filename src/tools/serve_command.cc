#include "tools/serve_command.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <iostream>
#include <optional>
#include <thread>
#include <toml.hpp>
#include <vector>

#include "common/durable_file.h"
#include "engine/engine.h"
#include "objstore/open_object_store.h"
#include "server/fenced_object_store.h"
#include "server/fleet_membership.h"
#include "server/http_server.h"
#include "server/http_services.h"
#include "server/pg_listener.h"
#include "server/tls_credentials.h"
#include "tools/data_dir_lock.h"

namespace pgthaw::tools {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct Key {
  const char* name;
  std::string* text = nullptr;
  int64_t* number = nullptr;
  bool size = false;  // text that may also be given as an integer (bytes)
  bool* flag = nullptr;
  std::vector<std::string>* list = nullptr;
};

std::vector<Key> keys(ServeArgs& a) {
  return {{"role", &a.role},
          {"data-dir", &a.data_dir},
          {"factory-listen", &a.factory_listen},
          {"consumer-listen", &a.consumer_listen},
          {"warm-proxy-listen", &a.warm_proxy_listen},
          {"pg-listen", &a.pg_listen},
          {"factory-url", &a.factory_url},
          {"pool-size", nullptr, &a.pool_size},
          {"idle-timeout-ms", nullptr, &a.idle_timeout_ms},
          {"statement-timeout", nullptr, &a.statement_timeout_ms},
          {"idle-in-transaction-timeout", nullptr, &a.idle_in_transaction_timeout_ms},
          {"client-write-timeout", nullptr, &a.client_write_timeout_ms},
          {"memory-budget-mb", nullptr, &a.memory_budget_mb},
          {"max-body-bytes", nullptr, &a.max_body_bytes},
          {"max-result-bytes", nullptr, &a.max_result_bytes},
          {"tenant-memory-max", &a.tenant_memory_max, nullptr, true},
          {"tenant-tmp-max", &a.tenant_tmp_max, nullptr, true},
          {"tenant-disk-max", &a.tenant_disk_max, nullptr, true},
          {"threads", nullptr, &a.threads},
          {"shutdown-timeout", nullptr, &a.shutdown_timeout},
          {"max-queued-per-tenant", nullptr, &a.max_queued_per_tenant},
          {"max-tenants", nullptr, &a.max_tenants},
          {"auth-file", &a.auth_file},
          {"auto-create", &a.auto_create},
          {"insecure", nullptr, nullptr, false, &a.insecure},
          {"allowed-hosts", nullptr, nullptr, false, nullptr, &a.allowed_hosts},
          {"allowed-origins", nullptr, nullptr, false, nullptr, &a.allowed_origins},
          {"store", &a.store},
          {"store-key-file", &a.store_key_file},
          {"etcd", &a.etcd},
          {"node-id", &a.node_id},
          {"advertise-pg", &a.advertise_pg},
          {"lease-ttl", nullptr, &a.lease_ttl},
          {"tls-cert", &a.tls_cert},
          {"tls-key", &a.tls_key},
          {"pg-tls-cert", &a.pg_tls_cert},
          {"pg-tls-key", &a.pg_tls_key},
          {"http-tls-cert", &a.http_tls_cert},
          {"http-tls-key", &a.http_tls_key},
          {"require-tls", nullptr, nullptr, false, &a.require_tls}};
}

// A key of a TOML table: [auth] file is auth-file, [tls] cert is tls-cert,
// [auth] auto-create is auto-create.
const Key* find_key(const std::vector<Key>& known, const std::string& table,
                    const std::string& name) {
  for (const std::string& candidate :
       {table.empty() ? name : table + "-" + name, table.empty() ? std::string() : name,
        table.empty() ? std::string() : name + "-" + table}) {
    for (const Key& k : known) {
      if (!candidate.empty() && candidate == k.name) return &k;
    }
  }
  return nullptr;
}

bool flag_given(const ServeArgs& a, const std::string& name) {
  if (a.command == nullptr) return false;
  const CLI::Option* opt = a.command->get_option_no_throw("--" + name);
  return opt != nullptr && opt->count() > 0;
}

// The fleet key: the file's bytes (a trailing newline dropped), else
// PGTHAW_STORE_KEY's.
Result<std::string> read_store_key(const std::string& file) {
  std::string key;
  if (!file.empty()) {
    auto text = read_whole_file(file);
    if (!text.ok()) return Status::InvalidArgument("--store-key-file: " + text.status().message());
    key = std::move(text).value();
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  } else if (const char* env_key = std::getenv("PGTHAW_STORE_KEY")) {
    key = env_key;
  } else {
    return Status::InvalidArgument(
        "--store needs the fleet key that signs what goes there: --store-key-file FILE (at "
        "least 32 bytes; the same on every node) or PGTHAW_STORE_KEY");
  }
  if (key.size() < 32) {
    return Status::InvalidArgument("the fleet key must be at least 32 bytes (it has " +
                                   std::to_string(key.size()) + ")");
  }
  return key;
}

// Values from the TOML file for keys not given as flags. toml11 v3 reports
// syntax errors only by throwing: caught here, at the library's edge.
void apply_config_file(ServeArgs& a, std::vector<std::string>& errors) {
  toml::value file;
  try {
    file = toml::parse(a.config_file);
  } catch (const std::exception& e) {
    errors.push_back("--config " + a.config_file + ": " + e.what());
    return;
  }
  if (!file.is_table()) {
    errors.push_back("--config " + a.config_file + ": not a TOML table");
    return;
  }
  std::vector<Key> known = keys(a);
  auto dashed = [](std::string name) {
    for (char& c : name) c = c == '_' ? '-' : c;
    return name;
  };
  auto apply = [&](const std::string& table, const std::string& raw_name,
                   const toml::value& value) {
    std::string name = dashed(raw_name);
    const Key* key = find_key(known, table, name);
    std::string where = a.config_file + ": " + (table.empty() ? "" : table + ".") + raw_name;
    if (key == nullptr) {
      errors.push_back(where + ": unknown setting");
      return;
    }
    if (flag_given(a, key->name)) return;  // flags win
    if (key->size && value.is_integer()) {
      *key->text = std::to_string(value.as_integer());
    } else if (key->text != nullptr) {
      if (!value.is_string()) return errors.push_back(where + ": must be a string");
      *key->text = value.as_string().str;
    } else if (key->flag != nullptr) {
      if (!value.is_boolean()) return errors.push_back(where + ": must be true or false");
      *key->flag = value.as_boolean();
    } else if (key->list != nullptr) {
      if (!value.is_array()) return errors.push_back(where + ": must be an array of strings");
      key->list->clear();
      for (const toml::value& item : value.as_array()) {
        if (!item.is_string()) return errors.push_back(where + ": must be an array of strings");
        key->list->push_back(item.as_string().str);
      }
    } else {
      if (!value.is_integer()) return errors.push_back(where + ": must be an integer");
      *key->number = value.as_integer();
    }
  };
  for (const auto& [raw_name, value] : file.as_table()) {
    if (value.is_table() && (dashed(raw_name) == "auth" || dashed(raw_name) == "tls")) {
      for (const auto& [inner, inner_value] : value.as_table()) {
        apply(dashed(raw_name), inner, inner_value);
      }
      continue;
    }
    apply("", raw_name, value);
  }
}

// "512MiB", "10G", "65536": bytes, with an optional binary unit.
std::optional<uint64_t> parse_size(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  uint64_t value = std::stoull(text.substr(0, digits));
  std::string unit = text.substr(digits);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();  // "MB", "MiB", "B"
  if (unit.size() == 2 && unit[1] == 'i') unit.pop_back();   // "Mi"
  int shift = unit.empty()  ? 0
              : unit == "k" ? 10
              : unit == "m" ? 20
              : unit == "g" ? 30
              : unit == "t" ? 40
                            : -1;
  if (shift < 0) return std::nullopt;
  return value << shift;
}

struct Plan {
  // Certificate and key files of the Postgres listener and of the HTTP
  // roles ("" when in the clear).
  std::pair<std::string, std::string> pg_tls, http_tls;
  // Trust mode: loopback only, no auth file (the log says so).
  bool trust_mode = true;
  std::vector<std::string> off_loopback;  // the listeners bound elsewhere, for the log
  engine::EngineOptions engine;
  server::HttpServicesOptions services;
  std::optional<tcp::endpoint> pg_listen;
  server::PgListenerOptions pg;
  unsigned io_threads = 1;
  std::chrono::milliseconds shutdown_timeout{30'000};
  // Set with --etcd: this server is one node of a fleet.
  std::optional<server::FleetOptions> fleet;
};

// --etcd and its companions: the fleet options, or errors.
std::optional<server::FleetOptions> check_fleet(const ServeArgs& a, const Plan& plan,
                                                std::vector<std::string>& errors) {
  if (a.etcd.empty()) {
    for (const char* flag : {"node-id", "advertise-pg", "lease-ttl"}) {
      if (flag_given(a, flag)) errors.push_back(std::string("--") + flag + " is only for --etcd");
    }
    return std::nullopt;
  }
  server::FleetOptions f;
  auto endpoints = fleet::ParseEtcdEndpoints(a.etcd);
  if (!endpoints.ok()) {
    errors.push_back("--etcd " + a.etcd + ": " + endpoints.status().message());
  } else {
    f.etcd = std::move(endpoints).value();
  }
  if (a.store.empty()) {
    errors.push_back(
        "--etcd needs --store (file:DIR or s3://BUCKET/PREFIX, the same on every node): a "
        "fleet moves tenants between nodes through the store");
  }
  if (!plan.pg_listen) {
    errors.push_back("--etcd needs the Postgres listener (--pg-listen, with the consumer role)");
  }
  f.node_id = a.node_id;
  if (f.node_id.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) f.node_id = host;
  }
  if (Status st = fleet::ValidateIdSegment("--node-id", f.node_id); !st.ok()) {
    errors.push_back(st.message());
  }
  f.advertise_pg = a.advertise_pg;
  if (f.advertise_pg.empty() && plan.pg_listen) {
    const tcp::endpoint& pg = *plan.pg_listen;
    if (pg.address().is_unspecified() || pg.port() == 0) {
      errors.push_back(
          "--etcd with --pg-listen on any address or port 0: give --advertise-pg HOST:PORT, "
          "where the other nodes reach this one");
    } else {
      std::string host = pg.address().to_string();
      if (pg.address().is_v6()) host = "[" + host + "]";
      f.advertise_pg = host + ":" + std::to_string(pg.port());
    }
  } else if (!f.advertise_pg.empty()) {
    if (auto parsed = server::SplitHostPort(f.advertise_pg); !parsed.ok()) {
      errors.push_back("--advertise-pg " + parsed.status().message());
    }
  }
  if (plan.services.consumer) {
    std::string host = plan.services.consumer_listen.address().to_string();
    f.advertise_http = host + ":" + std::to_string(plan.services.consumer_listen.port());
  }
  if (a.lease_ttl < 2 || a.lease_ttl > 3600) {
    errors.push_back("--lease-ttl " + std::to_string(a.lease_ttl) + ": must be in [2, 3600]");
  }
  f.lease_ttl = std::chrono::seconds(a.lease_ttl);
  return f;
}

// Every configuration error at once, or the plan.
Plan check(const ServeArgs& a, std::vector<std::string>& errors) {
  Plan plan;
  server::HttpServicesOptions& o = plan.services;
  if (a.role == "all") {
  } else if (a.role == "factory") {
    o.consumer = o.warm_proxy = false;
  } else if (a.role == "consumer") {
    o.factory = o.warm_proxy = false;
  } else if (a.role == "warm-proxy") {
    o.factory = o.consumer = false;
  } else {
    errors.push_back("--role \"" + a.role + "\": use factory, consumer, warm-proxy or all");
  }
  if (a.data_dir.empty()) errors.push_back("--data-dir is empty");
  o.data_dir = a.data_dir;
  auto endpoint = [&](const char* flag, const std::string& text, tcp::endpoint& out) {
    auto ep = server::parse_listen_address(text);
    if (!ep.ok()) {
      errors.push_back(std::string("--") + flag + ": " + ep.status().message());
    } else {
      out = *ep;
    }
  };
  endpoint("factory-listen", a.factory_listen, o.factory_listen);
  endpoint("consumer-listen", a.consumer_listen, o.consumer_listen);
  endpoint("warm-proxy-listen", a.warm_proxy_listen, o.warm_proxy_listen);
  if (o.consumer && !a.pg_listen.empty()) {
    tcp::endpoint pg;
    endpoint("pg-listen", a.pg_listen, pg);
    plan.pg_listen = pg;
  }
  std::vector<std::pair<std::string, tcp::endpoint>> bound;
  if (o.factory) bound.emplace_back("factory", o.factory_listen);
  if (o.consumer) bound.emplace_back("consumer", o.consumer_listen);
  if (o.warm_proxy) bound.emplace_back("warm-proxy", o.warm_proxy_listen);
  if (plan.pg_listen) bound.emplace_back("pg", *plan.pg_listen);
  for (size_t i = 0; i < bound.size(); ++i) {
    for (size_t j = i + 1; j < bound.size(); ++j) {
      if (bound[i].second == bound[j].second && bound[i].second.port() != 0) {
        errors.push_back("--" + bound[i].first + "-listen and --" + bound[j].first +
                         "-listen are the same address: each role keeps its own port");
      }
    }
  }
  // Who may reach a tenant: the modes (serve_command.h).
  std::vector<std::string> exposed;
  for (const auto& [role, ep] : bound) {
    if (!ep.address().is_loopback()) {
      exposed.push_back("--" + role + "-listen " + ep.address().to_string() + ":" +
                        std::to_string(ep.port()));
    }
  }
  plan.off_loopback = exposed;
  const bool auth = !a.auth_file.empty();
  // Each listener's certificate: its own, else the shared one.
  auto pick = [&](const char* prefix, const std::string& cert, const std::string& key,
                  std::pair<std::string, std::string>& out) {
    if (cert.empty() != key.empty()) {
      errors.push_back(std::string("--") + prefix + "tls-cert and --" + prefix +
                       "tls-key go together: give both");
    }
    out = !cert.empty() ? std::make_pair(cert, key) : std::make_pair(a.tls_cert, a.tls_key);
  };
  std::pair<std::string, std::string> shared_files;
  pick("", a.tls_cert, a.tls_key, shared_files);
  pick("pg-", a.pg_tls_cert, a.pg_tls_key, plan.pg_tls);
  pick("http-", a.http_tls_cert, a.http_tls_key, plan.http_tls);
  for (const auto& [role, ep] : bound) {
    if (ep.address().is_loopback() || a.insecure) continue;
    const bool tls = !(role == "pg" ? plan.pg_tls : plan.http_tls).first.empty();
    if (auth && tls) continue;
    std::string what = !auth && !tls ? "auth and TLS are" : !auth ? "auth is" : "TLS is";
    errors.push_back("--" + role + "-listen " + ep.address().to_string() + ":" +
                     std::to_string(ep.port()) + " is not a loopback address, and " + what +
                     " not configured: give --auth-file FILE (or [auth] file in the --config "
                     "file; `pgthaw tenant` creates it) and --tls-cert/--tls-key (or [tls] cert "
                     "and key; --" +
                     (role == "pg" ? "pg" : "http") +
                     "-tls-cert/-key for this listener alone), or --insecure to serve this "
                     "address without them");
    break;
  }
  const bool tls = !plan.pg_tls.first.empty();  // the Postgres listener's
  if (a.require_tls && !tls) {
    errors.push_back("--require-tls needs a certificate for the Postgres listener (--tls-cert)");
  }
  if (!plan.http_tls.first.empty() && !a.factory_url.empty()) {
    errors.push_back(
        "--factory-url: the consumer's HTTP binding to a factory in another "
        "process does not speak TLS; with TLS, run --role all (in-process binding)");
  }
  plan.trust_mode = !auth;
  if (a.auto_create == "on" || a.auto_create == "off") {
    o.auto_create_tenants = a.auto_create == "on";
  } else if (a.auto_create.empty()) {
    // Off outside trust mode: tenants then come from the tenant API.
    o.auto_create_tenants = !auth && exposed.empty();
  } else {
    errors.push_back("--auto-create \"" + a.auto_create + "\": use on or off");
  }
  if (auth && o.auto_create_tenants) {
    errors.push_back(
        "--auto-create on with --auth-file: a new tenant has no roles to log in as; "
        "create tenants with `pgthaw tenant create` or the admin API");
  }
  plan.pg.auto_create_tenants = o.auto_create_tenants;
  o.allowed_hosts = a.allowed_hosts;
  o.allowed_origins = a.allowed_origins;
  plan.pg.tls_required =
      tls && (a.require_tls || (plan.pg_listen && !plan.pg_listen->address().is_loopback()));
  o.factory_url = a.factory_url;
  if (!a.factory_url.empty() && a.factory_url.rfind("http://", 0) != 0) {
    errors.push_back("--factory-url \"" + a.factory_url + "\": must be http://HOST:PORT");
  }
  auto range = [&](const char* flag, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) {
      errors.push_back(std::string("--") + flag + " " + std::to_string(v) + ": must be in [" +
                       std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
  };
  range("pool-size", a.pool_size, 0, 1024);
  range("idle-timeout-ms", a.idle_timeout_ms, 1, int64_t{1} << 40);
  range("statement-timeout", a.statement_timeout_ms, 0, int64_t{1} << 40);
  range("idle-in-transaction-timeout", a.idle_in_transaction_timeout_ms, 0, int64_t{1} << 40);
  range("client-write-timeout", a.client_write_timeout_ms, 1, int64_t{1} << 40);
  range("memory-budget-mb", a.memory_budget_mb, 1, int64_t{1} << 30);
  range("max-body-bytes", a.max_body_bytes, 1, int64_t{1} << 34);
  range("threads", a.threads, 0, 1024);
  range("shutdown-timeout", a.shutdown_timeout, 1, int64_t{1} << 30);
  range("max-queued-per-tenant", a.max_queued_per_tenant, 0, int64_t{1} << 30);
  range("max-tenants", a.max_tenants, 0, int64_t{1} << 40);
  plan.shutdown_timeout = std::chrono::seconds(std::max<int64_t>(1, a.shutdown_timeout));
  if (!a.store.empty()) {
    auto store = objstore::open_object_store(a.store);
    if (!store.ok()) {
      errors.push_back("--store " + a.store + ": " + store.status().message());
    } else {
      o.store = std::shared_ptr<objstore::ObjectStore>(std::move(store).value());
    }
    auto key = read_store_key(a.store_key_file);
    if (!key.ok()) {
      errors.push_back(key.status().message());
    } else {
      o.store_key = std::move(key).value();
    }
  } else if (!a.store_key_file.empty()) {
    errors.push_back("--store-key-file is only for --store");
  }
  o.max_queued_per_tenant = static_cast<uint64_t>(std::max<int64_t>(0, a.max_queued_per_tenant));
  o.max_tenants = static_cast<uint64_t>(std::max<int64_t>(0, a.max_tenants));
  range("max-result-bytes", a.max_result_bytes, 1, int64_t{1} << 40);
  o.max_result_bytes = static_cast<uint64_t>(std::max<int64_t>(1, a.max_result_bytes));
  auto size = [&](const char* flag, const std::string& text, uint64_t lo, uint64_t hi,
                  uint64_t& out) {
    auto bytes = parse_size(text);
    if (!bytes || *bytes < lo || *bytes > hi) {
      errors.push_back(std::string("--") + flag + " \"" + text + "\": must be a size from " +
                       std::to_string(lo >> 20) + "MiB to " + std::to_string(hi >> 20) +
                       "MiB (e.g. 512MiB, 10GiB)");
      return;
    }
    out = *bytes;
  };
  // The engine starts with 128 MiB of memory and answers 32-bit heap sizes.
  size("tenant-memory-max", a.tenant_memory_max, uint64_t{256} << 20, (uint64_t{4} << 30) - 65536,
       plan.engine.tenant_memory_max_bytes);
  size("tenant-tmp-max", a.tenant_tmp_max, uint64_t{1} << 20, uint64_t{64} << 30,
       plan.engine.tenant_tmp_max_bytes);
  // A database needs some room: initdb alone writes ~40 MiB.
  size("tenant-disk-max", a.tenant_disk_max, uint64_t{64} << 20, uint64_t{1} << 50,
       plan.engine.tenant_disk_max_bytes);
  // A tenant import is at most a tenant's disk.
  o.max_upload_bytes = plan.engine.tenant_disk_max_bytes;
  o.pool_size = static_cast<unsigned>(std::max<int64_t>(0, a.pool_size));
  o.idle_timeout_ms = a.idle_timeout_ms;
  o.statement_timeout_ms = a.statement_timeout_ms;
  o.idle_in_transaction_timeout_ms = a.idle_in_transaction_timeout_ms;
  plan.pg.client_write_timeout_ms = a.client_write_timeout_ms;
  o.memory_budget_bytes = static_cast<uint64_t>(std::max<int64_t>(1, a.memory_budget_mb)) << 20;
  o.max_body_bytes = static_cast<uint64_t>(std::max<int64_t>(1, a.max_body_bytes));
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  plan.io_threads = a.threads > 0 ? static_cast<unsigned>(a.threads) : std::min(4u, cores);
  // One io thread always stays free for the sockets (PgListenerOptions).
  plan.pg.inline_exchanges = plan.io_threads - 1;
  plan.fleet = check_fleet(a, plan, errors);
  return plan;
}

// The banner's URLs: https when the HTTP roles have TLS.
bool banner_tls = false;

std::string url(const tcp::endpoint& ep) {
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) host = "[" + host + "]";
  return (banner_tls ? "https://" : "http://") + host + ":" + std::to_string(ep.port());
}

void print_banner(const server::HttpServices& s, const server::PgListener* pg,
                  const std::string& pg_host) {
  std::cout << "pgthaw serve: ready\n";
  if (auto ep = s.factory_endpoint()) std::cout << "  factory     " << url(*ep) << "/\n";
  if (auto ep = s.consumer_endpoint()) {
    std::cout << "  consumer    " << url(*ep) << "/   (factory binding: " << s.binding_kind()
              << ")\n";
  }
  if (auto ep = s.warm_proxy_endpoint()) std::cout << "  warm-proxy  " << url(*ep) << "/\n";
  if (pg) {
    std::cout << "  postgres    psql \"host=" << pg_host << " port=" << pg->port()
              << " dbname=TENANT\"\n";
  }
  std::string example = s.consumer_endpoint()  ? url(*s.consumer_endpoint()) + "/compare"
                        : s.factory_endpoint() ? url(*s.factory_endpoint()) + "/query"
                                               : url(*s.warm_proxy_endpoint()) + "/query";
  std::cout << "try:\n  curl -s -X POST " << example
            << " -H 'content-type: application/json' \\\n"
               "    -d '{\"sql\": \"select $1::int + 1 as answer\", \"params\": [41], "
               "\"tenant\": \"acme\"}'\n"
            << "stop with Ctrl-C (SIGINT) or SIGTERM: drains requests, hibernates tenants\n";
  std::cout.flush();
}

// Each warm tenant holds dozens of descriptors and every client one more:
// the soft limit (often 1024) is raised to the hard one.
void raise_open_files_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("serve: getrlimit(RLIMIT_NOFILE): {}", std::strerror(errno));
    return;
  }
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    // An unlimited hard limit is still capped by fs.nr_open: try that size.
    if (raised.rlim_cur == RLIM_INFINITY) raised.rlim_cur = 1 << 20;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit = raised;
    } else {
      spdlog::warn("serve: setrlimit(RLIMIT_NOFILE, {}): {}", raised.rlim_cur,
                   std::strerror(errno));
    }
  }
  spdlog::info("serve: open files limit {} (was {}, hard limit {})", limit.rlim_cur, before,
               limit.rlim_max);
}

// The last resort of a bounded shutdown: if the process still runs well
// after the deadline (a wait that is not bounded somewhere), it ends here.
void start_exit_watchdog(std::chrono::steady_clock::time_point deadline) {
  std::thread([deadline] {
    std::this_thread::sleep_until(deadline + std::chrono::seconds(10));
    spdlog::error("serve: still running 10 s after the shutdown deadline; exiting now");
    spdlog::default_logger()->flush();
    _exit(1);
  }).detach();
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, ServeArgs& a) {
  CLI::App* cmd = app.add_subcommand(
      "serve", "serve tenants over HTTP (factory, consumer, warm-proxy roles) and Postgres wire");
  cmd->add_option("--config", a.config_file, "TOML file with these settings (flags override it)");
  cmd->add_option("--role", a.role, "factory | consumer | warm-proxy | all")->capture_default_str();
  cmd->add_option("--data-dir", a.data_dir, "tenants, templates, snapshots")->capture_default_str();
  cmd->add_option("--factory-listen", a.factory_listen, "factory HTTP HOST:PORT")
      ->capture_default_str();
  cmd->add_option("--consumer-listen", a.consumer_listen, "consumer HTTP HOST:PORT")
      ->capture_default_str();
  cmd->add_option("--warm-proxy-listen", a.warm_proxy_listen, "warm-proxy HTTP HOST:PORT")
      ->capture_default_str();
  cmd->add_option("--pg-listen", a.pg_listen,
                  "Postgres wire HOST:PORT, with the consumer role (\"\": off)")
      ->capture_default_str();
  cmd->add_option("--store", a.store,
                  "object store hibernated tenants also go to, for any node to thaw: file:DIR "
                  "or s3://BUCKET/PREFIX (endpoint, region, credentials from AWS_*); off by "
                  "default");
  cmd->add_option("--store-key-file", a.store_key_file,
                  "the fleet key (>= 32 bytes, the same on every node) that signs what goes to "
                  "the store; else PGTHAW_STORE_KEY");
  cmd->add_option("--etcd", a.etcd,
                  "one node of a fleet: etcd endpoints http://HOST:PORT[,...] (needs --store); "
                  "a tenant's connections go to the node that owns it");
  cmd->add_option("--node-id", a.node_id, "this node's id in the fleet (default: the host name)");
  cmd->add_option("--advertise-pg", a.advertise_pg,
                  "HOST:PORT the other nodes reach this one's Postgres listener at (default: "
                  "--pg-listen)");
  cmd->add_option("--lease-ttl", a.lease_ttl,
                  "seconds: a node silent this long loses its tenants to the others")
      ->capture_default_str();
  cmd->add_option("--factory-url", a.factory_url,
                  "consumer -> factory over HTTP (default: in-process with --role all, else "
                  "http://<factory-listen>)");
  cmd->add_option("--pool-size", a.pool_size, "blank instances kept warm per runtime")
      ->capture_default_str();
  cmd->add_option("--idle-timeout-ms", a.idle_timeout_ms, "hibernate a tenant idle this long")
      ->capture_default_str();
  cmd->add_option("--statement-timeout", a.statement_timeout_ms,
                  "ms; cancel any statement running longer (57014), whatever the session set "
                  "(0: off)")
      ->capture_default_str();
  cmd->add_option("--idle-in-transaction-timeout", a.idle_in_transaction_timeout_ms,
                  "ms; end a connection idle inside a transaction this long (FATAL 25P03, rolled "
                  "back; 0: never)")
      ->capture_default_str();
  cmd->add_option("--client-write-timeout", a.client_write_timeout_ms,
                  "ms; disconnect a Postgres client that takes none of a streaming result this "
                  "long (its statement is cancelled)")
      ->capture_default_str();
  cmd->add_option("--memory-budget-mb", a.memory_budget_mb,
                  "warm tenants' memory before LRU hibernation")
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", a.max_body_bytes, "larger HTTP bodies get 413")
      ->capture_default_str();
  cmd->add_option("--threads", a.threads, "HTTP io threads (0: min(4, cores))")
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", a.shutdown_timeout,
                  "seconds from SIGTERM to exit; then running work is abandoned")
      ->capture_default_str();
  cmd->add_option("--max-queued-per-tenant", a.max_queued_per_tenant,
                  "requests waiting per tenant before 503 / SQLSTATE 53300 (0: unlimited)")
      ->capture_default_str();
  cmd->add_option("--max-tenants", a.max_tenants,
                  "tenants per runtime; new ones beyond are refused (0: unlimited)")
      ->capture_default_str();
  cmd->add_option("--max-result-bytes", a.max_result_bytes,
                  "larger HTTP JSON results get 413 result_too_large")
      ->capture_default_str();
  cmd->add_option("--tenant-memory-max", a.tenant_memory_max,
                  "a tenant's engine memory; past it Postgres reports 53200 out of memory")
      ->capture_default_str();
  cmd->add_option("--tenant-tmp-max", a.tenant_tmp_max,
                  "a tenant's in-memory /tmp and /dev/shm together (ENOSPC past it)")
      ->capture_default_str();
  cmd->add_option("--tenant-disk-max", a.tenant_disk_max,
                  "a tenant's data directory; past it Postgres reports 53100 disk full")
      ->capture_default_str();
  cmd->add_option("--auth-file", a.auth_file,
                  "credential store (tenants' roles, tokens; `pgthaw tenant` manages it): "
                  "passwords and tokens are required");
  cmd->add_option("--auto-create", a.auto_create,
                  "on | off: create a tenant on its first mention (default: on in trust mode)");
  cmd->add_flag("--insecure", a.insecure,
                "serve a non-loopback address without auth or TLS (never on a real network)");
  cmd->add_option("--allowed-hosts", a.allowed_hosts,
                  "Host header names accepted besides the listen addresses")
      ->delimiter(',');
  cmd->add_option("--allowed-origins", a.allowed_origins,
                  "browser origins allowed to call the HTTP API (default: none)")
      ->delimiter(',');
  cmd->add_option("--tls-cert", a.tls_cert, "PEM certificate chain for TLS (reloaded on SIGHUP)");
  cmd->add_option("--tls-key", a.tls_key, "PEM private key for TLS");
  cmd->add_option("--pg-tls-cert", a.pg_tls_cert, "the Postgres listener's own certificate");
  cmd->add_option("--pg-tls-key", a.pg_tls_key, "the Postgres listener's own key");
  cmd->add_option("--http-tls-cert", a.http_tls_cert, "the HTTP roles' own certificate");
  cmd->add_option("--http-tls-key", a.http_tls_key, "the HTTP roles' own key");
  cmd->add_flag("--require-tls", a.require_tls,
                "refuse Postgres clients in the clear (default off loopback when TLS is on)");
  a.command = cmd;
  return cmd;
}

int run_serve_command(ServeArgs args) {
  std::vector<std::string> errors;
  if (!args.config_file.empty()) apply_config_file(args, errors);
  Plan plan = check(args, errors);
  if (!errors.empty()) {
    std::cerr << "pgthaw serve: configuration errors:\n";
    for (const std::string& e : errors) std::cerr << "  " << e << "\n";
    return 2;
  }
  if (spdlog::get_level() > spdlog::level::info) spdlog::set_level(spdlog::level::info);

  // Before anything touches the data directory.
  if (Status locked = lock_data_dir(args.data_dir); !locked.ok()) {
    std::cerr << "pgthaw serve: " << locked.message() << "\n";
    return 1;
  }
  raise_open_files_limit();
  if (!args.auth_file.empty()) {
    auto store = server::CredentialStore::Open(args.auth_file);
    if (!store.ok()) {
      std::cerr << "pgthaw serve: --auth-file: " << store.status().message() << "\n";
      return 1;
    }
    plan.services.credentials = std::shared_ptr<server::CredentialStore>(std::move(store).value());
    plan.pg.credentials = plan.services.credentials;
  }
  // One TlsCredentials per certificate (SIGHUP reloads each).
  std::vector<std::shared_ptr<server::TlsCredentials>> certificates;
  auto load = [&](const std::pair<std::string, std::string>& files)
      -> Result<std::shared_ptr<server::TlsCredentials>> {
    if (files.first.empty()) return std::shared_ptr<server::TlsCredentials>();
    for (const auto& loaded : certificates) {
      if (loaded->cert_file() == files.first && loaded->key_file() == files.second) return loaded;
    }
    auto loaded = server::TlsCredentials::Load(files.first, files.second);
    if (loaded.ok()) certificates.push_back(*loaded);
    return loaded;
  };
  for (auto [files, out] :
       {std::pair{&plan.pg_tls, &plan.pg.tls}, std::pair{&plan.http_tls, &plan.services.tls}}) {
    auto loaded = load(*files);
    if (!loaded.ok()) {
      std::cerr << "pgthaw serve: " << loaded.status().message() << "\n";
      return 1;
    }
    *out = std::move(loaded).value();
  }
  const std::shared_ptr<server::TlsCredentials>& tls = plan.pg.tls;
  if (plan.trust_mode) {
    spdlog::warn(
        "serve: trust mode: no passwords or tokens, any client that reaches a port is every "
        "tenant's superuser{}; give --auth-file to require credentials",
        plan.off_loopback.empty()
            ? " (listening on loopback only)"
            : " (--insecure, listening on " + plan.off_loopback.front() + ")");
  } else {
    spdlog::info("serve: auth: credentials from {}; tenants {}; TLS {}", args.auth_file,
                 plan.services.auto_create_tenants ? "created on first use"
                                                   : "created by the tenant API only",
                 tls == nullptr         ? "off"
                 : plan.pg.tls_required ? "required"
                                        : "offered");
  }

  auto engine = engine::Engine::Open(plan.engine);
  if (!engine.ok()) {
    std::cerr << "pgthaw serve: " << engine.status().ToString() << "\n";
    return 1;
  }
  asio::io_context io;
  // SIGINT/SIGTERM end the wait below (Asio installs the handlers).
  asio::signal_set signals(io, SIGINT, SIGTERM);
  // SIGHUP: certificates are read again; connections keep theirs.
  asio::signal_set reload(io, SIGHUP);
  std::function<void()> wait_for_reload = [&] {
    reload.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (certificates.empty()) spdlog::info("serve: SIGHUP: no TLS certificates to reload");
      for (const auto& certificate : certificates) {
        if (Status st = certificate->Reload(); st.ok()) {
          spdlog::info("serve: SIGHUP: TLS certificate {} reloaded", certificate->cert_file());
        } else {
          spdlog::error("serve: SIGHUP: keeping the previous TLS certificate {}: {}",
                        certificate->cert_file(), st.message());
        }
      }
      wait_for_reload();
    });
  };
  wait_for_reload();
  std::promise<int> stop_requested;
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (!ec) stop_requested.set_value(signo);
  });
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> io_threads;
  for (unsigned i = 0; i < plan.io_threads; ++i) {
    io_threads.emplace_back([&io] {
      for (;;) {
        try {
          io.run();
          return;
        } catch (const std::exception& e) {  // Asio/Beast throw; we log and go on
          spdlog::error("io thread: uncaught {}", e.what());
        }
      }
    });
  }
  auto stop_io = [&] {
    work.reset();
    io.stop();
    for (std::thread& t : io_threads) t.join();
  };

  spdlog::info("serve: starting role={} data_dir={} (first start builds templates)", args.role,
               args.data_dir);
  // A fleet node registers before its runtimes start, so that its writes
  // to the store (the template's, hibernations') stop once it is fenced.
  std::shared_ptr<server::FleetMembership> fleet;
  if (plan.fleet) {
    auto joined = server::FleetMembership::Join(*plan.fleet);
    if (!joined.ok()) {
      std::cerr << "pgthaw serve: " << joined.status().message() << "\n";
      stop_io();
      return 1;
    }
    fleet = std::move(joined).value();
    plan.pg.fleet = fleet;
    plan.services.store = std::make_shared<server::FencedObjectStore>(
        plan.services.store, [node = fleet.get()] { return node->CheckServing(); });
    // HTTP and admin requests reach the runtime directly: it opens only the
    // tenants this node owns (Postgres connections are relayed before).
    plan.services.may_open_tenant = [node = fleet](const std::string& tenant) -> Status {
      auto route = node->Route(tenant);
      if (!route.ok()) return route.status();
      if (route->local) return Status::Ok();
      return Status::Unavailable("tenant " + tenant + " is served by node " + route->owner + " (" +
                                 route->owner_host + ":" + std::to_string(route->owner_port) +
                                 "); ask that node");
    };
  }
  auto services = server::HttpServices::Start(io, **engine, plan.services);
  if (!services.ok()) {
    std::cerr << "pgthaw serve: " << services.status().ToString() << "\n";
    if (fleet != nullptr) (void)fleet->Leave();
    stop_io();
    return 1;
  }
  std::unique_ptr<server::PgListener> pg;
  std::string pg_host;
  if (plan.pg_listen && (*services)->tenant_runtime() != nullptr) {
    pg_host = plan.pg_listen->address().to_string();
    plan.pg.handover = (*services)->tenant_handover();
    plan.pg.activity = (*services)->tenant_activity();
    plan.pg.auth_failed = [&metrics = (*services)->metrics(), credentials = plan.pg.credentials](
                              const std::string& tenant, const char* reason) {
      // Only tenants that exist get a series of their own (bounded labels).
      bool known = credentials != nullptr && credentials->HasTenant(tenant);
      metrics.RecordAuthFailure("pg", known ? tenant : "", reason);
    };
    auto listener = server::PgListener::Start(io, *(*services)->tenant_runtime(), pg_host,
                                              plan.pg_listen->port(), plan.pg);
    if (!listener.ok()) {
      std::cerr << "pgthaw serve: postgres listener: " << listener.status().ToString() << "\n";
      (void)(*services)->Shutdown(std::chrono::seconds(1));
      stop_io();
      return 1;
    }
    pg = std::move(listener).value();
  }
  banner_tls = plan.services.tls != nullptr;
  print_banner(**services, pg.get(), pg_host);

  int signo = stop_requested.get_future().get();
  spdlog::info("serve: signal {}: draining (at most {} s)", signo,
               plan.shutdown_timeout.count() / 1000);
  const auto deadline = std::chrono::steady_clock::now() + plan.shutdown_timeout;
  start_exit_watchdog(deadline);
  if (pg) {
    pg->Stop();
    while (pg->connection_count() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  Status st = (*services)->Shutdown(std::max(left, std::chrono::milliseconds(0)));
  if (!st.ok()) spdlog::error("serve: shutdown: {}", st.ToString());
  // After the tenants went to the store: the others may take them at once.
  if (fleet != nullptr && !(*services)->abandoned()) {
    if (Status left_fleet = fleet->Leave(); !left_fleet.ok()) {
      spdlog::warn("serve: leaving the fleet: {} (the lease expires by itself)",
                   left_fleet.message());
    }
  }
  if ((*services)->abandoned()) {
    // Threads are stuck in guest code: no destructor may run under them.
    spdlog::error(
        "serve: exiting without a clean shutdown; abandoned tenants recover from "
        "their files at the next start");
    spdlog::default_logger()->flush();
    std::cout.flush();
    _exit(1);
  }
  pg.reset();
  stop_io();
  services->reset();
  spdlog::info("serve: stopped");
  return st.ok() ? 0 : 1;
}

}  // namespace pgthaw::tools
