// End-to-end tests of the real `pgthaw serve` process (PGTHAW_BINARY, set by
// CMake): spawned with --role all on loopback ports over a temporary data
// directory, then killed, stopped with SIGTERM and restarted the way an
// operator would. The in-process tests (http_*_test.cc, pg_listener_test.cc)
// cannot show what survives the process itself: SIGKILL under a write load,
// SIGTERM's drain and hibernation, idle hibernation then thaw, and per-tenant
// ordering over real sockets.
//
// Each test starts its own server from an empty data directory, so the first
// start builds the templates (a few seconds). The child's stdout (banner) and
// stderr (logs) go to files in the test's temp dir and are printed when a test
// fails; the child is SIGKILLed and reaped in TearDown, and gets SIGKILL from
// the kernel if the test process dies first (PR_SET_PDEATHSIG).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/test_support.h"
#include "server/http_test_client.h"
#include "server/http_warm_proxy_routes.h"
#include "server/owned_scratch_dir.h"

namespace pgthaw::server {
namespace {

namespace fs = std::filesystem;
using engine::testing::TempDir;
using nlohmann::json;
using testing::HttpClient;
using testing::HttpResult;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// First start builds two templates (consumer and factory runtimes): ~6 s on
// two cores, more on a loaded machine.
constexpr auto kStartTimeout = 120s;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `n` distinct loopback ports the kernel had free a moment ago: all bound at
// once (so they differ), then closed. Another process may take one before the
// server binds it; ServeChild::Start retries once on that.
std::vector<unsigned short> free_ports(int n) {
  std::vector<int> fds;
  std::vector<unsigned short> ports;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot pick a free port: " << std::strerror(errno);
      if (fd >= 0) close(fd);
      break;
    }
    fds.push_back(fd);
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) close(fd);
  return ports;
}

// A `pgthaw serve --role all` child process over one data directory. Each
// Start picks new ports; the data directory stays.
class ServeChild {
 public:
  ServeChild(std::string data_dir, std::string log_dir, std::vector<std::string> extra_args)
      : data_dir_(std::move(data_dir)),
        log_dir_(std::move(log_dir)),
        extra_args_(std::move(extra_args)) {}
  ~ServeChild() { KillAndReap(); }

  // Spawns the server and waits for its banner and /ping; retries once with
  // new ports if a port was taken in between.
  ::testing::AssertionResult Start() {
    bool port_clash = false;
    ::testing::AssertionResult result = StartOnce(&port_clash);
    if (!result && port_clash) result = StartOnce(&port_clash);
    return result;
  }

  void Signal(int signo) const {
    if (pid_ > 0) kill(pid_, signo);
  }

  // RLIMIT_NOFILE (soft and hard) of the next starts, set in the child
  // before exec.
  void set_open_files_limit(rlim_t limit) { open_files_limit_ = limit; }

  // Spawns the server without waiting for it (e.g. one expected to fail).
  ::testing::AssertionResult Spawn() {
    if (pid_ > 0) return ::testing::AssertionFailure() << "already running";
    ports_ = free_ports(4);
    if (ports_.size() != 4) return ::testing::AssertionFailure() << "no free ports";
    ++starts_;
    auto at = [](unsigned short port) { return "127.0.0.1:" + std::to_string(port); };
    std::vector<std::string> args = {PGTHAW_BINARY,
                                     "serve",
                                     "--role",
                                     "all",
                                     "--data-dir",
                                     data_dir_,
                                     "--factory-listen",
                                     at(factory_port()),
                                     "--consumer-listen",
                                     at(consumer_port()),
                                     "--warm-proxy-listen",
                                     at(warm_proxy_port()),
                                     "--pg-listen",
                                     at(pg_port())};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    // Everything the child touches is made before fork: after it, only
    // async-signal-safe calls (the test process may have other threads).
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string out = stdout_path(starts_), err = stderr_path(starts_);
    rlimit files{open_files_limit_, open_files_limit_};
    bool limit_files = open_files_limit_ != 0;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return ::testing::AssertionFailure() << "fork: " << std::strerror(errno);
    if (pid == 0) {
      // The test process may ignore SIGPIPE or block signals; exec keeps
      // both, and the server must see SIGTERM.
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int signo : {SIGPIPE, SIGTERM, SIGINT}) sigaction(signo, &dfl, nullptr);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);
      int in_fd = open("/dev/null", O_RDONLY);
      int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in_fd < 0 || out_fd < 0 || err_fd < 0) _exit(126);
      dup2(in_fd, 0);
      dup2(out_fd, 1);
      dup2(err_fd, 2);
      // The test process's other descriptors must not count against the limit.
      for (int fd = 3; fd < 1024; ++fd) close(fd);
      if (limit_files && setrlimit(RLIMIT_NOFILE, &files) != 0) _exit(125);
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;
    return ::testing::AssertionSuccess();
  }

  pid_t pid() const { return pid_; }
  std::string current_stderr() const { return read_file(stderr_path(starts_)); }
  std::string current_stdout() const { return read_file(stdout_path(starts_)); }

  // The child's wait status once it exits within `timeout`, else nullopt.
  std::optional<int> WaitExit(Clock::duration timeout) {
    Clock::time_point deadline = Clock::now() + timeout;
    while (pid_ > 0) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      if (Clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }

  void KillAndReap() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Every start's stdout and stderr, in order.
  std::string logs() const {
    std::string out;
    for (int i = 1; i <= starts_; ++i) {
      out += "----- start " + std::to_string(i) + " stdout -----\n" + read_file(stdout_path(i));
      out += "----- start " + std::to_string(i) + " stderr -----\n" + read_file(stderr_path(i));
    }
    return out;
  }

  unsigned short factory_port() const { return ports_.at(0); }
  unsigned short consumer_port() const { return ports_.at(1); }
  unsigned short warm_proxy_port() const { return ports_.at(2); }
  unsigned short pg_port() const { return ports_.at(3); }
  const std::string& data_dir() const { return data_dir_; }

 private:
  std::string stdout_path(int start) const {
    return log_dir_ + "/serve-" + std::to_string(start) + ".out";
  }
  std::string stderr_path(int start) const {
    return log_dir_ + "/serve-" + std::to_string(start) + ".err";
  }

  ::testing::AssertionResult StartOnce(bool* port_clash) {
    *port_clash = false;
    ::testing::AssertionResult spawned = Spawn();
    if (!spawned) return spawned;
    std::string out = stdout_path(starts_), err = stderr_path(starts_);

    Clock::time_point deadline = Clock::now() + kStartTimeout;
    while (read_file(out).find("pgthaw serve: ready") == std::string::npos) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *port_clash = read_file(err).find("Address already in use") != std::string::npos;
        return ::testing::AssertionFailure()
               << "pgthaw serve exited during start (wait status " << status << ")";
      }
      if (Clock::now() > deadline) return ::testing::AssertionFailure() << "no banner in time";
      std::this_thread::sleep_for(20ms);
    }
    while (testing::http_call(factory_port(), "GET", "/ping").status != 200) {
      if (Clock::now() > deadline) return ::testing::AssertionFailure() << "/ping never answered";
      std::this_thread::sleep_for(20ms);
    }
    return ::testing::AssertionSuccess();
  }

  std::string data_dir_, log_dir_;
  std::vector<std::string> extra_args_;
  std::vector<unsigned short> ports_;
  pid_t pid_ = -1;
  int starts_ = 0;
  rlim_t open_files_limit_ = 0;  // 0: inherit
};

