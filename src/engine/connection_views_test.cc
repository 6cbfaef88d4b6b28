// The template's pg_stat_activity and pg_stat_database (connection_views.h)
// on a real tenant: without a report they are PGlite's; with one they show
// its connections and counters, under Postgres' visibility rule.
#include "engine/connection_views.h"

#include <gtest/gtest.h>

#include "engine/template.h"
#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

using testing::rows;
using testing::TempDir;

// `sql` run with `report` as /dev/pgthaw-connections; its rows, psql -A -t.
std::string rows_with(Instance& db, const std::string& report, const std::string& sql) {
  std::string query;
  EXPECT_TRUE(pgwire::frontend::query(query, sql).ok());
  ExecOptions options;
  options.connections_report = [&report] { return report; };
  auto reply = db.Exec(query, options);
  EXPECT_TRUE(reply.ok()) << reply.status().ToString();
  if (!reply.ok()) return "";
  auto results = pgwire::collect_results(*reply);
  EXPECT_TRUE(results.ok());
  if (!results.ok() || results->empty()) return "";
  const pgwire::StatementResult& last = results->back();
  if (last.error) return "ERROR " + last.error->sqlstate() + " " + last.error->message();
  return pgwire::format_unaligned(last);
}

constexpr const char* kReport = R"json({
  "current_pid": 222,
  "connections": [
    {"pid": 111, "usename": "postgres", "application_name": "app-a",
     "client_addr": "127.0.0.1", "client_port": 40001,
     "backend_start": "2026-12-01T10:00:00.000001Z", "xact_start": null,
     "query_start": "2026-12-01T10:00:01Z", "state_change": "2026-12-01T10:00:02Z",
     "state": "idle", "wait_event_type": "Client", "wait_event": "ClientRead",
     "query": "select 'a'"},
    {"pid": 222, "usename": "postgres", "application_name": "app-b",
     "client_addr": null, "client_port": null,
     "backend_start": "2026-12-01T10:00:03Z", "xact_start": null,
     "query_start": null, "state_change": "2026-12-01T10:00:03Z",
     "state": "active", "query": "the reader's text"},
    {"pid": 333, "usename": "alice", "application_name": "app-c",
     "client_addr": "10.0.0.7", "client_port": 40003,
     "backend_start": "2026-12-01T10:00:04Z", "xact_start": "2026-12-01T10:00:05Z",
     "query_start": "2026-12-01T10:00:05Z", "state_change": "2026-12-01T10:00:06Z",
     "state": "idle in transaction", "query": "alice's secret"}
  ],
  "database": {"numbackends": 3, "sessions": 7, "sessions_abandoned": 1,
               "sessions_fatal": 2, "sessions_killed": 0, "session_time": 1500.5,
               "active_time": 20.25, "idle_in_transaction_time": 3}
})json";

class ConnectionViews : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmpl = Template::Ensure(testing::test_engine(), tmp_.sub("root"));
    ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
    auto db = tmpl->NewTenant(tmp_.sub("tenant"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  TempDir tmp_;
  std::unique_ptr<Instance> db_;
};

TEST_F(ConnectionViews, WithoutAReportTheyArePGlitesOwn) {
  EXPECT_EQ(rows(*db_, "select backend_type, state, query from pg_stat_activity"),
            "standalone backend|active|select backend_type, state, query from pg_stat_activity\n");
  EXPECT_EQ(rows(*db_,
                 "select datname, numbackends, sessions from pg_stat_database "
                 "where datname is not null order by datname"),
            "postgres|1|0\ntemplate0|0|0\ntemplate1|0|0\n");
}

TEST_F(ConnectionViews, AReportIsOneRowPerConnection) {
  EXPECT_EQ(rows_with(*db_, kReport,
                      "select pid, usename, application_name, client_addr, client_port, "
                      "backend_start, xact_start is null, state, wait_event_type, wait_event, "
                      "query, backend_type, datname = current_database() "
                      "from pg_stat_activity order by pid"),
            "111|postgres|app-a|127.0.0.1|40001|2026-12-01 10:00:00.000001+00|t|idle|Client|"
            "ClientRead|select 'a'|client backend|t\n"
            "222|postgres|app-b|||2026-12-01 10:00:03+00|f|active|||the reader's text|"
            "client backend|t\n"
            "333|alice|app-c|10.0.0.7|40003|2026-12-01 10:00:04+00|f|idle in transaction|||"
            "alice's secret|client backend|t\n");
  // The reader's row (current_pid) takes its times from the running
  // backend; the others keep the report's.
  EXPECT_EQ(rows_with(*db_, kReport,
                      "select pid, query_start = statement_timestamp(), "
                      "xact_start = transaction_timestamp() from pg_stat_activity order by pid"),
            "111|f|\n222|t|t\n333|f|f\n");
  // A role without alice's privileges (and without pg_read_all_stats) sees
  // who she is, not what she does.
  EXPECT_EQ(rows(*db_, "create role watcher"), "");
  EXPECT_EQ(rows_with(*db_, kReport,
                      "set role watcher; select pid, usename, application_name, state, query, "
                      "client_addr, backend_start from pg_stat_activity where pid = 333"),
            "333|alice|app-c||<insufficient privilege>||\n");
  EXPECT_EQ(rows(*db_, "reset role; grant pg_read_all_stats to watcher"), "");
  EXPECT_EQ(rows_with(*db_, kReport,
                      "set role watcher; select query from pg_stat_activity where pid = 333"),
            "alice's secret\n");
  EXPECT_EQ(rows(*db_, "reset role"), "");
}

TEST_F(ConnectionViews, AReportCountsTheTenantsSessions) {
  EXPECT_EQ(rows_with(*db_, kReport,
                      "select datname, numbackends, sessions, sessions_abandoned, "
                      "sessions_fatal, sessions_killed, session_time, active_time, "
                      "idle_in_transaction_time from pg_stat_database "
                      "where datname is not null order by datname"),
            "postgres|3|7|1|2|0|1500.5|20.25|3\n"
            "template0|0|0|0|0|0|0|0|0\n"
            "template1|0|0|0|0|0|0|0|0\n");
  // An empty list of connections is a report too: no rows, not PGlite's.
  EXPECT_EQ(rows_with(*db_, R"({"current_pid": 0, "connections": [], "database": {}})",
                      "select count(*) from pg_stat_activity"),
            "0\n");
}

}  // namespace
}  // namespace pgthaw::engine
