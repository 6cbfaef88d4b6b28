// runner: the measurement plan of `pgthaw-bench`, system by system.
#include "runner.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "bench/engine/bench_rows.h"
#include "bench/engine/native_postgres.h"
#include "bench/engine/native_postgres_cluster.h"
#include "bench/engine/stopwatch.h"
#include "bench/engine/subprocess.h"
#include "bench/thaw/proc_memory.h"
#include "child_process.h"
#include "http_client.h"
#include "noisy_neighbour.h"

namespace pgthaw::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Counts per mode: {quick, full}.
struct Plan {
  int ping;
  int cold_pgthaw;
  int warm;
  int restarts;      // fresh starts of pgthaw's warm proxy
  int thaw_tenants;  // per restart
  int node_cold;
  int node_restarts;
  int node_thaw;
  int pg_initdb;
  int pg_restarts;
  int pg_createdb;
  int pg_connects;
  int memory_tenants;
  int node_memory_tenants;
  int pgbench_seconds;
  int noisy_queries;  // the victim's select 1 per noisy-neighbour row
  double noisy_window_ms;
  double noisy_cpu_window_ms;  // rows with CPU loops: one statement timeout and a restart
  int forks;                   // per tenant size
  int64_t fork_big_bytes;      // the big tenant of the fork rows (the small one: 1 MB)
  int fleet_tenants;           // tenants (databases) of the fleet's pgbench rows
  int density_empty;           // empty tenants made and hibernated for the density rows
  int density_one_row;         // tenants that wrote one row, likewise
};
constexpr Plan kQuick = {.ping = 200,
                         .cold_pgthaw = 10,
                         .warm = 200,
                         .restarts = 2,
                         .thaw_tenants = 4,
                         .node_cold = 1,
                         .node_restarts = 1,
                         .node_thaw = 2,
                         .pg_initdb = 1,
                         .pg_restarts = 2,
                         .pg_createdb = 3,
                         .pg_connects = 20,
                         .memory_tenants = 10,
                         .node_memory_tenants = 2,
                         .pgbench_seconds = 2,
                         .noisy_queries = 300,
                         .noisy_window_ms = 800,
                         .noisy_cpu_window_ms = 2200,
                         .forks = 5,
                         .fork_big_bytes = int64_t{32} << 20,
                         .fleet_tenants = 4,
                         .density_empty = 50,
                         .density_one_row = 5};
constexpr Plan kFull = {.ping = 1000,
                        .cold_pgthaw = 30,
                        .warm = 2000,
                        .restarts = 5,
                        .thaw_tenants = 8,
                        .node_cold = 3,
                        .node_restarts = 3,
                        .node_thaw = 5,
                        .pg_initdb = 3,
                        .pg_restarts = 5,
                        .pg_createdb = 10,
                        .pg_connects = 100,
                        .memory_tenants = 40,
                        .node_memory_tenants = 8,
                        .pgbench_seconds = 10,
                        .noisy_queries = 2000,
                        .noisy_window_ms = 4000,
                        .noisy_cpu_window_ms = 4000,
                        .forks = 20,
                        .fork_big_bytes = int64_t{1} << 30,
                        .fleet_tenants = 64,
                        .density_empty = 10000,
                        .density_one_row = 100};

// The fork rows' tenants: a table of ~1 KB rows adding up to `bytes`.
struct ForkSize {
  std::string label;  // "1 MB", "1 GB"
  int64_t rows;
};
std::vector<ForkSize> fork_sizes(const Plan& plan) {
  auto label = [](int64_t bytes) {
    return bytes >= (int64_t{1} << 30) ? std::to_string(bytes >> 30) + " GB"
                                       : std::to_string(bytes >> 20) + " MB";
  };
  return {{"1 MB", 1000}, {label(plan.fork_big_bytes), plan.fork_big_bytes / 1024}};
}
std::string fork_fill_sql(int64_t rows) {
  return "create table t (id int primary key, v text); insert into t select g, repeat('x', 1000) "
         "from generate_series(1, " +
         std::to_string(rows) + ") g";
}
std::string fork_row(const ForkSize& s) { return "fork a " + s.label + " tenant"; }
std::string fork_warm_row(const ForkSize& s) {
  return "fork a " + s.label + " tenant, source warm";
}
std::string fork_query_row(const ForkSize& s) { return "first query on the " + s.label + " fork"; }
// The fork's first query: an indexed lookup, as a user's first would be.
constexpr const char* kForkQuery = "select length(v) from t where id = 1";
// The noisy-neighbour server's --statement-timeout: what ends the CPU loops.
constexpr int64_t kNoisyStatementTimeoutMs = 2000;

constexpr int64_t kThawIdleTimeoutMs = 1000;
// The thaw rows' tenants: 10 MiB of 1 KB rows, made on the first start
// (later starts find them there and add nothing).
constexpr const char* kThawFillSql =
    "create table if not exists t (id int primary key, v text); insert into t select g, "
    "repeat('x', 1000) from generate_series(1, 10240) g where not exists (select from t)";
constexpr const char* kSelect1 = R"({"sql": "select 1"})";

void progress(const std::string& text) { std::fprintf(stderr, "bench: %s\n", text.c_str()); }

std::string query_body(const std::string& sql, const std::string& tenant = "") {
  json j = {{"sql", sql}};
  if (!tenant.empty()) j["tenant"] = tenant;
  return j.dump();
}

// POST that must answer 200 with a JSON object without "error".
Result<json> post_ok(HttpClient& c, const std::string& target, const std::string& body,
                     double* elapsed_ms = nullptr) {
  Result<HttpReply> r = c.Post(target, body);
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return Status::Internal("POST " + c.base_url() + target + ": HTTP " +
                            std::to_string(r->status) + ": " + r->body.substr(0, 300));
  }
  if (elapsed_ms) *elapsed_ms = r->elapsed_ms;
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return Status::Corruption("POST " + target + ": reply is not JSON");
  return j;
}

// N timed requests into SERIES; the first error ends the loop.
Status sample_posts(HttpClient& c, const std::string& target, const std::string& body, int n,
                    Series& series) {
  for (int i = 0; i < n; ++i) {
    double ms = 0;
    Result<json> j = post_ok(c, target, body, &ms);
    if (!j.ok()) return j.status();
    series.ms.push_back(ms);
  }
  return Status::Ok();
}

Status sample_pings(HttpClient& c, const std::string& target, int n, Series& series) {
  for (int i = 0; i < n; ++i) {
    Result<HttpReply> r = c.Get(target);
    if (!r.ok()) return r.status();
    if (r->status != 200)
      return Status::Internal("GET " + target + ": HTTP " + std::to_string(r->status));
    series.ms.push_back(r->elapsed_ms);
  }
  return Status::Ok();
}

std::string first_cell(const json& j) {
  if (j.contains("rows") && j["rows"].is_array() && !j["rows"].empty() && j["rows"][0].is_array() &&
      !j["rows"][0].empty() && j["rows"][0][0].is_string()) {
    std::string v = j["rows"][0][0];
    return v.substr(0, v.find(" on "));
  }
  return "";
}

class Runner {
 public:
  Runner(RunnerOptions o, BenchReport& r)
      : o_(std::move(o)), plan_(o_.quick ? kQuick : kFull), report_(r) {}

  Status Run();

 private:
  void Message(const std::string& m) {
    progress(m);
    report_.messages.push_back(m);
  }
  void Skip(const std::string& system, const std::string& reason) {
    progress("skipped: " + system + ": " + reason);
    report_.systems.push_back({system, "", false, reason, {}});
  }
  Series& Add(std::vector<Series>& table, std::string row, std::string system, std::string how) {
    table.push_back({std::move(row), std::move(system), {}, std::move(how), {}});
    return table.back();
  }

