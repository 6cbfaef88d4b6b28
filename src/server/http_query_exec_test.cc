// execute_query on a real engine instance left in a state no HTTP query may
// be answered 200 in: skipping to Sync after an extended-protocol error
// (which pg_connection.h's invariant keeps from ever reaching HTTP; this is
// its last guard). The statement did not run, so the answer is a 500
// "internal" without host paths, and the session is clean again for the
// next query.
#include "server/http_query_exec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "engine/test_support.h"
#include "pgwire/frontend.h"

namespace pgthaw::server {
namespace {

using engine::testing::boot;
using engine::testing::copy_template_database;
using engine::testing::scalar;
using engine::testing::TempDir;

Reply run_http(engine::Instance& db, const std::string& sql) {
  QueryRequest request;
  request.sql = sql;
  auto wire = encode_query(request);
  EXPECT_TRUE(wire.ok());
  runtime::Session session(db);
  return execute_query(session, *wire, QueryTimings{}, std::chrono::steady_clock::now());
}

TEST(HttpQueryExec, NoSuccessForAStatementTheEngineSkipped) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(run_http(*db, "create table t(id int)").body.value("command", ""), "CREATE TABLE");

  // Parse fails, and a Query with no Sync: the engine now skips to Sync.
  std::string poison;
  ASSERT_TRUE(pgwire::frontend::parse(poison, "", "selec 1").ok());
  ASSERT_TRUE(pgwire::frontend::query(poison, "select 2").ok());
  ASSERT_TRUE(db->Exec(poison).ok());

  Reply skipped = run_http(*db, "insert into t values (1)");
  EXPECT_EQ(skipped.status, 500) << skipped.body.dump();
  EXPECT_EQ(skipped.body["error"].value("code", ""), "internal") << skipped.body.dump();
  EXPECT_EQ(skipped.body["error"].value("message", "").find('/'), std::string::npos)
      << skipped.body.dump();

  Reply ran = run_http(*db, "insert into t values (2)");
  EXPECT_EQ(ran.status, 200) << ran.body.dump();
  EXPECT_EQ(ran.body.value("command", ""), "INSERT 0 1");
  EXPECT_EQ(scalar(*db, "select string_agg(id::text, ',') from t"), "2");
}

// What results_reply calls a finished statement: it ended and so did the
// exchange. Real engine replies, cut where an engine that stopped short
// would have cut them.
TEST(HttpQueryExec, ResultsReplyWantsAFinishedStatement) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  std::string query;
  ASSERT_TRUE(pgwire::frontend::query(query, "select g from generate_series(1, 3) g").ok());
  auto reply = db->Exec(query);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(results_reply(*reply).status, 200);
  EXPECT_EQ(results_reply(*reply).body.value("command", ""), "SELECT 3");
  // Without ReadyForQuery (6 bytes), without CommandComplete too, nothing.
  std::string no_ready = reply->substr(0, reply->size() - 6);
  EXPECT_EQ(results_reply(no_ready).status, 500);
  const size_t command_complete = 1 + 4 + std::string("SELECT 3").size() + 1;
  std::string no_complete = no_ready.substr(0, no_ready.size() - command_complete);
  EXPECT_EQ(results_reply(no_complete).status, 500);
  EXPECT_EQ(results_reply("").status, 500);
  EXPECT_EQ(results_reply("").body["error"].value("code", ""), "internal");
}

}  // namespace
}  // namespace pgthaw::server
