// `pgthaw serve`: the factory, consumer and warm-proxy HTTP roles and the
// Postgres listener, in one process (--role all) or one role per process.
//
// Configuration comes from built-in defaults, then a TOML file (--config),
// then flags; every error is reported at once. Keys in the file are the
// flag names without "--" (dashes or underscores):
//
//   role = "all"                  # factory | consumer | warm-proxy | all
//   data-dir = "./data"
//   factory-listen = "127.0.0.1:8787"
//   consumer-listen = "127.0.0.1:8788"
//   warm-proxy-listen = "127.0.0.1:8789"
//   pg-listen = "127.0.0.1:6432"  # "" turns the Postgres listener off
//   factory-url = "http://127.0.0.1:8787"   # consumer running apart
//   pool-size = 2
//   idle-timeout-ms = 60000
//   memory-budget-mb = 4096
//   max-body-bytes = 1048576
//   max-result-bytes = 67108864   # HTTP JSON results; bigger ones get 413
//   tenant-memory-max = "512MiB"  # a tenant's engine memory (53200 past it)
//   tenant-tmp-max = "64MiB"      # a tenant's /tmp and /dev/shm together
//   tenant-disk-max = "10GiB"     # a tenant's data directory (53100 past it)
//   threads = 4                   # io threads; the runtime sizes its own pool
//   shutdown-timeout = 30         # seconds from SIGTERM to exit, at most
//   max-queued-per-tenant = 64    # then 503 / SQLSTATE 53300; 0: unlimited
//   max-tenants = 0               # per runtime; 0: unlimited
//   store = "s3://bucket/prefix"  # = store, store-key-file: hibernated tenants
//   etcd = "http://10.0.0.1:2379" # one node of a fleet (docs/fleet.md); needs store
//   node-id = "node-a"            # default: the host name
//   advertise-pg = "10.0.0.5:6432"  # default: pg-listen
//   lease-ttl = 10                # seconds
//   insecure = false              # serve off loopback without auth or TLS
//   [auth]                        # who may reach a tenant (off: trust mode)
//   file = "/etc/pgthaw/credentials.json"   # = auth-file; `pgthaw tenant` writes it
//   auto-create = "off"           # on | off; default: on only in trust mode
//   allowed-hosts = ["db.example.com"]      # Host names besides the listen addresses
//   allowed-origins = []          # browser origins allowed to call the HTTP API
//   [tls]                         # = tls-cert, tls-key: every listener
//   cert = "/etc/pgthaw/server.crt"
//   key = "/etc/pgthaw/server.key"
//   require = true                # = require-tls: refuse Postgres clients in the clear
//   (pg-tls-cert, pg-tls-key, http-tls-cert, http-tls-key, at the top level:
//   the Postgres listener's or the HTTP roles' own, instead of the shared)
//
// Two modes, chosen by where pgthaw listens. Bound to loopback only with no
// auth file: trust mode (any user, any password, tenants created on first
// use; the log says so). Bound to any other address: serve refuses to start
// unless auth and TLS are configured (TLS then required of Postgres
// clients), or --insecure is given.
//
// At start: an exclusive lock on DATA/pgthaw.lock (data_dir_lock.h; a second
// serve on the same data directory exits at once with status 1), the open
// files limit raised to its hard limit (each warm tenant holds dozens of
// descriptors), stale warm-proxy scratch directories removed.
//
// SIGTERM/SIGINT: stop accepting, drain requests in flight, hibernate warm
// tenants (Runtime::Shutdown), exit 0, all within --shutdown-timeout. Past
// it, what still runs (a query in an endless loop) is abandoned and the
// process exits with status 1 at once; abandoned tenants recover from their
// files at the next start, as after a crash.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace pgthaw::tools {

struct ServeArgs {
  std::string config_file;
  std::string role = "all";
  std::string data_dir = "./data";
  std::string factory_listen = "127.0.0.1:8787";
  std::string consumer_listen = "127.0.0.1:8788";
  std::string warm_proxy_listen = "127.0.0.1:8789";
  std::string pg_listen = "127.0.0.1:6432";
  std::string factory_url;
  int64_t pool_size = 2;
  int64_t idle_timeout_ms = 60'000;
  int64_t statement_timeout_ms = 0;
  int64_t idle_in_transaction_timeout_ms = 60'000;
  int64_t client_write_timeout_ms = 60'000;
  int64_t memory_budget_mb = 4096;
  int64_t max_body_bytes = 1 << 20;
  int64_t max_result_bytes = int64_t{64} << 20;
  // Sizes: a number with an optional binary unit (K, M, G, T; KiB, MB, ...).
  std::string tenant_memory_max = "512MiB";
  std::string tenant_tmp_max = "64MiB";
  std::string tenant_disk_max = "10GiB";
  int64_t threads = 0;            // 0: min(4, cores)
  int64_t shutdown_timeout = 30;  // seconds
  int64_t max_queued_per_tenant = 64;
  int64_t max_tenants = 0;
  // Who may reach a tenant (see the modes above).
  std::string auth_file;
  std::string auto_create;  // "", "on" or "off"
  bool insecure = false;
  std::vector<std::string> allowed_hosts, allowed_origins;
  std::string tls_cert, tls_key;            // every listener
  std::string pg_tls_cert, pg_tls_key;      // the Postgres listener's, over the shared
  std::string http_tls_cert, http_tls_key;  // the HTTP roles', over the shared
  bool require_tls = false;
  // Where hibernated tenants also live, for any node to thaw
  // (runtime/tenant_replica.h): file:DIR or s3://BUCKET/PREFIX; "" = this
  // disk only. The fleet key signs what goes there.
  std::string store;
  std::string store_key_file;
  // One node of a fleet (docs/fleet.md): etcd endpoints ("" = a single
  // server), this node's id (default: the host name), the address other
  // nodes reach its Postgres listener at (default: --pg-listen) and its
  // lease's TTL in seconds.
  std::string etcd;
  std::string node_id;
  std::string advertise_pg;
  int64_t lease_ttl = 10;

  CLI::App* command = nullptr;  // set by add_serve_command; tells which flags were given
};

// Registers the `serve` subcommand and its flags on `app`, writing into `args`.
CLI::App* add_serve_command(CLI::App& app, ServeArgs& args);

// Runs until SIGTERM/SIGINT; returns the exit code (2: configuration errors).
int run_serve_command(ServeArgs args);

}  // namespace pgthaw::tools
