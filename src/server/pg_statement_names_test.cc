// Prepared statements over the Postgres listener are each connection's own
// (statement_names.h), against the real engine with libpq and pgbench: the
// same name on two connections, the wrong-rows sequence psycopg 3 runs into,
// Postgres' own error texts with the client's names, statements leaving with
// their connection, and a tenant's last connection taking its session state
// along.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "engine/test_support.h"
#include "server/pg_http_test_server.h"

namespace pgthaw::server {
namespace {

using engine::testing::TempDir;
using testing::Conn;
using testing::PgHttpServer;
using testing::PgResult;

class PgStatementNames : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = new PgHttpServer(dir_->sub("data"));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }

  static Conn connect(const std::string& tenant) {
    Conn c(PQconnectdb(server_->conninfo(tenant).c_str()));
    EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    return c;
  }
  // The one value a prepared statement returns; "ERROR <sqlstate>: <message>" if it fails.
  static std::string run_prepared(PGconn* c, const std::string& name) {
    PgResult r(PQexecPrepared(c, name.c_str(), 0, nullptr, nullptr, nullptr, 0));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return error_of(r.get());
    return PQgetvalue(r.get(), 0, 0);
  }
  static std::string prepare(PGconn* c, const std::string& name, const std::string& sql) {
    PgResult r(PQprepare(c, name.c_str(), sql.c_str(), 0, nullptr));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return error_of(r.get());
    return "ok";
  }
  static std::string exec(PGconn* c, const std::string& sql) {
    PgResult r(PQexec(c, sql.c_str()));
    ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_TUPLES_OK) return PQntuples(r.get()) > 0 ? PQgetvalue(r.get(), 0, 0) : "";
    if (st == PGRES_COMMAND_OK) return "ok";
    return error_of(r.get());
  }
  static std::string error_of(const PGresult* r) {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char* message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    return std::string("ERROR ") + (state ? state : "?") + ": " + (message ? message : "?");
  }

  static TempDir* dir_;
  static PgHttpServer* server_;
};

TempDir* PgStatementNames::dir_ = nullptr;
PgHttpServer* PgStatementNames::server_ = nullptr;

TEST_F(PgStatementNames, TwoConnectionsUseTheSameNameEachForItsOwnStatement) {
  Conn a = connect("same-name"), b = connect("same-name");
  EXPECT_EQ(prepare(a.get(), "S_1", "select 'from a'"), "ok");
  EXPECT_EQ(prepare(b.get(), "S_1", "select 'from b'"), "ok");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(run_prepared(a.get(), "S_1"), "from a");
    EXPECT_EQ(run_prepared(b.get(), "S_1"), "from b");
  }
}

TEST_F(PgStatementNames, AnotherConnectionsDeallocateAllNeverGivesWrongRows) {
  // psycopg 3's sequence: A caches _pg3_0; B's DEALLOCATE ALL; C prepares
  // its own _pg3_0; A runs _pg3_0 and must get its own rows.
  Conn a = connect("wrong-rows"), b = connect("wrong-rows"), c = connect("wrong-rows");
  EXPECT_EQ(prepare(a.get(), "_pg3_0", "select 'rows of a'"), "ok");
  EXPECT_EQ(run_prepared(a.get(), "_pg3_0"), "rows of a");
  EXPECT_EQ(exec(b.get(), "DEALLOCATE ALL"), "ok");
  EXPECT_EQ(prepare(c.get(), "_pg3_0", "select 'rows of c'"), "ok");
  EXPECT_EQ(run_prepared(a.get(), "_pg3_0"), "rows of a");
  EXPECT_EQ(run_prepared(c.get(), "_pg3_0"), "rows of c");
  // DISCARD ALL from another connection: the same.
  EXPECT_EQ(exec(b.get(), "DISCARD ALL"), "ok");
  EXPECT_EQ(run_prepared(a.get(), "_pg3_0"), "rows of a");
  EXPECT_EQ(run_prepared(c.get(), "_pg3_0"), "rows of c");
}

TEST_F(PgStatementNames, ErrorsQuoteTheClientsNamesAsPostgresDoes) {
  Conn a = connect("errors");
  EXPECT_EQ(prepare(a.get(), "dup", "select 1"), "ok");
  EXPECT_EQ(prepare(a.get(), "dup", "select 2"),
            "ERROR 42P05: prepared statement \"dup\" already exists");
  EXPECT_EQ(run_prepared(a.get(), "nope"),
            "ERROR 26000: prepared statement \"nope\" does not exist");
  EXPECT_EQ(run_prepared(a.get(), "dup"), "1");  // the first one stands
  // Its own DEALLOCATE ALL removes its own statements, as in Postgres.
  EXPECT_EQ(exec(a.get(), "DEALLOCATE ALL"), "ok");
  EXPECT_EQ(run_prepared(a.get(), "dup"), "ERROR 26000: prepared statement \"dup\" does not exist");
  EXPECT_EQ(prepare(a.get(), "dup", "select 3"), "ok");
  EXPECT_EQ(run_prepared(a.get(), "dup"), "3");
}