json query(const std::string& tenant, const std::string& sql) {
  return {{"sql", sql}, {"tenant", tenant}};
}

HttpResult direct(unsigned short port, const std::string& tenant, const std::string& sql) {
  return testing::post_json(port, "/direct", query(tenant, sql));
}

// The first column of every row of a query that must succeed.
std::vector<std::string> column(const HttpResult& r) {
  std::vector<std::string> values;
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  if (r.status != 200 || !r.json.contains("rows")) return values;
  for (const json& row : r.json["rows"]) values.push_back(row[0].get<std::string>());
  return values;
}

std::string cold_kind(const HttpResult& r) {
  if (!r.json.is_object() || !r.json.contains("timings")) return "<no timings>";
  return r.json["timings"].value("coldKind", "<no coldKind>");
}

// A gauge or counter from the Prometheus text of /metrics (-1: absent).
double metric(unsigned short port, const std::string& series) {
  HttpResult r = testing::http_call(port, "GET", "/metrics");
  std::istringstream lines(r.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// True if an established TCP socket with local port `port` has its
// keepalive timer running (/proc/net/tcp{,6} column "tr" is 2): the server
// side of a connection to `port` had SO_KEEPALIVE set.
bool keepalive_on_server_socket(unsigned short port) {
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream lines(read_file(table));
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      std::istringstream f(line);
      std::string slot, local, remote, state, queues, timer;
      if (!(f >> slot >> local >> remote >> state >> queues >> timer)) continue;
      size_t colon = local.rfind(':');
      if (colon == std::string::npos || state != "01") continue;
      if (std::stoul(local.substr(colon + 1), nullptr, 16) != port) continue;
      if (timer.rfind("02:", 0) == 0) return true;
    }
  }
  return false;
}

size_t open_descriptors(pid_t pid) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// A raw TCP connection to 127.0.0.1:port (-1 if refused).
int tcp_connect(unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, ConnDeleter>;
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// Shows a sample of a set's members, for failure messages.
std::string sample(const std::vector<int64_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size() && i < 10; ++i) s += std::to_string(ids[i]) + " ";
  return s + (ids.size() > 10 ? "..." : "");
}

class ServeProcess : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Writes to a connection the killed server reset must fail, not kill us.
    signal(SIGPIPE, SIG_IGN);
  }
  void TearDown() override {
    if (!server_) return;
    server_->KillAndReap();
    if (HasFailure()) std::cerr << server_->logs();
  }

  ::testing::AssertionResult StartServer(std::vector<std::string> extra_args = {}) {
    server_ = std::make_unique<ServeChild>(dir_.sub("data"), dir_.path(), std::move(extra_args));
    return server_->Start();
  }
  std::string tenant_snapshot_meta(const std::string& tenant) const {
    return dir_.sub("data") + "/tenants/" + tenant + "/snapshot/meta.json";
  }
  std::string factory_snapshot_meta(const std::string& tenant) const {
    return dir_.sub("data") + "/factory/tenants/" + tenant + "/snapshot/meta.json";
  }

  TempDir dir_;
  std::unique_ptr<ServeChild> server_;
};

