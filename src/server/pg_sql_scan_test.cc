// Unit tests of the Postgres listener's helpers: the COPY/SET scanner and
// the session settings taken from a StartupMessage.
#include "server/pg_sql_scan.h"

#include <gtest/gtest.h>

#include "server/pg_session_settings.h"

namespace pgthaw::server {
namespace {

TEST(PgSqlScan, FindsCopyFromStdinWithColumnsAndFormat) {
  auto c = find_copy_from_stdin("COPY t FROM STDIN");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].statement_index, 0u);
  EXPECT_EQ(c[0].columns, -1);
  EXPECT_FALSE(c[0].binary);
  c = find_copy_from_stdin("copy public.\"My T\" (a, b, \"c,d\") from stdin with (format binary)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].columns, 3);
  EXPECT_TRUE(c[0].binary);
  c = find_copy_from_stdin("copy t from stdin binary");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(c[0].binary);
  c = find_copy_from_stdin("select 1; /* copy t from stdin */ copy t from stdin;");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].statement_index, 1u);
}

TEST(PgSqlScan, IgnoresCopyInStringsCommentsAndOtherForms) {
  EXPECT_TRUE(find_copy_from_stdin("copy t to stdout").empty());
  EXPECT_TRUE(find_copy_from_stdin("copy (select 1) to stdout").empty());
  EXPECT_TRUE(find_copy_from_stdin("copy t from '/tmp/x'").empty());
  EXPECT_TRUE(find_copy_from_stdin("select 'copy t from stdin'").empty());
  EXPECT_TRUE(find_copy_from_stdin("select E'\\' ; copy t from stdin'").empty());
  EXPECT_TRUE(find_copy_from_stdin("-- copy t from stdin\nselect 1").empty());
  EXPECT_TRUE(find_copy_from_stdin("/* /* nested */ copy t from stdin */ select 1").empty());
  EXPECT_TRUE(find_copy_from_stdin("do $x$ begin copy t from stdin; end $x$").empty());
  EXPECT_TRUE(find_copy_from_stdin("select \"copy t from stdin\"").empty());
  // Unterminated input does not crash or run away.
  EXPECT_TRUE(find_copy_from_stdin("select 'abc").empty());
  EXPECT_TRUE(find_copy_from_stdin("select $a$ abc").empty());
  EXPECT_TRUE(find_copy_from_stdin("copy t (a, b").empty());
}

TEST(PgSqlScan, SettingsEffect) {
  EXPECT_TRUE(settings_effect("SET TimeZone = 'UTC'").sets);
  EXPECT_TRUE(settings_effect("select 1; reset all").sets);
  EXPECT_TRUE(settings_effect("select set_config('a.b', 'c', false)").sets);
  EXPECT_FALSE(settings_effect("update t set x = 1").sets);
  EXPECT_FALSE(settings_effect("select 'set x'").sets);
  EXPECT_TRUE(settings_effect("ROLLBACK").ends_transaction);
  EXPECT_TRUE(settings_effect("end").ends_transaction);
  EXPECT_FALSE(settings_effect("begin").ends_transaction);
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

TEST(PgSessionSettings, ApplySqlQuotesAndSkipsServerFacts) {
  SessionSettings s;
  s.Set("application_name", "it's \\ here");
  s.Observe("server_version", "18.6");
  s.Observe("TimeZone", "UTC");
  EXPECT_EQ(s.ApplySql(),
            "SET SESSION AUTHORIZATION postgres; RESET ROLE; RESET ALL; SELECT "
            "pg_catalog.set_config(E'application_name', E'it\\'s \\\\ here', "
            "false), pg_catalog.set_config(E'timezone', E'UTC', false)");
  EXPECT_EQ(SessionSettings().ApplySql(),
            "SET SESSION AUTHORIZATION postgres; RESET ROLE; RESET ALL");
}

}  // namespace
}  // namespace pgthaw::server