  Result<std::unique_ptr<ChildProcess>> StartPgthaw(
      const std::string& data_dir, int64_t idle_timeout_ms,
      const std::vector<std::string>& extra_args = {});
  Status MeasurePgthaw();
  Status MeasureFork();
  Status MeasurePgthawRunning(SystemRun& sys, bool own_server);
  Status MeasurePgthawRestarts();
  Status MeasureNoisyNeighbour();
  Status MeasureNode();
  Status MeasurePgliteHttpRows(HttpClient& c, const std::string& name, const std::string& label,
                               const std::string& unit);
  Status MeasureNativePg();
  Status MeasureWorkerd();
  // Initialises DB (once per connection and name) with pgbench -i.
  Status PgbenchInit(const std::vector<std::string>& conn, const std::string& db);
  // tps of `pgbench -n -c CLIENTS` for plan_.pgbench_seconds on DB.
  Result<double> Pgbench(const std::vector<std::string>& conn, bool select_only,
                         const std::string& db, int clients);
  // The fleet: one pgbench with one client on each of DBS at once; the
  // total tps.
  Result<double> PgbenchFleet(const std::vector<std::string>& conn, bool select_only,
                              const std::vector<std::string>& dbs);
  // The throughput rows of one system: -S and TPC-B with 1 and 4 clients
  // on the database "pgbench".
  Status MeasureThroughput(const std::string& system, const std::vector<std::string>& conn,
                           const std::string& how);
  // The fleet rows: -S and TPC-B on each of FLEET at once.
  Status MeasureFleet(const std::string& system, const std::vector<std::string>& conn,
                      const std::string& how, const std::vector<std::string>& fleet);
  Status MeasurePgthawFleet();
  Status MeasureDensity();
  // A server with an auth file (the admin API; trust mode has none) and a
  // client holding an admin token.
  struct AdminServer {
    std::unique_ptr<ChildProcess> child;
    std::unique_ptr<HttpClient> client;
    // POST TARGET BODY, which must answer WANT; its time into *MS.
    Status Call(const std::string& target, const json& body, int want, double* ms = nullptr);
  };
  Result<AdminServer> StartAdminServer(const std::string& data);

  RunnerOptions o_;
  Plan plan_;
  BenchReport& report_;
  std::string work_;  // temp dir, removed at the end
  std::unique_ptr<ChildProcess> pgthaw_;
  int ports_[4] = {0, 0, 0, 0};  // factory, consumer, warm-proxy, pg
  std::string factory_url_, consumer_url_, warm_proxy_url_;
};

std::string url_for(int port) { return "http://127.0.0.1:" + std::to_string(port); }

Result<std::unique_ptr<ChildProcess>> Runner::StartPgthaw(
    const std::string& data_dir, int64_t idle_timeout_ms,
    const std::vector<std::string>& extra_args) {
  for (int& p : ports_) {
    Result<int> port = free_loopback_port();
    if (!port.ok()) return port.status();
    p = *port;
  }
  auto addr = [](int p) { return "127.0.0.1:" + std::to_string(p); };
  std::vector<std::string> argv = {o_.pgthaw_binary,      "serve",
                                   "--data-dir",          data_dir,
                                   "--factory-listen",    addr(ports_[0]),
                                   "--consumer-listen",   addr(ports_[1]),
                                   "--warm-proxy-listen", addr(ports_[2]),
                                   "--pg-listen",         addr(ports_[3]),
                                   "--idle-timeout-ms",   std::to_string(idle_timeout_ms)};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  Result<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start("pgthaw serve", argv, work_ + "/pgthaw.log");
  if (!child.ok()) return child.status();
  factory_url_ = url_for(ports_[0]);
  consumer_url_ = url_for(ports_[1]);
  warm_proxy_url_ = url_for(ports_[2]);
  PGTHAW_RETURN_IF_ERROR((*child)->WaitHttpReady(factory_url_, "/ping", 180000));
  PGTHAW_RETURN_IF_ERROR((*child)->WaitHttpReady(consumer_url_, "/", 30000));
  PGTHAW_RETURN_IF_ERROR((*child)->WaitHttpReady(warm_proxy_url_, "/ping", 30000));
  return child;
}

Status Runner::MeasurePgthaw() {
  report_.systems.push_back({kSystemPgthaw, "", true, "", {}});
  bool own = o_.factory_url.empty();
  if (own) {
    progress("starting pgthaw serve (all roles; the first start builds templates)");
    Result<std::unique_ptr<ChildProcess>> child = StartPgthaw(work_ + "/pgthaw-data", 600000);
    if (!child.ok()) return child.status();
    pgthaw_ = std::move(child.value());
  } else {
    factory_url_ = o_.factory_url;
    consumer_url_ = o_.consumer_url;
    warm_proxy_url_ = o_.warm_proxy_url;
  }
  PGTHAW_RETURN_IF_ERROR(MeasurePgthawRunning(report_.systems.back(), own));
  // Issue 12's goals, next to the figures they are for.
  for (Series& s : report_.cold) {
    if (s.system != kSystemPgthaw) continue;
    if (s.row == kColdRows[1]) s.goal = "under 0.5 ms (a new tenant over HTTP)";
    if (s.row == kColdRows[2]) s.goal = "under 2 ms";
  }
  for (MemoryRow& m : report_.memory) {
    if (m.system == kSystemPgthaw) m.goal = "at least 1000 per GiB";
  }
  if (own) {
    pgthaw_->Stop();
    pgthaw_.reset();
    PGTHAW_RETURN_IF_ERROR(MeasurePgthawFleet());
    PGTHAW_RETURN_IF_ERROR(MeasurePgthawRestarts());
    PGTHAW_RETURN_IF_ERROR(MeasureNoisyNeighbour());
    PGTHAW_RETURN_IF_ERROR(MeasureFork());
    PGTHAW_RETURN_IF_ERROR(MeasureDensity());
  } else {
    Message("pgthaw: the noisy-neighbour table needs a runner-started server; skipped for " +
            factory_url_);
  }
  return Status::Ok();
}

// The fleet: the tenant pgbench -i made, forked (`pgthaw tenant fork`, the
// server stopped) into plan_.fleet_tenants tenants, each given its own
// pgbench client at once.
Status Runner::MeasurePgthawFleet() {
  bool initialised = std::any_of(report_.throughput.begin(), report_.throughput.end(),
                                 [](const ThroughputRow& t) { return t.system == kSystemPgthaw; });
  if (!initialised) return Status::Ok();  // no pgbench, or it failed (a message says so)
  progress("pgthaw: forking the pgbench tenant into " + std::to_string(plan_.fleet_tenants));
  const std::string data = work_ + "/pgthaw-data";
  std::vector<std::string> fleet;
  for (int i = 0; i < plan_.fleet_tenants; ++i) {
    fleet.push_back("fleet-" + std::to_string(i));
    Result<CommandResult> forked = run_command(
        {o_.pgthaw_binary, "tenant", "--data-dir", data, "fork", "pgbench", fleet.back()});
    if (!forked.ok()) return forked.status();
    if (forked->exit_code != 0) return Status::Internal("pgthaw tenant fork: " + forked->err);
  }
  Result<std::unique_ptr<ChildProcess>> child = StartPgthaw(data, 600000);
  if (!child.ok()) return child.status();
  std::vector<std::string> conn = {"-h", "127.0.0.1", "-p", std::to_string(ports_[3]),
                                   "-U", "postgres"};
  Status st = MeasureFleet(kSystemPgthaw, conn, "over the Postgres listener, one server", fleet);
  (*child)->Stop();
  if (!st.ok()) Message("pgthaw: fleet pgbench failed: " + st.ToString());
  return Status::Ok();
}

// Its own server with an auth file: forks go through the admin API, which
// trust mode does not have.
Result<Runner::AdminServer> Runner::StartAdminServer(const std::string& data) {
  Result<CommandResult> issued = run_command({o_.pgthaw_binary, "tenant", "--data-dir", data,
                                              "token", "issue", "--admin", "--label", "bench"});
  if (!issued.ok()) return issued.status();
  json token = json::parse(issued->out, nullptr, false);
  if (issued->exit_code != 0 || !token.is_object() || !token["token"].is_string()) {
    return Status::Internal("pgthaw tenant token issue: " + issued->err);
  }
  AdminServer server;
  Result<std::unique_ptr<ChildProcess>> child =
      StartPgthaw(data, 600000, {"--auth-file", data + "/credentials.json"});
  if (!child.ok()) return child.status();
  server.child = std::move(child.value());
  Result<std::unique_ptr<HttpClient>> c = HttpClient::Create(consumer_url_);
  if (!c.ok()) return c.status();
  server.client = std::move(c.value());
  server.client->SetBearer(token["token"]);
  return server;
}

