// The OS boundary failing on purpose (common/fault_injection_env.h), with a
// real engine and real files: each of open, write, fsync, rename and mmap
// fails, at each of its first calls, while a tenant commits, checkpoints,
// hibernates, is created or is forked. Whatever fails, the client gets
// Postgres' error or a clean pgthaw error, the runtime goes on serving, and
// after a restart every acknowledged commit is there and every tenant boots.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/fault_injection_env.h"
#include "engine/test_support.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"
#include "runtime/runtime.h"

namespace pgthaw::runtime {
namespace {

namespace fs = std::filesystem;
using engine::testing::TempDir;
using engine::testing::test_engine;
using Kind = FaultInjectionEnv::Kind;
using Effect = FaultInjectionEnv::Effect;

// How many of a phase's calls of one kind are failed in turn: the first
// ones are where a phase starts writing (its first file, its first sync).
constexpr uint64_t kSweep = 6;

struct KindCase {
  Kind kind;
  int error;
  const char* name;
};

constexpr KindCase kKinds[] = {
    {Kind::kOpen, EMFILE, "open"},  {Kind::kWrite, ENOSPC, "write"}, {Kind::kSync, EIO, "fsync"},
    {Kind::kRename, EIO, "rename"}, {Kind::kMmap, ENOMEM, "mmap"},
};

// What one SQL request came back with.
struct Reply {
  Status status;                    // the runtime's or the engine's refusal
  std::string sqlstate;             // the first error's
  std::string severity;             // its severity (ERROR, FATAL, PANIC)
  std::string message;              // its message
  std::vector<std::string> values;  // the first column of the last result
  bool acknowledged() const { return status.ok() && sqlstate.empty(); }
  std::string describe() const {
    if (!status.ok()) return status.ToString();
    if (!sqlstate.empty()) return severity + " " + sqlstate + ": " + message;
    return "ok";
  }
};

Reply exec(Runtime& runtime, const std::string& tenant, const std::string& sql) {
  std::promise<Reply> done;
  Status submitted = runtime.Submit(tenant, [&](Result<Session*> session, const Timings&) {
    Reply r;
    if (!session.ok()) {
      r.status = session.status();
      done.set_value(std::move(r));
      return;
    }
    std::string request;
    (void)pgwire::frontend::query(request, sql);
    auto bytes = (*session)->Exec(request);
    if (!bytes.ok()) {
      r.status = bytes.status();
      done.set_value(std::move(r));
      return;
    }
    auto results = pgwire::collect_results(bytes->bytes);
    if (!results.ok()) {
      r.status = results.status();
      done.set_value(std::move(r));
      return;
    }
    for (const pgwire::StatementResult& result : *results) {
      if (result.error && r.sqlstate.empty()) {
        r.sqlstate = result.error->sqlstate();
        r.severity = result.error->severity_nonlocalized();
        r.message = result.error->message();
      }
      r.values.clear();
      for (const auto& row : result.rows) {
        r.values.push_back(row.empty() ? "" : row[0].value_or("NULL"));
      }
    }
    done.set_value(std::move(r));
  });
  if (!submitted.ok()) return Reply{submitted, "", "", "", {}};
  return done.get_future().get();
}

// The tenant's row count; -1 (and a test failure) if it does not answer.
int64_t count_rows(Runtime& runtime, const std::string& tenant) {
  Reply r = exec(runtime, tenant, "select count(*) from t");
  EXPECT_TRUE(r.acknowledged()) << tenant << ": " << r.describe();
  if (!r.acknowledged() || r.values.size() != 1) return -1;
  return std::stoll(r.values[0]);
}

RuntimeOptions options_for(const std::string& root) {
  RuntimeOptions options;
  options.data_root = root;
  options.threads = 2;
  options.warm_pool_size = 0;
  return options;
}

// A failure that is neither an acknowledgement nor an error is a lie to the
// client: every outcome must be one of the two.
void expect_clean_outcome(const Reply& r) {
  if (r.acknowledged()) return;
  if (!r.status.ok()) {
    EXPECT_FALSE(r.status.message().empty()) << r.describe();
    return;
  }
  EXPECT_EQ(r.sqlstate.size(), 5u) << r.describe();
  EXPECT_TRUE(r.severity == "ERROR" || r.severity == "FATAL" || r.severity == "PANIC")
      << r.describe();
}

// One data root under a FaultInjectionEnv that fails only calls on it.
class FaultAtTheOsBoundary : public ::testing::Test {
 protected:
  void SetUp() override {
    (void)test_engine();  // the engine and its template exist before faults
    root_ = fs::canonical(dir_.path()).string() + "/root";
    fs::create_directories(root_);
    faults_.emplace(root_ + "/");
    env_.emplace(*faults_);
    StartRuntime();
    ASSERT_TRUE(runtime_->CreateTenant("bystander").ok());
    ASSERT_TRUE(runtime_->CreateTenant("tenant").ok());
    Reply made = exec(*runtime_, "tenant", "create table t (id int primary key, pad text)");
    ASSERT_TRUE(made.acknowledged()) << made.describe();
    Insert("tenant", 200);
  }

