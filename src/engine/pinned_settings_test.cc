// What a tenant writes with ALTER SYSTEM cannot stop its own next boot.
#include "engine/instance.h"
#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

using testing::boot;
using testing::copy_template_database;
using testing::run;
using testing::scalar;
using testing::TempDir;

TEST(PinnedSettings, PreloadingAMissingLibraryDoesNotPreventBoot) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  {
    auto db = boot(tmp.sub("db"));
    ASSERT_NE(db, nullptr);
    run(*db, "create table t(x int)");
    run(*db, "insert into t values (7)");
    EXPECT_FALSE(
        run(*db, "alter system set shared_preload_libraries = 'no_such_library'").back().error);
    EXPECT_FALSE(run(*db, "alter system set shared_buffers = '64GB'").back().error);
    // A crash, not a clean shutdown: the next boot reads the files as they are.
    db->Abandon();
  }
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(scalar(*db, "show shared_preload_libraries"), "");
  EXPECT_EQ(scalar(*db, "show shared_buffers"), "128MB");
  EXPECT_EQ(scalar(*db, "select x from t"), "7");
}

}  // namespace
}  // namespace pgthaw::engine
