// Snapshots, the template and hibernation against the real engine and files.
#include "engine/snapshot.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "engine/template.h"
#include "engine/tenant_store.h"
#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

namespace fs = std::filesystem;
using testing::boot;
using testing::copy_template_database;
using testing::rows;
using testing::scalar;
using testing::TempDir;
using testing::test_engine;

// One template per test binary, as a server keeps one per build.
const Template& shared_template() {
  static TempDir* root = new TempDir();
  static Template* t = [] {
    auto made = Template::Ensure(test_engine(), root->path());
    if (!made.ok()) {
      ADD_FAILURE() << made.status().ToString();
      std::abort();
    }
    return new Template(std::move(made).value());
  }();
  return *t;
}

// Every file under `dir` with its bytes: equal digests, equal trees.
std::string tree_digest(const std::string& dir) {
  std::string digest;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    digest += f.string() + "\n";
    if (fs::is_regular_file(f)) {
      std::ifstream in(f, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      digest += std::to_string(std::hash<std::string>{}(bytes)) + "\n";
    }
  }
  return digest;
}

std::unique_ptr<Instance> open(const std::string& root, OpenReport* report = nullptr) {
  OpenReport local;
  auto instance = open_tenant(test_engine(), shared_template(), root, report ? report : &local);
  EXPECT_TRUE(instance.ok()) << instance.status().ToString();
  return instance.ok() ? std::move(instance).value() : nullptr;
}

TEST(Snapshot, RestoredInstanceAnswersAsBeforeAndKeepsAcceptingWrites) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  rows(*db, "create table t (n int, s text)");
  rows(*db, "insert into t select g, md5(g::text) from generate_series(1, 500) g");
  rows(*db, "prepare byn(int) as select s from t where n = $1");
  std::string before = rows(*db, "select count(*), sum(n), max(s) from t");
  ASSERT_TRUE(db->Snapshot(tmp.sub("snap")).ok());
  db->Abandon();

  auto restored = Instance::Restore(test_engine(), tmp.sub("snap"), tmp.sub("db"), true);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(rows(**restored, "select count(*), sum(n), max(s) from t"), before);
  // Session state lives in memory and comes back with it.
  EXPECT_EQ(scalar(**restored, "execute byn(7)"), scalar(**restored, "select md5('7')"));
  rows(**restored, "insert into t values (501, 'new')");
  EXPECT_EQ(scalar(**restored, "select count(*) from t"), "501");
  EXPECT_FALSE(fs::exists(tmp.sub("snap")));  // consumed
}

TEST(Snapshot, HundredTenantsFromTheTemplateAreIndependent) {
  TempDir tmp;
  std::string template_before = tree_digest(shared_template().data_dir());
  std::vector<std::unique_ptr<Instance>> tenants;
  for (int i = 0; i < 100; ++i) {
    OpenReport report;
    tenants.push_back(open(tmp.sub("t" + std::to_string(i)), &report));
    ASSERT_NE(tenants.back(), nullptr);
    EXPECT_EQ(report.kind, OpenReport::kCreated);
  }
  for (int i = 0; i < 100; ++i) {
    rows(*tenants[i], "create table mine (id int)");
    rows(*tenants[i], "insert into mine values (" + std::to_string(i) + ")");
  }
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(scalar(*tenants[i], "select array_agg(id) from mine"), "{" + std::to_string(i) + "}");
  }
  // Creating tenants copied no files; writing copied up only what changed.
  EXPECT_FALSE(fs::exists(tmp.sub("t0/data/base/1/1259")));
  tenants.clear();
  // The template's own files never change.
  EXPECT_EQ(tree_digest(shared_template().data_dir()), template_before);
}

