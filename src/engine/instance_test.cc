// engine::Instance against the real engine, real files, real protocol bytes.
#include "engine/instance.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <thread>

#include "engine/test_support.h"
#include "wasm/guest_stack.h"

namespace pgthaw::engine {
namespace {

using testing::boot;
using testing::copy_template_database;
using testing::error_code;
using testing::rows;
using testing::run;
using testing::scalar;
using testing::TempDir;

TEST(Instance, InitdbOnAnEmptyDirectoryThenQuery) {
  TempDir tmp;
  auto db = boot(tmp.sub("fresh"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(scalar(*db, "select 40+2"), "42");
  EXPECT_EQ(scalar(*db, "show server_version"), "18.6");
  std::ifstream version(tmp.sub("fresh/PG_VERSION"));
  std::string major;
  version >> major;
  EXPECT_EQ(major, "18");
}

TEST(Instance, CreateInsertSelectRoundTrip) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  rows(*db, "create table kv (k int primary key, v text)");
  rows(*db, "insert into kv select g, 'v' || g from generate_series(1, 100) g");
  rows(*db, "insert into kv values (1000, null)");
  EXPECT_EQ(scalar(*db, "select count(*) from kv"), "101");
  EXPECT_EQ(rows(*db, "select k, v from kv where k in (7, 1000) order by k"), "7|v7\n1000|\n");
  auto results = run(*db, "select v from kv where k = 1000");
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(results[0].rows.size(), 1u);
  EXPECT_FALSE(results[0].rows[0][0].has_value());  // NULL, not ""
  EXPECT_EQ(results[0].command_tag, "SELECT 1");
}

TEST(Instance, PlpgsqlDoBlockAndFunction) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  rows(*db, "create table log (n int)");
  rows(*db, "do $$ begin for i in 1..5 loop insert into log values (i * i); end loop; end $$");
  EXPECT_EQ(scalar(*db, "select sum(n) from log"), "55");
  rows(*db,
       "create function fib(n int) returns int language plpgsql as $$ "
       "begin if n < 2 then return n; end if; return fib(n - 1) + fib(n - 2); end $$");
  EXPECT_EQ(scalar(*db, "select fib(15)"), "610");
  // An exception block: PL/pgSQL's setjmp/longjmp through invoke_*.
  rows(*db,
       "create function safe_div(a int, b int) returns int language plpgsql as $$ "
       "begin return a / b; exception when division_by_zero then return -1; end $$");
  EXPECT_EQ(scalar(*db, "select safe_div(10, 0)"), "-1");
  EXPECT_EQ(scalar(*db, "select safe_div(10, 2)"), "5");
}

TEST(Instance, ContribExtensionsLoadOnFirstUse) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  rows(*db, "create extension pg_trgm");
  EXPECT_EQ(scalar(*db, "select show_trgm('cat')"), "{\"  c\",\" ca\",\"at \",cat}");
  rows(*db, "create extension hstore");
  EXPECT_EQ(scalar(*db, "select 'a=>1, b=>2'::hstore -> 'b'"), "2");
  rows(*db, "create extension pgcrypto");
  EXPECT_EQ(scalar(*db, "select encode(digest('abc', 'sha256'), 'hex')"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Instance, EnglishTextSearchStems) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(scalar(*db, "select to_tsvector('english', 'running dogs')"), "'dog':2 'run':1");
}

TEST(Instance, ErrorThenNextStatementSucceeds) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(error_code(*db, "select * from no_such_table"), "42P01");
  EXPECT_EQ(scalar(*db, "select 1"), "1");
  EXPECT_EQ(error_code(*db, "selec 1"), "42601");
  EXPECT_EQ(scalar(*db, "select 2"), "2");
  // Inside a transaction the error aborts it until ROLLBACK.
  rows(*db, "begin");
  EXPECT_EQ(error_code(*db, "select 1/0"), "22012");
  EXPECT_TRUE(db->InTransaction());
  EXPECT_EQ(error_code(*db, "select 1"), "25P02");
  rows(*db, "rollback");
  EXPECT_FALSE(db->InTransaction());
  EXPECT_EQ(scalar(*db, "select 3"), "3");
}

TEST(Instance, DataSurvivesCloseAndReopen) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  {
    auto db = boot(tmp.sub("db"));
    ASSERT_NE(db, nullptr);
    rows(*db, "create table keep (x text)");
    rows(*db, "insert into keep values ('kept')");
    ASSERT_TRUE(db->Close().ok());
  }
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(scalar(*db, "select x from keep"), "kept");
}