Status Runner::AdminServer::Call(const std::string& target, const json& body, int want,
                                 double* ms) {
  Result<HttpReply> r = client->Post(target, body.dump());
  if (!r.ok()) return r.status();
  if (r->status != want) {
    return Status::Internal("POST " + target + ": HTTP " + std::to_string(r->status) + ": " +
                            r->body.substr(0, 300));
  }
  if (ms != nullptr) *ms = r->elapsed_ms;
  return Status::Ok();
}

Status Runner::MeasureFork() {
  progress("pgthaw: fork a tenant (a server with an auth file, for the admin API)");
  Result<AdminServer> server = StartAdminServer(work_ + "/pgthaw-fork");
  if (!server.ok()) return server.status();
  HttpClient* c = server->client.get();
  auto call = [&](const std::string& target, const json& body, int want,
                  double* ms = nullptr) -> Status { return server->Call(target, body, want, ms); };
  for (const ForkSize& size : fork_sizes(plan_)) {
    const std::string src = "fork-src-" + std::to_string(size.rows);
    progress("pgthaw: fork: filling a " + size.label + " tenant");
    PGTHAW_RETURN_IF_ERROR(call("/admin/tenants", {{"tenant", src}, {"role", "app"}}, 201));
    PGTHAW_RETURN_IF_ERROR(
        call("/direct", {{"tenant", src}, {"sql", fork_fill_sql(size.rows)}}, 200));
    // At rest before the first fork: the fill's hibernation is not a fork's.
    PGTHAW_RETURN_IF_ERROR(call("/admin/tenants/" + src + "/hibernate", json::object(), 200));
    // Added first, filled below: a Series& would not survive the next Add.
    const size_t at = report_.fork.size();
    Add(report_.fork, fork_row(size), kSystemPgthaw,
        "POST /admin/tenants/SRC/fork, the source at rest (hibernated, nothing new to freeze)");
    Add(report_.fork, fork_warm_row(size), kSystemPgthaw,
        "the same, the source warm after a write: it is hibernated first, its files frozen");
    Add(report_.fork, fork_query_row(size), kSystemPgthaw,
        std::string("POST /direct ") + kForkQuery + " (the fork thaws from the shared snapshot)");
    for (int i = 0; i < 2 * plan_.forks; ++i) {
      const bool warm = i % 2 == 1;
      if (warm) {
        // What a user's source does between forks: it writes.
        PGTHAW_RETURN_IF_ERROR(
            call("/direct", {{"tenant", src}, {"sql", "update t set v = v where id = 2"}}, 200));
      }
      const std::string fork = src + "-f" + std::to_string(i);
      double fork_ms = 0, query_ms = 0;
      PGTHAW_RETURN_IF_ERROR(
          call("/admin/tenants/" + src + "/fork", {{"tenant", fork}}, 201, &fork_ms));
      PGTHAW_RETURN_IF_ERROR(
          call("/direct", {{"tenant", fork}, {"sql", kForkQuery}}, 200, &query_ms));
      report_.fork[at + (warm ? 1 : 0)].ms.push_back(fork_ms);
      report_.fork[at + 2].ms.push_back(query_ms);
      // Forks made for the timing go again: each frozen layer it made stays
      // while a tenant uses it.
      Result<HttpReply> gone = c->Delete("/admin/tenants/" + fork + "?force=1");
      if (!gone.ok()) return gone.status();
    }
  }
  server->child->Stop();
  for (Series& s : report_.fork) {
    if (s.system == kSystemPgthaw) s.goal = "under 10 ms";
  }
  return Status::Ok();
}

// Bytes the files under DIR take on disk (st_blocks), each inode once.
int64_t disk_bytes_under(const std::string& dir) {
  std::set<std::pair<dev_t, ino_t>> seen;
  int64_t bytes = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) != 0) continue;
    if (!seen.insert({st.st_dev, st.st_ino}).second) continue;
    bytes += int64_t{st.st_blocks} * 512;
  }
  return bytes;
}

// Tenants at rest: N made over the admin API and hibernated one by one,
// empty or after writing one row; the server's RSS before and after, and
// the disk their directories take (the template and the server's own
// files are shared and not counted).
Status Runner::MeasureDensity() {
  progress("pgthaw: density: " + std::to_string(plan_.density_empty) + " empty tenants and " +
           std::to_string(plan_.density_one_row) + " one-row tenants, hibernated");
  const std::string data = work_ + "/pgthaw-density";
  Result<AdminServer> server = StartAdminServer(data);
  if (!server.ok()) return server.status();
  // The first tenant pays for the template and the pool: made before RSS
  // is read.
  PGTHAW_RETURN_IF_ERROR(server->Call("/admin/tenants", {{"tenant", "warmup"}}, 201));
  struct Kind {
    const char* what;
    const char* prefix;
    int n;
    const char* sql;  // run before the hibernation ("" = none)
    const char* goal;
  };
  const Kind kinds[] = {
      {"empty tenants (created, hibernated)", "e-", plan_.density_empty, "",
       "at most 64 KiB disk per tenant; server RSS flat"},
      {"tenants that wrote one row", "r-", plan_.density_one_row,
       "create table t (id int); insert into t values (1)", "at most 1 MiB disk per tenant"}};
  for (const Kind& kind : kinds) {
    Result<MemoryRollup> before = read_memory_rollup(server->child->pid());
    if (!before.ok()) return before.status();
    Stopwatch watch;
    for (int i = 0; i < kind.n; ++i) {
      const std::string id = kind.prefix + std::to_string(i);
      PGTHAW_RETURN_IF_ERROR(server->Call("/admin/tenants", {{"tenant", id}}, 201));
      if (*kind.sql) {
        PGTHAW_RETURN_IF_ERROR(server->Call("/direct", {{"tenant", id}, {"sql", kind.sql}}, 200));
      }
      PGTHAW_RETURN_IF_ERROR(
          server->Call("/admin/tenants/" + id + "/hibernate", json::object(), 200));
      if (i > 0 && i % 10000 == 0) progress("pgthaw: density: " + std::to_string(i));
    }
    const double seconds = watch.ElapsedMs() / 1000;
    Result<MemoryRollup> after = read_memory_rollup(server->child->pid());
    if (!after.ok()) return after.status();
    int64_t disk = 0;
    for (int i = 0; i < kind.n; ++i) {
      disk += disk_bytes_under(data + "/tenants/" + kind.prefix + std::to_string(i));
    }
    // They are tenants still: a few answer again.
    for (int i = 0; i < std::min(kind.n, 5); ++i) {
      const std::string id = kind.prefix + std::to_string((i * 7919) % kind.n);
      PGTHAW_RETURN_IF_ERROR(server->Call("/direct", {{"tenant", id}, {"sql", "select 1"}}, 200));
    }
    report_.density.push_back(
        {kind.what, kind.n, double(before->rss_kb), double(after->rss_kb),
         kind.n > 0 ? double(disk) / 1024 / kind.n : std::nan(""), seconds,
         std::string("POST /admin/tenants, ") +
             (*kind.sql ? "/direct `" + std::string(kind.sql) + "`, " : "") +
             "POST /admin/tenants/ID/hibernate, one after another; disk = st_blocks of the "
             "files under tenants/ID (each inode once)",
         kind.goal});
  }
  server->child->Stop();
  return Status::Ok();
}

// The 1-minute load average, from /proc/loadavg ("?" when unreadable).
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  return in >> one ? one : "?";
}

