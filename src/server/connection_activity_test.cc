#include "server/connection_activity.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pgthaw::server {
namespace {

using End = ConnectionActivity::End;

nlohmann::json report(const ConnectionActivity& activity, const std::string& tenant,
                      int32_t current = 0) {
  return nlohmann::json::parse(activity.Report(tenant, current));
}

TEST(ConnectionActivity, FollowsEachConnectionThroughItsStates) {
  ConnectionActivity activity;
  activity.Opened("t1", 10, "alice", "app", "127.0.0.1", 5000);
  activity.Opened("t1", 20, "bob", "", "", -1);
  activity.Opened("t2", 30, "carol", "other", "::1", 6000);

  auto r = report(activity, "t1", 20);
  EXPECT_EQ(r["current_pid"], 20);
  ASSERT_EQ(r["connections"].size(), 2u);
  const auto& a = r["connections"][0];
  EXPECT_EQ(a["pid"], 10);
  EXPECT_EQ(a["usename"], "alice");
  EXPECT_EQ(a["application_name"], "app");
  EXPECT_EQ(a["client_addr"], "127.0.0.1");
  EXPECT_EQ(a["client_port"], 5000);
  EXPECT_EQ(a["state"], "idle");
  EXPECT_EQ(a["wait_event"], "ClientRead");
  EXPECT_TRUE(a["xact_start"].is_null());
  EXPECT_TRUE(a["backend_start"].get<std::string>().ends_with("Z"));
  EXPECT_TRUE(r["connections"][1]["client_addr"].is_null());

  // Work waits for the tenant, then runs, then leaves a transaction open.
  activity.Submitted("t1", 10, "begin; select 1", false);
  r = report(activity, "t1", 20);
  EXPECT_EQ(r["connections"][0]["state"], "active");
  EXPECT_EQ(r["connections"][0]["wait_event"], "TenantTurn");
  EXPECT_EQ(r["connections"][0]["query"], "begin; select 1");
  EXPECT_FALSE(r["connections"][0]["xact_start"].is_null());
  activity.Running("t1", 10);
  r = report(activity, "t1", 20);
  EXPECT_TRUE(r["connections"][0]["wait_event"].is_null());
  activity.Finished("t1", 10, 'T', "renamed");
  r = report(activity, "t1", 20);
  EXPECT_EQ(r["connections"][0]["state"], "idle in transaction");
  EXPECT_EQ(r["connections"][0]["application_name"], "renamed");
  EXPECT_FALSE(r["connections"][0]["xact_start"].is_null());
  activity.Submitted("t1", 10, "select 1/0", false);
  activity.Finished("t1", 10, 'E', "renamed");
  EXPECT_EQ(report(activity, "t1")["connections"][0]["state"], "idle in transaction (aborted)");
  activity.Submitted("t1", 10, "rollback", false);
  activity.Finished("t1", 10, 'I', "renamed");
  r = report(activity, "t1");
  EXPECT_EQ(r["connections"][0]["state"], "idle");
  EXPECT_TRUE(r["connections"][0]["xact_start"].is_null());
  EXPECT_EQ(r["connections"][0]["query"], "rollback");
  // A function call keeps the last query text, as Postgres does.
  activity.Submitted("t1", 10, "", true);
  EXPECT_EQ(report(activity, "t1")["connections"][0]["state"], "fastpath function call");
  EXPECT_EQ(report(activity, "t1")["connections"][0]["query"], "rollback");

  // Tenants see only their own connections.
  r = report(activity, "t2");
  ASSERT_EQ(r["connections"].size(), 1u);
  EXPECT_EQ(r["connections"][0]["usename"], "carol");
  EXPECT_EQ(report(activity, "nobody")["connections"].size(), 0u);
}

TEST(ConnectionActivity, CountsSessionsAndHowTheyEnded) {
  ConnectionActivity activity;
  for (int32_t pid = 1; pid <= 5; ++pid) activity.Opened("t", pid, "u", "", "", -1);
  auto db = report(activity, "t")["database"];
  EXPECT_EQ(db["sessions"], 5);
  EXPECT_EQ(db["numbackends"], 5);
  activity.Closed("t", 1, End::kNormal);
  activity.Closed("t", 2, End::kAbandoned);
  activity.Closed("t", 3, End::kFatal);
  activity.Closed("t", 4, End::kKilled);
  activity.Closed("t", 4, End::kKilled);  // once only
  db = report(activity, "t")["database"];
  EXPECT_EQ(db["sessions"], 5);
  EXPECT_EQ(db["numbackends"], 1);
  EXPECT_EQ(db["sessions_abandoned"], 1);
  EXPECT_EQ(db["sessions_fatal"], 1);
  EXPECT_EQ(db["sessions_killed"], 1);
  EXPECT_GE(db["session_time"].get<double>(), 0.0);
  ASSERT_EQ(report(activity, "t")["connections"].size(), 1u);
  EXPECT_EQ(report(activity, "t")["connections"][0]["pid"], 5);
}

TEST(ConnectionActivity, ClipsLongQueriesAtACharacterAndToleratesBadUtf8) {
  ConnectionActivity activity;
  activity.Opened("t", 1, "u", "", "", -1);
  // 1022 ASCII bytes then a two-byte character across the limit.
  std::string query(1022, 'x');
  query += "\xc3\xa9tail";
  activity.Submitted("t", 1, query, false);
  std::string shown = report(activity, "t")["connections"][0]["query"];
  EXPECT_EQ(shown, std::string(1022, 'x'));
  // A client_encoding other than UTF-8 may send any bytes: the report stays
  // valid JSON.
  activity.Submitted("t", 1, "select '\xff\xfe'", false);
  EXPECT_NO_THROW(report(activity, "t"));
}

}  // namespace
}  // namespace pgthaw::server
