// PgListener tests: a real listener on loopback, a real runtime and engine,
// real clients (libpq, psql, pgbench) and raw sockets for bad input.
#include "server/pg_listener.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <regex>
#include <set>
#include <thread>

#include "engine/test_support.h"
#include "pgwire/backend.h"
#include "pgwire/frontend.h"
#include "pgwire/wire_format.h"
#include "server/pg_backend_key.h"
#include "server/pg_test_client.h"

namespace pgthaw::server {
namespace {

namespace fs = std::filesystem;
using engine::testing::TempDir;
using engine::testing::test_engine;

using testing::Conn;
using testing::first_sqlstate;
using testing::PgResult;
using testing::RawClient;
using testing::startup_packet;

// One runtime and listener for the whole suite (initdb of the template runs
// once); each test uses its own tenants.
class PgListenerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    runtime::RuntimeOptions options;
    options.data_root = dir_->path();
    options.threads = 4;
    options.warm_pool_size = 1;
    auto rt = runtime::Runtime::Start(test_engine(), options);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value().release();
    io_ = new boost::asio::io_context();
    guard_ = new boost::asio::executor_work_guard<boost::asio::io_context::executor_type>(
        io_->get_executor());
    auto listener = PgListener::Start(*io_, *runtime_, "127.0.0.1", 0);
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = std::move(listener).value().release();
    io_thread_ = new std::thread([] { io_->run(); });
  }

  static void TearDownTestSuite() {
    listener_->Stop();
    guard_->reset();
    io_thread_->join();
    delete listener_;
    delete io_thread_;
    delete guard_;
    delete io_;
    EXPECT_TRUE(runtime_->Shutdown().ok());
    delete runtime_;
    delete dir_;
  }

  static std::string conninfo(const std::string& tenant, const std::string& extra = "") {
    return "host=127.0.0.1 port=" + std::to_string(listener_->port()) + " dbname=" + tenant +
           " user=tester connect_timeout=30 " + extra;
  }

  static Conn connect(const std::string& tenant, const std::string& extra = "") {
    Conn c(PQconnectdb(conninfo(tenant, extra).c_str()));
    EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    return c;
  }

  // Runs a command that must succeed.
  static void exec(PGconn* c, const std::string& sql) {
    PgResult r(PQexec(c, sql.c_str()));
    ExecStatusType s = PQresultStatus(r.get());
    EXPECT_TRUE(s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        << sql << ": " << PQresultErrorMessage(r.get());
  }

  // The single value of a query that must succeed.
  static std::string value(PGconn* c, const std::string& sql) {
    PgResult r(PQexec(c, sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r.get());
      return "";
    }
    return PQgetvalue(r.get(), 0, 0);
  }

  // The SQLSTATE of a statement that must fail.
  static std::string sqlstate(PGconn* c, const std::string& sql) {
    PgResult r(PQexec(c, sql.c_str()));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR) << sql;
    const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    return code == nullptr ? "" : code;
  }

  static TempDir* dir_;
  static runtime::Runtime* runtime_;
  static boost::asio::io_context* io_;
  static boost::asio::executor_work_guard<boost::asio::io_context::executor_type>* guard_;
  static PgListener* listener_;
  static std::thread* io_thread_;
};

TempDir* PgListenerTest::dir_ = nullptr;
runtime::Runtime* PgListenerTest::runtime_ = nullptr;
boost::asio::io_context* PgListenerTest::io_ = nullptr;
boost::asio::executor_work_guard<boost::asio::io_context::executor_type>* PgListenerTest::guard_ =
    nullptr;
PgListener* PgListenerTest::listener_ = nullptr;
std::thread* PgListenerTest::io_thread_ = nullptr;

// ---- Running client programs. ----

struct Command {
  int exit_code = -1;
  std::string output;
};