TEST(Snapshot, HibernateAndThawKeepEveryCommittedRow) {
  TempDir tmp;
  std::string root = tmp.sub("tenant");
  auto db = open(root);
  ASSERT_NE(db, nullptr);
  rows(*db, "create table t (n int primary key, pad text)");
  rows(*db, "insert into t select g, repeat('x', 100) from generate_series(1, 2000) g");
  // Side modules loaded before hibernation (PL/pgSQL, pg_trgm) come back with
  // their table slots and GOT.
  rows(
      *db,
      "create function twice(n int) returns int language plpgsql as $$ begin return 2 * n; end $$");
  rows(*db, "create extension pg_trgm");
  EXPECT_EQ(scalar(*db, "select twice(21)"), "42");
  ASSERT_TRUE(hibernate_tenant(std::move(db), root).ok());
  ASSERT_TRUE(fs::exists(root + "/snapshot/meta.json"));

  OpenReport report;
  db = open(root, &report);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(report.kind, OpenReport::kThawed);
  EXPECT_EQ(scalar(*db, "select count(*) from t"), "2000");
  EXPECT_EQ(scalar(*db, "select twice(2)"), "4");
  EXPECT_EQ(scalar(*db, "select similarity('word', 'word')"), "1");
  rows(*db, "update t set pad = 'y' where n <= 10");
  rows(*db, "insert into t values (2001, 'late')");
  ASSERT_TRUE(hibernate_tenant(std::move(db), root).ok());

  db = open(root, &report);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(report.kind, OpenReport::kThawed);
  EXPECT_EQ(scalar(*db, "select count(*) from t where pad = 'y'"), "10");
  EXPECT_EQ(scalar(*db, "select pad from t where n = 2001"), "late");
  ASSERT_TRUE(db->Close().ok());
  db = open(root, &report);  // a clean shutdown leaves no snapshot: boot from files
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(report.kind, OpenReport::kBooted);
  EXPECT_EQ(scalar(*db, "select count(*) from t"), "2001");
}

enum class Damage { kFlipDeltaByte, kTruncateState, kForeignBuild, kMissingVfs };

class DamagedSnapshot : public ::testing::TestWithParam<Damage> {};