// Its own server: the CPU loops need --statement-timeout, which the other
// rows (pgbench -i, tenant creation) must not run under.
Status Runner::MeasureNoisyNeighbour() {
  progress("pgthaw: noisy neighbour (a server with --statement-timeout " +
           std::to_string(kNoisyStatementTimeoutMs) + ")");
  Result<std::unique_ptr<ChildProcess>> child =
      StartPgthaw(work_ + "/pgthaw-data", 600000,
                  {"--statement-timeout", std::to_string(kNoisyStatementTimeoutMs)});
  if (!child.ok()) return child.status();
  NoisyNeighbourPlan plan;
  plan.victim_queries = plan_.noisy_queries;
  plan.window_ms = plan_.noisy_window_ms;
  plan.cpu_window_ms = plan_.noisy_cpu_window_ms;
  plan.statement_timeout_ms = kNoisyStatementTimeoutMs;
  std::string load_before = load_average();
  Stopwatch watch;
  Result<std::vector<NoisyNeighbourRow>> rows =
      measure_noisy_neighbour("127.0.0.1", ports_[3], plan, progress);
  double took_s = watch.ElapsedMs() / 1000;
  std::string load_after = load_average();
  (*child)->Stop();
  if (!rows.ok()) return rows.status();
  report_.noisy_neighbour = std::move(rows.value());
  char context[256];
  std::snprintf(context, sizeof context,
                "The table took %.1f s; the machine's 1-minute load average was %s before it "
                "and %s after (on %ld CPUs, everything else included).",
                took_s, load_before.c_str(), load_after.c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  report_.noisy_neighbour_context = context;
  for (const NoisyNeighbourRow& r : report_.noisy_neighbour) {
    if (!r.victim_note.empty())
      Message("pgthaw: noisy neighbour: " + r.abuse + ": " + r.victim_note);
  }
  for (SystemRun& s : report_.systems) {
    if (s.name != kSystemPgthaw) continue;
    s.notes.push_back(
        "noisy neighbour: Postgres wire (libpq) to a server started with --statement-timeout " +
        std::to_string(kNoisyStatementTimeoutMs) + "; victim tenant noisy-victim, abusers " +
        "noisy-abuser and noisy-abuser-2, each on its own thread and connections");
  }
  return Status::Ok();
}

Status Runner::MeasurePgthawRunning(SystemRun& sys, bool own) {
  Result<std::unique_ptr<HttpClient>> f = HttpClient::Create(factory_url_);
  Result<std::unique_ptr<HttpClient>> c = HttpClient::Create(consumer_url_);
  Result<std::unique_ptr<HttpClient>> w = HttpClient::Create(warm_proxy_url_);
  for (auto* r : {&f, &c, &w}) {
    if (!r->ok()) return r->status();
  }
  HttpClient& factory = **f;
  HttpClient& consumer = **c;
  HttpClient& warm = **w;
  const char* sys_name = kSystemPgthaw;

  // The warm proxy's first request comes first, while it is still cold.
  Series& first = Add(report_.cold, kColdRows[2], sys_name,
                      "first warm-proxy POST /query after a fresh `pgthaw serve` start");
  Result<HttpReply> st = warm.Get("/status");
  json status = st.ok() ? json::parse(st->body, nullptr, false) : json();
  bool cold = status.is_object() && status.contains("instance") &&
              status["instance"].value("state", "") == "cold";
  if (cold) {
    PGTHAW_RETURN_IF_ERROR(sample_posts(warm, "/query", kSelect1, 1, first));
  } else {
    Message("pgthaw: warm proxy already warm at " + warm_proxy_url_ +
            ": no first-request sample from this server");
  }
  Result<json> version = post_ok(warm, "/query", query_body("select version()"));
  if (version.ok()) sys.version = first_cell(*version);

  progress("pgthaw: /ping floor, cold starts");
  Series& ping = Add(report_.warm, kPingRow, sys_name, "GET /ping on the factory");
  PGTHAW_RETURN_IF_ERROR(sample_pings(factory, "/ping", plan_.ping, ping));
  PGTHAW_RETURN_IF_ERROR(sample_posts(factory, "/cold-start", kSelect1, plan_.cold_pgthaw,
                                      Add(report_.cold, kColdRows[0], sys_name,
                                          "factory POST /cold-start (a brand-new instance)")));
  PGTHAW_RETURN_IF_ERROR(
      sample_posts(consumer, "/cold-direct", kSelect1, plan_.cold_pgthaw,
                   Add(report_.cold, kColdRows[1], sys_name, "consumer POST /cold-direct")));
  PGTHAW_RETURN_IF_ERROR(sample_posts(
      warm, "/query", kSelect1, plan_.cold_pgthaw,
      Add(report_.cold, kColdRows[3], sys_name, "warm-proxy POST /query after the first")));

  progress("pgthaw: warm queries per mode");
  std::string tenant_body = query_body("select 1", "bench-warm");
  PGTHAW_RETURN_IF_ERROR(post_ok(factory, "/query", tenant_body).status());
  PGTHAW_RETURN_IF_ERROR(post_ok(consumer, "/direct", tenant_body).status());
  PGTHAW_RETURN_IF_ERROR(
      sample_posts(factory, "/query", tenant_body, plan_.warm,
                   Add(report_.warm, "Factory DO", sys_name, "factory POST /query, warm tenant")));
  PGTHAW_RETURN_IF_ERROR(sample_posts(
      consumer, "/direct", tenant_body, plan_.warm,
      Add(report_.warm, "Consumer DO", sys_name, "consumer POST /direct, warm tenant")));
  PGTHAW_RETURN_IF_ERROR(
      sample_posts(warm, "/query", kSelect1, plan_.warm,
                   Add(report_.warm, "Warm Proxy", sys_name, "warm-proxy POST /query")));
  sys.notes = {
      "Factory DO (new instance) = factory /cold-start; Consumer DO (direct cold) = "
      "consumer /cold-direct; Warm Proxy (first request) = the first warm-proxy /query "
      "after a fresh server start; subsequent = later /query",
      "warm modes: factory /query, consumer /direct (tenant bench-warm), warm-proxy "
      "/query; all `select 1`"};

  if (!own) {
    Message("pgthaw: thaw, pgbench and memory need a runner-started server; skipped for " +
            factory_url_);
    return Status::Ok();
  }
  // Warm tenants per GiB: K tenants through /direct, the server's PSS delta.
  progress("pgthaw: " + std::to_string(plan_.memory_tenants) + " tenants for memory");
  Result<MemoryRollup> before = read_memory_rollup(pgthaw_->pid());
  if (!before.ok()) return before.status();
  for (int i = 0; i < plan_.memory_tenants; ++i) {
    PGTHAW_RETURN_IF_ERROR(
        post_ok(consumer, "/direct",
                query_body("create table t (id int primary key, v text); insert into t select g, "
                           "'row ' || g from generate_series(1, 100) g",
                           "mem-" + std::to_string(i)))
            .status());
  }
  Result<MemoryRollup> after = read_memory_rollup(pgthaw_->pid());
  if (!after.ok()) return after.status();
  int k = plan_.memory_tenants;
  report_.memory.push_back(
      {sys_name, k, double(after->rss_kb - before->rss_kb) / k,
       double(after->pss_kb - before->pss_kb) / k,
       "server's /proc/PID/smaps_rollup before and after K new tenants via /direct (a 100-row "
       "table each)",
       ""});

  // pgbench over the Postgres listener.
  if (!find_executable("pgbench")) {
    Message("pgthaw: pgbench not in PATH (Debian: postgresql-client): throughput skipped");
    return Status::Ok();
  }
  progress("pgthaw: pgbench");
  std::vector<std::string> conn = {"-h", "127.0.0.1", "-p", std::to_string(ports_[3]),
                                   "-U", "postgres"};
  Status throughput = MeasureThroughput(kSystemPgthaw, conn, "over the Postgres listener");
  if (!throughput.ok()) Message("pgthaw: pgbench failed: " + throughput.ToString());
  return Status::Ok();
}

Status Runner::PgbenchInit(const std::vector<std::string>& conn, const std::string& db) {
  static std::set<std::string> initialized;
  std::string key = join_argv(conn) + db;
  if (initialized.count(key)) return Status::Ok();
  std::vector<std::string> init = {"pgbench", "-i", "-q", "-s", "1"};
  init.insert(init.end(), conn.begin(), conn.end());
  init.push_back(db);
  Result<CommandResult> r = run_command(init);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return Status::Internal("pgbench -i: " + native_pg::tail(r->err, 600));
  initialized.insert(key);
  return Status::Ok();
}

Result<double> tps_of(const std::vector<std::string>& argv, Result<CommandResult> r) {
  if (!r.ok()) return r.status();
  if (r->exit_code != 0)
    return Status::Internal(join_argv(argv) + ": " + native_pg::tail(r->err + r->out, 600));
  std::smatch m;
  static const std::regex kTps(R"(tps = ([0-9.]+) \(without initial connection time\))");
  if (!std::regex_search(r->out, m, kTps))
    return Status::Corruption("no tps in pgbench output: " + r->out);
  return std::stod(m[1]);
}

std::vector<std::string> pgbench_argv(const std::vector<std::string>& conn, bool select_only,
                                      const std::string& db, int clients, int seconds) {
  std::vector<std::string> argv = {"pgbench", "-n",
                                   "-c",      std::to_string(clients),
                                   "-j",      std::to_string(std::min(clients, 2)),
                                   "-T",      std::to_string(seconds)};
  if (select_only) argv.push_back("-S");
  argv.insert(argv.end(), conn.begin(), conn.end());
  argv.push_back(db);
  return argv;
}

Result<double> Runner::Pgbench(const std::vector<std::string>& conn, bool select_only,
                               const std::string& db, int clients) {
  PGTHAW_RETURN_IF_ERROR(PgbenchInit(conn, db));
  std::vector<std::string> argv =
      pgbench_argv(conn, select_only, db, clients, plan_.pgbench_seconds);
  return tps_of(argv, run_command(argv));
}

Result<double> Runner::PgbenchFleet(const std::vector<std::string>& conn, bool select_only,
                                    const std::vector<std::string>& dbs) {
  std::vector<Result<double>> tps(dbs.size(), Status::Internal("not run"));
  std::vector<std::thread> runs;
  for (size_t i = 0; i < dbs.size(); ++i) {
    runs.emplace_back([&, i] {
      std::vector<std::string> argv =
          pgbench_argv(conn, select_only, dbs[i], 1, plan_.pgbench_seconds);
      tps[i] = tps_of(argv, run_command(argv));
    });
  }
  for (std::thread& t : runs) t.join();
  double total = 0;
  for (Result<double>& t : tps) {
    if (!t.ok()) return t.status();
    total += *t;
  }
  return total;
}

std::string fleet_workload(size_t tenants, bool select_only) {
  return std::to_string(tenants) +
         " tenants x 1 client: " + (select_only ? "pgbench -S" : "pgbench TPC-B");
}

Status Runner::MeasureThroughput(const std::string& system, const std::vector<std::string>& conn,
                                 const std::string& how) {
  struct Workload {
    bool select_only;
    int clients;
    const char* goal;  // pgthaw / native PG
  };
  const Workload workloads[] = {{true, 1, "at least 1.0x native"},
                                {true, 4, "-"},
                                {false, 1, "at least 0.8x native"},
                                {false, 4, "-"}};
  for (const Workload& w : workloads) {
    Result<double> tps = Pgbench(conn, w.select_only, "pgbench", w.clients);
    if (!tps.ok()) return tps.status();
    report_.throughput.push_back(
        {std::string(w.select_only ? "pgbench -S (select only)" : "pgbench TPC-B") + ", -c " +
             std::to_string(w.clients),
         system, *tps,
         "pgbench -n -c " + std::to_string(w.clients) + " -T " +
             std::to_string(plan_.pgbench_seconds) + " " + how + ", scale 1",
         w.goal});
  }
  return Status::Ok();
}

Status Runner::MeasureFleet(const std::string& system, const std::vector<std::string>& conn,
                            const std::string& how, const std::vector<std::string>& fleet) {
  progress(system + ": pgbench on " + std::to_string(fleet.size()) + " tenants at once");
  for (bool select_only : {true, false}) {
    Result<double> tps = PgbenchFleet(conn, select_only, fleet);
    if (!tps.ok()) return tps.status();
    report_.throughput.push_back({fleet_workload(fleet.size(), select_only), system, *tps,
                                  std::to_string(fleet.size()) +
                                      " pgbench processes at once, each -n -c 1 on its own "
                                      "database (a copy of the scale-1 one) " +
                                      how + "; their tps summed",
                                  "at least 1.0x native"});
  }
  return Status::Ok();
}

Status Runner::MeasurePgthawRestarts() {
  Series& first = *[&]() {
    for (Series& s : report_.cold) {
      if (s.row == kColdRows[2] && s.system == kSystemPgthaw) return &s;
    }
    return &Add(report_.cold, kColdRows[2], kSystemPgthaw, "");
  }();
  Series& thaw =
      Add(report_.thaw, "consumer /direct, indexed lookup on a hibernated 10 MiB tenant (thawed)",
          kSystemPgthaw, "");
  for (int i = 1; i < plan_.restarts; ++i) {
    progress("pgthaw: restart " + std::to_string(i) + " (warm proxy first request, thaw)");
    Result<std::unique_ptr<ChildProcess>> child =
        StartPgthaw(work_ + "/pgthaw-data", kThawIdleTimeoutMs);
    if (!child.ok()) return child.status();
    Result<std::unique_ptr<HttpClient>> w = HttpClient::Create(warm_proxy_url_);
    Result<std::unique_ptr<HttpClient>> c = HttpClient::Create(consumer_url_);
    if (!w.ok() || !c.ok()) return Status::Internal("client");
    PGTHAW_RETURN_IF_ERROR(sample_posts(**w, "/query", kSelect1, 1, first));
    for (int t = 0; t < plan_.thaw_tenants; ++t) {
      PGTHAW_RETURN_IF_ERROR(
          post_ok(**c, "/direct", query_body(kThawFillSql, "thaw-" + std::to_string(t))).status());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kThawIdleTimeoutMs * 2 + 500));
    for (int t = 0; t < plan_.thaw_tenants; ++t) {
      double ms = 0;
      Result<json> j =
          post_ok(**c, "/direct", query_body(kForkQuery, "thaw-" + std::to_string(t)), &ms);
      if (!j.ok()) return j.status();
      std::string kind = (*j)["timings"].value("coldKind", "");
      if (kind == "thawed") {
        thaw.ms.push_back(ms);
      } else {
        Message("pgthaw: tenant thaw-" + std::to_string(t) + " answered with coldKind \"" + kind +
                "\", not thawed: sample dropped");
      }
    }
    (*child)->Stop();
  }
  thaw.how = "10 MiB tenants (10240 rows of 1 KB, primary key) hibernated by --idle-timeout-ms " +
             std::to_string(kThawIdleTimeoutMs) + ", then one consumer /direct `" + kForkQuery +
             "` each; only replies with coldKind==\"thawed\"";
  thaw.goal = "under 1 ms";
  return Status::Ok();
}

