// Instance::ReadSettings and Instance::SetSessionDefaults against the real
// engine: settings read and set without SQL.
#include "engine/session_settings.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <set>

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
using testing::test_engine;

// What a Postgres 18 server reports to its clients (GUC_REPORT).
const std::vector<std::string> kReported = {"application_name",
                                            "client_encoding",
                                            "DateStyle",
                                            "default_transaction_read_only",
                                            "in_hot_standby",
                                            "integer_datetimes",
                                            "IntervalStyle",
                                            "is_superuser",
                                            "scram_iterations",
                                            "search_path",
                                            "server_encoding",
                                            "server_version",
                                            "session_authorization",
                                            "standard_conforming_strings",
                                            "TimeZone"};

std::unique_ptr<Instance> fresh(const TempDir& tmp) {
  copy_template_database(tmp.sub("db"));
  return boot(tmp.sub("db"));
}

std::vector<std::optional<std::string>> read(Instance& db, const std::vector<std::string>& names) {
  auto values = db.ReadSettings(names);
  EXPECT_TRUE(values.ok()) << values.status().ToString();
  if (!values.ok()) return std::vector<std::optional<std::string>>(names.size());
  EXPECT_EQ(values->size(), names.size());
  return std::move(values).value();
}

std::string read1(Instance& db, const std::string& name) {
  return read(db, {name})[0].value_or("<unknown>");
}

std::vector<pgwire::ErrorFields> set_defaults(Instance& db, const SettingValues& settings) {
  auto errors = db.SetSessionDefaults(settings);
  EXPECT_TRUE(errors.ok()) << errors.status().ToString();
  EXPECT_TRUE(db.alive());
  EXPECT_TRUE(db.AtReady());
  EXPECT_FALSE(db.InTransaction());
  return errors.ok() ? std::move(errors).value() : std::vector<pgwire::ErrorFields>{};
}

std::string show(Instance& db, const std::string& name) { return scalar(db, "show " + name); }

TEST(SessionSettings, ReadMatchesShowForEverySetting) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  rows(*db, "set statement_timeout = '5s'");
  rows(*db, "set work_mem = '8MB'");
  rows(*db, "set TimeZone = 'america/new_york'");  // SHOW gives the zone's own spelling
  rows(*db, "set application_name = 'reader'");
  // SHOW is current_setting(); every setting Postgres lists, in one call.
  std::vector<std::string> names;
  std::vector<std::string> shown;
  for (const pgwire::StatementResult& r :
       run(*db, "select name, current_setting(name) from pg_settings order by name")) {
    ASSERT_FALSE(r.error) << r.error->summary();
    for (const pgwire::Row& row : r.rows) {
      names.push_back(*row[0]);
      shown.push_back(row[1].value_or(""));
    }
  }
  ASSERT_GT(names.size(), 300u);
  auto values = read(*db, names);
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_TRUE(values[i].has_value()) << names[i];
    EXPECT_EQ(*values[i], shown[i]) << names[i];
  }
  EXPECT_EQ(read1(*db, "statement_timeout"), "5s");
  EXPECT_EQ(read1(*db, "timezone"), "America/New_York");  // any case, as SHOW
  EXPECT_EQ(read1(*db, "application_name"), "reader");
  for (const auto& value : read(*db, kReported)) EXPECT_TRUE(value.has_value());
}

TEST(SessionSettings, UnknownNamesReadAsNullopt) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  auto values = read(*db, {"no_such_setting", "DateStyle", "nosuch.thing", ""});
  EXPECT_FALSE(values[0].has_value());
  EXPECT_EQ(values[1], show(*db, "DateStyle"));
  EXPECT_FALSE(values[2].has_value());
  EXPECT_FALSE(values[3].has_value());
  // A custom setting exists once SET.
  rows(*db, "set myapp.flavour = 'mint'");
  EXPECT_EQ(read1(*db, "myapp.flavour"), "mint");
  EXPECT_FALSE(db->ReadSettings({std::string("a\0b", 3)}).ok());
}

