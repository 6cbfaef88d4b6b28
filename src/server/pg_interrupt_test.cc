// Limits that reach a running statement or an idle transaction, over the
// Postgres wire with libpq: statement_timeout, CancelRequest (PQcancel), the
// server's own statement limit and the idle-in-transaction timeout. A real
// listener, runtime and engine; a second tenant must answer throughout.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "engine/test_support.h"
#include "server/pg_listener.h"

namespace pgthaw::server {
namespace {

using engine::testing::TempDir;
using engine::testing::test_engine;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

constexpr int64_t kServerStatementLimitMs = 1500;
constexpr int64_t kIdleInTransactionMs = 500;

class PgInterruptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    runtime::RuntimeOptions options;
    options.data_root = dir_->path();
    options.threads = 4;
    options.warm_pool_size = 1;
    options.statement_timeout_ms = kServerStatementLimitMs;
    options.idle_in_transaction_timeout_ms = kIdleInTransactionMs;
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

  void SetUp() override {
    // The bystander: another tenant that must answer correctly all along.
    bystander_ = std::thread([this] {
      Conn c = connect("bystander");
      for (int i = 0; !stop_.load(); ++i) {
        std::string want = std::to_string(i);
        if (value(c.get(), "select " + want) != want) ++bystander_failures_;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }

  void TearDown() override {
    stop_ = true;
    bystander_.join();
    EXPECT_EQ(bystander_failures_.load(), 0);
  }

  static Conn connect(const std::string& tenant) {
    std::string info = "host=127.0.0.1 port=" + std::to_string(listener_->port()) +
                       " dbname=" + tenant + " user=tester connect_timeout=30";
    Conn c(PQconnectdb(info.c_str()));
    EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    return c;
  }

  static void exec(PGconn* c, const std::string& sql) {
    PgResult r(PQexec(c, sql.c_str()));
    ExecStatusType s = PQresultStatus(r.get());
    EXPECT_TRUE(s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        << sql << ": " << PQresultErrorMessage(r.get());
  }

  static std::string value(PGconn* c, const std::string& sql) {
    PgResult r(PQexec(c, sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r.get());
      return "";
    }
    return PQgetvalue(r.get(), 0, 0);
  }

  // "SQLSTATE message" of a statement that must fail.
  static std::string failure(PGresult* r) {
    EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
    const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char* text = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    return std::string(code ? code : "") + " " + (text ? text : "");
  }
  static std::string failure(PGconn* c, const std::string& sql) {
    PgResult r(PQexec(c, sql.c_str()));
    return failure(r.get());
  }

  static TempDir* dir_;
  static runtime::Runtime* runtime_;
  static boost::asio::io_context* io_;
  static boost::asio::executor_work_guard<boost::asio::io_context::executor_type>* guard_;
  static PgListener* listener_;
  static std::thread* io_thread_;

  std::thread bystander_;
  std::atomic<bool> stop_{false};
  std::atomic<int> bystander_failures_{0};
};

TempDir* PgInterruptTest::dir_ = nullptr;
runtime::Runtime* PgInterruptTest::runtime_ = nullptr;
boost::asio::io_context* PgInterruptTest::io_ = nullptr;
boost::asio::executor_work_guard<boost::asio::io_context::executor_type>* PgInterruptTest::guard_ =
    nullptr;
PgListener* PgInterruptTest::listener_ = nullptr;
std::thread* PgInterruptTest::io_thread_ = nullptr;

TEST_F(PgInterruptTest, StatementTimeoutStopsACountOverTenBillionRows) {
  Conn c = connect("timeout");
  exec(c.get(), "set statement_timeout = '200ms'");
  EXPECT_EQ(failure(c.get(), "select count(*) from generate_series(1, 1e10)"),
            "57014 canceling statement due to statement timeout");
  EXPECT_EQ(value(c.get(), "select 40 + 2"), "42");
}

TEST_F(PgInterruptTest, CancelRequestStopsPgSleep) {
  Conn c = connect("cancel");
  ASSERT_EQ(PQsendQuery(c.get(), "select pg_sleep(30)"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  PGcancel* cancel = PQgetCancel(c.get());
  char err[256];
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  PgResult r(PQgetResult(c.get()));
  EXPECT_EQ(failure(r.get()), "57014 canceling statement due to user request");
  while (PGresult* rest = PQgetResult(c.get())) PQclear(rest);
  EXPECT_EQ(value(c.get(), "select 1"), "1");
}

TEST_F(PgInterruptTest, CancelOfAnotherConnectionsKeyDoesNothing) {
  Conn victim = connect("cancel-victim");
  Conn other = connect("cancel-victim");
  ASSERT_EQ(PQsendQuery(victim.get(), "select pg_sleep(0.5)"), 1);
  // `other` is idle: cancelling it must not reach the victim's statement.
  PGcancel* cancel = PQgetCancel(other.get());
  char err[256];
  PQcancel(cancel, err, sizeof err);
  PQfreeCancel(cancel);
  PgResult r(PQgetResult(victim.get()));
  EXPECT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(r.get());
  while (PGresult* rest = PQgetResult(victim.get())) PQclear(rest);
}

TEST_F(PgInterruptTest, ServerLimitStopsAnEndlessPlpgsqlLoop) {
  Conn c = connect("server-limit");
  exec(c.get(), "set statement_timeout = 0");
  EXPECT_EQ(failure(c.get(), "do $$ begin loop end loop; end $$"),
            "57014 canceling statement due to statement timeout");
  EXPECT_EQ(value(c.get(), "select 1"), "1");
}

TEST_F(PgInterruptTest, IdleInTransactionEndsTheConnectionAndFreesTheTenant) {
  Conn idle = connect("idle-tx");
  exec(idle.get(), "create table t(x int)");
  exec(idle.get(), "begin");
  exec(idle.get(), "insert into t values (1)");
  // Another connection's statements wait for the transaction to end; the
  // timeout ends it, so this one runs, and sees the insert rolled back.
  Conn other = connect("idle-tx");
  EXPECT_EQ(value(other.get(), "select count(*) from t"), "0");
  // The idle connection got Postgres' FATAL and was closed.
  PgResult r(PQexec(idle.get(), "select 1"));
  EXPECT_NE(PQresultStatus(r.get()), PGRES_TUPLES_OK);
  std::string message = PQerrorMessage(idle.get());
  EXPECT_NE(message.find("terminating connection due to idle-in-transaction timeout"),
            std::string::npos)
      << message;
  EXPECT_EQ(PQstatus(idle.get()), CONNECTION_BAD);
  exec(other.get(), "insert into t values (2)");
  EXPECT_EQ(value(other.get(), "select sum(x) from t"), "2");
}

}  // namespace
}  // namespace pgthaw::server