// The rows both PGlite peers measure the same way, once the server runs and
// its first request is done: they answer one HTTP shape (pglite_server.mjs
// and workerd/worker.mjs). `unit` names what holds a tenant (" DO").
Status Runner::MeasurePgliteHttpRows(HttpClient& c, const std::string& name,
                                     const std::string& label, const std::string& unit) {
  PGTHAW_RETURN_IF_ERROR(
      sample_posts(c, "/query", kSelect1, plan_.cold_pgthaw,
                   Add(report_.cold, kColdRows[3], name, "later /query without tenant")));
  PGTHAW_RETURN_IF_ERROR(
      sample_pings(c, "/ping", plan_.ping, Add(report_.warm, kPingRow, name, "GET /ping")));
  progress(label + ": cold starts (each is an initdb, seconds)");
  PGTHAW_RETURN_IF_ERROR(sample_posts(c, "/cold", kSelect1, plan_.node_cold,
                                      Add(report_.cold, kColdRows[0], name, "POST /cold")));
  Series& consumer_cold = Add(report_.cold, kColdRows[1], name, "/query, new tenant" + unit);
  for (int i = 0; i < plan_.node_cold; ++i) {
    PGTHAW_RETURN_IF_ERROR(sample_posts(
        c, "/query", query_body("select 1", "cold-" + std::to_string(i)), 1, consumer_cold));
  }
  progress(label + ": warm queries");
  std::string tb = query_body("select 1", "cold-0");
  PGTHAW_RETURN_IF_ERROR(
      sample_posts(c, "/query", tb, plan_.warm,
                   Add(report_.warm, "Factory DO", name,
                       "/query, warm tenant" + unit +
                           " (factory and consumer are the same instance per tenant here)")));
  PGTHAW_RETURN_IF_ERROR(
      sample_posts(c, "/query", tb, plan_.warm,
                   Add(report_.warm, "Consumer DO", name, "/query, warm tenant" + unit)));
  return sample_posts(c, "/query", kSelect1, plan_.warm,
                      Add(report_.warm, "Warm Proxy", name, "/query, module-level PGlite"));
}