TEST_F(ServeProcess, SigkillUnderWriteLoadLosesNoCommittedTransaction) {
  ASSERT_TRUE(StartServer());
  const std::vector<std::string> tenants = {"kill-a", "kill-b", "kill-c"};
  for (const std::string& t : tenants) {
    HttpResult r = direct(server_->consumer_port(), t, "create table t (id bigint primary key)");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // Writers, two per tenant, each on its own keep-alive connection. An id is
  // acknowledged when its request got 200: the insert was committed.
  struct Writer {
    std::string tenant;
    std::vector<int64_t> sent, acked;
    std::vector<std::string> http_errors;  // non-200 replies (none expected)
  };
  std::vector<Writer> writers(2 * tenants.size());
  std::atomic<int64_t> next_id{1};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < writers.size(); ++i) {
    writers[i].tenant = tenants[i % tenants.size()];
    threads.emplace_back([&, w = &writers[i]] {
      std::unique_ptr<HttpClient> client;
      while (!stop) {
        if (!client || !client->connected()) {
          client = std::make_unique<HttpClient>(server_->consumer_port());
          if (!client->connected()) {
            std::this_thread::sleep_for(5ms);
            continue;
          }
        }
        int64_t id = next_id++;
        w->sent.push_back(id);
        HttpResult r = client->Call(
            "POST", "/direct",
            query(w->tenant, "insert into t values (" + std::to_string(id) + ")").dump());
        if (r.status == 200) {
          w->acked.push_back(id);
        } else if (r.status == 0) {
          client.reset();  // the server is gone: reconnect (or stop)
        } else {
          w->http_errors.push_back(std::to_string(r.status) + " " + r.body);
        }
      }
    });
  }
  std::this_thread::sleep_for(2s);
  server_->Signal(SIGKILL);
  std::optional<int> status = server_->WaitExit(10s);
  stop = true;
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) << *status;

  size_t acked_total = 0;
  for (const Writer& w : writers) {
    acked_total += w.acked.size();
    EXPECT_TRUE(w.http_errors.empty())
        << w.http_errors.size() << " errors, first: " << w.http_errors.front();
  }
  ASSERT_GT(acked_total, 0u) << "no write was acknowledged before the kill";

  ASSERT_TRUE(server_->Start());
  for (const std::string& tenant : tenants) {
    HttpResult r = direct(server_->consumer_port(), tenant, "select id from t");
    // No snapshot after SIGKILL: the tenant boots from its files (WAL replay).
    EXPECT_EQ(cold_kind(r), "booted") << r.body;
    std::set<int64_t> present;
    for (const std::string& v : column(r)) present.insert(std::stoll(v));
    std::set<int64_t> sent;
    std::vector<int64_t> lost;
    size_t acked = 0;
    for (const Writer& w : writers) {
      if (w.tenant != tenant) continue;
      sent.insert(w.sent.begin(), w.sent.end());
      acked += w.acked.size();
      for (int64_t id : w.acked) {
        if (!present.count(id)) lost.push_back(id);
      }
    }
    EXPECT_TRUE(lost.empty()) << tenant << ": " << lost.size() << " of " << acked
                              << " acknowledged ids lost: " << sample(lost);
    std::vector<int64_t> phantom;
    for (int64_t id : present) {
      if (!sent.count(id)) phantom.push_back(id);
    }
    EXPECT_TRUE(phantom.empty()) << tenant << ": ids never sent there: " << sample(phantom);
    std::cerr << "[ info ] " << tenant << ": " << acked << " acknowledged, " << present.size()
              << " present after restart\n";
  }
}

TEST_F(ServeProcess, SigkillUnderPostgresWriteLoadLosesNoCommittedTransaction) {
  ASSERT_TRUE(StartServer());
  const std::vector<std::string> tenants = {"pgkill-a", "pgkill-b"};
  for (const std::string& t : tenants) {
    HttpResult r = direct(server_->consumer_port(), t, "create table t (id bigint primary key)");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // Each transaction inserts two ids, a and a+1, with BEGIN/INSERT/INSERT/
  // COMMIT; it is acknowledged when COMMIT answered "COMMIT".
  struct Writer {
    std::string tenant;
    std::vector<int64_t> sent, acked;  // the first id of each transaction
    std::vector<std::string> sql_errors;
  };
  std::vector<Writer> writers(2 * tenants.size());
  std::atomic<int64_t> next_id{1};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < writers.size(); ++i) {
    writers[i].tenant = tenants[i % tenants.size()];
    threads.emplace_back([&, w = &writers[i]] {
      std::string conninfo = "host=127.0.0.1 port=" + std::to_string(server_->pg_port()) +
                             " dbname=" + w->tenant + " user=writer connect_timeout=5";
      PgConn conn;
      while (!stop) {
        if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
          conn.reset(PQconnectdb(conninfo.c_str()));
          if (PQstatus(conn.get()) != CONNECTION_OK) {
            std::this_thread::sleep_for(5ms);
            continue;
          }
        }
        int64_t a = next_id.fetch_add(2);
        w->sent.push_back(a);
        bool committed = true;
        for (const std::string& sql :
             {std::string("begin"), "insert into t values (" + std::to_string(a) + ")",
              "insert into t values (" + std::to_string(a + 1) + ")", std::string("commit")}) {
          PgResult res(PQexec(conn.get(), sql.c_str()));
          if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
            committed = false;
            // A dead connection is the kill; a SQL error on a live one is not expected.
            if (PQstatus(conn.get()) == CONNECTION_OK) {
              w->sql_errors.push_back(sql + ": " + PQerrorMessage(conn.get()));
              PgResult rollback(PQexec(conn.get(), "rollback"));
            }
            break;
          }
          if (sql == "commit" && std::string(PQcmdStatus(res.get())) != "COMMIT") {
            committed = false;
            w->sql_errors.push_back(std::string("commit answered ") + PQcmdStatus(res.get()));
          }
        }
        if (committed) w->acked.push_back(a);
      }
    });
  }
  std::this_thread::sleep_for(2s);
  server_->Signal(SIGKILL);
  std::optional<int> status = server_->WaitExit(10s);
  stop = true;
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(status.has_value());

  size_t acked_total = 0;
  for (const Writer& w : writers) {
    acked_total += w.acked.size();
    EXPECT_TRUE(w.sql_errors.empty())
        << w.sql_errors.size() << " errors, first: " << w.sql_errors.front();
  }
  ASSERT_GT(acked_total, 0u) << "no transaction was acknowledged before the kill";

  ASSERT_TRUE(server_->Start());
  for (const std::string& tenant : tenants) {
    // Read back through the Postgres port too.
    std::string conninfo = "host=127.0.0.1 port=" + std::to_string(server_->pg_port()) +
                           " dbname=" + tenant + " user=reader connect_timeout=10";
    PgConn conn(PQconnectdb(conninfo.c_str()));
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    PgResult res(PQexec(conn.get(), "select id from t"));
    ASSERT_EQ(PQresultStatus(res.get()), PGRES_TUPLES_OK) << PQerrorMessage(conn.get());
    std::set<int64_t> present;
    for (int row = 0; row < PQntuples(res.get()); ++row) {
      present.insert(std::stoll(PQgetvalue(res.get(), row, 0)));
    }
    std::vector<int64_t> lost, torn;
    size_t acked = 0, sent_count = 0;
    for (const Writer& w : writers) {
      if (w.tenant != tenant) continue;
      acked += w.acked.size();
      sent_count += w.sent.size();
      for (int64_t a : w.acked) {
        if (!present.count(a) || !present.count(a + 1)) lost.push_back(a);
      }
      // Committed or not, a transaction is all there or not at all.
      for (int64_t a : w.sent) {
        if (present.count(a) != present.count(a + 1)) torn.push_back(a);
      }
    }
    EXPECT_TRUE(lost.empty()) << tenant << ": " << lost.size() << " of " << acked
                              << " acknowledged transactions lost: " << sample(lost);
    EXPECT_TRUE(torn.empty()) << tenant << ": half-applied transactions: " << sample(torn);
    EXPECT_LE(present.size(), 2 * sent_count) << tenant;
    std::cerr << "[ info ] " << tenant << ": " << acked << " transactions acknowledged, "
              << present.size() / 2 << " present after restart\n";
  }
}

