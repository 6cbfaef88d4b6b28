// A fleet of three real `pgthaw serve` processes (PGTHAW_BINARY) sharing a
// real etcd (fleet/test_support.h) and a `file:` store, reached with libpq:
// a tenant created through one node is read through the others, in the clear
// and over TLS ending at the entry node (relayed to
// its owner); after its owner is SIGKILLed and its lease expires, another
// node takes the tenant over from the store; a node whose etcd stops
// answering is fenced (new connections 57P03, open ones FATAL 57P01); and
// `pgthaw fleet status` lists the nodes.
//
// Children get SIGKILL from the kernel if the test process dies
// (PR_SET_PDEATHSIG); their logs are printed when the test fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fleet/etcd_client.h"
#include "fleet/placement.h"
#include "fleet/test_support.h"

namespace pgthaw::server {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kStartTimeout = 120s;
constexpr int kLeaseTtlSeconds = 3;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One `pgthaw serve --role all` node of the fleet.
class Node {
 public:
  Node(std::string id, std::string dir, std::vector<std::string> fleet_args)
      : id_(std::move(id)), dir_(std::move(dir)), fleet_args_(std::move(fleet_args)) {
    for (int i = 0; i < 4; ++i) ports_.push_back(fleet::testing::FreeLoopbackPort());
  }
  ~Node() { Kill(); }

  ::testing::AssertionResult Spawn() {
    auto at = [](uint16_t port) { return "127.0.0.1:" + std::to_string(port); };
    std::vector<std::string> args = {PGTHAW_BINARY,
                                     "serve",
                                     "--role",
                                     "all",
                                     "--data-dir",
                                     dir_ + "/data",
                                     "--factory-listen",
                                     at(ports_[0]),
                                     "--consumer-listen",
                                     at(ports_[1]),
                                     "--warm-proxy-listen",
                                     at(ports_[2]),
                                     "--pg-listen",
                                     at(pg_port()),
                                     "--node-id",
                                     id_,
                                     "--pool-size",
                                     "0"};
    args.insert(args.end(), fleet_args_.begin(), fleet_args_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string out = dir_ + "/serve.out", err = dir_ + "/serve.err";
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return ::testing::AssertionFailure() << "fork failed";
    if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);
      int in_fd = open("/dev/null", O_RDONLY);
      int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in_fd < 0 || out_fd < 0 || err_fd < 0) _exit(126);
      dup2(in_fd, 0);
      dup2(out_fd, 1);
      dup2(err_fd, 2);
      for (int fd = 3; fd < 1024; ++fd) close(fd);
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult WaitReady() {
    const Clock::time_point deadline = Clock::now() + kStartTimeout;
    while (read_file(dir_ + "/serve.out").find("pgthaw serve: ready") == std::string::npos) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return ::testing::AssertionFailure() << "node " << id_ << " exited at start";
      }
      if (Clock::now() > deadline) return ::testing::AssertionFailure() << "no banner";
      std::this_thread::sleep_for(50ms);
    }
    return ::testing::AssertionSuccess();
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string logs() const {
    return "----- node " + id_ + " stdout -----\n" + read_file(dir_ + "/serve.out") +
           "----- node " + id_ + " stderr -----\n" + read_file(dir_ + "/serve.err");
  }
  uint16_t pg_port() const { return ports_[3]; }
  const std::string& id() const { return id_; }

 private:
  std::string id_, dir_;
  std::vector<std::string> fleet_args_;
  std::vector<uint16_t> ports_;
  pid_t pid_ = -1;
};

std::string conninfo(uint16_t port, const std::string& tenant,
                     const std::string& sslmode = "disable") {
  return "host=127.0.0.1 port=" + std::to_string(port) + " dbname=" + tenant +
         " user=postgres connect_timeout=10 sslmode=" + sslmode;
}

// The first cell of `sql`'s result through a new connection, or the error.
struct Answer {
  bool ok = false;
  std::string value;
  std::string error;
};

Answer exec(PGconn* conn, const std::string& sql) {
  Answer a;
  PGresult* r = PQexec(conn, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
    a.ok = true;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) a.value = PQgetvalue(r, 0, 0);
  } else {
    a.error = PQerrorMessage(conn);
  }
  PQclear(r);
  return a;
}

