// Deep recursion ends in Postgres' own 54001, not in a trap: guest code runs
// on a native stack big enough for any max_stack_depth Postgres accepts
// (wasm/guest_stack.h). Real engine.
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

std::string first_error(Instance& db, const std::string& sql) {
  for (const pgwire::StatementResult& r : run(db, sql)) {
    if (r.error) return r.error->sqlstate() + " " + r.error->message();
  }
  return "no error";
}

class StackDepthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    copy_template_database(tmp_.sub("db"));
    db_ = boot(tmp_.sub("db"));
    ASSERT_NE(db_, nullptr);
    run(*db_,
        "create function r(int) returns int language sql as "
        "'select case when $1 = 0 then 0 else r($1 - 1) end'");
  }
  TempDir tmp_;
  std::unique_ptr<Instance> db_;
};

TEST_F(StackDepthTest, RecursiveSqlFunctionHitsTheDepthLimit) {
  // At the default 2MB, this function's frames pass the instance's memory
  // cap (53200) first; with less stack the depth check comes first.
  run(*db_, "set max_stack_depth = '1MB'");
  EXPECT_EQ(first_error(*db_, "select r(100000)"), "54001 stack depth limit exceeded");
  EXPECT_TRUE(db_->alive());
  EXPECT_EQ(scalar(*db_, "select r(100)"), "0");
}

TEST_F(StackDepthTest, TheLargestDepthPostgresAcceptsStillEndsInItsError) {
  // Postgres refuses more than its RLIMIT_STACK minus 512 kB.
  EXPECT_EQ(first_error(*db_, "set max_stack_depth = '100MB'").substr(0, 5), "22023");
  run(*db_, "set max_stack_depth = '7680kB'");
  // Postgres' own error, whichever limit it meets first (the stack depth,
  // or memory for that many nested calls); never a trap.
  std::string code = first_error(*db_, "select r(1000000)").substr(0, 5);
  EXPECT_TRUE(code == "54001" || code == "53200") << code;
  EXPECT_TRUE(db_->alive());
  EXPECT_EQ(scalar(*db_, "select 1"), "1");
}

TEST_F(StackDepthTest, DeeplyNestedJsonIsAnErrorNotATrap) {
  EXPECT_NE(first_error(*db_, "select repeat('[', 200000)::jsonb"), "no error");
  EXPECT_TRUE(db_->alive());
  EXPECT_EQ(scalar(*db_, "select '[[1]]'::jsonb::text"), "[[1]]");
}

TEST_F(StackDepthTest, AThreadWithASmallStackGetsTheSameAnswer) {
  // The calling thread's own stack does not matter.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  std::string answer;
  struct Arg {
    Instance* db;
    std::string* answer;
  } arg{db_.get(), &answer};
  pthread_t thread;
  ASSERT_EQ(pthread_create(
                &thread, &attr,
                [](void* p) -> void* {
                  auto* a = static_cast<Arg*>(p);
                  run(*a->db, "set max_stack_depth = '500kB'");
                  *a->answer = first_error(*a->db, "select r(100000)");
                  return nullptr;
                },
                &arg),
            0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  EXPECT_EQ(answer, "54001 stack depth limit exceeded");
  EXPECT_TRUE(db_->alive());
}

}  // namespace
}  // namespace pgthaw::engine
