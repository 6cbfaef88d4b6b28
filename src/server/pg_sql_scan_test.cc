// Unit tests of the Postgres listener's helpers: the COPY/SET scanner and
// the session settings taken from a StartupMessage.
#include "server/pg_sql_scan.h"

#include <gtest/gtest.h>

#include "server/pg_session_settings.h"

namespace pgthaw::server {
namespace {

TEST(PgSqlScan, ListenChanges) {
  using C = ListenChange;
  EXPECT_EQ(listen_changes("LISTEN Jobs; unlisten \"Mixed\"\"Case\"; UNLISTEN *"),
            (std::vector<C>{{true, "jobs"}, {false, "Mixed\"Case"}, {false, ""}}));
  EXPECT_EQ(listen_changes("select 'listen x'; -- listen y\n/* unlisten z */ notify w"),
            std::vector<C>{});
  EXPECT_EQ(listen_changes("listen " + std::string(70, 'a')),
            (std::vector<C>{{true, std::string(63, 'a')}}));
}

TEST(PgSqlScan, SqlStatementNames) {
  const std::string sql =
      "PREPARE Q1 (int) AS select $1 || 'x;y'; execute \"Q 2\"(1); deallocate prepare q3; "
      "DEALLOCATE ALL; explain (analyze) execute q4; create table t as execute q5; "
      "select 'prepare q6'";
  auto names = sql_statement_names(sql);
  ASSERT_EQ(names.size(), 6u);
  EXPECT_EQ(names[0].use, SqlStatementName::kPrepare);
  EXPECT_EQ(names[0].name, "q1");
  EXPECT_EQ(sql.substr(names[0].begin, names[0].end - names[0].begin), "Q1");
  EXPECT_EQ(sql.substr(names[0].statement_begin, names[0].statement_end - names[0].statement_begin),
            "PREPARE Q1 (int) AS select $1 || 'x;y'");
  EXPECT_EQ(names[1].name, "Q 2");
  EXPECT_EQ(sql.substr(names[1].begin, names[1].end - names[1].begin), "\"Q 2\"");
  EXPECT_EQ(names[2].use, SqlStatementName::kDeallocate);
  EXPECT_EQ(names[2].name, "q3");
  EXPECT_EQ(names[3].use, SqlStatementName::kDeallocateAll);
  EXPECT_EQ(names[4].name, "q4");
  EXPECT_EQ(names[5].name, "q5");
}

TEST(PgSessionSettings, StartupParametersAndOptions) {
  auto s = SessionSettings::FromStartup({{"user", "u"},
                                         {"database", "d"},
                                         {"application_name", "psql"},
                                         {"TimeZone", "Asia/Tokyo"},
                                         {"_pq_.something", "x"},
                                         {"options",
                                          "-c search_path=a,b --work-mem=7MB "
                                          "-cstatement_timeout=5s -c x.y=with\\ space"}});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::map<std::string, std::string> expected = {
      {"application_name", "psql"}, {"search_path", "a,b"}, {"statement_timeout", "5s"},
      {"timezone", "Asia/Tokyo"},   {"work_mem", "7MB"},    {"x.y", "with space"}};
  EXPECT_EQ(s->values(), expected);
  EXPECT_EQ(SessionSettings::FromStartup({{"options", "-B 100"}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SessionSettings::FromStartup({{"options", "-c novalue"}}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(PgSessionSettings, ApplySqlQuotes) {
  SessionSettings s;
  s.Set("application_name", "it's \\ here");
  s.Set("TimeZone", "UTC");
  EXPECT_EQ(s.ApplySql(),
            "SET SESSION AUTHORIZATION postgres; RESET ROLE; RESET ALL; SELECT "
            "pg_catalog.set_config(E'application_name', E'it\\'s \\\\ here', "
            "false), pg_catalog.set_config(E'timezone', E'UTC', false)");
  EXPECT_EQ(SessionSettings().ApplySql(),
            "SET SESSION AUTHORIZATION postgres; RESET ROLE; RESET ALL");
}

}  // namespace
}  // namespace pgthaw::server