Command run_command(const std::string& command) {
  Command out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.output.append(buf, n);
  int status = pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// pgbench from the newest installed PostgreSQL, else from PATH.
std::string find_pgbench() {
  std::string best;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    fs::path candidate = entry.path() / "bin" / "pgbench";
    if (fs::exists(candidate) && candidate.string() > best) best = candidate.string();
  }
  if (!best.empty()) return best;
  Command which = run_command("command -v pgbench");
  if (which.exit_code == 0 && !which.output.empty()) {
    return which.output.substr(0, which.output.find('\n'));
  }
  return "";
}

// ---- Tests. ----

TEST_F(PgListenerTest, StartupReportsParametersLikeARealServer) {
  Conn c = connect("startup_params", "application_name=listener_test");
  EXPECT_NE(PQparameterStatus(c.get(), "server_version"), nullptr);
  EXPECT_STREQ(PQparameterStatus(c.get(), "server_encoding"), "UTF8");
  EXPECT_STREQ(PQparameterStatus(c.get(), "client_encoding"), "UTF8");
  EXPECT_STREQ(PQparameterStatus(c.get(), "integer_datetimes"), "on");
  EXPECT_STREQ(PQparameterStatus(c.get(), "standard_conforming_strings"), "on");
  EXPECT_STREQ(PQparameterStatus(c.get(), "application_name"), "listener_test");
  EXPECT_NE(PQparameterStatus(c.get(), "DateStyle"), nullptr);
  EXPECT_NE(PQparameterStatus(c.get(), "TimeZone"), nullptr);
  EXPECT_NE(PQparameterStatus(c.get(), "is_superuser"), nullptr);
  EXPECT_NE(PQparameterStatus(c.get(), "session_authorization"), nullptr);
  EXPECT_GT(PQbackendPID(c.get()), 0);
  EXPECT_EQ(PQprotocolVersion(c.get()), 3);
  EXPECT_EQ(value(c.get(), "select current_setting('application_name')"), "listener_test");
}