TEST(SessionSettings, ReadTakesNoSnapshotInsideATransactionBlock) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  rows(*db, "begin");
  rows(*db, "set transaction read only");
  ASSERT_TRUE(db->InTransaction());
  EXPECT_EQ(read1(*db, "transaction_read_only"), "on");
  read(*db, kReported);
  // A snapshot taken now would make this fail: "must be set before any query".
  rows(*db, "set transaction read write");
  EXPECT_EQ(read1(*db, "transaction_read_only"), "off");
  rows(*db, "set local work_mem = '2MB'");
  EXPECT_EQ(read1(*db, "work_mem"), "2MB");
  rows(*db, "create table t (n int)");  // read write indeed
  rows(*db, "commit");
  EXPECT_EQ(read1(*db, "work_mem"), show(*db, "work_mem"));
  EXPECT_EQ(scalar(*db, "select count(*) from t"), "0");
}

TEST(SessionSettings, ReadWorksInAFailedTransactionBlock) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  rows(*db, "set search_path = x, public");
  rows(*db, "begin");
  rows(*db, "set TimeZone = 'Asia/Tokyo'");  // undone by the error, as Postgres does
  EXPECT_EQ(error_code(*db, "select 1/0"), "22012");
  ASSERT_TRUE(db->InTransaction());
  auto values = read(*db, {"search_path", "TimeZone", "no_such_setting"});
  EXPECT_EQ(values[0], "x, public");
  EXPECT_NE(values[1], "Asia/Tokyo");
  EXPECT_FALSE(values[2].has_value());
  EXPECT_EQ(error_code(*db, "select 1"), "25P02");  // still failed, nothing else changed
  rows(*db, "rollback");
  EXPECT_EQ(show(*db, "search_path"), "x, public");
  EXPECT_EQ(show(*db, "TimeZone"), values[1]);
  EXPECT_EQ(scalar(*db, "select 1"), "1");
}

TEST(SessionSettings, ReadIsCheapAndKeepsNoMemory) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  read(*db, kReported);
  uint64_t before = db->PrivateMemoryBytes();
  constexpr int kCalls = 20000;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    auto values = db->ReadSettings(kReported);
    ASSERT_TRUE(values.ok());
  }
  double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kCalls;
  // A measurement, not a bound (benchmarks are not tests).
  spdlog::info("ReadSettings of {} names: {:.2f} us per call", kReported.size(), us);
  std::printf("[ measure  ] ReadSettings of %zu names: %.2f us per call\n", kReported.size(), us);
  uint64_t after = db->PrivateMemoryBytes();
  // 300000 values kept would be megabytes.
  EXPECT_LT(after, before + (512u << 10)) << before << " -> " << after;
  EXPECT_EQ(scalar(*db, "select 1"), "1");
}

TEST(SessionSettings, DefaultsAreWhatResetReturnsTo) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  auto errors = set_defaults(*db, {{"TimeZone", "Asia/Tokyo"},
                                   {"application_name", "psql"},
                                   {"DateStyle", "SQL, DMY"},
                                   {"work_mem", "16MB"}});
  EXPECT_TRUE(errors.empty()) << errors[0].summary();
  EXPECT_EQ(show(*db, "TimeZone"), "Asia/Tokyo");
  EXPECT_EQ(show(*db, "application_name"), "psql");
  EXPECT_EQ(show(*db, "DateStyle"), "SQL, DMY");
  EXPECT_EQ(scalar(*db, "select source from pg_settings where name = 'TimeZone'"), "client");

  rows(*db, "set TimeZone = 'Europe/Paris'");
  EXPECT_EQ(show(*db, "TimeZone"), "Europe/Paris");
  rows(*db, "reset TimeZone");
  EXPECT_EQ(show(*db, "TimeZone"), "Asia/Tokyo");

  rows(*db, "set TimeZone = 'Europe/Paris'");
  rows(*db, "set work_mem = '1MB'");
  rows(*db, "reset all");
  EXPECT_EQ(show(*db, "TimeZone"), "Asia/Tokyo");
  EXPECT_EQ(show(*db, "work_mem"), "16MB");

  rows(*db, "set TimeZone = 'Europe/Paris'");
  rows(*db, "set application_name = 'other'");
  rows(*db, "discard all");
  EXPECT_EQ(show(*db, "TimeZone"), "Asia/Tokyo");
  EXPECT_EQ(show(*db, "application_name"), "psql");
  EXPECT_EQ(show(*db, "DateStyle"), "SQL, DMY");

  // A transaction that sets and rolls back leaves the defaults.
  rows(*db, "begin");
  rows(*db, "set TimeZone = 'Europe/Paris'");
  rows(*db, "rollback");
  EXPECT_EQ(show(*db, "TimeZone"), "Asia/Tokyo");
}