  void TearDown() override {
    if (runtime_ != nullptr) (void)runtime_->Shutdown();
    runtime_.reset();
    env_.reset();
  }

  void StartRuntime() {
    auto runtime = Runtime::Start(test_engine(), options_for(root_));
    ASSERT_TRUE(runtime.ok()) << runtime.status().ToString();
    runtime_ = std::move(runtime).value();
  }

  // Inserts N rows into TENANT's t; counts them as acknowledged if the
  // commit was.
  Reply Insert(const std::string& tenant, int n) {
    int64_t& next = next_id_[tenant];
    const std::string sql = "insert into t select g, repeat('x', 200) from generate_series(" +
                            std::to_string(next + 1) + ", " + std::to_string(next + n) + ") g";
    Reply r = exec(*runtime_, tenant, sql);
    next += n;  // ids are never reused, acknowledged or not
    attempted_[tenant] += n;
    if (r.acknowledged()) acknowledged_[tenant] += n;
    return r;
  }

  // After a fault: the fault is off, the runtime serves a bystander and
  // the tenant, whose rows are every acknowledged one and at most the
  // attempted ones (an unacknowledged commit may or may not have landed).
  void ExpectServing(const std::string& tenant) {
    faults_->Disarm();
    Reply other = exec(*runtime_, "bystander", "select 1");
    EXPECT_TRUE(other.acknowledged()) << "bystander: " << other.describe();
    ExpectRows(tenant);
  }

  void ExpectRows(const std::string& tenant) {
    if (!acknowledged_.contains(tenant)) return;
    const int64_t n = count_rows(*runtime_, tenant);
    EXPECT_GE(n, acknowledged_[tenant]) << tenant << " lost an acknowledged commit";
    EXPECT_LE(n, attempted_[tenant]) << tenant;
  }

  // A restart (the runtime shut down and started again on the same root,
  // with no faults): every tenant boots, with its acknowledged rows.
  void ExpectRestartKeepsEverything() {
    faults_->Disarm();
    ASSERT_TRUE(runtime_->Shutdown().ok());
    runtime_.reset();
    StartRuntime();
    for (const std::string& id : runtime_->ListTenants()) {
      Reply r = exec(*runtime_, id, "select 1");
      EXPECT_TRUE(r.acknowledged()) << id << " does not boot after a restart: " << r.describe();
      ExpectRows(id);
    }
  }

  // Runs PHASE once unfailed to count its calls of each kind, then, for
  // each kind, fails each of its first calls in turn (FAIL_ONCE), checking
  // the outcome and that everything still serves after each.
  void Sweep(const std::function<void(const std::string& label)>& phase) {
    for (const KindCase& k : kKinds) {
      faults_->Arm({k.kind, UINT64_MAX, Effect::kFailOnce, k.error, 0});
      phase(std::string(k.name) + " counted");
      const uint64_t calls = std::min(faults_->calls(k.kind), kSweep);
      for (uint64_t nth = 1; nth <= calls; ++nth) {
        const std::string label = std::string(k.name) + " #" + std::to_string(nth);
        SCOPED_TRACE(label);
        faults_->Arm({k.kind, nth, Effect::kFailOnce, k.error, 0});
        phase(label);
        ExpectServing("tenant");
      }
    }
    ExpectRestartKeepsEverything();
  }

