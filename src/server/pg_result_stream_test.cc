// Results streamed over the Postgres listener (reply_stream.h), against the
// real engine: a 10 GB result reaches the client while the server's memory
// stays flat, and a client that stops reading is disconnected after
// --client-write-timeout, its statement cancelled, while its tenant goes on
// serving others. Memory is this process's (the server runs in it; the test
// client keeps nothing it reads).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "engine/test_support.h"
#include "server/pg_http_test_server.h"

namespace pgthaw::server {
namespace {

using engine::testing::TempDir;
using testing::PgHttpServer;
using testing::RawClient;

uint64_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// Samples this process's RSS until stopped; keeps the peak.
class PeakRss {
 public:
  PeakRss()
      : thread_([this] {
          while (!stop_) {
            uint64_t now = rss_bytes();
            if (now > peak_) peak_ = now;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }) {}
  ~PeakRss() { Stop(); }
  uint64_t Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_{0};
  std::thread thread_;
};

// Connects as `tenant` and reads up to the first ReadyForQuery.
void start_session(RawClient& client, const std::string& tenant) {
  client.send(testing::startup_packet({{"user", "u"}, {"database", tenant}}));
  auto ready = client.read_until_ready();
  ASSERT_FALSE(ready.empty());
  ASSERT_EQ(ready.back().type, 'Z');
}

std::string query(const std::string& sql) {
  std::string q;
  EXPECT_TRUE(pgwire::frontend::query(q, sql).ok());
  return q;
}

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(PgResultStream, TenGigabytesStreamWithFlatServerMemory) {
  TempDir dir;
  PgHttpServer server(dir.sub("data"));
  ASSERT_TRUE(server.ok());
  RawClient client(server.pg_port());
  start_session(client, "big");
  // Warm: the tenant exists and its engine has run a query.
  client.send(query("select 1"));
  ASSERT_EQ(client.read_until_ready().back().type, 'Z');
  const uint64_t before = rss_bytes();

  // Another tenant answers correctly all along.
  std::atomic<bool> stop_bystander{false};
  std::atomic<int> answered{0}, wrong{0};
  std::thread bystander([&] {
    for (int i = 0; !stop_bystander; ++i) {
      testing::HttpResult r = server.Direct("bystander", "select " + std::to_string(i));
      bool right =
          r.status == 200 &&
          r.json["rows"] == nlohmann::json::array({nlohmann::json::array({std::to_string(i)})});
      ++(right ? answered : wrong);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  // 1e6 rows of 10,000 bytes: 10 GB of DataRows.
  PeakRss peak;
  client.send(query("select repeat('x', 10000) from generate_series(1, 1000000)"));
  // Read and drop it all; the rows are all 'x', so the reply's end is the
  // first "CommandComplete, ReadyForQuery('I')" tail.
  constexpr std::string_view kEnd("SELECT 1000000\0Z\0\0\0\5I", 21);
  std::string buffer(4 * kMiB, '\0');
  std::string tail;
  uint64_t received = 0;
  for (;;) {
    ssize_t n = ::recv(client.fd(), buffer.data(), buffer.size(), 0);
    ASSERT_GT(n, 0) << "the server stopped after " << received << " bytes";
    received += static_cast<uint64_t>(n);
    tail.append(buffer.data() + std::max<ssize_t>(0, n - 64), std::min<ssize_t>(n, 64));
    if (tail.size() > 64) tail.erase(0, tail.size() - 64);
    if (tail.size() >= kEnd.size() &&
        tail.compare(tail.size() - kEnd.size(), kEnd.size(), kEnd) == 0)
      break;
  }
  const uint64_t top = peak.Stop();
  stop_bystander = true;
  bystander.join();
  EXPECT_GT(answered.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(received, uint64_t{10'000'000'000});
  std::cerr << "[ info ] streamed " << received / kMiB << " MiB; RSS before " << before / kMiB
            << " MiB, peak " << top / kMiB << " MiB\n";
  // Flat: a few chunks in flight and the engine's own working memory, not
  // the result (the whole of which is 40 times this bound).
  EXPECT_LT(top, before + 256 * kMiB);
  // The session goes on.
  client.send(query("select 'after'"));
  auto after = client.read_until_ready();
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back().type, 'Z');
  EXPECT_EQ(testing::first_sqlstate(after), "");
}

TEST(PgResultStream, AClientThatStopsReadingIsDisconnectedAndItsTenantGoesOn) {
  TempDir dir;
  PgListenerOptions options;
  options.client_write_timeout_ms = 1000;
  PgHttpServer server(dir.sub("data"), options);
  ASSERT_TRUE(server.ok());
  RawClient stalled(server.pg_port());
  start_session(stalled, "shared");
  stalled.send(query("create table t (x int); insert into t values (1)"));
  ASSERT_EQ(stalled.read_until_ready().back().type, 'Z');
  const uint64_t before = rss_bytes();
  PeakRss peak;
  // Inside a transaction block, 10 GB it will never read.
  stalled.send(query("begin; insert into t values (2)"));
  ASSERT_EQ(stalled.read_until_ready().back().type, 'Z');
  stalled.send(query("select repeat('x', 10000) from generate_series(1, 1000000)"));

  // Another connection to the same tenant waits for the session, then runs
  // once the stalled one is cut off; its transaction was rolled back.
  testing::Conn other(PQconnectdb(server.conninfo("shared").c_str()));
  ASSERT_EQ(PQstatus(other.get()), CONNECTION_OK) << PQerrorMessage(other.get());
  testing::PgResult count(PQexec(other.get(), "select count(*) from t"));
  ASSERT_EQ(PQresultStatus(count.get()), PGRES_TUPLES_OK) << PQerrorMessage(other.get());
  EXPECT_STREQ(PQgetvalue(count.get(), 0, 0), "1");
  // The stalled client's connection is gone (what it did not read is
  // dropped; the server closed its end).
  EXPECT_TRUE(stalled.read_to_eof());
  EXPECT_LT(peak.Stop(), before + 256 * kMiB);
  // And HTTP works on that tenant too.
  testing::HttpResult r = server.Direct("shared", "select count(*) from t");
  EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
}  // namespace pgthaw::server