TEST_F(PgListenerTest, SimpleAndExtendedQueries) {
  Conn c = connect("simple_extended");
  exec(c.get(), "create table t(id int primary key, name text)");
  exec(c.get(), "insert into t values (1, 'one'), (2, 'two')");
  EXPECT_EQ(value(c.get(), "select name from t where id = 2"), "two");

  const char* params[] = {"3", "three"};
  PgResult ins(PQexecParams(c.get(), "insert into t values ($1::int, $2)", 2, nullptr, params,
                            nullptr, nullptr, 0));
  ASSERT_EQ(PQresultStatus(ins.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(ins.get());
  const char* id[] = {"3"};
  PgResult sel(PQexecParams(c.get(), "select name, id * 10 from t where id = $1", 1, nullptr, id,
                            nullptr, nullptr, 0));
  ASSERT_EQ(PQresultStatus(sel.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(sel.get());
  ASSERT_EQ(PQntuples(sel.get()), 1);
  EXPECT_STREQ(PQgetvalue(sel.get(), 0, 0), "three");
  EXPECT_STREQ(PQgetvalue(sel.get(), 0, 1), "30");

  // A named prepared statement, executed twice.
  PgResult prep(PQprepare(c.get(), "by_id", "select name from t where id = $1", 1, nullptr));
  ASSERT_EQ(PQresultStatus(prep.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(prep.get());
  for (const char* key : {"1", "2"}) {
    PgResult r(PQexecPrepared(c.get(), "by_id", 1, &key, nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(r.get());
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), std::string(key) == "1" ? "one" : "two");
  }
  // Several statements in one simple query.
  EXPECT_EQ(value(c.get(), "select 1; select count(*) from t"), "3");
}

TEST_F(PgListenerTest, ErrorThenSuccess) {
  Conn c = connect("errors");
  EXPECT_EQ(sqlstate(c.get(), "select nope"), "42703");
  EXPECT_EQ(value(c.get(), "select 1"), "1");
  const char* p[] = {"x"};
  PgResult bad(PQexecParams(c.get(), "select $1::int", 1, nullptr, p, nullptr, nullptr, 0));
  EXPECT_EQ(PQresultStatus(bad.get()), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(bad.get(), PG_DIAG_SQLSTATE), "22P02");
  EXPECT_EQ(value(c.get(), "select 2"), "2");
  // Inside a transaction block: failed until ROLLBACK.
  exec(c.get(), "begin");
  EXPECT_EQ(sqlstate(c.get(), "select 1/0"), "22012");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
  EXPECT_EQ(sqlstate(c.get(), "select 1"), "25P02");
  exec(c.get(), "rollback");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
  EXPECT_EQ(value(c.get(), "select 3"), "3");
}

TEST_F(PgListenerTest, TransactionHoldsTheTenantUntilCommit) {
  Conn a = connect("hold");
  Conn b = connect("hold");
  exec(a.get(), "create table t(x int)");
  exec(a.get(), "begin");
  exec(a.get(), "insert into t values (1)");
  EXPECT_EQ(PQtransactionStatus(a.get()), PQTRANS_INTRANS);
  // b's statement must wait: it may not run inside a's transaction.
  auto count =
      std::async(std::launch::async, [&] { return value(b.get(), "select count(*) from t"); });
  EXPECT_EQ(count.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
  exec(a.get(), "insert into t values (2)");
  exec(a.get(), "commit");
  EXPECT_EQ(count.get(), "2");
}

TEST_F(PgListenerTest, CopyInAndOut) {
  Conn c = connect("copy");
  exec(c.get(), "create table t(id int, name text)");
  PgResult start(PQexec(c.get(), "copy t from stdin"));
  ASSERT_EQ(PQresultStatus(start.get()), PGRES_COPY_IN) << PQresultErrorMessage(start.get());
  EXPECT_EQ(PQbinaryTuples(start.get()), 0);
  for (std::string line : {"1\tone\n", "2\ttwo\n", "3\tthree\n"}) {
    ASSERT_EQ(PQputCopyData(c.get(), line.data(), static_cast<int>(line.size())), 1);
  }
  ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
  PgResult done(PQgetResult(c.get()));
  EXPECT_EQ(PQresultStatus(done.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(done.get());
  EXPECT_STREQ(PQcmdTuples(done.get()), "3");
  PgResult end(PQgetResult(c.get()));
  EXPECT_EQ(end, nullptr);

  // With a column list: the CopyInResponse says how many columns.
  PgResult cols(PQexec(c.get(), "copy t (id) from stdin"));
  ASSERT_EQ(PQresultStatus(cols.get()), PGRES_COPY_IN);
  EXPECT_EQ(PQnfields(cols.get()), 1);
  ASSERT_EQ(PQputCopyData(c.get(), "4\n", 2), 1);
  ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
  PgResult cols_done(PQgetResult(c.get()));
  EXPECT_EQ(PQresultStatus(cols_done.get()), PGRES_COMMAND_OK);
  while (PGresult* r = PQgetResult(c.get())) PQclear(r);

  // CopyFail, then bad data: errors, and nothing is loaded.
  PgResult fail(PQexec(c.get(), "copy t from stdin"));
  ASSERT_EQ(PQresultStatus(fail.get()), PGRES_COPY_IN);
  ASSERT_EQ(PQputCopyData(c.get(), "9\tnine\n", 7), 1);
  ASSERT_EQ(PQputCopyEnd(c.get(), "client gave up"), 1);
  PgResult failed(PQgetResult(c.get()));
  EXPECT_EQ(PQresultStatus(failed.get()), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(failed.get(), PG_DIAG_SQLSTATE), "57014");
  while (PGresult* r = PQgetResult(c.get())) PQclear(r);
  PgResult bad(PQexec(c.get(), "copy t from stdin"));
  ASSERT_EQ(PQresultStatus(bad.get()), PGRES_COPY_IN);
  ASSERT_EQ(PQputCopyData(c.get(), "x\ty\n", 4), 1);
  ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
  PgResult bad_done(PQgetResult(c.get()));
  EXPECT_STREQ(PQresultErrorField(bad_done.get(), PG_DIAG_SQLSTATE), "22P02");
  while (PGresult* r = PQgetResult(c.get())) PQclear(r);
  EXPECT_EQ(value(c.get(), "select count(*) from t"), "4");

  // COPY TO STDOUT.
  PgResult out(PQexec(c.get(), "copy (select * from t order by id) to stdout"));
  ASSERT_EQ(PQresultStatus(out.get()), PGRES_COPY_OUT) << PQresultErrorMessage(out.get());
  std::string data;
  char* buf = nullptr;
  int n;
  while ((n = PQgetCopyData(c.get(), &buf, 0)) > 0) {
    data.append(buf, static_cast<size_t>(n));
    PQfreemem(buf);
  }
  EXPECT_EQ(n, -1);
  PgResult out_done(PQgetResult(c.get()));
  EXPECT_EQ(PQresultStatus(out_done.get()), PGRES_COMMAND_OK);
  EXPECT_EQ(data, "1\tone\n2\ttwo\n3\tthree\n4\t\\N\n");
  while (PGresult* r = PQgetResult(c.get())) PQclear(r);

  // COPY FROM STDIN in a transaction block, then rolled back.
  exec(c.get(), "begin");
  PgResult in_tx(PQexec(c.get(), "copy t from stdin"));
  ASSERT_EQ(PQresultStatus(in_tx.get()), PGRES_COPY_IN);
  ASSERT_EQ(PQputCopyData(c.get(), "5\tfive\n", 7), 1);
  ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
  while (PGresult* r = PQgetResult(c.get())) PQclear(r);
  EXPECT_EQ(value(c.get(), "select count(*) from t"), "5");
  exec(c.get(), "rollback");
  EXPECT_EQ(value(c.get(), "select count(*) from t"), "4");

  // Through the extended protocol too (libpq sends Sync after CopyDone).
  PgResult ext(
      PQexecParams(c.get(), "copy t from stdin", 0, nullptr, nullptr, nullptr, nullptr, 0));
  ASSERT_EQ(PQresultStatus(ext.get()), PGRES_COPY_IN) << PQresultErrorMessage(ext.get());
  ASSERT_EQ(PQputCopyData(c.get(), "6\tsix\n", 6), 1);
  ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
  PgResult ext_done(PQgetResult(c.get()));
  EXPECT_EQ(PQresultStatus(ext_done.get()), PGRES_COMMAND_OK)
      << PQresultErrorMessage(ext_done.get());
  while (PGresult* r = PQgetResult(c.get())) PQclear(r);
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
  EXPECT_EQ(value(c.get(), "select count(*) from t"), "5");

  // As the second statement of a query, and Postgres' synonym FROM STDOUT.
  // (PQexec keeps the last result before the COPY: its CopyInResponse.)
  PgResult second_copy(PQexec(c.get(), "select 1; copy t from stdout"));
  ASSERT_EQ(PQresultStatus(second_copy.get()), PGRES_COPY_IN)
      << PQresultErrorMessage(second_copy.get());
  ASSERT_EQ(PQputCopyData(c.get(), "7\tseven\n", 8), 1);
  ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
  PgResult second_done(PQgetResult(c.get()));
  EXPECT_EQ(PQresultStatus(second_done.get()), PGRES_COMMAND_OK)
      << PQresultErrorMessage(second_done.get());
  while (PGresult* r = PQgetResult(c.get())) PQclear(r);
  EXPECT_EQ(value(c.get(), "select count(*) from t"), "6");
}

// An error Postgres raises before it asks for data (a generated column in
// the column list) comes before the client sends any: psql's following
// lines are statements, not COPY data.
TEST_F(PgListenerTest, CopyErrorBeforeDataComesFirst) {
  Conn c = connect("copy_early_error");
  exec(c.get(), "create table g(a int, b int generated always as (a * 2) stored)");
  PgResult start(PQexec(c.get(), "copy g (a, b) from stdin"));
  EXPECT_EQ(PQresultStatus(start.get()), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(start.get(), PG_DIAG_SQLSTATE), "42P10")
      << PQresultErrorMessage(start.get());
  PgResult bad_option(PQexec(c.get(), "copy g (a) from stdin with (format nonsense)"));
  EXPECT_EQ(PQresultStatus(bad_option.get()), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(bad_option.get(), PG_DIAG_SQLSTATE), "22023");
  EXPECT_EQ(value(c.get(), "select 'next'"), "next");
}

TEST_F(PgListenerTest, PsqlRunsAScript) {
  TempDir tmp;
  std::string script = tmp.sub("script.sql");
  std::ofstream(script) << R"(\set ON_ERROR_STOP 1
create table items(id int primary key, label text);
insert into items values (1, 'apple'), (2, 'pear');
copy items from stdin;
3	plum
4	fig
\.
\copy items from stdin
5	kiwi
\.
begin;
update items set label = upper(label) where id <= 2;
commit;
select id, label from items order by id;
\copy (select count(*) from items) to stdout
select 'done';
)";
  Command psql =
      run_command("/usr/bin/psql -X -A -t -q \"" + conninfo("psql_tenant") + "\" -f " + script);
  EXPECT_EQ(psql.exit_code, 0) << psql.output;
  EXPECT_EQ(psql.output, "1|APPLE\n2|PEAR\n3|plum\n4|fig\n5|kiwi\n5\ndone\n");

  // An error stops the script with psql's exit code 3 and SQLSTATE text.
  Command failing = run_command("/usr/bin/psql -X -q -v ON_ERROR_STOP=1 \"" +
                                conninfo("psql_tenant") + "\" -c 'select * from missing'");
  EXPECT_NE(failing.exit_code, 0);
  EXPECT_NE(failing.output.find("relation \"missing\" does not exist"), std::string::npos)
      << failing.output;
}

TEST_F(PgListenerTest, PgbenchInitThenRunWithoutErrors) {
  std::string pgbench = find_pgbench();
  ASSERT_FALSE(pgbench.empty()) << "pgbench not found";
  std::string where = "-h 127.0.0.1 -p " + std::to_string(listener_->port()) + " -U tester";
  Command init = run_command(pgbench + " -i " + where + " bench");
  ASSERT_EQ(init.exit_code, 0) << init.output;
  Command bench = run_command(pgbench + " -T 10 -c 4 " + where + " bench");
  std::printf("%s\n", bench.output.c_str());
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(bench.output, m,
                                std::regex(R"(number of transactions actually processed: (\d+))")))
      << bench.output;
  EXPECT_GT(std::stoll(m[1].str()), 0);
  ASSERT_TRUE(
      std::regex_search(bench.output, m, std::regex(R"(number of failed transactions: (\d+))")))
      << bench.output;
  EXPECT_EQ(m[1].str(), "0");
  // The balances add up: every committed transaction reached the tables.
  Conn c = connect("bench");
  EXPECT_EQ(value(c.get(),
                  "select sum(abalance) = (select sum(delta) from pgbench_history) "
                  "from pgbench_accounts"),
            "t");
}

TEST_F(PgListenerTest, EachConnectionSeesItsOwnStartupSettings) {
  Conn tokyo = connect("tz", "options='-c TimeZone=Asia/Tokyo -c DateStyle=German'");
  Conn ny = connect("tz", "options='-c TimeZone=America/New_York -c search_path=other,public'");
  Conn plain = connect("tz");
  EXPECT_STREQ(PQparameterStatus(tokyo.get(), "TimeZone"), "Asia/Tokyo");
  EXPECT_STREQ(PQparameterStatus(ny.get(), "TimeZone"), "America/New_York");
  std::string default_tz = PQparameterStatus(plain.get(), "TimeZone");
  EXPECT_NE(default_tz, "Asia/Tokyo");
  std::string default_path = value(plain.get(), "show search_path");
  EXPECT_EQ(default_path.find("other"), std::string::npos);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(value(tokyo.get(), "show timezone"), "Asia/Tokyo");
    EXPECT_EQ(value(ny.get(), "show timezone"), "America/New_York");
    EXPECT_EQ(value(plain.get(), "show timezone"), default_tz);
    EXPECT_EQ(value(tokyo.get(), "select '2024-05-06'::date::text"), "06.05.2024");
    EXPECT_EQ(value(plain.get(), "select '2024-05-06'::date::text"), "2024-05-06");
    EXPECT_EQ(value(ny.get(), "show search_path"), "other,public");
    EXPECT_EQ(value(plain.get(), "show search_path"), default_path);
  }
  // A raw StartupMessage parameter, as drivers send TimeZone.
  RawClient raw(listener_->port());
  raw.send(startup_packet({{"user", "raw"}, {"database", "tz"}, {"TimeZone", "Europe/Paris"}}));
  auto hello = raw.read_until_ready();
  ASSERT_FALSE(hello.empty());
  EXPECT_EQ(hello.back().type, 'Z');
  std::string q;
  ASSERT_TRUE(pgwire::frontend::query(q, "show timezone").ok());
  raw.send(q);
  bool found = false;
  for (const auto& m : raw.read_until_ready()) {
    if (m.type == 'D') {
      auto row = pgwire::decode_data_row(m.payload);
      ASSERT_TRUE(row.ok());
      EXPECT_EQ((*row)[0].value_or(""), "Europe/Paris");
      found = true;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(value(tokyo.get(), "show timezone"), "Asia/Tokyo");
  // An invalid setting refuses the connection, as Postgres does.
  Conn bad(PQconnectdb(conninfo("tz", "options='-c TimeZone=Nowhere/Special'").c_str()));
  EXPECT_EQ(PQstatus(bad.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(bad.get())).find("TimeZone"), std::string::npos)
      << PQerrorMessage(bad.get());
}

// The documented sharing rules (server/README.md): one engine session per
// tenant, switched between transactions.
TEST_F(PgListenerTest, SessionStateSharingIsAsDocumented) {
  Conn a = connect("shared_state");
  Conn b = connect("shared_state");
  // A SET of a reported parameter sticks to its connection...
  exec(a.get(), "set timezone = 'Asia/Kolkata'");
  EXPECT_STREQ(PQparameterStatus(a.get(), "TimeZone"), "Asia/Kolkata");  // reported
  EXPECT_NE(value(b.get(), "show timezone"), "Asia/Kolkata");
  EXPECT_EQ(value(a.get(), "show timezone"), "Asia/Kolkata");
  // A SET undone by ROLLBACK is reported back, and not re-applied later.
  exec(a.get(), "begin");
  exec(a.get(), "set datestyle = 'SQL, DMY'");
  EXPECT_STREQ(PQparameterStatus(a.get(), "DateStyle"), "SQL, DMY");
  exec(a.get(), "rollback");
  EXPECT_STRNE(PQparameterStatus(a.get(), "DateStyle"), "SQL, DMY");
  EXPECT_NE(value(b.get(), "show datestyle"), "SQL, DMY");
  EXPECT_NE(value(a.get(), "show datestyle"), "SQL, DMY");
  // ...and so does every other SET, also one made by set_config() or in
  // a DO block: in force for its connection's statements and no other's.
  exec(a.get(), "set work_mem = '7MB'");
  EXPECT_EQ(value(a.get(), "show work_mem"), "7MB");
  EXPECT_NE(value(b.get(), "show work_mem"), "7MB");
  EXPECT_EQ(value(a.get(), "show work_mem"), "7MB");
  exec(b.get(), "select pg_catalog.set_config('search_path', 'pg_catalog', false)");
  exec(b.get(), "do $$ begin perform set_config('statement_timeout', '123s', false); end $$");
  EXPECT_NE(value(a.get(), "show search_path"), "pg_catalog");
  EXPECT_EQ(value(b.get(), "show search_path"), "pg_catalog");
  EXPECT_NE(value(a.get(), "show statement_timeout"), "123s");
  EXPECT_EQ(value(b.get(), "show statement_timeout"), "123s");
  exec(b.get(), "reset all");
  // Inside a transaction block nothing switches: SET LOCAL and SET hold.
  exec(a.get(), "begin");
  exec(a.get(), "set local work_mem = '9MB'");
  EXPECT_EQ(value(a.get(), "show work_mem"), "9MB");
  exec(a.get(), "commit");
  // Prepared statements are the connection's, SQL-level ones too: each
  // has its own under one name. Temporary tables are the tenant's: b sees
  // what a made.
  exec(a.get(), "prepare own_plan as select 41 + 1");
  EXPECT_EQ(sqlstate(b.get(), "execute own_plan"), "26000");
  exec(b.get(), "prepare own_plan as select 1");
  EXPECT_EQ(value(b.get(), "execute own_plan"), "1");
  EXPECT_EQ(value(a.get(), "execute own_plan"), "42");
  EXPECT_EQ(sqlstate(a.get(), "prepare own_plan as select 2"), "42P05");
  exec(b.get(), "deallocate own_plan");
  EXPECT_EQ(value(a.get(), "execute own_plan"), "42");
  // An error position in a renamed PREPARE points into the client's text.
  PgResult bad(PQexec(a.get(), "prepare p2 as selec 1"));
  EXPECT_STREQ(PQresultErrorField(bad.get(), PG_DIAG_STATEMENT_POSITION), "15");
  exec(a.get(), "create temp table scratch(x int)");
  exec(a.get(), "insert into scratch values (1)");
  EXPECT_EQ(value(b.get(), "select count(*) from scratch"), "1");
  exec(b.get(), "drop table scratch");
}

TEST_F(PgListenerTest, CancelRequestStopsQueuedWork) {
  Conn a = connect("cancel");
  Conn b = connect("cancel");
  exec(a.get(), "begin");  // a holds the tenant: b's next query waits
  ASSERT_EQ(PQsendQuery(b.get(), "select 'ran'"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  PGcancel* cancel = PQgetCancel(b.get());
  char err[256];
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  exec(a.get(), "commit");
  PgResult r(PQgetResult(b.get()));
  EXPECT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(r.get(), PG_DIAG_SQLSTATE), "57014");
  while (PGresult* more = PQgetResult(b.get())) PQclear(more);
  EXPECT_EQ(value(b.get(), "select 'next one runs'"), "next one runs");
  // A cancel with nothing queued is a no-op.
  cancel = PQgetCancel(b.get());
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  EXPECT_EQ(value(b.get(), "select 1"), "1");
}

TEST_F(PgListenerTest, ClientVanishingMidTransactionIsRolledBack) {
  Conn setup = connect("vanish");
  exec(setup.get(), "create table t(x int)");
  {
    // A raw client: BEGIN, INSERT, then the socket just closes.
    RawClient raw(listener_->port());
    raw.send(startup_packet({{"user", "raw"}, {"database", "vanish"}}));
    raw.read_until_ready();
    std::string q;
    ASSERT_TRUE(pgwire::frontend::query(q, "begin; insert into t values (1)").ok());
    raw.send(q);
    auto reply = raw.read_until_ready();
    ASSERT_FALSE(reply.empty());
    EXPECT_EQ(reply.back().payload, "T");
  }
  {
    // A libpq client that says goodbye (Terminate) mid-transaction.
    Conn c = connect("vanish");
    exec(c.get(), "begin");
    exec(c.get(), "insert into t values (2)");
  }
  // Neither row survives, and the tenant is not left held.
  EXPECT_EQ(value(setup.get(), "select count(*) from t"), "0");
  EXPECT_EQ(PQtransactionStatus(setup.get()), PQTRANS_IDLE);
}

TEST_F(PgListenerTest, GarbageGetsAnErrorAndTheServerKeepsServing) {
  {
    RawClient http(listener_->port());
    http.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string reply = http.read_all();
    ASSERT_FALSE(reply.empty());
    auto messages = pgwire::BackendParser::split(reply);
    ASSERT_TRUE(messages.ok()) << messages.status().ToString();
    EXPECT_EQ(first_sqlstate(*messages), "08P01");
  }
  {
    // An absurd length after a valid startup.
    RawClient raw(listener_->port());
    raw.send(startup_packet({{"user", "raw"}, {"database", "garbage"}}));
    raw.read_until_ready();
    raw.send(std::string("Q\x7f\xff\xff\xf0", 5));
    auto messages = pgwire::BackendParser::split(raw.read_all());
    ASSERT_TRUE(messages.ok());
    EXPECT_EQ(first_sqlstate(*messages), "08P01");
  }
  {
    // An unknown message type.
    RawClient raw(listener_->port());
    raw.send(startup_packet({{"user", "raw"}, {"database", "garbage"}}));
    raw.read_until_ready();
    raw.send(std::string("z\0\0\0\4", 5));
    auto messages = pgwire::BackendParser::split(raw.read_all());
    ASSERT_TRUE(messages.ok());
    EXPECT_EQ(first_sqlstate(*messages), "08P01");
  }
  {
    // Random bytes, and a client that sends half a packet and leaves.
    RawClient raw(listener_->port());
    raw.send(std::string("\0\0\0\x10\x12\x34\x56\x78garbage!", 16));
    auto random = pgwire::BackendParser::split(raw.read_all());
    ASSERT_TRUE(random.ok());
    EXPECT_EQ(first_sqlstate(random.value()), "08P01");
    RawClient half(listener_->port());
    half.send(std::string("\0\0\0\x50\0\3", 6));
  }
  // A tenant id that could be a path.
  Conn bad(PQconnectdb(conninfo("'../etc'").c_str()));
  EXPECT_EQ(PQstatus(bad.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(bad.get())).find("does not exist"), std::string::npos)
      << PQerrorMessage(bad.get());
  // Still serving.
  Conn c = connect("garbage");
  EXPECT_EQ(value(c.get(), "select 'alive'"), "alive");
}

TEST_F(PgListenerTest, SslRequestIsDeclined) {
  Conn prefer = connect("ssl", "sslmode=prefer");
  EXPECT_EQ(PQsslInUse(prefer.get()), 0);
  EXPECT_EQ(value(prefer.get(), "select 1"), "1");
  Conn require(PQconnectdb(conninfo("ssl", "sslmode=require").c_str()));
  EXPECT_EQ(PQstatus(require.get()), CONNECTION_BAD);
}

TEST_F(PgListenerTest, BackendPidsAndCancelKeysAreRandomAndUnique) {
  // Raw startups, to read each BackendKeyData (libpq hides the key).
  constexpr int kConnections = 40;
  std::vector<std::unique_ptr<RawClient>> clients;
  std::vector<int32_t> pids;
  std::set<uint32_t> secrets;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<RawClient>(listener_->port()));
    clients.back()->send(startup_packet({{"user", "raw"}, {"database", "keys"}}));
    for (const auto& m : clients.back()->read_until_ready()) {
      if (m.type != 'K') continue;
      auto key = pgwire::decode_backend_key_data(m.payload);
      ASSERT_TRUE(key.ok()) << key.status().ToString();
      EXPECT_GT(key->pid, 0);
      pids.push_back(key->pid);
      secrets.insert(key->secret_key32());
    }
  }
  ASSERT_EQ(pids.size(), static_cast<size_t>(kConnections));
  EXPECT_EQ(std::set<int32_t>(pids.begin(), pids.end()).size(), pids.size()) << "pid reused";
  EXPECT_EQ(secrets.size(), pids.size()) << "cancel key reused";
  // Sequential pids would tell one client the pids of the others.
  int consecutive = 0;
  for (size_t i = 1; i < pids.size(); ++i) consecutive += (pids[i] - pids[i - 1] == 1);
  EXPECT_LT(consecutive, 3);
}

TEST(PgBackendKey, PidsTakenAreSkippedAndAFullTableIsAnError) {
  std::set<int32_t> seen;
  for (int i = 0; i < 100; ++i) {
    auto key = new_backend_key([&](int32_t pid) { return seen.count(pid) > 0; });
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_GT(key->pid, 0);
    EXPECT_TRUE(seen.insert(key->pid).second);
  }
  auto none = new_backend_key([](int32_t) { return true; });
  EXPECT_EQ(none.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace pgthaw::server