TEST(SessionSettings, ANewSetPutsTheServerValuesBack) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  const std::string server_zone = show(*db, "TimeZone");
  const std::string server_work_mem = show(*db, "work_mem");
  const std::string server_datestyle = show(*db, "DateStyle");
  // What postgresql.conf says, not the boot value ("GMT").
  EXPECT_EQ(server_zone, scalar(*db, "select reset_val from pg_settings where name = 'TimeZone'"));
  ASSERT_NE(server_zone, "Asia/Tokyo");

  set_defaults(*db, {{"TimeZone", "Asia/Tokyo"}, {"work_mem", "16MB"}, {"DateStyle", "SQL"}});
  rows(*db, "set work_mem = '2MB'");  // the first connection's SET
  rows(*db, "set DateStyle = 'German'");

  // The session passes to a connection that gives work_mem and DateStyle
  // only.
  auto errors = set_defaults(*db, {{"work_mem", "32MB"}, {"DateStyle", "ISO, YMD"}});
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(show(*db, "TimeZone"), server_zone);
  EXPECT_EQ(show(*db, "work_mem"), "32MB");  // not the SET's 2MB
  EXPECT_EQ(show(*db, "DateStyle"), "ISO, YMD");
  rows(*db, "set TimeZone = 'Europe/Paris'");
  rows(*db, "reset TimeZone");
  EXPECT_EQ(show(*db, "TimeZone"), server_zone);
  rows(*db, "reset all");
  EXPECT_EQ(show(*db, "work_mem"), "32MB");

  // And one with none at all.
  set_defaults(*db, {});
  EXPECT_EQ(show(*db, "work_mem"), server_work_mem);
  EXPECT_EQ(show(*db, "DateStyle"), server_datestyle);
  rows(*db, "discard all");
  EXPECT_EQ(show(*db, "TimeZone"), server_zone);
  EXPECT_EQ(show(*db, "work_mem"), server_work_mem);
  EXPECT_EQ(show(*db, "DateStyle"), server_datestyle);
}

// The server's own values are read from the engine's GUC records; every
// setting a client may give, of each type (bool, integer, real, enum),
// changed and then put back must come back to what SHOW said before.
TEST(SessionSettings, ServerValuesOfEveryTypeComeBackExactly) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  // Names whose change would disturb the test itself.
  const std::string excluded =
      "('role', 'session_authorization', 'exit_on_error', 'transaction_isolation', "
      "'transaction_read_only', 'transaction_deferrable', 'default_transaction_read_only')";
  SettingValues changed;
  std::vector<std::string> names, before;
  std::map<std::string, int> per_type;
  for (const pgwire::StatementResult& r :
       run(*db,
           "select name, vartype, setting, min_val, max_val, array_to_string(enumvals, ','), "
           "current_setting(name) from pg_settings "
           "where context in ('user', 'superuser') and vartype <> 'string' and name not in " +
               excluded + " order by name")) {
    ASSERT_FALSE(r.error) << r.error->summary();
    for (const pgwire::Row& row : r.rows) {
      const std::string &name = *row[0], &type = *row[1], &setting = *row[2];
      std::string other;
      if (type == "bool") {
        other = setting == "on" ? "off" : "on";
      } else if (type == "integer" || type == "real") {
        other = *row[3] != setting ? *row[3] : *row[4];
        if (other == setting) continue;
      } else if (type == "enum") {
        std::string values = *row[5] + ",";
        for (size_t at = 0, comma; (comma = values.find(',', at)) != std::string::npos;
             at = comma + 1) {
          if (values.substr(at, comma - at) != setting) {
            other = values.substr(at, comma - at);
            break;
          }
        }
        if (other.empty()) continue;
      }
      changed.push_back({name, other});
      names.push_back(name);
      before.push_back(*row[6]);
      per_type[type]++;
    }
  }
  ASSERT_GT(per_type["bool"], 20);
  ASSERT_GT(per_type["integer"], 20);
  ASSERT_GT(per_type["real"], 5);
  ASSERT_GT(per_type["enum"], 10);
  std::vector<pgwire::ErrorFields> errors = set_defaults(*db, changed);
  std::set<std::string> refused;
  for (const pgwire::ErrorFields& e : errors) {
    // Values a check hook refuses here (effective_io_concurrency > 0 on a
    // platform without prefetch) are not put back: nothing to test.
    size_t open = e.message().find('"'), close = e.message().find('"', open + 1);
    ASSERT_NE(close, std::string::npos) << e.message();
    refused.insert(e.message().substr(open + 1, close - open - 1));
  }
  EXPECT_LT(refused.size(), 10u);
  size_t differ = 0;
  auto now = read(*db, names);
  for (size_t i = 0; i < names.size(); ++i) differ += now[i] != before[i];
  EXPECT_GT(differ, names.size() - refused.size() - 5);  // they did change

  EXPECT_TRUE(set_defaults(*db, {}).empty());
  now = read(*db, names);
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(now[i], before[i]) << names[i];
}