Status Runner::MeasureNode() {
  const char* name = kSystemPgliteNode;
  std::string script = o_.source_dir + "/bench/node/pglite_server.mjs";
  std::string modules = o_.source_dir + "/bench/node/node_modules";
  if (!find_executable("node"))
    return Skip(name, "node not in PATH (Debian: nodejs)"), Status::Ok();
  if (access((modules + "/@electric-sql/pglite/package.json").c_str(), R_OK) != 0) {
    Skip(name, modules + "/@electric-sql/pglite missing (run `make bench-node`)");
    return Status::Ok();
  }
  report_.systems.push_back({name, "", true, "", {}});
  SystemRun& sys = report_.systems.back();
  sys.notes = {
      "Factory DO (new instance) = POST /cold: a new PGlite on a fresh dir in the "
      "running (warm) Node process, closed and removed after the query",
      "Consumer DO (direct cold) = POST /query for a never-seen tenant: its own PGlite "
      "created on disk (initdb) in the running process",
      "Warm Proxy (first request) = the first /query without tenant after a fresh "
      "`node pglite_server.mjs` start (module-level in-memory PGlite, wasm compile "
      "included); subsequent = later /query",
      "thaw = /query on a tenant whose PGlite was closed (POST /hibernate): "
      "PGlite.create() of an existing dataDir"};
  Series& first = Add(report_.cold, kColdRows[2], name, "first /query after a fresh node start");
  for (int restart = 0; restart < plan_.node_restarts; ++restart) {
    Result<int> port = free_loopback_port();
    if (!port.ok()) return port.status();
    std::string data = work_ + "/node-" + std::to_string(restart);
    fs::create_directories(data);
    progress("PGlite-in-Node: start " + std::to_string(restart + 1));
    Result<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Start("pglite_server.mjs",
                            {"node", script, "--port", std::to_string(*port), "--data-dir", data,
                             "--node-modules", modules},
                            work_ + "/node.log");
    if (!child.ok()) return child.status();
    std::string url = url_for(*port);
    PGTHAW_RETURN_IF_ERROR((*child)->WaitHttpReady(url, "/ping", 60000));
    Result<std::unique_ptr<HttpClient>> cl = HttpClient::Create(url);
    if (!cl.ok()) return cl.status();
    HttpClient& c = **cl;
    PGTHAW_RETURN_IF_ERROR(sample_posts(c, "/query", kSelect1, 1, first));
    if (restart > 0) continue;  // child stops at scope end

    Result<json> version = post_ok(c, "/query", query_body("select version()"));
    Result<HttpReply> st = c.Get("/status");
    if (st.ok()) {
      json s = json::parse(st->body, nullptr, false);
      if (s.is_object()) {
        sys.version = "PGlite " + s.value("version", "") + ", Node " + s.value("node", "");
      }
    }
    if (version.ok()) sys.version += ", " + first_cell(*version);
    PGTHAW_RETURN_IF_ERROR(MeasurePgliteHttpRows(c, name, "PGlite-in-Node", ""));
    std::string tb = query_body("select 1", "cold-0");
    progress("PGlite-in-Node: thaw");
    Series& thaw =
        Add(report_.thaw, "/query after /hibernate (PGlite.create of an existing dir)", name, "");
    for (int i = 0; i < plan_.node_thaw; ++i) {
      PGTHAW_RETURN_IF_ERROR(post_ok(c, "/hibernate", R"({"tenant": "cold-0"})").status());
      PGTHAW_RETURN_IF_ERROR(sample_posts(c, "/query", tb, 1, thaw));
    }
    progress("PGlite-in-Node: memory");
    Result<MemoryRollup> before = read_memory_rollup((*child)->pid());
    if (!before.ok()) return before.status();
    int k = plan_.node_memory_tenants;
    for (int i = 0; i < k; ++i) {
      PGTHAW_RETURN_IF_ERROR(
          post_ok(c, "/query",
                  query_body("create table t (id int primary key, v text); insert into t select "
                             "g, 'row ' || g from generate_series(1, 100) g",
                             "mem-" + std::to_string(i)))
              .status());
    }
    Result<MemoryRollup> after = read_memory_rollup((*child)->pid());
    if (!after.ok()) return after.status();
    report_.memory.push_back({name, k, double(after->rss_kb - before->rss_kb) / k,
                              double(after->pss_kb - before->pss_kb) / k,
                              "node's /proc/PID/smaps_rollup before and after K tenants", ""});
  }
  return Status::Ok();
}

// Appends the private-socket settings to a new cluster's postgresql.conf.
Status configure_cluster(const std::string& data_dir, const std::string& socket_dir, int port) {
  std::ofstream conf(data_dir + "/postgresql.conf", std::ios::app);
  conf << "\n# pgthaw bench\nlisten_addresses = ''\nunix_socket_directories = "
       << native_pg::quote_conf(socket_dir) << "\nport = " << port << "\n";
  if (!conf) return Status::IoError("append to " + data_dir + "/postgresql.conf");
  return Status::Ok();
}

// Starts postgres directly and waits until it accepts connections.
Status boot_direct(native_pg::Server& server, native_pg::ConnInfo& info) {
  PGTHAW_RETURN_IF_ERROR(server.StartDirect());
  Stopwatch watch;
  while (PQpingParams(info.keywords(), info.values(), 0) != PQPING_OK) {
    if (!server.DirectAlive()) return Status::Internal("postgres exited: " + server.DirectLog());
    if (watch.ElapsedMs() > 60000) return Status::Unavailable("postgres not ready after 60 s");
    native_pg::sleep_us(200);
  }
  return Status::Ok();
}