  TempDir dir_;
  std::string root_;
  std::optional<FaultInjectionEnv> faults_;
  std::optional<ScopedEnv> env_;
  std::unique_ptr<Runtime> runtime_;
  std::map<std::string, int64_t> next_id_, acknowledged_, attempted_;
  int made_ = 0;  // tenants made by creation and fork phases
};

TEST_F(FaultAtTheOsBoundary, ACommitFailsCleanlyAndLosesNothingAcknowledged) {
  Sweep([&](const std::string&) { expect_clean_outcome(Insert("tenant", 50)); });
}

TEST_F(FaultAtTheOsBoundary, ACheckpointFailsCleanlyAndLosesNothingAcknowledged) {
  Sweep([&](const std::string&) {
    Insert("tenant", 50);
    expect_clean_outcome(exec(*runtime_, "tenant", "checkpoint"));
  });
}

TEST_F(FaultAtTheOsBoundary, AHibernationFailsCleanlyAndTheTenantServesOn) {
  Sweep([&](const std::string& label) {
    Insert("tenant", 50);
    Status st = runtime_->Hibernate("tenant");
    if (!st.ok()) {
      EXPECT_FALSE(st.message().empty()) << label;
    }
  });
}

TEST_F(FaultAtTheOsBoundary, ATenantCreationFailsCleanlyOrMakesAWholeTenant) {
  Sweep([&](const std::string& label) {
    const std::string id = "made" + std::to_string(++made_);
    Status st = runtime_->CreateTenant(id);
    faults_->Disarm();
    if (!st.ok()) {
      EXPECT_FALSE(st.message().empty()) << label;
      // Nothing half made is left: the name can be created now.
      if (runtime_->TenantExists(id)) {
        Reply r = exec(*runtime_, id, "select 1");
        EXPECT_TRUE(r.acknowledged()) << label << ": " << id << " exists but " << r.describe();
      } else {
        EXPECT_TRUE(runtime_->CreateTenant(id).ok()) << label;
      }
    }
    Reply made = exec(*runtime_, id, "create table t (id int primary key, pad text)");
    EXPECT_TRUE(made.acknowledged()) << label << ": " << made.describe();
    if (made.acknowledged()) Insert(id, 10);
  });
}

TEST_F(FaultAtTheOsBoundary, AForkFailsCleanlyOrMakesAWholeCopy) {
  Sweep([&](const std::string& label) {
    Insert("tenant", 20);
    const std::string id = "fork" + std::to_string(++made_);
    Status st = runtime_->ForkTenant("tenant", id);
    faults_->Disarm();
    if (!st.ok()) {
      EXPECT_FALSE(st.message().empty()) << label;
    }
    if (runtime_->TenantExists(id)) {
      // A fork that exists is a whole copy, whatever its request said: the
      // source's rows (the insert above may have landed unacknowledged).
      const int64_t source_rows = count_rows(*runtime_, "tenant");
      EXPECT_EQ(count_rows(*runtime_, id), source_rows) << label;
      next_id_[id] = next_id_["tenant"];
      acknowledged_[id] = attempted_[id] = source_rows;
    } else {
      EXPECT_FALSE(st.ok()) << label << ": an acknowledged fork is missing";
    }
  });
}

// Postgres' own answers to the two classic failures.
TEST_F(FaultAtTheOsBoundary, AFullDiskFailsTheStatementWith53100AndTheTenantGoesOn) {
  faults_->Arm({Kind::kWrite, 1, Effect::kFailFromNow, ENOSPC, 0});
  // Big enough that the table's file grows while the statement runs.
  Reply r = Insert("tenant", 20000);
  EXPECT_EQ(r.sqlstate, "53100") << r.describe();
  EXPECT_EQ(r.severity, "ERROR") << r.describe();
  ExpectServing("tenant");
  EXPECT_TRUE(Insert("tenant", 10).acknowledged());
  ExpectRestartKeepsEverything();
}

TEST_F(FaultAtTheOsBoundary, AFailedFsyncPanicsTheInstanceWhichRecoversFromItsFiles) {
  const uint64_t booted = runtime_->stats().cold_starts_booted;
  faults_->Arm({Kind::kSync, 1, Effect::kFailOnce, EIO, 0});
  Reply r = Insert("tenant", 10);
  EXPECT_EQ(r.severity, "PANIC") << r.describe();
  ExpectServing("tenant");
  EXPECT_GT(runtime_->stats().cold_starts_booted, booted) << "no recovery from files";
  EXPECT_TRUE(Insert("tenant", 10).acknowledged());
  ExpectRestartKeepsEverything();
}

// The process cut at each fsync of a hibernation (a crash: what was
// written is in the page cache, what follows never happens), then the
// tenant checked by a runtime started on what is left.
TEST(CrashDuringHibernation, ATenantCutAtEveryFsyncBootsWithEveryCommit) {
  (void)test_engine();
  TempDir dir;
  const std::string base = fs::canonical(dir.path()).string();
  constexpr int kRows = 300;
  // A data root's template, built once and copied into each root (a copy
  // is a new file for every name, which a tenant's partially copied-up
  // files would not survive: the tenant itself is made anew each time).
  const std::string source = base + "/source";
  {
    auto runtime = Runtime::Start(test_engine(), options_for(source));
    ASSERT_TRUE(runtime.ok()) << runtime.status().ToString();
    ASSERT_TRUE((*runtime)->Shutdown().ok());
  }

  uint64_t fsyncs = 0;
  for (uint64_t cut = 1;; ++cut) {
    SCOPED_TRACE("cut at fsync #" + std::to_string(cut));
    const std::string root = base + "/cut" + std::to_string(cut);
    fs::create_directories(root);
    for (const auto& entry : fs::directory_iterator(source)) {
      if (entry.path().filename().string().starts_with("template-")) {
        fs::copy(entry.path(), root + "/" + entry.path().filename().string(),
                 fs::copy_options::recursive);
      }
    }
    // The tenant with acknowledged rows, its process killed: not yet
    // hibernated, its commits in its files.
    const bool prepared = engine::testing::kill_child_after([&] {
      auto runtime = Runtime::Start(test_engine(), options_for(root));
      if (!runtime.ok()) return false;
      Reply a = exec(**runtime, "tenant", "create table t (id int primary key, pad text)");
      Reply b = exec(**runtime, "tenant",
                     "insert into t select g, repeat('y', 300) from generate_series(1, " +
                         std::to_string(kRows) + ") g");
      return a.acknowledged() && b.acknowledged();
    });
    ASSERT_TRUE(prepared);

    int report[2];
    ASSERT_EQ(pipe(report), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(report[0]);
      FaultInjectionEnv faults(root + "/");
      ScopedEnv env(faults);
      auto runtime = Runtime::Start(test_engine(), options_for(root));
      if (!runtime.ok()) _exit(2);
      Reply warm = exec(**runtime, "tenant", "select count(*) from t");
      if (!warm.acknowledged()) _exit(3);
      faults.Arm({Kind::kSync, cut, Effect::kExit, 0, 9});
      Status st = (*runtime)->Hibernate("tenant");
      // Not cut: the hibernation made fewer fsyncs than `cut`.
      const uint64_t made = faults.calls(Kind::kSync);
      if (write(report[1], &made, sizeof made) != sizeof made) _exit(4);
      _exit(st.ok() ? 0 : 5);
    }
    close(report[1]);
    uint64_t made = 0;
    const bool finished = read(report[0], &made, sizeof made) == sizeof made;
    close(report[0]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    if (finished) {
      ASSERT_EQ(WEXITSTATUS(status), 0) << "the hibernation failed without a fault";
      fsyncs = made;
      break;
    }
    ASSERT_EQ(WEXITSTATUS(status), 9);

    auto runtime = Runtime::Start(test_engine(), options_for(root));
    ASSERT_TRUE(runtime.ok()) << runtime.status().ToString();
    Reply r = exec(**runtime, "tenant", "select count(*) from t");
    ASSERT_TRUE(r.acknowledged()) << "the tenant does not boot: " << r.describe();
    EXPECT_EQ(r.values, std::vector<std::string>{std::to_string(kRows)});
    // And it hibernates and thaws again, whole.
    ASSERT_TRUE((*runtime)->Hibernate("tenant").ok());
    EXPECT_EQ(count_rows(**runtime, "tenant"), kRows);
    ASSERT_TRUE((*runtime)->Shutdown().ok());
    runtime->reset();
    fs::remove_all(root);
  }
  // The sweep covered a hibernation that syncs at all.
  EXPECT_GT(fsyncs, 0u);
  std::cout << "hibernation cut at each of its " << fsyncs << " fsyncs\n";
}

}  // namespace
}  // namespace pgthaw::runtime
