// Deadlines and cancels that reach a statement while it runs: Postgres' own
// statement_timeout, the server's limit and a cancel from another thread,
// against the real engine.
#include <chrono>
#include <thread>

#include "engine/instance.h"
#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

using testing::boot;
using testing::copy_template_database;
using testing::run;
using testing::scalar;
using testing::TempDir;

// The error of the one statement `sql` (which must fail).
pgwire::ErrorFields failure(Instance& db, const std::string& sql) {
  auto results = run(db, sql);
  for (const pgwire::StatementResult& r : results) {
    if (r.error) return *r.error;
  }
  ADD_FAILURE() << sql << " did not fail";
  return {};
}

class InterruptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    copy_template_database(tmp_.sub("db"));
    db_ = boot(tmp_.sub("db"));
    ASSERT_NE(db_, nullptr);
  }
  TempDir tmp_;
  std::unique_ptr<Instance> db_;
};

TEST_F(InterruptTest, StatementTimeoutStopsARunningAggregate) {
  run(*db_, "set statement_timeout = '200ms'");
  pgwire::ErrorFields e = failure(*db_, "select count(*) from generate_series(1, 1e10)");
  EXPECT_EQ(e.sqlstate(), "57014");
  EXPECT_EQ(e.message(), "canceling statement due to statement timeout");
  EXPECT_EQ(scalar(*db_, "select 40 + 2"), "42");
  // The timeout is per statement: a quick one after it is untouched.
  EXPECT_EQ(scalar(*db_, "select count(*) from generate_series(1, 1000)"), "1000");
}

TEST_F(InterruptTest, StatementTimeoutStopsPgSleep) {
  run(*db_, "set statement_timeout = '150ms'");
  pgwire::ErrorFields e = failure(*db_, "select pg_sleep(30)");
  EXPECT_EQ(e.sqlstate(), "57014");
  EXPECT_EQ(e.message(), "canceling statement due to statement timeout");
  EXPECT_EQ(scalar(*db_, "select 1"), "1");
}

TEST_F(InterruptTest, StatementTimeoutInsideATransactionAbortsIt) {
  run(*db_, "create table t(x int)");
  run(*db_, "begin");
  run(*db_, "insert into t values (1)");
  run(*db_, "set local statement_timeout = '100ms'");
  EXPECT_EQ(failure(*db_, "select pg_sleep(30)").sqlstate(), "57014");
  EXPECT_TRUE(db_->InTransaction());
  EXPECT_EQ(failure(*db_, "select 1").sqlstate(), "25P02");
  run(*db_, "rollback");
  EXPECT_EQ(scalar(*db_, "select count(*) from t"), "0");
}

TEST_F(InterruptTest, InterruptFromAnotherThreadCancelsPgSleep) {
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    db_->Interrupt();
  });
  pgwire::ErrorFields e = failure(*db_, "select pg_sleep(30)");
  canceller.join();
  EXPECT_EQ(e.sqlstate(), "57014");
  EXPECT_EQ(e.message(), "canceling statement due to user request");
  EXPECT_EQ(scalar(*db_, "select 1"), "1");
}

TEST_F(InterruptTest, InterruptCancelsAPlpgsqlLoop) {
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    db_->Interrupt();
  });
  pgwire::ErrorFields e = failure(*db_, "do $$ begin loop end loop; end $$");
  canceller.join();
  EXPECT_EQ(e.sqlstate(), "57014");
  EXPECT_EQ(scalar(*db_, "select 1"), "1");
}

TEST_F(InterruptTest, InterruptWithNothingRunningDoesNotCancelLaterWork) {
  db_->Interrupt();
  EXPECT_EQ(scalar(*db_, "select count(*) from generate_series(1, 100000)"), "100000");
}

TEST_F(InterruptTest, ServerLimitStopsWhatTheSessionAllows) {
  db_->set_statement_timeout_ms(300);
  run(*db_, "set statement_timeout = 0");
  pgwire::ErrorFields e = failure(*db_, "do $$ begin loop end loop; end $$");
  EXPECT_EQ(e.sqlstate(), "57014");
  EXPECT_EQ(e.message(), "canceling statement due to statement timeout");
  EXPECT_EQ(scalar(*db_, "select 1"), "1");
  // A sort that runs long is stopped the same way.
  e = failure(*db_, "select g from generate_series(1, 1e9) g order by g desc limit 1");
  EXPECT_EQ(e.sqlstate(), "57014");
  db_->set_statement_timeout_ms(0);
  EXPECT_EQ(scalar(*db_, "select 2"), "2");
}

TEST_F(InterruptTest, FatalErrorEndsTheInstanceNotTheProcess) {
  run(*db_, "create table t(x int)");
  run(*db_, "insert into t values (1)");
  // Postgres ends a session idle past idle_session_timeout with a FATAL.
  run(*db_, "set idle_session_timeout = '100ms'");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto results = run(*db_, "select 1");
  std::string fatal;
  for (const pgwire::StatementResult& r : results) {
    if (r.error && r.error->severity_nonlocalized() == "FATAL") fatal = r.error->sqlstate();
  }
  EXPECT_EQ(fatal, "57P05");
  EXPECT_FALSE(db_->alive());
  EXPECT_FALSE(db_->Exec("").ok());
  db_.reset();
  // The files hold every committed row.
  db_ = boot(tmp_.sub("db"));
  ASSERT_NE(db_, nullptr);
  EXPECT_EQ(scalar(*db_, "select count(*) from t"), "1");
}

}  // namespace
}  // namespace pgthaw::engine
