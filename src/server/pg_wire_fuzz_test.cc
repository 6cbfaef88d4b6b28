// A bounded wire fuzzer: 20,000 cases of random and mutated frontend
// messages, over a few real connections at once, to one tenant of a real
// listener and HTTP role. A case is a short sequence built from valid
// Parse/Bind/Describe/Execute/Close/Query/Sync/Flush/CopyData/CopyDone/
// CopyFail/FunctionCall messages (often the patterns clients send, often
// missing their Sync), then mutated: bytes flipped, payloads cut short,
// message types replaced, messages dropped, repeated or swapped (the frames
// stay whole), or the stream cut mid-message and a length word replaced (the
// frames break; huge lengths are claimed, never sent).
//
// After a case whose frames are whole the connection sends a probe
// (CopyDone, Sync, then "rollback; select '<tag>'") and must get the tag
// back, unless the case closed the connection (a FATAL, Terminate); after a
// case with broken frames the client half-closes and the server must close.
// Every few cases an HTTP insert must answer "INSERT 0 1" (a session left
// skipping to Sync answers nothing for it); every 1,000 cases and at the end
// fresh libpq connections to the tenant and to a second one run `select 1`,
// and the inserts are all there; after a restart they still are.
//
// The seed is printed; PGTHAW_FUZZ_SEED=<n> replays a run's cases (the
// interleaving of the connections is the scheduler's), PGTHAW_FUZZ_CASES=<n>
// runs more of them.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/test_support.h"
#include "pgwire/frontend.h"
#include "pgwire/wire_format.h"
#include "server/pg_http_test_server.h"