TEST_P(DamagedSnapshot, FallsBackToBootFromFilesWithNoDataLost) {
  TempDir tmp;
  std::string root = tmp.sub("tenant");
  auto db = open(root);
  ASSERT_NE(db, nullptr);
  rows(*db, "create table t (n int)");
  rows(*db, "insert into t select generate_series(1, 300)");
  ASSERT_TRUE(hibernate_tenant(std::move(db), root).ok());
  std::string snap = root + "/snapshot";
  switch (GetParam()) {
    case Damage::kFlipDeltaByte: {
      // A byte inside the first page the delta holds: its own offset for a
      // long run, the first packed page after the sparse part otherwise.
      auto files = read_snapshot(snap, test_engine().snapshots());
      ASSERT_TRUE(files.ok()) << files.status().ToString();
      const uint64_t memory_bytes = uint64_t{files->meta.memory_pages} * 65536;
      std::streamoff at = fs::file_size(snap + "/delta") > memory_bytes
                              ? static_cast<std::streamoff>(memory_bytes) + 100
                              : std::streamoff{files->delta_pages.at(0)} * 4096 + 100;
      std::fstream f(snap + "/delta", std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(at);
      char c = 0;
      f.read(&c, 1);
      c ^= 0x5a;
      f.seekp(at);
      f.write(&c, 1);
      break;
    }
    case Damage::kTruncateState:
      fs::resize_file(snap + "/state", fs::file_size(snap + "/state") / 2);
      break;
    case Damage::kForeignBuild: {
      std::ifstream in(snap + "/meta.json");
      std::string meta((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      size_t at = meta.find("\"build_id\": \"") + 13;
      meta[at] = meta[at] == 'a' ? 'b' : 'a';
      std::ofstream(snap + "/meta.json", std::ios::trunc) << meta;
      break;
    }
    case Damage::kMissingVfs:
      fs::remove(snap + "/vfs");
      break;
  }
  // Damage found by the next server: this one trusts what it wrote.
  test_engine().snapshots().ForgetVerifiedForTest();
  OpenReport report;
  db = open(root, &report);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(report.kind, OpenReport::kBooted);
  EXPECT_FALSE(report.fallback_reason.empty());
  EXPECT_EQ(rows(*db, "select count(*), sum(n) from t"), "300|45150\n");
}

INSTANTIATE_TEST_SUITE_P(Kinds, DamagedSnapshot,
                         ::testing::Values(Damage::kFlipDeltaByte, Damage::kTruncateState,
                                           Damage::kForeignBuild, Damage::kMissingVfs));

TEST(Snapshot, SigkillBetweenCommitAndNextSnapshotLosesNothing) {
  TempDir tmp;
  std::string root = tmp.sub("tenant");
  {
    auto db = open(root);
    ASSERT_NE(db, nullptr);
    rows(*db, "create table t (n int)");
    rows(*db, "insert into t values (1)");
    ASSERT_TRUE(hibernate_tenant(std::move(db), root).ok());
  }
  // Thaw, commit, and die before any new snapshot.
  bool committed = testing::kill_child_after([&] {
    OpenReport report;
    auto db = open_tenant(test_engine(), shared_template(), root, &report);
    std::string q;
    (void)pgwire::frontend::query(q, "insert into t select generate_series(2, 100)");
    return db.ok() && report.kind == OpenReport::kThawed && (*db)->Exec(q).ok();
  });
  ASSERT_TRUE(committed) << "child failed before committing";

  OpenReport report;
  auto db = open(root, &report);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(report.kind, OpenReport::kBooted);  // the old snapshot was consumed at thaw
  EXPECT_EQ(scalar(*db, "select count(*) from t"), "100");
}

TEST(Snapshot, ADeltaHoldsNoSharedBuffersAndTheirRowsComeBackFromFiles) {
  TempDir tmp;
  std::string root = tmp.sub("tenant");
  auto db = open(root);
  ASSERT_NE(db, nullptr);
  // 8 MB of rows the buffer pool holds, dirty: nothing has written them out.
  rows(*db, "create table t (id int primary key, v text)");
  rows(*db, "insert into t select g, repeat(md5(g::text), 32) from generate_series(1, 8000) g");
  const std::string table_bytes = scalar(*db, "select pg_relation_size('t')");
  const std::string digest = scalar(*db, "select sum(hashtext(v || id)::numeric) from t");
  ASSERT_TRUE(hibernate_tenant(std::move(db), root).ok());

  // The delta is smaller than the table alone: its buffers went to the files.
  auto snap = read_snapshot(root + "/snapshot", test_engine().snapshots());
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_LT(snap->delta_pages.size() * 4096, std::stoull(table_bytes));
  std::printf("[ measure  ] delta of a tenant with %s bytes of table: %zu KiB\n",
              table_bytes.c_str(), snap->delta_pages.size() * 4);

  OpenReport report;
  db = open(root, &report);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(report.kind, OpenReport::kThawed);
  EXPECT_EQ(scalar(*db, "select v from t where id = 4321"),
            scalar(*db, "select repeat(md5('4321'), 32)"));
  EXPECT_EQ(scalar(*db, "select sum(hashtext(v || id)::numeric) from t"), digest);
  rows(*db, "update t set v = 'changed' where id <= 100");
  // A second round trip, then a crash after the thaw: the files and the WAL
  // hold every row.
  ASSERT_TRUE(hibernate_tenant(std::move(db), root).ok());
  db = open(root, &report);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(report.kind, OpenReport::kThawed);
  EXPECT_EQ(scalar(*db, "select count(*) from t where v = 'changed'"), "100");
  db->Abandon();
  db = open(root, &report);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(report.kind, OpenReport::kBooted);
  EXPECT_EQ(rows(*db, "select count(*), sum(id) from t where v <> 'changed'"), "7900|31998950\n");
}

}  // namespace
}  // namespace pgthaw::engine