TEST_F(PgStatementNames, AFailedParseIsNeverPreparedAgain) {
  // A Parse the session refused; after another connection's DISCARD ALL it
  // must not be prepared from that Parse either.
  Conn a = connect("refused"), b = connect("refused");
  EXPECT_EQ(prepare(a.get(), "bad", "select * from no_such_table").substr(0, 11), "ERROR 42P01");
  EXPECT_EQ(exec(b.get(), "DISCARD ALL"), "ok");
  EXPECT_EQ(run_prepared(a.get(), "bad"), "ERROR 26000: prepared statement \"bad\" does not exist");
  EXPECT_EQ(exec(a.get(), "select 'still here'"), "still here");
}

TEST_F(PgStatementNames, StatementsLeaveWithTheirConnection) {
  Conn watcher = connect("leaving");
  {
    Conn a = connect("leaving");
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(prepare(a.get(), "s" + std::to_string(i), "select " + std::to_string(i)), "ok");
    }
    EXPECT_EQ(exec(watcher.get(), "select count(*) from pg_prepared_statements"), "5");
  }
  // The close runs on the tenant after the disconnect.
  std::string count;
  for (int i = 0; i < 200; ++i) {
    count = exec(watcher.get(), "select count(*) from pg_prepared_statements");
    if (count == "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(count, "0");
}

TEST_F(PgStatementNames, TheLastConnectionTakesTheSessionStateAlong) {
  {
    Conn first = connect("fresh");
    EXPECT_EQ(exec(first.get(), "create temp table scratch (x int)"), "ok");
    EXPECT_EQ(exec(first.get(), "select pg_advisory_lock(42)"), "");
    EXPECT_EQ(exec(first.get(), "set work_mem = '7MB'"), "ok");
  }
  // A second process after the first exited finds none of it.
  std::string temp, locks, work_mem;
  for (int i = 0; i < 200; ++i) {
    Conn next = connect("fresh");
    temp = exec(next.get(), "select count(*) from pg_class where relname = 'scratch'");
    locks = exec(next.get(), "select count(*) from pg_locks where locktype = 'advisory'");
    work_mem = exec(next.get(), "show work_mem");
    if (temp == "0" && locks == "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(temp, "0");
  EXPECT_EQ(locks, "0");
  EXPECT_EQ(work_mem, "4MB");
}

TEST_F(PgStatementNames, SetRoleDoesNotPassToTheNextConnection) {
  Conn a = connect("roles"), b = connect("roles");
  const std::string before = exec(b.get(), "select current_user");
  EXPECT_EQ(exec(a.get(), "create role visitor"), "ok");
  EXPECT_EQ(exec(a.get(), "set role visitor"), "ok");
  EXPECT_EQ(exec(a.get(), "select current_user"), "visitor");
  EXPECT_EQ(exec(b.get(), "select current_user"), before);
  EXPECT_EQ(exec(a.get(), "set session authorization visitor"), "ok");
  EXPECT_EQ(exec(b.get(), "select session_user"), before);
  // Both stay with their own connection when the session comes back to it.
  EXPECT_EQ(exec(a.get(), "select session_user"), "visitor");
}

// pgbench -M prepared names its statements P_0.. in every connection. One
// client per thread: pgbench prepares with the blocking PQprepare, so a
// thread driving two clients waits in one client's Parse while the other
// holds the shared session in its transaction (issue 9's remaining work).
int pgbench(const std::string& args) {
  std::string cmd = "pgbench " + args + " > /dev/null 2>&1";
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(PgStatementNames, PgbenchPreparedOnFourConnectionsTwiceInARow) {
  const std::string at = "-h 127.0.0.1 -p " + std::to_string(server_->pg_port()) + " -U bench ";
  ASSERT_EQ(pgbench("-i -s 1 " + at + "pgbench"), 0);
  for (int run = 0; run < 2; ++run) {
    EXPECT_EQ(pgbench("-M prepared -c 4 -j 4 -T 3 " + at + "pgbench"), 0) << "run " << run;
  }
  // And the simple protocol on the same tenant afterwards.
  EXPECT_EQ(pgbench("-M simple -c 2 -j 2 -T 1 " + at + "pgbench"), 0);
}

}  // namespace
}  // namespace pgthaw::server