namespace pgthaw::server {
namespace {

using engine::testing::TempDir;
using testing::Conn;
using testing::HttpClient;
using testing::HttpResult;
using testing::PgHttpServer;
using testing::PgResult;
using testing::RawClient;
using testing::startup_packet;

constexpr int kDefaultCases = 20'000;    // PGTHAW_FUZZ_CASES=<n> for a longer soak
constexpr int kConnections = 3;          // fuzzing at once, each its share of the cases
constexpr int kHttpInsertEvery = 25;     // cases of one connection between HTTP inserts
constexpr int kHealthCheckEvery = 1000;  // cases of one connection between libpq checks
constexpr char kTenant[] = "fuzzed";
constexpr char kBystander[] = "bystander";

// Statements the generated messages carry: cheap, touching the fuzzer's own
// table `f`, some failing, some opening blocks or COPY.
const std::vector<std::string>& statements() {
  static const std::vector<std::string> all = {
      "select 1",
      "select $1::int + 1",
      "insert into f values ($1::int)",
      "insert into f values (1)",
      "select * from f order by a limit 3",
      "select g from generate_series(1, 5) g",
      "begin",
      "commit",
      "rollback",
      "savepoint s",
      "rollback to savepoint s",
      "set application_name = 'fuzz'",
      "copy f from stdin",
      "copy f to stdout",
      "selec 1",
      "select 1/0",
      "select * from no_such_table",
      "do $$begin raise exception 'fuzz'; end$$",
      "",
      ";",
      "select 1; select 2",
      "insert into f values (2); selec 3",
      "prepare q as select 1",
      "execute q",
      "deallocate all",
      "listen fuzz",
  };
  return all;
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  struct Case {
    std::string bytes;
    bool frames_whole = true;  // every message is framed as sent
  };

  Case Next() {
    std::vector<std::string> messages = Sequence();
    Case c;
    int mutation = Pick(10);
    if (mutation < 5) {
      // Whole frames with mutated contents (or none).
      for (int n = Pick(3); n > 0; --n) MutateFrames(messages);
      for (const std::string& m : messages) c.bytes += m;
    } else if (mutation < 9) {
      for (const std::string& m : messages) c.bytes += m;
    } else {
      for (const std::string& m : messages) c.bytes += m;
      BreakFrames(c.bytes);
      c.frames_whole = false;
    }
    return c;
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  const std::string& AnySql() { return statements()[Pick(static_cast<int>(statements().size()))]; }
  std::string AnyName() {
    static const char* names[] = {"", "", "s1", "s2"};
    return names[Pick(4)];
  }
  std::string AnyValue() {
    static const char* values[] = {"1", "42", "-7", "x", "", "99999999999", "1e3"};
    return values[Pick(7)];
  }

  std::string Parse() {
    std::string out;
    std::vector<uint32_t> types;
    if (Pick(4) == 0) types.push_back(Pick(2) == 0 ? 23 : static_cast<uint32_t>(rng_()));
    EXPECT_TRUE(pgwire::frontend::parse(out, AnyName(), AnySql(), types).ok());
    return out;
  }
  std::string Bind() {
    std::string out;
    std::vector<std::optional<std::string>> params;
    for (int n = Pick(3); n > 0; --n) {
      params.push_back(Pick(5) == 0 ? std::nullopt : std::optional<std::string>(AnyValue()));
    }
    std::vector<int16_t> formats;
    if (Pick(5) == 0) formats.push_back(static_cast<int16_t>(Pick(3)));
    std::vector<int16_t> result_formats;
    if (Pick(5) == 0) result_formats.push_back(static_cast<int16_t>(Pick(3)));
    EXPECT_TRUE(pgwire::frontend::bind(out, Pick(4) == 0 ? "p1" : "", AnyName(), formats, params,
                                       result_formats)
                    .ok());
    return out;
  }
  std::string Describe() {
    std::string out;
    EXPECT_TRUE(pgwire::frontend::describe(out, Pick(2) == 0 ? 'S' : 'P', AnyName()).ok());
    return out;
  }
  std::string Execute() {
    std::string out;
    EXPECT_TRUE(pgwire::frontend::execute(out, Pick(4) == 0 ? "p1" : "", Pick(3)).ok());
    return out;
  }
  std::string Close() {
    std::string out;
    EXPECT_TRUE(pgwire::frontend::close(out, Pick(2) == 0 ? 'S' : 'P', AnyName()).ok());
    return out;
  }
  std::string Query() {
    std::string out;
    EXPECT_TRUE(pgwire::frontend::query(out, AnySql()).ok());
    return out;
  }
  std::string Sync() {
    std::string out;
    pgwire::frontend::sync(out);
    return out;
  }
  std::string Flush() {
    std::string out;
    pgwire::frontend::flush(out);
    return out;
  }
  std::string CopyData() {
    std::string out;
    static const char* rows[] = {"1\n", "2\n3\n", "x\n", "\\.\n", "1\t2\n"};
    EXPECT_TRUE(pgwire::frontend::copy_data(out, rows[Pick(5)]).ok());
    return out;
  }
  std::string CopyEnd() {
    std::string out;
    if (Pick(3) == 0) {
      EXPECT_TRUE(pgwire::frontend::copy_fail(out, "fuzz").ok());
    } else {
      pgwire::frontend::copy_done(out);
    }
    return out;
  }
  // 'F' FunctionCall: an oid, no arguments, text result.
  std::string FunctionCall() {
    std::string out = "F";
    pgwire::put_int32(out, 4 + 4 + 2 + 2 + 2);
    pgwire::put_int32(out, Pick(2) == 0 ? 1299 /* now() */ : static_cast<uint32_t>(rng_()));
    pgwire::put_int16(out, 0);
    pgwire::put_int16(out, 0);
    pgwire::put_int16(out, 0);
    return out;
  }

  std::string AnyMessage() {
    switch (Pick(12)) {
      case 0:
      case 1:
        return Parse();
      case 2:
        return Bind();
      case 3:
        return Describe();
      case 4:
        return Execute();
      case 5:
        return Close();
      case 6:
        return Query();
      case 7:
        return Sync();
      case 8:
        return Flush();
      case 9:
        return CopyData();
      case 10:
        return CopyEnd();
      default:
        return FunctionCall();
    }
  }

  // A client's pattern, or random messages.
  std::vector<std::string> Sequence() {
    std::vector<std::string> m;
    switch (Pick(8)) {
      case 0:  // the extended query, whole
        m = {Parse(), Bind(), Describe(), Execute(), Sync()};
        break;
      case 1:  // ... without its Sync, or ended by Flush
        m = {Parse(), Bind(), Execute()};
        if (Pick(2) == 0) m.push_back(Flush());
        break;
      case 2:  // an extended message, then a Query before any Sync
        m = {Pick(2) == 0 ? Parse() : Bind(), Execute(), Query()};
        break;
      case 3:  // simple queries
        m = {Query()};
        if (Pick(2) == 0) m.push_back(Query());
        break;
      case 4: {  // COPY FROM STDIN, with data
        std::string q;
        EXPECT_TRUE(pgwire::frontend::query(q, "copy f from stdin").ok());
        m = {q};
        for (int n = Pick(4); n > 0; --n) m.push_back(CopyData());
        if (Pick(4) != 0) m.push_back(CopyEnd());
        break;
      }
      default:
        for (int n = 1 + Pick(6); n > 0; --n) m.push_back(AnyMessage());
        break;
    }
    return m;
  }

  // Mutations that keep every frame's length right.
  void MutateFrames(std::vector<std::string>& messages) {
    if (messages.empty()) return;
    size_t i = static_cast<size_t>(Pick(static_cast<int>(messages.size())));
    std::string& m = messages[i];
    switch (Pick(6)) {
      case 0:  // flip payload bytes
        for (int n = 1 + Pick(3); n > 0 && m.size() > 5; --n) {
          m[5 + static_cast<size_t>(Pick(static_cast<int>(m.size() - 5)))] ^=
              static_cast<char>(1 + Pick(255));
        }
        break;
      case 1: {  // cut the payload short, length fixed up
        size_t keep = m.size() > 5 ? static_cast<size_t>(Pick(static_cast<int>(m.size() - 5))) : 0;
        m.resize(5 + keep);
        std::string length;
        pgwire::put_int32(length, static_cast<uint32_t>(keep + 4));
        m.replace(1, 4, length);
        break;
      }
      case 2: {  // another type byte
        static const char types[] = "PBDECSHQdcfFXpz\x01\xff";
        m[0] = types[Pick(static_cast<int>(sizeof types - 1))];
        break;
      }
      case 3:  // drop it (a missing Sync, say)
        messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      case 4:  // send it twice
        messages.insert(messages.begin() + static_cast<std::ptrdiff_t>(i), m);
        break;
      default:  // swap with the next one
        if (i + 1 < messages.size()) std::swap(messages[i], messages[i + 1]);
        break;
    }
  }

  // Mutations that break the framing: the stream cut mid-message, or a
  // length word replaced (huge values claimed, never sent).
  void BreakFrames(std::string& bytes) {
    if (bytes.size() < 5) return;
    if (Pick(2) == 0) {
      bytes.resize(1 + static_cast<size_t>(Pick(static_cast<int>(bytes.size() - 1))));
      return;
    }
    static const uint32_t lengths[] = {0, 1, 3, 5, 1000, 0x7fffffff, 0xffffffff, 300u << 20};
    uint32_t length = Pick(3) == 0 ? static_cast<uint32_t>(rng_()) : lengths[Pick(8)];
    std::string word;
    pgwire::put_int32(word, length);
    bytes.replace(1, 4, word);  // the first message's length
  }

  std::mt19937_64 rng_;
};

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes.substr(0, 400)) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

int pick_cases() {
  if (const char* env = std::getenv("PGTHAW_FUZZ_CASES"); env != nullptr && *env != '\0') {
    return std::max(1, std::atoi(env));
  }
  return kDefaultCases;
}

uint64_t pick_seed() {
  if (const char* env = std::getenv("PGTHAW_FUZZ_SEED"); env != nullptr && *env != '\0') {
    return std::strtoull(env, nullptr, 10);
  }
  return (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
}

std::string libpq_value(const PgHttpServer& server, const std::string& tenant,
                        const std::string& sql) {
  Conn c(PQconnectdb(server.conninfo(tenant).c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK) return std::string("connect: ") + PQerrorMessage(c.get());
  PgResult r(PQexec(c.get(), sql.c_str()));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
    return std::string("query: ") + PQresultErrorMessage(r.get());
  }
  return PQgetvalue(r.get(), 0, 0);
}

struct Counts {
  std::atomic<int> cases{0}, broken_frames{0}, closed_by_server{0}, connections{0};
  std::atomic<int> http_inserts{0};
};

// One fuzzing connection's share of the cases.
class FuzzClient {
 public:
  FuzzClient(const PgHttpServer& server, int index, uint64_t seed, Counts& counts)
      : server_(server), index_(index), seed_(seed), generator_(seed + index), counts_(counts) {}

  void Run(int cases) {
    HttpClient http(server_.http_port());
    for (int i = 0; i < cases && !::testing::Test::HasFatalFailure(); ++i) {
      if (client_ == nullptr && !Connect()) return;
      Generator::Case c = generator_.Next();
      if (c.frames_whole) {
        ProbeAfter(c, i);
      } else {
        counts_.broken_frames++;
        (void)client_->try_send(c.bytes);
        client_->shutdown_write();
        EXPECT_TRUE(client_->read_to_eof())
            << "seed " << seed_ << " connection " << index_ << " case " << i
            << ": the server kept a connection with a broken frame open: " << hex(c.bytes);
        client_.reset();
      }
      counts_.cases++;
      if ((i + 1) % kHttpInsertEvery == 0) HttpInsert(http, i);
      if ((i + 1) % kHealthCheckEvery == 0) HealthCheck(i);
    }
  }

  int inserted() const { return inserted_; }

 private:
  bool Connect() {
    client_ = std::make_unique<RawClient>(server_.pg_port());
    counts_.connections++;
    client_->send(startup_packet({{"user", "fuzz"}, {"database", kTenant}}));
    auto hello = client_->read_until_ready();
    bool ok = !hello.empty() && hello.back().type == 'Z';
    EXPECT_TRUE(ok) << "seed " << seed_ << ": a new connection to the fuzzed tenant failed";
    return ok;
  }

  // Sends the case and the probe; the probe's tag must come back unless the
  // server closed the connection.
  void ProbeAfter(const Generator::Case& c, int i) {
    const std::string tag = "probe-" + std::to_string(index_) + "-" + std::to_string(i);
    std::string probe;
    pgwire::frontend::copy_done(probe);
    pgwire::frontend::sync(probe);
    EXPECT_TRUE(pgwire::frontend::query(probe, "rollback; select '" + tag + "'").ok());
    bool sent = client_->try_send(c.bytes + probe);
    std::vector<pgwire::Message> reply;
    bool tagged = false;
    bool ended = client_->read_until(reply, [&](const pgwire::Message& m) {
      if (m.type == 'D' && m.payload.find(tag) != std::string::npos) tagged = true;
      return tagged && m.type == 'Z';
    });
    if (ended) return;
    // The server may close a connection for what it sent (08P01 and the
    // like), never because the tenant's engine failed (XX000).
    for (const auto& m : reply) {
      if (m.type != 'E') continue;
      auto f = pgwire::decode_error_fields(m.payload);
      EXPECT_FALSE(f.ok() && f->severity_nonlocalized() == "FATAL" && f->sqlstate() == "XX000")
          << "seed " << seed_ << " connection " << index_ << " case " << i << ": " << f->message()
          << ": " << hex(c.bytes);
    }
    // No tag: only because the server closed the connection (a FATAL, a
    // Terminate in the case), never a connection left hanging.
    EXPECT_TRUE(!sent || client_->read_to_eof())
        << "seed " << seed_ << " connection " << index_ << " case " << i
        << ": no answer to the probe and the connection is still open: " << hex(c.bytes);
    counts_.closed_by_server++;
    client_.reset();
  }

  void HttpInsert(HttpClient& http, int i) {
    nlohmann::json body = {{"sql", "insert into fuzz_log values (" + std::to_string(index_) + ")"},
                           {"tenant", kTenant}};
    HttpResult r = http.Call("POST", "/direct", body.dump());
    bool ok = r.status == 200 && r.json.is_object() && r.json.value("command", "") == "INSERT 0 1";
    EXPECT_TRUE(ok) << "seed " << seed_ << " connection " << index_ << " after case " << i
                    << ": HTTP insert answered " << r.status << " " << r.body;
    if (ok) {
      ++inserted_;
      counts_.http_inserts++;
    }
  }

  void HealthCheck(int i) {
    EXPECT_EQ(libpq_value(server_, kTenant, "select 1"), "1")
        << "seed " << seed_ << " after case " << i;
    EXPECT_EQ(libpq_value(server_, kBystander, "select 1"), "1")
        << "seed " << seed_ << " after case " << i;
    EXPECT_EQ(libpq_value(server_, kTenant,
                          "select count(*) from fuzz_log where c = " + std::to_string(index_)),
              std::to_string(inserted_))
        << "seed " << seed_ << " after case " << i;
  }

  const PgHttpServer& server_;
  const int index_;
  const uint64_t seed_;
  Generator generator_;
  Counts& counts_;
  std::unique_ptr<RawClient> client_;
  int inserted_ = 0;
};

TEST(PgWireFuzzTest, RandomAndMutatedMessagesNeverPoisonTheTenant) {
  const uint64_t seed = pick_seed();
  const int cases = pick_cases();
  std::cout << "pg wire fuzz: seed " << seed << " (PGTHAW_FUZZ_SEED=" << seed << " replays), "
            << cases << " cases over " << kConnections << " connections\n";
  TempDir dir;
  PgHttpServer server(dir.sub("data"));
  ASSERT_TRUE(server.ok());
  HttpResult created =
      server.Direct(kTenant, "create table f(a int); create table fuzz_log(c int)");
  ASSERT_EQ(created.status, 200) << created.body;
  ASSERT_EQ(server.Direct(kBystander, "select 1").status, 200);

  Counts counts;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<FuzzClient>> clients;
  std::vector<std::thread> threads;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<FuzzClient>(server, i, seed, counts));
  }
  for (int i = 0; i < kConnections; ++i) {
    int share = cases / kConnections + (i < cases % kConnections ? 1 : 0);
    threads.emplace_back([&clients, i, share] { clients[i]->Run(share); });
  }
  for (std::thread& t : threads) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "pg wire fuzz: seed " << seed << ": " << counts.cases << " cases in " << seconds
            << " s (" << counts.broken_frames << " with broken frames, " << counts.closed_by_server
            << " closed by the server, " << counts.connections << " connections, "
            << counts.http_inserts << " HTTP inserts)\n";
  EXPECT_EQ(counts.cases, cases) << "seed " << seed;

  // No case killed the tenant's engine (it would have been booted again
  // from its files; the tenant was created, and a restart thaws it).
  EXPECT_EQ(server.runtime_stats().cold_starts_booted, 0u) << "seed " << seed;

  // At the end: alive, clean, and the inserts durable across a restart.
  EXPECT_EQ(libpq_value(server, kTenant, "select 1"), "1") << "seed " << seed;
  EXPECT_EQ(libpq_value(server, kBystander, "select 1"), "1") << "seed " << seed;
  server.Restart();
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(libpq_value(server, kTenant, "select count(*) from fuzz_log"),
            std::to_string(counts.http_inserts))
      << "seed " << seed;
  HttpResult last = server.Direct(kTenant, "insert into fuzz_log values (-1)");
  EXPECT_EQ(last.status, 200) << last.body;
  EXPECT_EQ(last.json.value("command", ""), "INSERT 0 1") << "seed " << seed;
  EXPECT_EQ(libpq_value(server, kBystander, "select 1"), "1") << "seed " << seed;
}

}  // namespace
}  // namespace pgthaw::server