TEST(Instance, SigkillRightAfterCommitLosesNothing) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  // The child commits and is killed at once: no close, no checkpoint.
  bool committed = testing::kill_child_after([&] {
    auto db = Instance::Boot(testing::test_engine(), tmp.sub("db"));
    std::string q;
    (void)pgwire::frontend::query(q,
                                  "create table durable (n int); begin; insert into durable "
                                  "select generate_series(1, 1000); commit;");
    return db.ok() && (*db)->Exec(q).ok();
  });
  ASSERT_TRUE(committed) << "child failed before committing";
  auto db = boot(tmp.sub("db"));  // crash recovery replays the WAL
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(scalar(*db, "select count(*) from durable"), "1000");
}

TEST(Instance, TwoInstancesOnTwoThreadsAreIndependent) {
  TempDir tmp;
  copy_template_database(tmp.sub("a"));
  copy_template_database(tmp.sub("b"));
  std::string result_a, result_b;
  auto work = [](const std::string& dir, int base, std::string* out) {
    auto db = boot(dir);
    if (db == nullptr) return;
    rows(*db, "create table t (n int)");
    for (int i = 0; i < 200; ++i) {
      rows(*db, "insert into t values (" + std::to_string(base + i) + ")");
    }
    *out = rows(*db, "select count(*), min(n), max(n) from t");
  };
  std::thread a(work, tmp.sub("a"), 0, &result_a);
  std::thread b(work, tmp.sub("b"), 5000, &result_b);
  a.join();
  b.join();
  EXPECT_EQ(result_a, "200|0|199\n");
  EXPECT_EQ(result_b, "200|5000|5199\n");
}

TEST(Instance, FilePathsCannotEscapeTheDataDirectory) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  std::ofstream(tmp.sub("secret.txt")) << "outside";
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  // Inside the data directory works, so the checks below can fail.
  EXPECT_EQ(scalar(*db, "select pg_read_file('PG_VERSION')"), "18\n");
  EXPECT_EQ(error_code(*db, "select pg_read_file('../secret.txt')"), "58P01");
  EXPECT_EQ(error_code(*db, "select pg_read_file('/etc/passwd')"), "58P01");
  EXPECT_EQ(error_code(*db, "select pg_read_file('" + tmp.sub("secret.txt") + "')"), "58P01");
  EXPECT_EQ(error_code(*db, "select pg_read_file('../../../../../../etc/hostname')"), "58P01");

  rows(*db, "create table t as select 'leak' as x");
  std::string outside = tmp.sub("leaked.csv");
  run(*db, "copy t to '" + outside + "'");
  run(*db, "copy t to '../leaked.csv'");
  run(*db, "copy t to '/tmp/../../" + outside + "'");
  EXPECT_FALSE(std::filesystem::exists(outside));
  EXPECT_FALSE(std::filesystem::exists(tmp.sub("leaked.csv")));
  // COPY FROM a host file outside is refused the same way.
  EXPECT_NE(error_code(*db, "copy t from '" + tmp.sub("secret.txt") + "'"), "");
  EXPECT_EQ(scalar(*db, "select count(*) from t"), "1");
  EXPECT_EQ(scalar(*db, "select 1"), "1");
}