Result<native_pg::PgConn> connect_db(const std::string& dir, int port, const std::string& db) {
  std::string ci = "host=" + dir + " port=" + std::to_string(port) + " user=postgres dbname=" + db;
  native_pg::PgConn conn(PQconnectdb(ci.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Status::Unavailable(std::string("connect: ") + PQerrorMessage(conn.get()));
  }
  return conn;
}

Status Runner::MeasureNativePg() {
  const char* name = kSystemNativePg;
  if (std::optional<std::string> missing = native_postgres_missing(o_.pg_bindir)) {
    Skip(name, *missing);
    return Status::Ok();
  }
  Result<native_pg::RunAs> run_as = native_pg::choose_run_as();
  if (!run_as.ok()) return run_as.status();
  // Again here: the work dir must stay passable for nobody (see Run()).
  if (chmod(work_.c_str(), 0711) != 0) return Status::FromErrno("chmod " + work_, errno);
  report_.systems.push_back({name, "", true, "", {}});
  SystemRun& sys = report_.systems.back();
  sys.notes = {
      "libpq over a unix socket, not HTTP (no /ping floor); defaults (fsync on); "
      "binaries run as " +
          std::string(run_as->drop ? "nobody via setpriv" : "the current user"),
      "Factory DO (new instance) = CREATE DATABASE in one shared server + connect + "
      "select 1",
      "Consumer DO (direct cold) = initdb + start of the tenant's own cluster (postgres "
      "started directly, PQping every 0.2 ms) + connect + select 1",
      "Warm Proxy (first request) = a new connection to the running server + select 1; "
      "subsequent = select 1 on that open connection",
      "thaw = restart of an existing, cleanly stopped cluster + connect + select 1"};
  auto cluster_dir = [&](const std::string& tag) -> Result<std::string> {
    std::string parent = work_ + "/pg-" + tag;
    fs::create_directories(parent);
    return native_pg::prepare_dir(parent, *run_as);
  };
  // Own cluster per tenant: initdb + start; then restarts (the thaw row).
  Series& initdb = Add(report_.cold, kColdRows[1], name, "initdb + start + connect + select 1");
  Series& restart =
      Add(report_.thaw, "restart of a stopped cluster + connect + select 1", name, "");
  for (int i = 0; i < plan_.pg_initdb; ++i) {
    progress("native PG: initdb + start " + std::to_string(i + 1));
    Result<std::string> dir = cluster_dir("own" + std::to_string(i));
    if (!dir.ok()) return dir.status();
    Result<int> port = free_loopback_port();
    if (!port.ok()) return port.status();
    native_pg::Server server(o_.pg_bindir, *dir, *run_as);
    native_pg::ConnInfo info(*dir, *port);
    Stopwatch watch;
    PGTHAW_RETURN_IF_ERROR(server.Initdb());
    PGTHAW_RETURN_IF_ERROR(configure_cluster(server.data_dir(), *dir, *port));
    PGTHAW_RETURN_IF_ERROR(boot_direct(server, info));
    Result<native_pg::PgConn> conn = native_pg::connect(info);
    if (!conn.ok()) return conn.status();
    PGTHAW_RETURN_IF_ERROR(native_pg::exec(conn->get(), "select 1"));
    initdb.ms.push_back(watch.ElapsedMs());
    conn->reset();
    PGTHAW_RETURN_IF_ERROR(server.Stop());
    if (i == 0) {
      for (int r = 0; r < plan_.pg_restarts; ++r) {
        Result<double> ms = native_pg::time_direct_boot(server, info);
        if (!ms.ok()) return ms.status();
        restart.ms.push_back(*ms);
      }
    }
  }
  // One shared server: CREATE DATABASE, connections, warm queries, pgbench.
  progress("native PG: shared server");
  Result<std::string> dir = cluster_dir("shared");
  if (!dir.ok()) return dir.status();
  Result<int> port = free_loopback_port();
  if (!port.ok()) return port.status();
  native_pg::Server server(o_.pg_bindir, *dir, *run_as);
  native_pg::ConnInfo info(*dir, *port);
  PGTHAW_RETURN_IF_ERROR(server.Initdb());
  PGTHAW_RETURN_IF_ERROR(configure_cluster(server.data_dir(), *dir, *port));
  PGTHAW_RETURN_IF_ERROR(boot_direct(server, info));
  Result<native_pg::PgConn> admin = native_pg::connect(info);
  if (!admin.ok()) return admin.status();
  std::string version;
  PGTHAW_RETURN_IF_ERROR(native_pg::exec(admin->get(), "select version()", &version));
  sys.version = version.substr(0, version.find(" on "));
  Series& createdb = Add(report_.cold, kColdRows[0], name, "CREATE DATABASE + connect + select 1");
  for (int i = 0; i < plan_.pg_createdb; ++i) {
    Stopwatch watch;
    std::string db = "tenant" + std::to_string(i);
    PGTHAW_RETURN_IF_ERROR(native_pg::exec(admin->get(), "create database " + db));
    Result<native_pg::PgConn> conn = connect_db(*dir, *port, db);
    if (!conn.ok()) return conn.status();
    PGTHAW_RETURN_IF_ERROR(native_pg::exec(conn->get(), "select 1"));
    createdb.ms.push_back(watch.ElapsedMs());
  }
  // Forks: a database copied from another (CREATE DATABASE ... TEMPLATE).
  for (const ForkSize& size : fork_sizes(plan_)) {
    const std::string src = "forksrc" + std::to_string(size.rows);
    progress("native PG: fork: filling a " + size.label + " database");
    PGTHAW_RETURN_IF_ERROR(native_pg::exec(admin->get(), "create database " + src));
    {
      Result<native_pg::PgConn> conn = connect_db(*dir, *port, src);
      if (!conn.ok()) return conn.status();
      PGTHAW_RETURN_IF_ERROR(native_pg::exec(conn->get(), fork_fill_sql(size.rows)));
    }
    const size_t at = report_.fork.size();
    Add(report_.fork, fork_row(size), name, "CREATE DATABASE f TEMPLATE src");
    Add(report_.fork, fork_query_row(size), name, std::string("connect + ") + kForkQuery);
    for (int i = 0; i < plan_.forks; ++i) {
      const std::string fork = src + "f" + std::to_string(i);
      Stopwatch watch;
      PGTHAW_RETURN_IF_ERROR(
          native_pg::exec(admin->get(), "create database " + fork + " template " + src));
      report_.fork[at].ms.push_back(watch.ElapsedMs());
      Stopwatch query;
      Result<native_pg::PgConn> conn = connect_db(*dir, *port, fork);
      if (!conn.ok()) return conn.status();
      PGTHAW_RETURN_IF_ERROR(native_pg::exec(conn->get(), kForkQuery));
      report_.fork[at + 1].ms.push_back(query.ElapsedMs());
      conn->reset();
      PGTHAW_RETURN_IF_ERROR(native_pg::exec(admin->get(), "drop database " + fork));
    }
  }
  Series& connects = Add(report_.cold, kColdRows[2], name, "new connection + select 1");
  for (int i = 0; i < plan_.pg_connects; ++i) {
    Stopwatch watch;
    Result<native_pg::PgConn> conn = connect_db(*dir, *port, "postgres");
    if (!conn.ok()) return conn.status();
    PGTHAW_RETURN_IF_ERROR(native_pg::exec(conn->get(), "select 1"));
    connects.ms.push_back(watch.ElapsedMs());
  }
  auto time_selects = [&](Series& s, int n) -> Status {
    for (int i = 0; i < n; ++i) {
      Stopwatch watch;
      PGTHAW_RETURN_IF_ERROR(native_pg::exec(admin->get(), "select 1"));
      s.ms.push_back(watch.ElapsedMs());
    }
    return Status::Ok();
  };
  PGTHAW_RETURN_IF_ERROR(time_selects(
      Add(report_.cold, kColdRows[3], name, "select 1 on the open connection"), plan_.cold_pgthaw));
  PGTHAW_RETURN_IF_ERROR(time_selects(
      Add(report_.warm, "Consumer DO", name, "select 1 on an open libpq connection (no HTTP)"),
      plan_.warm));
  if (find_executable("pgbench")) {
    progress("native PG: pgbench");
    PGTHAW_RETURN_IF_ERROR(native_pg::exec(admin->get(), "create database pgbench"));
    std::vector<std::string> conn = {"-h", *dir, "-p", std::to_string(*port), "-U", "postgres"};
    PGTHAW_RETURN_IF_ERROR(PgbenchInit(conn, "pgbench"));
    // The fleet: databases copied from the initialised one, as pgthaw's
    // tenants are forked from its.
    std::vector<std::string> fleet;
    for (int i = 0; i < plan_.fleet_tenants; ++i) {
      fleet.push_back("fleet" + std::to_string(i));
      PGTHAW_RETURN_IF_ERROR(
          native_pg::exec(admin->get(), "create database " + fleet.back() + " template pgbench"));
    }
    Status throughput = MeasureThroughput(name, conn, "over a unix socket (fsync on)");
    if (throughput.ok()) {
      throughput = MeasureFleet(name, conn, "over a unix socket, one server for all", fleet);
    }
    if (!throughput.ok()) Message("native PG: pgbench failed: " + throughput.ToString());
  }
  admin->reset();
  return server.Stop();
}

Status Runner::MeasureWorkerd() {
  const char* name = kSystemPgliteWorkerd;
  std::string dir = o_.source_dir + "/bench/node/workerd";
  std::string modules = o_.source_dir + "/bench/node/node_modules";
  std::string wrangler = modules + "/.bin/wrangler";
  if (!find_executable("node"))
    return Skip(name, "node not in PATH (Debian: nodejs)"), Status::Ok();
  if (access(wrangler.c_str(), X_OK) != 0) {
    Skip(name, wrangler + " missing (run `make bench-node`)");
    return Status::Ok();
  }
  if (access((modules + "/@electric-sql/pglite/package.json").c_str(), R_OK) != 0) {
    Skip(name, modules + "/@electric-sql/pglite missing (run `make bench-node`)");
    return Status::Ok();
  }
  // Local workerd forbids compiling wasm at run time: capture the byte
  // strings PGlite compiles (callback wrappers, plpgsql.so,
  // dict_snowball.so) in Node once, for the Worker to import precompiled.
  progress("PGlite-in-workerd: precompiling PGlite's run-time wasm in Node");
  Result<CommandResult> pre = run_command({"node", dir + "/precompile.mjs"}, {dir});
  if (!pre.ok()) return Skip(name, "precompile.mjs: " + pre.status().ToString()), Status::Ok();
  if (pre->exit_code != 0) {
    Skip(name, "precompile.mjs exited " + std::to_string(pre->exit_code) + ": " + pre->err);
    return Status::Ok();
  }
  report_.systems.push_back({name, "", true, "", {}});
  SystemRun& sys = report_.systems.back();
  sys.notes = {
      "`wrangler dev --local` (workerd on loopback, the seed's own runtime), PGlite given "
      "pglite.wasm, initdb.wasm and its run-time wasm as precompiled modules",
      "Factory DO (new instance) = POST /cold: a brand-new Durable Object (newUniqueId) "
      "creating its in-memory PGlite (initdb) for the query",
      "Consumer DO (direct cold) = POST /query for a never-seen tenant: the Durable Object "
      "of that name creating its in-memory PGlite",
      "Warm Proxy (first request) = the first /query without tenant after a fresh "
      "`wrangler dev` start (module-level PGlite in the Worker isolate created on that "
      "request); subsequent = later /query",
      "no thaw or memory rows: local workerd's Durable Objects hold PGlite in memory only and "
      "cannot be hibernated on demand"};
  Series& first = Add(report_.cold, kColdRows[2], name, "first /query after a fresh wrangler dev");
  for (int restart = 0; restart < plan_.node_restarts; ++restart) {
    Result<int> port = free_loopback_port();
    if (!port.ok()) return port.status();
    std::string state = work_ + "/workerd-" + std::to_string(restart);
    fs::create_directories(state);
    progress("PGlite-in-workerd: wrangler dev start " + std::to_string(restart + 1));
    // env(1) execs wrangler in place: the child's pid is wrangler's.
    Result<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
        "wrangler dev",
        {"env", "WRANGLER_SEND_METRICS=false",
         "CLOUDFLARE_ACCOUNT_ID=00000000000000000000000000000000", "NO_COLOR=1", wrangler, "dev",
         "--config", dir + "/wrangler.toml", "--local", "--port", std::to_string(*port), "--ip",
         "127.0.0.1", "--log-level", "error", "--persist-to", state},
        work_ + "/workerd.log");
    if (!child.ok()) return child.status();
    std::string url = url_for(*port);
    PGTHAW_RETURN_IF_ERROR((*child)->WaitHttpReady(url, "/ping", 120000));
    Result<std::unique_ptr<HttpClient>> cl = HttpClient::Create(url);
    if (!cl.ok()) return cl.status();
    HttpClient& c = **cl;
    PGTHAW_RETURN_IF_ERROR(sample_posts(c, "/query", kSelect1, 1, first));
    if (restart > 0) continue;  // child stops at scope end

    Result<json> version = post_ok(c, "/query", query_body("select version()"));
    Result<HttpReply> st = c.Get("/status");
    if (st.ok()) {
      json s = json::parse(st->body, nullptr, false);
      if (s.is_object()) sys.version = "PGlite " + s.value("version", "") + ", wrangler 4.86.0";
    }
    if (version.ok()) sys.version += ", " + first_cell(*version);
    PGTHAW_RETURN_IF_ERROR(MeasurePgliteHttpRows(c, name, "PGlite-in-workerd", " DO"));
  }
  return Status::Ok();
}

