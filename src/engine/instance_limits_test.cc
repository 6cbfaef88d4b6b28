// engine::Instance under its limits, against the real engine: the memory
// maximum (53200), the reply cap, the disk quota (53100), the /tmp cap, an
// allocation failure in host code, and the private memory it reports. After
// each limit the instance answers again and nothing committed is lost.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "engine/instance.h"
#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

using testing::boot;
using testing::copy_template_database;
using testing::error_code;
using testing::rows;
using testing::run;
using testing::scalar;
using testing::TempDir;

constexpr uint64_t kMiB = uint64_t{1} << 20;

std::string simple_query(const std::string& sql) {
  std::string q;
  EXPECT_TRUE(pgwire::frontend::query(q, sql).ok());
  return q;
}

// The first error of a statement that must fail, as "SQLSTATE: message".
std::string error_of(Instance& db, const std::string& sql) {
  for (const pgwire::StatementResult& r : run(db, sql)) {
    if (r.error) return r.error->sqlstate() + ": " + r.error->message();
  }
  return "no error";
}

// An engine like the test engine but with other limits; the test keeps it
// for as long as its instances.
std::unique_ptr<Engine> engine_with(const EngineOptions& options) {
  auto engine = Engine::Open(options);
  if (!engine.ok()) {
    ADD_FAILURE() << engine.status().ToString();
    std::abort();
  }
  return std::move(engine).value();
}

TEST(InstanceLimits, MemoryMaxGivesOutOfMemoryAndTheInstanceStaysUsable) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));  // the default maximum: 512 MiB
  ASSERT_NE(db, nullptr);
  rows(*db, "create table kept (x int); insert into kept values (1), (2)");
  EXPECT_EQ(error_code(*db, "select repeat('x', 400000000) || repeat('x', 400000000)"), "53200");
  EXPECT_EQ(scalar(*db, "select 1"), "1");
  EXPECT_EQ(scalar(*db, "select sum(x) from kept"), "3");
  // Memory that fits still works after the failure.
  EXPECT_EQ(scalar(*db, "select length(repeat('x', 100000000))"), "100000000");
}

TEST(InstanceLimits, ReplyCapCancelsTheStatementAndKeepsTheInstance) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  ExecOptions capped;
  capped.max_reply_bytes = kMiB;
  auto big = db->Exec(simple_query("select g from generate_series(1, 5000000) g"), capped);
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted) << big.status().ToString();
  EXPECT_EQ(scalar(*db, "select 'after'"), "after");
  // The statement was stopped, not only its result dropped (a sequence is
  // not transactional: it shows how many rows were made).
  rows(*db, "create sequence made");
  big = db->Exec(simple_query("select nextval('made') from generate_series(1, 5000000)"), capped);
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_LT(std::stoll(scalar(*db, "select last_value from made")), 1000000);
  // Inside a transaction block the block stays open, and ROLLBACK ends it.
  rows(*db, "begin");
  big = db->Exec(simple_query("select g from generate_series(1, 5000000) g"), capped);
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(db->InTransaction());
  rows(*db, "rollback");
  EXPECT_FALSE(db->InTransaction());
  // A reply under the cap is whole, and the cancel did not linger.
  auto small = db->Exec(simple_query("select count(*) from generate_series(1, 100000)"), capped);
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  auto results = pgwire::collect_results(*small);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 1u);
  ASSERT_FALSE(results->at(0).error.has_value()) << results->at(0).error->summary();
  EXPECT_EQ(results->at(0).rows.at(0).at(0), "100000");
}