TEST(SessionSettings, RefusedSettingsComeBackInPostgresWordsAndTheRestApply) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  const std::string server_zone = show(*db, "TimeZone");
  auto errors = set_defaults(*db, {{"TimeZone", "nowhere"},
                                   {"application_name", "still here"},
                                   {"no_such_setting", "1"},
                                   {"work_mem", "-5"},
                                   {"shared_buffers", "1MB"},
                                   {"enable_seqscan", "perhaps"},
                                   {"search_path", "app, public"}});
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors[0].sqlstate(), "22023");
  EXPECT_EQ(errors[0].message(), "invalid value for parameter \"TimeZone\": \"nowhere\"");
  EXPECT_EQ(errors[0].severity(), "FATAL");
  EXPECT_EQ(errors[1].sqlstate(), "42704");
  EXPECT_EQ(errors[1].message(), "unrecognized configuration parameter \"no_such_setting\"");
  EXPECT_EQ(errors[2].sqlstate(), "22023");
  // The maximum is the guest's (MAX_KILOBYTES for a 32-bit size_t).
  EXPECT_EQ(errors[2].message().rfind(
                "-5 kB is outside the valid range for parameter \"work_mem\" (64 kB .. ", 0),
            0u)
      << errors[2].message();
  EXPECT_EQ(errors[3].sqlstate(), "55P02");
  EXPECT_EQ(errors[3].message(),
            "parameter \"shared_buffers\" cannot be changed without restarting the server");
  EXPECT_EQ(errors[4].sqlstate(), "22023");
  EXPECT_EQ(errors[4].message(), "parameter \"enable_seqscan\" requires a Boolean value");
  EXPECT_EQ(show(*db, "TimeZone"), server_zone);
  EXPECT_EQ(show(*db, "application_name"), "still here");
  EXPECT_EQ(show(*db, "search_path"), "app, public");
  EXPECT_EQ(scalar(*db, "select 40 + 2"), "42");
  // No NoticeResponse left behind for the next exchange.
  auto results = run(*db, "select 1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].notices.empty());

  // A refused value for a name the last connection set leaves the server's.
  set_defaults(*db, {{"TimeZone", "Asia/Tokyo"}});
  errors = set_defaults(*db, {{"TimeZone", "nowhere"}});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(show(*db, "TimeZone"), server_zone);
}

// TimeZone's check hook parses INTERVAL '...' with interval_in, which raises
// an ERROR of its own: it leaves the export call through PostgresMain's
// handler, and the session must come back from that.
TEST(SessionSettings, AnErrorRaisedInsideACheckHookIsReportedAndRecovered) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  rows(*db, "prepare one as select 1");
  auto errors = set_defaults(*db, {{"application_name", "before"},
                                   {"TimeZone", "interval 'nonsense'"},
                                   {"DateStyle", "SQL"},
                                   {"TimeZone", "interval 'not this either'"},
                                   {"work_mem", "12MB"}});
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].sqlstate(), "22007");
  EXPECT_EQ(errors[0].message(), "invalid input syntax for type interval: \"nonsense\"");
  EXPECT_EQ(errors[1].message(), "invalid input syntax for type interval: \"not this either\"");
  EXPECT_EQ(show(*db, "application_name"), "before");
  EXPECT_EQ(show(*db, "DateStyle"), "SQL, MDY");
  EXPECT_EQ(show(*db, "work_mem"), "12MB");
  // The session goes on: simple and extended queries, prepared statements.
  EXPECT_EQ(scalar(*db, "execute one"), "1");
  std::string batch;
  ASSERT_TRUE(pgwire::frontend::parse(batch, "", "select $1::int * 2").ok());
  ASSERT_TRUE(pgwire::frontend::bind(batch, "", "", {}, {std::string("21")}).ok());
  ASSERT_TRUE(pgwire::frontend::execute(batch, "", 0).ok());
  pgwire::frontend::sync(batch);
  auto reply = db->Exec(batch);
  ASSERT_TRUE(reply.ok());
  auto results = pgwire::collect_results(*reply);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 1u);
  ASSERT_EQ((*results)[0].rows.size(), 1u);
  EXPECT_EQ((*results)[0].rows[0][0], "42");
  rows(*db, "reset all");
  EXPECT_EQ(show(*db, "work_mem"), "12MB");
}