TEST(Instance, ExtendedProtocolParametersRoundTrip) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  std::string req;
  namespace fe = pgwire::frontend;
  ASSERT_TRUE(fe::parse(req, "s1",
                        "select $1::text, $2::bytea, $3::numeric, $4::timestamptz, $5::int4, "
                        "$2::bytea = '\\x00ff41'::bytea")
                  .ok());
  ASSERT_TRUE(fe::bind(req, "", "s1", {},
                       {std::string("héllo, 'world'"), std::string("\\x00ff41"),
                        std::string("12345678901234567890.000000001"),
                        std::string("2024-02-29 13:45:01.123456+00"), std::nullopt})
                  .ok());
  ASSERT_TRUE(fe::describe(req, 'P', "").ok());
  ASSERT_TRUE(fe::execute(req, "").ok());
  fe::sync(req);
  auto reply = db->Exec(req);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  auto results = pgwire::collect_results(*reply);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 1u);
  const pgwire::StatementResult& r = (*results)[0];
  ASSERT_FALSE(r.error.has_value()) << r.error->summary();
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0], "héllo, 'world'");
  EXPECT_EQ(r.rows[0][1], "\\x00ff41");
  EXPECT_EQ(r.rows[0][2], "12345678901234567890.000000001");
  EXPECT_EQ(r.rows[0][3], "2024-02-29 13:45:01.123456+00");
  EXPECT_FALSE(r.rows[0][4].has_value());
  EXPECT_EQ(r.rows[0][5], "t");
  ASSERT_EQ(r.fields.size(), 6u);
  EXPECT_EQ(r.fields[1].type_oid, 17u);    // bytea
  EXPECT_EQ(r.fields[2].type_oid, 1700u);  // numeric
  EXPECT_EQ(r.fields[3].type_oid, 1184u);  // timestamptz

  // An error in the extended protocol skips to Sync; the next batch works.
  req.clear();
  ASSERT_TRUE(fe::parse(req, "", "select 1/$1::int").ok());
  ASSERT_TRUE(fe::bind(req, "", "", {}, {std::string("0")}).ok());
  ASSERT_TRUE(fe::execute(req, "").ok());
  fe::sync(req);
  reply = db->Exec(req);
  ASSERT_TRUE(reply.ok());
  results = pgwire::collect_results(*reply);
  ASSERT_TRUE(results.ok());
  ASSERT_FALSE(results->empty());
  ASSERT_TRUE(results->back().error.has_value());
  EXPECT_EQ(results->back().error->sqlstate(), "22012");
  EXPECT_EQ(scalar(*db, "select 'after'"), "after");
}

// Runs `fn` on a thread whose guest stack is small (wasm/guest_stack.h), so
// deep guest recursion runs out of native stack before Postgres' own depth
// check notices: a real stack-exhaustion trap.
void run_with_small_stack(std::function<void()> fn) {
  std::thread thread([&] {
    ASSERT_TRUE(wasm::reserve_guest_stack(size_t{4} << 20));
    fn();
  });
  thread.join();
}

TEST(Instance, TrapKillsOnlyThatInstance) {
  TempDir tmp;
  copy_template_database(tmp.sub("a"));
  copy_template_database(tmp.sub("b"));
  auto a = boot(tmp.sub("a"));
  auto b = boot(tmp.sub("b"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  rows(*a,
       "create function r(n int) returns int language sql as "
       "'select case when n = 0 then 0 else r(n - 1) end'");
  Status trap;
  run_with_small_stack([&] {
    std::string q;
    (void)pgwire::frontend::query(q, "set max_stack_depth = '7680kB'; select r(1000000)");
    trap = a->Exec(q).status();
  });
  EXPECT_EQ(trap.code(), StatusCode::kEngineTrap) << trap.ToString();
  std::string q;
  ASSERT_TRUE(pgwire::frontend::query(q, "select 1").ok());
  EXPECT_EQ(a->Exec(q).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(scalar(*b, "select 'b lives'"), "b lives");
  // The dead instance's committed data is intact for the next boot.
  a.reset();
  auto again = boot(tmp.sub("a"));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(scalar(*again, "select r(10)"), "0");
}

TEST(Instance, TerminateIsNotFatal) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  std::string x;
  pgwire::frontend::terminate(x);
  auto reply = db->Exec(x);
  ASSERT_TRUE(reply.ok());
  EXPECT_TRUE(reply->empty());
  EXPECT_EQ(scalar(*db, "select 7"), "7");
}

TEST(Instance, ClosedInstanceRefusesWork) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Close().ok());
  std::string q;
  ASSERT_TRUE(pgwire::frontend::query(q, "select 1").ok());
  auto reply = db->Exec(q);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
}

TEST(Instance, NonEmptyDirectoryWithoutDatabaseIsRefused) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.sub("junk"));
  std::ofstream(tmp.sub("junk/precious.txt")) << "mine";
  auto db = Instance::Boot(testing::test_engine(), tmp.sub("junk"));
  EXPECT_FALSE(db.ok());
  EXPECT_TRUE(std::filesystem::exists(tmp.sub("junk/precious.txt")));
}

}  // namespace
}  // namespace pgthaw::engine