TEST_F(ServeProcess, SigtermDrainsHibernatesAndExitsZero) {
  ASSERT_TRUE(StartServer());
  const std::vector<std::string> tenants = {"drain-a", "drain-b"};
  for (const std::string& t : tenants) {
    HttpResult r = direct(server_->consumer_port(), t,
                          "create table t (v text); insert into t values ('kept-" + t + "')");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // The factory's runtime is a namespace apart (DATA/factory): it hibernates too.
  HttpResult f = testing::post_json(
      server_->factory_port(), "/query",
      query("drain-f", "create table t (v text); insert into t values ('kept-drain-f')"));
  ASSERT_EQ(f.status, 200) << f.body;

  // A slow query in flight when SIGTERM arrives.
  HttpResult slow;
  Clock::time_point answered_at;
  std::thread slow_client([&] {
    HttpClient client(server_->consumer_port());
    slow = client.Call("POST", "/direct", query("drain-a", "select pg_sleep(1)").dump());
    answered_at = Clock::now();
  });
  std::this_thread::sleep_for(300ms);
  Clock::time_point signalled_at = Clock::now();
  server_->Signal(SIGTERM);
  std::optional<int> status = server_->WaitExit(20s);
  Clock::time_point exited_at = Clock::now();
  slow_client.join();

  EXPECT_EQ(slow.status, 200) << slow.body << slow.error;
  EXPECT_GT(answered_at, signalled_at) << "the slow query was not in flight at SIGTERM";
  ASSERT_TRUE(status.has_value()) << "still running 20 s after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  EXPECT_GE(exited_at, answered_at);
  std::cerr
      << "[ info ] exit "
      << std::chrono::duration_cast<std::chrono::milliseconds>(exited_at - signalled_at).count()
      << " ms after SIGTERM\n";
  for (const std::string& t : tenants) {
    EXPECT_TRUE(fs::exists(tenant_snapshot_meta(t))) << tenant_snapshot_meta(t);
  }
  EXPECT_TRUE(fs::exists(factory_snapshot_meta("drain-f"))) << factory_snapshot_meta("drain-f");

  ASSERT_TRUE(server_->Start());
  for (const std::string& t : tenants) {
    HttpResult r = direct(server_->consumer_port(), t, "select v from t");
    EXPECT_EQ(cold_kind(r), "thawed") << r.body;
    EXPECT_EQ(column(r), std::vector<std::string>{"kept-" + t});
  }
  HttpResult fr =
      testing::post_json(server_->factory_port(), "/query", query("drain-f", "select v from t"));
  EXPECT_EQ(cold_kind(fr), "thawed") << fr.body;
  EXPECT_EQ(column(fr), std::vector<std::string>{"kept-drain-f"});
}

TEST_F(ServeProcess, PerTenantOrderingUnder32ClientsOver8Tenants) {
  ASSERT_TRUE(StartServer());
  constexpr int kTenants = 8, kClients = 32, kRequests = 25;
  auto tenant_of = [](int client) { return "order-" + std::to_string(client % kTenants); };
  for (int t = 0; t < kTenants; ++t) {
    HttpResult r =
        direct(server_->consumer_port(), tenant_of(t), "create table log (seq int, client int)");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // Each append reads max(seq) and inserts the next in one statement: only
  // correct if a tenant's requests run one at a time.
  std::vector<std::vector<int>> got(kClients);  // seqs each client was given, in order
  std::vector<std::string> errors(kClients);
  std::latch start(kClients);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      HttpClient client(server_->consumer_port());
      std::string body =
          query(tenant_of(c), "insert into log (seq, client) select coalesce(max(seq), 0) + 1, " +
                                  std::to_string(c) + " from log returning seq")
              .dump();
      start.arrive_and_wait();
      for (int i = 0; i < kRequests; ++i) {
        HttpResult r = client.Call("POST", "/direct", body);
        if (r.status != 200 || r.json["rows"].size() != 1) {
          errors[c] = std::to_string(r.status) + " " + r.body + r.error;
          return;
        }
        got[c].push_back(std::stoi(r.json["rows"][0][0].get<std::string>()));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int c = 0; c < kClients; ++c) {
    ASSERT_EQ(errors[c], "") << "client " << c;
    // A client's requests are sequential, so its seqs must increase.
    EXPECT_TRUE(std::is_sorted(got[c].begin(), got[c].end()) &&
                std::adjacent_find(got[c].begin(), got[c].end()) == got[c].end())
        << "client " << c;
  }

  constexpr int kPerTenant = kRequests * kClients / kTenants;
  for (int t = 0; t < kTenants; ++t) {
    HttpResult r = direct(server_->consumer_port(), tenant_of(t),
                          "select seq, client from log order by seq, client");
    ASSERT_EQ(r.status, 200) << r.body;
    std::map<int, int> owner;  // seq -> client that inserted it, from the replies
    for (int c = t; c < kClients; c += kTenants) {
      for (int seq : got[c]) owner[seq] = c;
    }
    const json& rows = r.json["rows"];
    ASSERT_EQ(rows.size(), static_cast<size_t>(kPerTenant)) << tenant_of(t);
    for (int i = 0; i < kPerTenant; ++i) {
      int seq = std::stoi(rows[i][0].get<std::string>());
      int client = std::stoi(rows[i][1].get<std::string>());
      ASSERT_EQ(seq, i + 1) << tenant_of(t) << ": gap or duplicate at row " << i;
      EXPECT_EQ(owner[seq], client) << tenant_of(t) << " seq " << seq;
    }
  }
}

TEST_F(ServeProcess, IdleHibernationThenThawKeepsData) {
  ASSERT_TRUE(StartServer({"--idle-timeout-ms", "300"}));
  HttpResult r = direct(server_->consumer_port(), "idle-a",
                        "create table t (v text); insert into t values ('before-sleep')");
  ASSERT_EQ(r.status, 200) << r.body;
  HttpResult f = testing::post_json(
      server_->factory_port(), "/query",
      query("idle-f", "create table t (v text); insert into t values ('before-sleep')"));
  ASSERT_EQ(f.status, 200) << f.body;

  // Consumer tenants are visible in /metrics (runtime "tenants"), the
  // factory's in its /status.
  const std::string hibernated_series = R"(pgthaw_tenants{runtime="tenants",state="hibernated"})";
  Clock::time_point deadline = Clock::now() + 15s;
  for (;;) {
    HttpResult status = testing::http_call(server_->factory_port(), "GET", "/status");
    bool consumer_done = metric(server_->consumer_port(), hibernated_series) == 1 &&
                         fs::exists(tenant_snapshot_meta("idle-a"));
    bool factory_done = status.json.is_object() &&
                        status.json["tenants"].value("hibernated", 0) == 1 &&
                        fs::exists(factory_snapshot_meta("idle-f"));
    if (consumer_done && factory_done) break;
    ASSERT_LT(Clock::now(), deadline) << "not hibernated after 15 s; consumer " << consumer_done
                                      << ", factory /status " << status.body;
    std::this_thread::sleep_for(50ms);
  }

  HttpResult after = direct(server_->consumer_port(), "idle-a", "select v from t");
  EXPECT_EQ(cold_kind(after), "thawed") << after.body;
  EXPECT_EQ(column(after), std::vector<std::string>{"before-sleep"});
  // Thawed, the tenant is warm again (well within the idle timeout): the next
  // query is not a cold start.
  HttpResult warm = direct(server_->consumer_port(), "idle-a", "select v from t");
  EXPECT_EQ(cold_kind(warm), "") << warm.body;
  HttpResult fafter =
      testing::post_json(server_->factory_port(), "/query", query("idle-f", "select v from t"));
  EXPECT_EQ(cold_kind(fafter), "thawed") << fafter.body;
  EXPECT_EQ(column(fafter), std::vector<std::string>{"before-sleep"});
}

// ---- The process and its doors (issue 8) ------------------------------------------

TEST_F(ServeProcess, SecondServeOnTheSameDataDirExitsAtOnce) {
  ASSERT_TRUE(StartServer());
  fs::create_directories(dir_.sub("second"));
  ServeChild second(dir_.sub("data"), dir_.sub("second"), {});
  ASSERT_TRUE(second.Spawn());
  std::optional<int> status = second.WaitExit(30s);
  ASSERT_TRUE(status.has_value()) << "the second serve is still running";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << "wait status " << *status;
  std::string err = second.current_stderr();
  EXPECT_NE(err.find("data directory " + dir_.sub("data") + " is in use"), std::string::npos)
      << err;
  EXPECT_NE(err.find("pid " + std::to_string(server_->pid())), std::string::npos) << err;
  EXPECT_EQ(second.current_stdout().find("ready"), std::string::npos);

  // The first one goes on.
  EXPECT_EQ(column(direct(server_->consumer_port(), "first", "select 'still here'")),
            std::vector<std::string>{"still here"});
  // The lock dies with its process, however it ends.
  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->WaitExit(10s).has_value());
  ASSERT_TRUE(second.Start()) << second.logs();
  EXPECT_EQ(column(direct(second.consumer_port(), "first", "select 'next owner'")),
            std::vector<std::string>{"next owner"});
}

TEST_F(ServeProcess, RunningOutOfDescriptorsBacksOffAndRecovers) {
  // The idle server's own descriptors, measured, plus room for one warm
  // tenant and a few clients: then more clients than that.
  ASSERT_TRUE(StartServer({"--pool-size", "0"}));
  ASSERT_EQ(direct(server_->consumer_port(), "fd", "create table t (n int)").status, 200);
  const size_t in_use = open_descriptors(server_->pid());
  ASSERT_GT(in_use, 0u);
  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->WaitExit(60s).has_value());

  const rlim_t limit = in_use + 24;
  server_->set_open_files_limit(limit);
  ASSERT_TRUE(server_->Start());
  EXPECT_NE(server_->current_stderr().find("open files limit " + std::to_string(limit)),
            std::string::npos);
  // Warm the tenant while descriptors are still free.
  ASSERT_EQ(direct(server_->consumer_port(), "fd", "insert into t values (1)").status, 200);
  const size_t log_before = server_->current_stderr().size();

  std::vector<int> clients;
  for (int i = 0; i < static_cast<int>(limit) + 100; ++i) {
    unsigned short port = i % 2 ? server_->pg_port() : server_->consumer_port();
    int fd = tcp_connect(port);  // the backlog takes what the server cannot accept
    if (fd >= 0) clients.push_back(fd);
  }
  ASSERT_GT(clients.size(), static_cast<size_t>(limit));
  // Let both accept loops hit EMFILE for a while.
  std::this_thread::sleep_for(1500ms);
  ASSERT_FALSE(server_->WaitExit(0s).has_value()) << "the server died";
  std::string log = server_->current_stderr().substr(log_before);
  EXPECT_LT(log.size(), size_t{16} << 10) << "the log grew by " << log.size() << " bytes";
  EXPECT_GE(count_of(log, "Too many open files"), 1u) << log;
  EXPECT_LE(count_of(log, "Too many open files"), 6u) << log;

  std::cerr << "[ info ] " << in_use << " descriptors idle, limit " << limit << ", "
            << clients.size() << " clients; the log grew by " << log.size() << " bytes:\n"
            << log;
  for (int fd : clients) close(fd);
  // Accepting again: the backlog drains as the server closes the dead clients.
  Clock::time_point deadline = Clock::now() + 60s;
  HttpResult r;
  while ((r = direct(server_->consumer_port(), "fd", "select count(*) from t")).status != 200) {
    ASSERT_LT(Clock::now(), deadline) << "no answer after the clients closed: " << r.error;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(column(r), std::vector<std::string>{"1"});
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(server_->pg_port()) +
                         " dbname=fd user=u connect_timeout=30";
  PgConn conn(PQconnectdb(conninfo.c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  PgResult res(PQexec(conn.get(), "select count(*) from t"));
  ASSERT_EQ(PQresultStatus(res.get()), PGRES_TUPLES_OK) << PQerrorMessage(conn.get());
  EXPECT_STREQ(PQgetvalue(res.get(), 0, 0), "1");
  EXPECT_LT(server_->current_stderr().size() - log_before, size_t{32} << 10);
}

TEST_F(ServeProcess, StaleWarmProxyDirectoryOfAKilledServerIsRemovedAtStart) {
  ASSERT_TRUE(StartServer());
  HttpResult q = testing::post_json(server_->warm_proxy_port(), "/query",
                                    {{"sql", "create table t (x int); insert into t values (1)"}});
  ASSERT_EQ(q.status, 200) << q.body;
  HttpResult status = testing::http_call(server_->warm_proxy_port(), "GET", "/status");
  ASSERT_EQ(status.status, 200) << status.body;
  fs::path scratch = fs::path(status.json["instance"]["dataDir"].get<std::string>()).parent_path();
  ASSERT_TRUE(fs::is_directory(scratch)) << scratch;
  const std::string start = owned_scratch_name_start(kWarmProxyScratchPrefix, dir_.sub("data"));
  EXPECT_EQ(scratch.filename().string().rfind(start + std::to_string(server_->pid()) + "-", 0), 0u)
      << scratch;

  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->WaitExit(10s).has_value());
  ASSERT_TRUE(fs::is_directory(scratch)) << "SIGKILL left nothing to clean up";

  // Not provably stale: a live pid (this test), and a dead pid of another data directory.
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  waitpid(dead, nullptr, 0);
  fs::path live = scratch.parent_path() / (start + std::to_string(getpid()) + "-aaaaaa");
  fs::path other = scratch.parent_path() /
                   (owned_scratch_name_start(kWarmProxyScratchPrefix, dir_.sub("elsewhere")) +
                    std::to_string(dead) + "-bbbbbb");
  fs::create_directories(live);
  fs::create_directories(other);

  ASSERT_TRUE(server_->Start());
  EXPECT_FALSE(fs::exists(scratch)) << scratch << " is still there";
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_NE(server_->current_stderr().find("removed " + scratch.string()), std::string::npos);
  fs::remove_all(live);
  fs::remove_all(other);
  // The new instance starts empty, in its own directory.
  HttpResult again =
      testing::post_json(server_->warm_proxy_port(), "/query",
                         {{"sql", "select count(*) from pg_class where relname = 't'"}});
  EXPECT_EQ(column(again), std::vector<std::string>{"0"});
}

TEST_F(ServeProcess, ShutdownTimeoutEndsAServerStuckInEndlessLoops) {
  ASSERT_TRUE(StartServer({"--shutdown-timeout", "2"}));
  ASSERT_EQ(direct(server_->consumer_port(), "kept",
                   "create table t (v text); insert into t values ('committed')")
                .status,
            200);
  const std::string endless = "do $$begin loop end loop; end$$";
  // One endless loop over HTTP, one over the wire: on two cores both workers.
  HttpResult http_loop;
  std::thread http_client([&] {
    HttpClient client(server_->consumer_port());
    http_loop = client.Call("POST", "/direct", query("loop-http", endless).dump());
  });
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(server_->pg_port()) +
                         " dbname=loop-wire user=u connect_timeout=30";
  PgConn wire(PQconnectdb(conninfo.c_str()));
  ASSERT_EQ(PQstatus(wire.get()), CONNECTION_OK) << PQerrorMessage(wire.get());
  ASSERT_EQ(PQsendQuery(wire.get(), endless.c_str()), 1);
  const std::string warm = R"(pgthaw_tenants{runtime="tenants",state="warm"})";
  Clock::time_point deadline = Clock::now() + 60s;
  while (metric(server_->consumer_port(), warm) < 3) {
    ASSERT_LT(Clock::now(), deadline) << "the looping tenants never started";
    std::this_thread::sleep_for(50ms);
  }

  Clock::time_point signalled_at = Clock::now();
  server_->Signal(SIGTERM);
  std::optional<int> status = server_->WaitExit(30s);
  ASSERT_TRUE(status.has_value()) << "still running 30 s after SIGTERM (--shutdown-timeout 2)";
  std::cerr
      << "[ info ] exit "
      << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled_at).count()
      << " ms after SIGTERM\n";
  http_client.join();
  EXPECT_EQ(http_loop.status, 0) << "the endless loop answered: " << http_loop.body;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << "wait status " << *status;
  EXPECT_NE(server_->current_stderr().find("shutdown timed out"), std::string::npos);

  // Abandoned tenants come back from their files.
  ASSERT_TRUE(server_->Start());
  HttpResult kept = direct(server_->consumer_port(), "kept", "select v from t");
  EXPECT_EQ(column(kept), std::vector<std::string>{"committed"});
  EXPECT_EQ(cold_kind(kept), "booted") << kept.body;
  EXPECT_EQ(column(direct(server_->consumer_port(), "loop-http", "select 1")),
            std::vector<std::string>{"1"});
}

TEST_F(ServeProcess, AdmissionLimitsAnswer503AndSqlstate53300) {
  ASSERT_TRUE(StartServer({"--max-queued-per-tenant", "1", "--max-tenants", "3"}));
  const unsigned short http = server_->consumer_port();
  auto pg = [&](const std::string& tenant) {
    std::string conninfo = "host=127.0.0.1 port=" + std::to_string(server_->pg_port()) +
                           " dbname=" + tenant + " user=u connect_timeout=30";
    return PgConn(PQconnectdb(conninfo.c_str()));
  };
  ASSERT_EQ(direct(http, "adm", "create table t (n int)").status, 200);

  // H holds the tenant inside a transaction; B waits behind it (the one
  // item allowed to wait); then the queue is full.
  PgConn idle = pg("adm");
  ASSERT_EQ(PQstatus(idle.get()), CONNECTION_OK) << PQerrorMessage(idle.get());
  PgConn holder = pg("adm");
  ASSERT_EQ(PQstatus(holder.get()), CONNECTION_OK) << PQerrorMessage(holder.get());
  PgResult begun(PQexec(holder.get(), "begin; insert into t values (1)"));
  ASSERT_EQ(PQresultStatus(begun.get()), PGRES_COMMAND_OK) << PQerrorMessage(holder.get());
  HttpResult waiting;
  std::thread waiter([&] { waiting = direct(http, "adm", "select count(*) from t"); });
  const std::string queued = R"(pgthaw_queued_requests{runtime="tenants"})";
  Clock::time_point deadline = Clock::now() + 30s;
  while (metric(http, queued) != 1) {
    ASSERT_LT(Clock::now(), deadline) << "the waiting request never queued";
    std::this_thread::sleep_for(20ms);
  }
  // Every accepted socket has TCP keepalive on. (While sent data waits for
  // its ACK, /proc shows the retransmit timer instead: look again.)
  for (unsigned short port : {server_->pg_port(), http}) {
    Clock::time_point until = Clock::now() + 10s;
    while (!keepalive_on_server_socket(port) && Clock::now() < until) {
      std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(keepalive_on_server_socket(port)) << port << "\n" << read_file("/proc/net/tcp");
  }

  HttpResult full = direct(http, "adm", "select 1");
  EXPECT_EQ(full.status, 503) << full.body;
  EXPECT_EQ(full.json["error"].value("code", ""), "resource_exhausted") << full.body;
  EXPECT_NE(full.body.find("too many requests queued"), std::string::npos) << full.body;

  PgResult refused(PQexec(idle.get(), "select 1"));
  EXPECT_EQ(PQresultStatus(refused.get()), PGRES_FATAL_ERROR);
  const char* code = PQresultErrorField(refused.get(), PG_DIAG_SQLSTATE);
  EXPECT_STREQ(code ? code : "", "53300") << PQerrorMessage(idle.get());
  EXPECT_NE(std::string(PQerrorMessage(idle.get())).find("too many requests queued"),
            std::string::npos);
  EXPECT_EQ(PQstatus(idle.get()), CONNECTION_OK) << "an ERROR must not close the connection";
  // A new connection is ready at once (its startup needs no turn on the
  // session); its first statement meets the full queue.
  PgConn late = pg("adm");
  EXPECT_EQ(PQstatus(late.get()), CONNECTION_OK) << PQerrorMessage(late.get());
  PgResult late_refused(PQexec(late.get(), "select 1"));
  const char* late_code = PQresultErrorField(late_refused.get(), PG_DIAG_SQLSTATE);
  EXPECT_STREQ(late_code ? late_code : "", "53300") << PQerrorMessage(late.get());

  // The holder commits past the full queue; then everyone is served.
  PgResult committed(PQexec(holder.get(), "commit"));
  EXPECT_EQ(PQresultStatus(committed.get()), PGRES_COMMAND_OK) << PQerrorMessage(holder.get());
  waiter.join();
  EXPECT_EQ(column(waiting), std::vector<std::string>{"1"});
  PgResult served(PQexec(idle.get(), "select count(*) from t"));
  ASSERT_EQ(PQresultStatus(served.get()), PGRES_TUPLES_OK) << PQerrorMessage(idle.get());
  EXPECT_STREQ(PQgetvalue(served.get(), 0, 0), "1");

  // Tenants: "adm" and two more; the fourth is refused, over HTTP and the wire.
  ASSERT_EQ(direct(http, "second", "select 1").status, 200);
  PgConn third = pg("third");
  ASSERT_EQ(PQstatus(third.get()), CONNECTION_OK) << PQerrorMessage(third.get());
  HttpResult fourth = direct(http, "fourth", "select 1");
  EXPECT_EQ(fourth.status, 503) << fourth.body;
  EXPECT_EQ(fourth.json["error"].value("code", ""), "resource_exhausted") << fourth.body;
  EXPECT_NE(fourth.body.find("too many tenants"), std::string::npos) << fourth.body;
  PgConn fifth = pg("fifth");
  EXPECT_EQ(PQstatus(fifth.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(fifth.get())).find("too many tenants"), std::string::npos)
      << PQerrorMessage(fifth.get());
  EXPECT_FALSE(fs::exists(dir_.sub("data") + "/tenants/fourth"));
  EXPECT_FALSE(fs::exists(dir_.sub("data") + "/tenants/fifth"));
  EXPECT_EQ(metric(http, R"(pgthaw_tenants_created_total{runtime="tenants"})"), 3);
  // Existing tenants are still served.
  EXPECT_EQ(column(direct(http, "second", "select 2")), std::vector<std::string>{"2"});
}

// "VmRSS: 123 kB, VmHWM: 456 kB" of a process, for the log.
std::string memory_of(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string out;
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:") || line.starts_with("VmHWM:")) {
      std::string value = line.substr(6);
      value.erase(0, value.find_first_not_of(" \t"));
      out += (out.empty() ? "" : ", ") + line.substr(0, 6) + " " + value;
    }
  }
  return out;
}