TEST(InstanceLimits, DiskQuotaGivesDiskFullAndTheDatabaseRecovers) {
  EngineOptions options;
  options.tenant_disk_max_bytes = 64 * kMiB;
  const std::unique_ptr<Engine> owned = engine_with(options);
  const Engine& engine = *owned;
  TempDir tmp;
  // A tenant as the runtime makes them: an overlay on a template database,
  // so only the tenant's own files count.
  copy_template_database(tmp.sub("template"));
  auto opened = Instance::Boot(engine, tmp.sub("upper"), {tmp.sub("template")});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Instance& db = **opened;
  rows(db, "create table kept (x text); insert into kept values ('committed before')");
  rows(db, "create table filler (x text)");
  std::string error;
  for (int i = 0; i < 200 && error.empty(); ++i) {
    for (const pgwire::StatementResult& r :
         run(db,
             "insert into filler select repeat(md5(g::text), 32) from generate_series(1, 500) g")) {
      if (r.error) error = r.error->sqlstate() + ": " + r.error->message();
    }
  }
  EXPECT_TRUE(error.starts_with("53100: could not extend file")) << error;
  EXPECT_NE(error.find("No space left on device"), std::string::npos) << error;
  EXPECT_EQ(scalar(db, "select 1"), "1");
  EXPECT_EQ(scalar(db, "select x from kept"), "committed before");
  // Deleting data gives the space back.
  rows(db, "drop table filler");
  rows(db, "checkpoint");
  rows(db, "create table again (x text)");
  rows(db, "insert into again select repeat('y', 1000) from generate_series(1, 1000)");
  EXPECT_EQ(scalar(db, "select count(*) from again"), "1000");
  // Nothing is corrupted: a fresh boot from the files sees the same data.
  ASSERT_TRUE(db.Close().ok());
  opened.value().reset();
  auto reopened = Instance::Boot(engine, tmp.sub("upper"), {tmp.sub("template")});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(scalar(**reopened, "select x from kept"), "committed before");
  EXPECT_EQ(scalar(**reopened, "select count(*) from again"), "1000");
}

TEST(InstanceLimits, TmpCapGivesNoSpaceToFilesInTmp) {
  EngineOptions options;
  options.tenant_tmp_max_bytes = 8 * kMiB;
  const std::unique_ptr<Engine> owned = engine_with(options);
  const Engine& engine = *owned;
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto opened = Instance::Boot(engine, tmp.sub("db"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Instance& db = **opened;
  std::string error =
      error_of(db, "copy (select repeat('x', 100000) from generate_series(1, 200)) to '/tmp/big'");
  EXPECT_TRUE(error.starts_with("53100: ")) << error;
  EXPECT_NE(error.find("No space left on device"), std::string::npos) << error;
  EXPECT_EQ(scalar(db, "select 1"), "1");
  // What fits is written and readable.
  rows(db, "copy (select 'small') to '/tmp/small'");
  rows(db, "create table t (x text); copy t from '/tmp/small'");
  EXPECT_EQ(scalar(db, "select x from t"), "small");
}

TEST(InstanceLimits, PrivateMemoryCountsWhatTheGuestTouched) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  uint64_t before = db->PrivateMemoryBytes();
  EXPECT_GT(before, 0u);
  EXPECT_LT(before, 512 * kMiB);
  // (The planner folds the constant and copies it: 300 MB in all.)
  EXPECT_EQ(scalar(*db, "select length(repeat('x', 150000000))"), "150000000");
  uint64_t after = db->PrivateMemoryBytes();
  EXPECT_GE(after, before + 150 * kMiB) << before << " -> " << after;
}

uint64_t virtual_memory_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmSize:")) return std::stoull(line.substr(7)) * 1024;
  }
  return 0;
}

TEST(InstanceLimits, HostAllocationFailureIsATrapOfThatInstance) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  // In a child: its address space is capped so that the host's reply buffer
  // cannot grow, while the guest's memory (already reserved) still can.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto db = Instance::Boot(testing::test_engine(), tmp.sub("db"));
    if (!db.ok()) _exit(10);
    // Grow the guest's heap first: it keeps what it freed, so the query
    // below needs no more guest memory, only host memory for its reply.
    (void)(*db)->Exec(simple_query("select length(repeat('x', 150000000))"));
    struct rlimit cap = {};
    cap.rlim_cur = cap.rlim_max = virtual_memory_bytes() + 48 * kMiB;
    if (setrlimit(RLIMIT_AS, &cap) != 0) _exit(11);
    auto reply = (*db)->Exec(simple_query("select repeat('x', 100000000)"));
    Status st = reply.status();
    if (st.code() != StatusCode::kEngineTrap) {
      std::string shown = reply.ok() ? reply->substr(0, 200) : st.ToString();
      for (char& c : shown) c = c == '\0' ? ' ' : c;
      fprintf(stderr, "child: %s\n", shown.c_str());
      _exit(12);
    }
    if (st.message().find("out of host memory") == std::string::npos) _exit(13);
    if ((*db)->alive()) _exit(14);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The files are intact: the tenant boots again from them.
  auto again = boot(tmp.sub("db"));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(scalar(*again, "select 'booted again'"), "booted again");
}

}  // namespace
}  // namespace pgthaw::engine