Status Runner::Run() {
  char tmpl[] = "/tmp/pgthaw-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return Status::FromErrno("mkdtemp", errno);
  work_ = tmpl;
  // o+x: native PG's binaries run as nobody when we are root and must reach
  // their cluster dirs below (nothing here is listable by others).
  if (chmod(work_.c_str(), 0711) != 0) return Status::FromErrno("chmod " + work_, errno);
  Status st = MeasurePgthaw();
  if (!st.ok()) Message("pgthaw: FAILED: " + st.ToString());
  pgthaw_.reset();
  if (o_.no_peers) {
    for (const char* p : {kSystemPgliteNode, kSystemPgliteWorkerd, kSystemNativePg}) {
      Skip(p, "--no-peers");
    }
  } else {
    Status node = MeasureNode();
    if (!node.ok()) Message("PGlite-in-Node: FAILED: " + node.ToString());
    Status workerd = MeasureWorkerd();
    if (!workerd.ok()) Message("PGlite-in-workerd: FAILED: " + workerd.ToString());
    Status pg = MeasureNativePg();
    if (!pg.ok()) Message("native PG: FAILED: " + pg.ToString());
    for (SystemRun& s : report_.systems) {
      if (s.name == kSystemPgthaw || !s.measured) continue;
      s.notes.push_back(
          std::string("noisy neighbour: not measured (the table checks pgthaw's own tenant "
                      "isolation, issue 8; ") +
          (s.name == kSystemNativePg ? "native PG gives every connection its own OS process)"
                                     : "this peer has no Postgres wire listener)"));
    }
  }
  std::error_code ec;
  fs::remove_all(work_, ec);
  return st;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

Result<BenchReport> run_bench(const RunnerOptions& options) {
  BenchReport report;
  report.command = options.command;
  report.mode = options.quick ? "quick" : "full";
  report.machine = machine_info();
  report.started_at = utc_now();
  Stopwatch watch;
  Runner runner(options, report);
  Status st = runner.Run();
  report.duration_s = watch.ElapsedMs() / 1000;
  if (!st.ok()) return st;

  fs::create_directories(options.out_dir);
  std::string md =
      "# pgthaw-bench\n\nCommand: `" + options.command + "`\n\n" + render_report_markdown(report);
  std::ofstream(options.out_dir + "/bench.json") << render_report_json(report);
  bool charted = false;
  if (options.charts) {
    Status charts = write_charts(report, options.out_dir);
    if (!charts.ok()) progress("charts skipped: " + charts.ToString());
    charted = charts.ok();
  }
  // Each copy of the report links its charts by a name beside it: the docs
  // copy gets its own copies of the PNGs (committed with it, so a fresh
  // clone shows them), named after it.
  auto with_charts = [&](const std::string& prefix) {
    std::string out = md;
    if (!charted) return out;
    out += "\n";
    for (const char* chart : kChartFiles) {
      std::string name(chart);
      out += "![" + name.substr(0, name.find('.')) + "](" + prefix + name + ")\n";
    }
    return out;
  };
  std::ofstream(options.out_dir + "/bench.md") << with_charts("");
  if (!options.docs_path.empty()) {
    fs::path docs(options.docs_path);
    if (docs.has_parent_path()) fs::create_directories(docs.parent_path());
    const std::string prefix = docs.stem().string() + "-";
    if (charted) {
      for (const char* chart : kChartFiles) {
        std::error_code ec;
        fs::copy_file(fs::path(options.out_dir) / chart, docs.parent_path() / (prefix + chart),
                      fs::copy_options::overwrite_existing, ec);
        if (ec) return Status::IoError("copy chart " + std::string(chart) + ": " + ec.message());
      }
    }
    std::ofstream out(options.docs_path);
    out << with_charts(prefix);
    if (!out) return Status::IoError("cannot write " + options.docs_path);
  }
  return report;
}

int run_bench_command(RunnerOptions o) {
  auto env = [](const char* name, std::string& into) {
    const char* v = std::getenv(name);
    if (into.empty() && v != nullptr) into = v;
  };
  env("FACTORY_URL", o.factory_url);
  env("CONSUMER_URL", o.consumer_url);
  env("WARM_PROXY_URL", o.warm_proxy_url);
  int given = !o.factory_url.empty() + !o.consumer_url.empty() + !o.warm_proxy_url.empty();
  if (given != 0 && given != 3) {
    std::fprintf(stderr,
                 "pgthaw-bench: give all three of --factory-url, --consumer-url, "
                 "--warm-proxy-url (or none, to start a server)\n");
    return 2;
  }
  if (o.pgthaw_binary.empty()) {
    std::fprintf(stderr, "pgthaw-bench: no pgthaw binary to run\n");
    return 2;
  }
  if (o.out_dir.empty()) o.out_dir = o.source_dir + "/bench/out";
  Result<BenchReport> r = run_bench(o);
  if (!r.ok()) {
    std::fprintf(stderr, "pgthaw-bench: %s\n", r.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "bench: report in %s/bench.md (JSON: bench.json, charts: *.png)\n",
               o.out_dir.c_str());
  std::printf("%s", render_report_markdown(*r).c_str());
  return 0;
}

}  // namespace pgthaw::bench