TEST(SessionSettings, ClientEncodingNeedsTheCatalogsAndGetsThem) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  auto errors = set_defaults(*db, {{"client_encoding", "latin1"}});
  EXPECT_TRUE(errors.empty()) << errors[0].summary();
  EXPECT_EQ(show(*db, "client_encoding"), "LATIN1");
  EXPECT_EQ(read1(*db, "client_encoding"), "LATIN1");
  rows(*db, "set client_encoding = 'UTF8'");
  rows(*db, "reset client_encoding");
  EXPECT_EQ(show(*db, "client_encoding"), "LATIN1");
  errors = set_defaults(*db, {{"client_encoding", "klingon"}});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message(), "invalid value for parameter \"client_encoding\": \"klingon\"");
  EXPECT_EQ(show(*db, "client_encoding"), "UTF8");  // the server's again
}

TEST(SessionSettings, DefaultsOnlyOutsideATransactionBlock) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  rows(*db, "begin");
  auto refused = db->SetSessionDefaults({{"TimeZone", "Asia/Tokyo"}});
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(db->InTransaction());
  rows(*db, "commit");
  EXPECT_NE(show(*db, "TimeZone"), "Asia/Tokyo");
}

TEST(SessionSettings, SnapshotAndThawKeepDefaultsAndServerValues) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  const std::string server_zone = show(*db, "TimeZone");
  set_defaults(*db, {{"TimeZone", "Asia/Tokyo"}, {"application_name", "hibernated"}});
  rows(*db, "set TimeZone = 'Europe/Paris'");  // the connection's own SET survives too
  ASSERT_TRUE(db->Snapshot(tmp.sub("snap")).ok());
  db->Abandon();

  auto restored = Instance::Restore(test_engine(), tmp.sub("snap"), tmp.sub("db"), true);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  Instance& thawed = **restored;
  EXPECT_EQ(show(thawed, "TimeZone"), "Europe/Paris");
  rows(thawed, "reset TimeZone");
  EXPECT_EQ(show(thawed, "TimeZone"), "Asia/Tokyo");
  EXPECT_EQ(show(thawed, "application_name"), "hibernated");
  set_defaults(thawed, {{"application_name", "next"}});
  EXPECT_EQ(show(thawed, "TimeZone"), server_zone);
  rows(thawed, "reset all");
  EXPECT_EQ(show(thawed, "TimeZone"), server_zone);
  EXPECT_EQ(show(thawed, "application_name"), "next");
}

TEST(SessionSettings, ManyHandoffsKeepNoMemory) {
  TempDir tmp;
  auto db = fresh(tmp);
  ASSERT_NE(db, nullptr);
  const SettingValues a = {
      {"TimeZone", "Asia/Tokyo"}, {"application_name", "a"}, {"DateStyle", "SQL"}, {"nosuch", "x"}};
  const SettingValues b = {
      {"search_path", "b, public"}, {"work_mem", "9MB"}, {"TimeZone", "nowhere"}};
  set_defaults(*db, a);
  set_defaults(*db, b);
  uint64_t before = db->PrivateMemoryBytes();
  auto start = std::chrono::steady_clock::now();
  constexpr int kRounds = 2000;
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_EQ(set_defaults(*db, i % 2 == 0 ? a : b).size(), 1u);  // nosuch; nowhere
  }
  double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kRounds;
  std::printf("[ measure  ] SetSessionDefaults of 3-4 settings: %.1f us per call\n", us);
  uint64_t after = db->PrivateMemoryBytes();
  EXPECT_LT(after, before + (1u << 20)) << before << " -> " << after;
  EXPECT_EQ(show(*db, "work_mem"), "9MB");
  EXPECT_EQ(show(*db, "search_path"), "b, public");
}

}  // namespace
}  // namespace pgthaw::engine
