// COPY FROM STDIN in a request that carries no COPY data (an HTTP query, a
// batch cut short) fails like a client's CopyFail; the instance lives.
#include "engine/instance.h"
#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

using testing::boot;
using testing::copy_template_database;
using testing::run;
using testing::scalar;
using testing::TempDir;

TEST(CopyWithoutData, FailsTheCopyAndKeepsTheSession) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  run(*db, "create table t(x int)");
  auto results = run(*db, "copy t from stdin");
  ASSERT_FALSE(results.empty());
  ASSERT_TRUE(results.back().error);
  EXPECT_EQ(results.back().error->sqlstate(), "57014");
  EXPECT_TRUE(db->alive());
  // Twice in a row, and inside a transaction block, which it aborts.
  EXPECT_TRUE(run(*db, "copy t from stdin").back().error);
  run(*db, "begin");
  EXPECT_EQ(run(*db, "copy t from stdin").back().error->sqlstate(), "57014");
  EXPECT_EQ(run(*db, "select 1").back().error->sqlstate(), "25P02");
  run(*db, "rollback");
  run(*db, "insert into t values (1)");
  EXPECT_EQ(scalar(*db, "select count(*) from t"), "1");
}

}  // namespace
}  // namespace pgthaw::engine
