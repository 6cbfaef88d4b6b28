// Runtime::ForkTenant over a real engine and real files: a fork is an exact
// copy of its source, and from then on the two never see each other's
// writes, whether warm or hibernated, after a SIGKILL, or with the source
// deleted.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include "engine/tenant_store.h"
#include "engine/test_support.h"
#include "runtime/runtime.h"

namespace pgthaw::runtime {
namespace {

namespace fs = std::filesystem;
using engine::testing::TempDir;

RuntimeOptions fork_options(const TempDir& dir) {
  RuntimeOptions options;
  options.data_root = dir.path();
  options.threads = 4;
  options.warm_pool_size = 0;
  return options;
}

std::unique_ptr<Runtime> start(const TempDir& dir) {
  auto runtime = Runtime::Start(engine::testing::test_engine(), fork_options(dir));
  EXPECT_TRUE(runtime.ok()) << runtime.status().ToString();
  return runtime.ok() ? std::move(runtime).value() : nullptr;
}

// The rows of `sql` in psql -A -t form (the test fails on a SQL error).
std::string rows(Runtime& runtime, const std::string& tenant, const std::string& sql) {
  std::promise<std::string> done;
  Status st = runtime.Submit(tenant, [&](Result<Session*> session, const Timings&) {
    EXPECT_TRUE(session.ok()) << session.status().ToString();
    done.set_value(session.ok() ? engine::testing::rows((*session)->instance(), sql) : "");
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return st.ok() ? done.get_future().get() : "";
}

// Polls `done` (real work: a background flattening) for up to 30 s.
bool eventually_true(const std::function<bool()>& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

const char* const kList = "select string_agg(v, ',' order by v) from notes";

TEST(TenantFork, AForkIsACopyAndTheTwoStayApartWarmAndHibernated) {
  TempDir dir;
  auto runtime = start(dir);
  ASSERT_NE(runtime, nullptr);
  rows(*runtime, "src", "create table notes (v text); insert into notes values ('before')");
  // A warm source: hibernated for the fork, which thaws from its snapshot.
  ASSERT_TRUE(runtime->ForkTenant("src", "copy").ok());
  EXPECT_TRUE(fs::exists(dir.sub("tenants/copy/snapshot/meta.json")));
  EXPECT_EQ(rows(*runtime, "copy", kList), "before\n");
  rows(*runtime, "src", "insert into notes values ('src only')");
  rows(*runtime, "copy",
       "insert into notes values ('copy only'); delete from notes where v = "
       "'before'");
  EXPECT_EQ(rows(*runtime, "src", kList), "before,src only\n");
  EXPECT_EQ(rows(*runtime, "copy", kList), "copy only\n");

  for (const char* tenant : {"src", "copy"}) ASSERT_TRUE(runtime->Hibernate(tenant).ok());
  EXPECT_EQ(rows(*runtime, "src", kList), "before,src only\n");
  EXPECT_EQ(rows(*runtime, "copy", kList), "copy only\n");

  // A cold source (hibernated), forked again: three layers deep.
  ASSERT_TRUE(runtime->Hibernate("copy").ok());
  ASSERT_TRUE(runtime->ForkTenant("copy", "grandchild").ok());
  rows(*runtime, "grandchild", "insert into notes values ('third')");
  EXPECT_EQ(rows(*runtime, "grandchild", kList), "copy only,third\n");
  EXPECT_EQ(rows(*runtime, "copy", kList), "copy only\n");

  // An idle source forked again and again shares its layers: no deeper.
  auto depth = [&](const std::string& t) {
    std::ifstream in(dir.sub("tenants/" + t + "/lower"));
    int n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  };
  const int before = depth("copy");
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(runtime->ForkTenant("copy", "again" + std::to_string(i)).ok()) << i;
  }
  EXPECT_EQ(depth("copy"), before);
  EXPECT_EQ(depth("again19"), before);
  EXPECT_EQ(rows(*runtime, "again19", kList), "copy only\n");

  EXPECT_EQ(runtime->ForkTenant("src", "copy").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime->ForkTenant("nobody", "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(runtime->ForkTenant("src", "../x").code(), StatusCode::kInvalidArgument);
}

TEST(TenantFork, DeletingTheSourceKeepsTheForkAndTheLastUserTakesTheLayers) {
  TempDir dir;
  auto runtime = start(dir);
  ASSERT_NE(runtime, nullptr);
  rows(*runtime, "src",
       "create table notes (v text);"
       "insert into notes select 'row ' || i from generate_series(1, 1000) i");
  ASSERT_TRUE(runtime->ForkTenant("src", "copy").ok());
  ASSERT_TRUE(
      runtime
          ->DeleteTenant("src", false, std::chrono::steady_clock::now() + std::chrono::seconds(30))
          .ok());
  EXPECT_EQ(rows(*runtime, "copy", "select count(*) from notes"), "1000\n");
  ASSERT_TRUE(runtime->Hibernate("copy").ok());
  EXPECT_EQ(rows(*runtime, "copy", "select count(*) from notes"), "1000\n");
  ASSERT_FALSE(fs::is_empty(dir.sub("layers")));
  ASSERT_TRUE(
      runtime
          ->DeleteTenant("copy", false, std::chrono::steady_clock::now() + std::chrono::seconds(30))
          .ok());
  EXPECT_TRUE(fs::is_empty(dir.sub("layers")));
}

int depth(const TempDir& dir, const std::string& tenant) {
  std::ifstream in(dir.sub("tenants/" + tenant + "/lower"));
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

TEST(TenantFork, ADeepStackIsFlattenedInTheBackgroundWithItsDataAndWhiteouts) {
  TempDir dir;
  auto runtime = start(dir);
  ASSERT_NE(runtime, nullptr);
  rows(*runtime, "c0", "create table notes (v text); insert into notes values ('0'), ('gone')");
  // A table above the partial copy-up threshold: each layer holds a partial
  // copy of its file, resting on the layer where it began.
  rows(*runtime, "c0",
       "create table big (id int, v text); "
       "insert into big select g, repeat('x', 1000) from generate_series(1, 300) g");
  std::string expected = "0";
  for (int i = 1; i <= 7; ++i) {
    const std::string parent = "c" + std::to_string(i - 1), child = "c" + std::to_string(i);
    // A write and a delete in every layer: whiteouts of the layers below.
    rows(*runtime, parent,
         "insert into notes values ('" + std::to_string(i) +
             "'); delete from notes where v = "
             "'gone'; insert into notes values ('gone')");
    rows(*runtime, parent,
         "update big set v = 'v" + std::to_string(i) + "' where id = " + std::to_string(i * 40));
    // A new file for the table, the old one removed: a whiteout.
    rows(*runtime, parent, "vacuum full notes");
    expected += "," + std::to_string(i);
    ASSERT_TRUE(runtime->ForkTenant(parent, child).ok()) << i;
  }
  // c6 and c7 stack 7 and 8 layers: more than kCompactAbove (6). The
  // template and the first frozen layer stay, the rest become one.
  for (const char* deep : {"c6", "c7"}) {
    ASSERT_TRUE(eventually_true([&] { return depth(dir, deep) == 3; })) << deep;
  }
  for (const char* tenant : {"c7", "c6", "c3"}) {
    EXPECT_EQ(rows(*runtime, tenant,
                   "select string_agg(v, ',' order by v) from notes "
                   "where v <> 'gone'"),
              tenant == std::string("c3") ? "0,1,2,3,4\n" : expected + "\n")
        << tenant;
    EXPECT_EQ(rows(*runtime, tenant, "select count(*) from notes where v = 'gone'"), "1\n");
    EXPECT_EQ(
        rows(*runtime, tenant, "select count(*), count(*) filter (where v like 'v%') from big"),
        tenant == std::string("c3") ? "300|4\n" : "300|7\n")
        << tenant;
  }
  ASSERT_TRUE(runtime->Hibernate("c7").ok());
  EXPECT_EQ(rows(*runtime, "c7", "select count(*) from notes"), "9\n");
  // A direct call on a flat stack does nothing.
  EXPECT_TRUE(runtime->CompactTenant("c7").ok());
  EXPECT_EQ(depth(dir, "c7"), 3);

  // A source that writes between forks, forked faster than the background
  // keeps up: past the bound its fork waits for a flattening and succeeds.
  for (int i = 0; i < 20; ++i) {
    rows(*runtime, "c7", "insert into notes values ('burst" + std::to_string(i) + "')");
    ASSERT_TRUE(runtime->ForkTenant("c7", "burst" + std::to_string(i)).ok()) << i;
  }
  EXPECT_LE(depth(dir, "c7"), 16);
  EXPECT_EQ(rows(*runtime, "burst19", "select count(*) from notes where v like 'burst%'"), "20\n");
  EXPECT_EQ(rows(*runtime, "burst3", "select count(*) from notes where v like 'burst%'"), "4\n");
}

TEST(TenantFork, ASourceThatWritesBetweenManyForksIsFlattenedAndKeepsItsRows) {
  TempDir dir;
  auto runtime = start(dir);
  ASSERT_NE(runtime, nullptr);
  rows(*runtime, "src",
       "create table t (id int primary key, v text); "
       "insert into t select g, repeat('x', 1000) from generate_series(1, 1000) g");
  ASSERT_TRUE(runtime->Hibernate("src").ok());
  // Each write of a warm source freezes a layer at its next fork; past
  // kMaxLowerLayers the fork waits for a flattening of partial copies
  // (the catalogs' and the table's) that rest on the template.
  for (int i = 0; i < 2 * static_cast<int>(engine::kMaxLowerLayers); ++i) {
    rows(*runtime, "src",
         "update t set v = 'w" + std::to_string(i) + "' where id = " + std::to_string(i + 1));
    const std::string fork = "f" + std::to_string(i);
    ASSERT_TRUE(runtime->ForkTenant("src", fork).ok()) << i;
    EXPECT_EQ(rows(*runtime, fork, "select count(*) filter (where v like 'w%') from t"),
              std::to_string(i + 1) + "\n");
    ASSERT_TRUE(runtime
                    ->DeleteTenant(fork, /*force=*/true,
                                   std::chrono::steady_clock::now() + std::chrono::seconds(30))
                    .ok())
        << i;
  }
  EXPECT_LE(depth(dir, "src"), static_cast<int>(engine::kMaxLowerLayers));
  EXPECT_EQ(rows(*runtime, "src", "select count(*), count(*) filter (where v like 'w%') from t"),
            "1000|32\n");
}

TEST(TenantFork, CommittedWritesOnBothSidesSurviveASigkill) {
  TempDir dir;
  const bool killed = engine::testing::kill_child_after([&] {
    auto runtime = start(dir);
    if (runtime == nullptr) return false;
    rows(*runtime, "src", "create table notes (v text); insert into notes values ('before')");
    if (!runtime->ForkTenant("src", "copy").ok()) return false;
    rows(*runtime, "src", "insert into notes values ('src after')");
    rows(*runtime, "copy", "insert into notes values ('copy after')");
    return true;  // killed now: no hibernation, no checkpoint
  });
  ASSERT_TRUE(killed);
  auto runtime = start(dir);
  ASSERT_NE(runtime, nullptr);
  EXPECT_EQ(rows(*runtime, "src", kList), "before,src after\n");
  EXPECT_EQ(rows(*runtime, "copy", kList), "before,copy after\n");
}

// Bytes the files under `dir` take on disk (sparse files count what they hold).
int64_t allocated_bytes(const std::string& dir) {
  int64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat s {};
    if (e.is_regular_file() && ::stat(e.path().c_str(), &s) == 0) total += s.st_blocks * 512;
  }
  return total;
}

TEST(TenantFork, AForkWritesOnlyThePagesItChangesOfABigTable) {
  TempDir dir;
  const char* const kSum = "select count(*), sum(length(v)) from big";
  const bool killed = engine::testing::kill_child_after([&] {
    auto runtime = start(dir);
    if (runtime == nullptr) return false;
    // About 9 MB of heap in one file, hibernated: its files are a frozen
    // layer under the fork.
    rows(*runtime, "src",
         "create table big (id int primary key, v text);"
         "insert into big select g, repeat('x', 1000) from generate_series(1, 8000) g");
    // The first read of the new rows sets their hint bits, and Postgres
    // writes every page whose hint bits it set (at a checkpoint, an
    // eviction, or a hibernation: buffer_eviction.h): done in the source, so
    // that the fork's read below dirties nothing.
    rows(*runtime, "src", kSum);
    if (!runtime->Hibernate("src").ok() || !runtime->ForkTenant("src", "copy").ok()) return false;
    // The read writes nothing; the update writes two pages.
    rows(*runtime, "copy", kSum);
    rows(*runtime, "copy", "update big set v = 'changed' where id = 4000");
    rows(*runtime, "src", "delete from big where id > 7000");
    return true;  // killed now: no hibernation, no checkpoint
  });
  ASSERT_TRUE(killed);
  // The fork's own layer holds what it wrote, not the 9 MB it read.
  EXPECT_LT(allocated_bytes(dir.sub("tenants/copy/data")), 2 << 20);
  auto runtime = start(dir);
  ASSERT_NE(runtime, nullptr);
  EXPECT_EQ(rows(*runtime, "copy", kSum), "8000|7999007\n");
  EXPECT_EQ(rows(*runtime, "copy", "select v from big where id = 4000"), "changed\n");
  EXPECT_EQ(rows(*runtime, "src", kSum), "7000|7000000\n");
  for (const char* tenant : {"src", "copy"}) ASSERT_TRUE(runtime->Hibernate(tenant).ok());
  // A fork of the fork reads through both partial layers.
  ASSERT_TRUE(runtime->ForkTenant("copy", "grandchild").ok());
  rows(*runtime, "grandchild", "update big set v = 'again' where id = 1");
  EXPECT_EQ(rows(*runtime, "grandchild", kSum), "8000|7998012\n");
  EXPECT_EQ(rows(*runtime, "copy", kSum), "8000|7999007\n");
}

}  // namespace
}  // namespace pgthaw::runtime