Answer query(uint16_t port, const std::string& tenant, const std::string& sql,
             const std::string& sslmode = "disable") {
  PGconn* conn = PQconnectdb(conninfo(port, tenant, sslmode).c_str());
  Answer a;
  if (PQstatus(conn) != CONNECTION_OK) {
    a.error = PQerrorMessage(conn);
  } else {
    a = exec(conn, sql);
  }
  PQfinish(conn);
  return a;
}

class FleetProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = fleet::testing::EtcdProcess::Start();
    ASSERT_TRUE(etcd.ok()) << etcd.status().ToString();
    etcd_ = std::move(etcd).value();
    root_ = (fs::temp_directory_path() / ("pgthaw-fleet-" + std::to_string(getpid()))).string();
    fs::remove_all(root_);
    fs::create_directories(root_ + "/store");
    std::ofstream(root_ + "/fleet.key") << "0123456789abcdef0123456789abcdef-fleet-test\n";
    etcd_url_ = etcd_->endpoint().ToString();
    // One certificate for every node: TLS offered (loopback: not required).
    const std::string openssl =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
        "/CN=localhost -keyout " +
        root_ + "/tls.key -out " + root_ + "/tls.crt >/dev/null 2>&1";
    ASSERT_EQ(std::system(openssl.c_str()), 0) << openssl;
    client_ = fleet::testing::MakeClient({etcd_->endpoint()});
  }

  void TearDown() override {
    if (HasFailure()) {
      for (const auto& node : nodes_) std::cerr << node->logs();
    }
    nodes_.clear();
    if (etcd_ != nullptr) etcd_->Resume();
    etcd_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  Node& AddNode(const std::string& id) {
    fs::create_directories(root_ + "/" + id);
    nodes_.push_back(std::make_unique<Node>(
        id, root_ + "/" + id,
        std::vector<std::string>{
            "--etcd", etcd_url_, "--lease-ttl", std::to_string(kLeaseTtlSeconds), "--store",
            "file:" + root_ + "/store", "--store-key-file", root_ + "/fleet.key", "--auto-create",
            "on", "--idle-timeout-ms", "1000", "--tls-cert", root_ + "/tls.crt", "--tls-key",
            root_ + "/tls.key"}));
    return *nodes_.back();
  }

  // The tenant's owner node id in etcd; "" when nobody owns it.
  std::string Owner(const std::string& tenant) {
    auto range = client_->Range(fleet::TenantOwnerKey(tenant));
    if (!range.ok() || range->kvs.empty()) return "";
    return range->kvs.front().value;
  }

  std::string StoreManifest(const std::string& tenant) const {
    return root_ + "/store/d_tenants/d_" + tenant + "/o_manifest";
  }

  std::unique_ptr<fleet::testing::EtcdProcess> etcd_;
  std::shared_ptr<fleet::EtcdClient> client_;
  std::string root_, etcd_url_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(FleetProcessTest, ThreeNodesServeOneTenantAndTakeOverFromTheStore) {
  Node& a = AddNode("a");
  Node& b = AddNode("b");
  Node& c = AddNode("c");
  // A first (it puts the template into the store), then the others at once.
  ASSERT_TRUE(a.Spawn());
  ASSERT_TRUE(a.WaitReady());
  ASSERT_TRUE(b.Spawn());
  ASSERT_TRUE(c.Spawn());
  ASSERT_TRUE(b.WaitReady());
  ASSERT_TRUE(c.WaitReady());

  // Created through A: A owns it.
  Answer created =
      query(a.pg_port(), "t1", "create table items(x int); insert into items values (1), (2), (3)");
  ASSERT_TRUE(created.ok) << created.error;
  EXPECT_EQ(Owner("t1"), "a");

  // Through B and C: relayed to A.
  int expected = 6;
  for (Node* via : {&b, &c}) {
    Answer sum = query(via->pg_port(), "t1", "select sum(x) from items");
    ASSERT_TRUE(sum.ok) << "through " << via->id() << ": " << sum.error;
    EXPECT_EQ(sum.value, std::to_string(expected)) << "through " << via->id();
    expected += 10;
    // Written through a relay, read back directly.
    Answer insert = query(via->pg_port(), "t1", "insert into items values (10)");
    ASSERT_TRUE(insert.ok) << insert.error;
  }
  EXPECT_EQ(Owner("t1"), "a");
  // TLS with the entry node, which relays in the clear to the owner.
  Answer over_tls = query(b.pg_port(), "t1", "select count(*) from items", "require");
  ASSERT_TRUE(over_tls.ok) << over_tls.error;
  EXPECT_EQ(over_tls.value, "5");
  Answer direct = query(a.pg_port(), "t1", "select sum(x) from items");
  ASSERT_TRUE(direct.ok) << direct.error;
  EXPECT_EQ(direct.value, "26");
  // Nothing of t1 on B's or C's disk: they only relayed.
  EXPECT_FALSE(fs::exists(root_ + "/b/data/tenants/t1"));

  // A hibernates t1 when idle (1 s), which pushes it to the store; the last
  // use above was a direct read, so whatever A pushes has every row.
  const Clock::time_point pushed_by = Clock::now() + 20s;
  while (!fs::exists(StoreManifest("t1")) && Clock::now() < pushed_by) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(fs::exists(StoreManifest("t1"))) << "A never pushed t1 to the store";
  std::this_thread::sleep_for(1500ms);  // a push in progress ends
  a.Kill();

  // Until A's lease expires, B cannot reach the owner: 57P03. Then B claims
  // t1 and pulls it from the store.
  const Clock::time_point killed = Clock::now();
  Answer after;
  std::string first_refusal;
  while (Clock::now() < killed + 30s) {
    after = query(b.pg_port(), "t1", "select sum(x) from items");
    if (after.ok) break;
    if (first_refusal.empty()) first_refusal = after.error;
    std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(after.ok) << after.error;
  EXPECT_EQ(after.value, "26");
  EXPECT_EQ(Owner("t1"), "b");
  EXPECT_GE(Clock::now() - killed, std::chrono::seconds(kLeaseTtlSeconds) - 1500ms);
  if (!first_refusal.empty()) {
    EXPECT_NE(first_refusal.find("not accepting connections"), std::string::npos) << first_refusal;
  }
  // C now relays to B.
  Answer via_c = query(c.pg_port(), "t1", "select count(*) from items");
  ASSERT_TRUE(via_c.ok) << via_c.error;
  EXPECT_EQ(via_c.value, "5");

  // `pgthaw fleet status`: B and C, A's lease gone with it.
  {
    const std::string command =
        std::string(PGTHAW_BINARY) + " fleet status --etcd " + etcd_url_ + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buffer[4096];
    while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    const int status = pclose(pipe);
    EXPECT_EQ(status, 0) << output;
    EXPECT_NE(output.find("2 nodes, 1 tenants owned"), std::string::npos) << output;
    EXPECT_NE(output.find("127.0.0.1:" + std::to_string(b.pg_port())), std::string::npos) << output;
    EXPECT_NE(output.find("127.0.0.1:" + std::to_string(c.pg_port())), std::string::npos) << output;
    EXPECT_EQ(output.find("127.0.0.1:" + std::to_string(a.pg_port())), std::string::npos) << output;
  }

  // Fencing: etcd stops answering. Past TTL - margin (2 s here) B stops
  // serving: its open connection ends, new ones are refused.
  PGconn* held = PQconnectdb(conninfo(b.pg_port(), "t1").c_str());
  ASSERT_EQ(PQstatus(held), CONNECTION_OK) << PQerrorMessage(held);
  ASSERT_TRUE(exec(held, "select 1").ok);
  etcd_->Pause();
  std::this_thread::sleep_for(std::chrono::seconds(kLeaseTtlSeconds));
  Answer fenced = query(b.pg_port(), "t1", "select 1");
  EXPECT_FALSE(fenced.ok);
  EXPECT_NE(fenced.error.find("lost its etcd lease"), std::string::npos) << fenced.error;
  Answer ended = exec(held, "select 1");
  EXPECT_FALSE(ended.ok);
  EXPECT_NE(ended.error.find("lost its etcd lease"), std::string::npos) << ended.error;
  PQfinish(held);
  etcd_->Resume();
}

}  // namespace
}  // namespace pgthaw::server