// SQLSTATE and message of a statement that must fail on `conn`.
std::string pg_error(PGconn* conn, const std::string& sql) {
  PgResult res(PQexec(conn, sql.c_str()));
  if (PQresultStatus(res.get()) != PGRES_FATAL_ERROR) {
    return std::string("no error: ") + PQresStatus(PQresultStatus(res.get()));
  }
  const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
  const char* message = PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY);
  return std::string(state ? state : "?") + ": " + (message ? message : "?");
}

// The single value of a query that must succeed on `conn`.
std::string pg_value(PGconn* conn, const std::string& sql) {
  PgResult res(PQexec(conn, sql.c_str()));
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK || PQntuples(res.get()) != 1) {
    return std::string("failed: ") + PQerrorMessage(conn);
  }
  return PQgetvalue(res.get(), 0, 0);
}

bool pg_ok(PGconn* conn, const std::string& sql) {
  PgResult res(PQexec(conn, sql.c_str()));
  ExecStatusType st = PQresultStatus(res.get());
  EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
      << sql << ": " << PQerrorMessage(conn);
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

PgConn connect_pg(unsigned short port, const std::string& tenant) {
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " dbname=" + tenant +
                         " user=u connect_timeout=10";
  PgConn conn(PQconnectdb(conninfo.c_str()));
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  return conn;
}

// A tenant asking its own question over HTTP in a loop while others misbehave.
class Bystander {
 public:
  explicit Bystander(unsigned short http) {
    thread_ = std::thread([this, http] {
      while (!stop_) {
        HttpResult r = direct(http, "bystander", "select 40 + 2");
        if (r.status == 200 && r.json["rows"] == json::parse(R"([["42"]])")) {
          ++answered_;
        } else {
          wrong_.push_back(std::to_string(r.status) + " " + r.body);
        }
      }
    });
  }
  // Stops it; fails the test unless it got answers and every one was right.
  void Check() {
    stop_ = true;
    thread_.join();
    EXPECT_GT(answered_.load(), 0);
    EXPECT_TRUE(wrong_.empty()) << wrong_.size() << " wrong answers, first: " << wrong_.front();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::vector<std::string> wrong_;
  std::thread thread_;
};

// Memory (--tenant-memory-max, 512 MiB by default) and the HTTP result cap
// (--max-result-bytes, 64 MiB), against the real server with its defaults:
// Postgres' 53200 over the wire and a 413 over HTTP; after each the tenant
// answers again, and a second tenant answers correctly all along. Server
// memory is logged (not asserted).
TEST_F(ServeProcess, MemoryAndResultLimitsLeaveEveryTenantUsable) {
  ASSERT_TRUE(StartServer());
  const unsigned short http = server_->consumer_port();
  Bystander bystander(http);
  PgConn mem = connect_pg(server_->pg_port(), "hungry");
  ASSERT_EQ(PQstatus(mem.get()), CONNECTION_OK);
  EXPECT_EQ(pg_error(mem.get(), "select repeat('x', 400000000) || repeat('x', 400000000)"),
            "53200: out of memory");
  EXPECT_EQ(pg_value(mem.get(), "select 1"), "1");
  std::cerr << "[ info ] server after the memory attack: " << memory_of(server_->pid()) << "\n";

  HttpResult huge = direct(http, "hungry", "select g from generate_series(1, 50000000) g");
  EXPECT_EQ(huge.status, 413) << huge.body.substr(0, 300);
  EXPECT_EQ(huge.json["error"].value("code", ""), "result_too_large") << huge.body.substr(0, 300);
  std::cerr << "[ info ] server after the 5e7-row HTTP result: " << memory_of(server_->pid())
            << "\n";
  EXPECT_EQ(column(direct(http, "hungry", "select 'still here'")),
            std::vector<std::string>{"still here"});
  EXPECT_EQ(pg_value(mem.get(), "select 'wire still here'"), "wire still here");
  bystander.Check();
}

// The disk quota (--tenant-disk-max) and the /tmp cap (--tenant-tmp-max):
// Postgres' 53100, the tenant answers, data committed before is intact, and
// deleting data makes room again.
TEST_F(ServeProcess, DiskAndTmpLimitsGiveDiskFullAndTheTenantRecovers) {
  ASSERT_TRUE(StartServer({"--tenant-disk-max", "64MiB", "--tenant-tmp-max", "16MiB"}));
  const unsigned short http = server_->consumer_port();
  Bystander bystander(http);
  PgConn disk = connect_pg(server_->pg_port(), "filler");
  ASSERT_EQ(PQstatus(disk.get()), CONNECTION_OK);
  ASSERT_TRUE(pg_ok(disk.get(), "create table kept (x text)"));
  ASSERT_TRUE(pg_ok(disk.get(), "insert into kept values ('committed before')"));
  ASSERT_TRUE(pg_ok(disk.get(), "create table big (x text)"));
  std::string full;
  for (int i = 0; i < 200 && full.empty(); ++i) {
    std::string error = pg_error(disk.get(),
                                 "insert into big select repeat(md5(g::text), 32) "
                                 "from generate_series(1, 1000) g");
    if (!error.starts_with("no error")) full = error;
  }
  EXPECT_TRUE(full.starts_with("53100: could not extend file")) << full;
  EXPECT_NE(full.find("No space left on device"), std::string::npos) << full;
  EXPECT_EQ(pg_value(disk.get(), "select 1"), "1");
  EXPECT_EQ(pg_value(disk.get(), "select x from kept"), "committed before");
  ASSERT_TRUE(pg_ok(disk.get(), "drop table big"));
  ASSERT_TRUE(pg_ok(disk.get(), "create table again as select g from generate_series(1, 10000) g"));
  EXPECT_EQ(pg_value(disk.get(), "select count(*) from again"), "10000");

  std::string tmp_full = pg_error(
      disk.get(), "copy (select repeat('x', 100000) from generate_series(1, 400)) to '/tmp/big'");
  EXPECT_TRUE(tmp_full.starts_with("53100: ")) << tmp_full;
  EXPECT_NE(tmp_full.find("No space left on device"), std::string::npos) << tmp_full;
  EXPECT_EQ(pg_value(disk.get(), "select 'tmp full, still answering'"),
            "tmp full, still answering");
  bystander.Check();
  EXPECT_EQ(column(direct(http, "filler", "select x from kept")),
            std::vector<std::string>{"committed before"});
}

}  // namespace
}  // namespace pgthaw::server
