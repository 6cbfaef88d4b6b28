// Runtime tests: a real engine, real directories, real SQL.
#include "runtime/runtime.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "engine/test_support.h"
#include "pgwire/frontend.h"
#include "runtime/admission.h"
#include "runtime/clock.h"
#include "wasm/guest_stack.h"

namespace pgthaw::runtime {
namespace {

namespace fs = std::filesystem;
using engine::Instance;
using engine::testing::rows;
using engine::testing::run;
using engine::testing::scalar;
using engine::testing::TempDir;
using engine::testing::test_engine;

RuntimeOptions options_for(const TempDir& dir) {
  RuntimeOptions options;
  options.data_root = dir.path();
  options.threads = 4;
  options.warm_pool_size = 0;
  return options;
}

std::unique_ptr<Runtime> start(RuntimeOptions options) {
  auto runtime = Runtime::Start(test_engine(), std::move(options));
  EXPECT_TRUE(runtime.ok()) << runtime.status().ToString();
  if (!runtime.ok()) return nullptr;
  return std::move(runtime).value();
}

// Runs `fn` on the tenant's instance and waits for it; returns the timings.
Timings run_sync(Runtime& runtime, const std::string& tenant,
                 const std::function<void(Instance&)>& fn) {
  std::promise<Timings> done;
  Status st = runtime.Submit(tenant, [&](Result<Session*> instance, const Timings& timings) {
    EXPECT_TRUE(instance.ok()) << instance.status().ToString();
    if (instance.ok()) fn(instance.value()->instance());
    done.set_value(timings);
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return {};
  return done.get_future().get();
}

// Polls `done` for up to `limit`: for what real work brings about (a
// hibernation, a pool refill), never for time to pass (ManualClock).
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

// Every turn has ended: what the items did is recorded (their tenants'
// last use by the runtime's clock, their memory).
[[nodiscard]] bool settled(Runtime& runtime) {
  return runtime.WaitIdle(std::chrono::steady_clock::now() + std::chrono::seconds(30));
}

// Moves `clock` on by `by`, then waits for the maintenance thread to have
// looked at the new time and for the turns it started (hibernations) to end.
[[nodiscard]] bool advance(ManualClock& clock, Runtime& runtime, Clock::duration by) {
  clock.Advance(by);
  return clock.AwaitSleeper() && settled(runtime);
}

using std::chrono::milliseconds;

// Counts down to zero; wait() returns when it gets there.
class Countdown {
 public:
  explicit Countdown(int n) : n_(n) {}
  void done() {
    std::lock_guard lock(mutex_);
    if (--n_ == 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return n_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int n_;
};

std::string snapshot_meta(const TempDir& dir, const std::string& tenant) {
  return dir.path() + "/tenants/" + tenant + "/snapshot/meta.json";
}

TEST(Runtime, PerTenantOrderHoldsUnderConcurrentSubmitters) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  constexpr int kTenants = 8, kSubmitters = 32, kItems = 12;
  for (int i = 0; i < kTenants; ++i) {
    run_sync(*runtime, "t" + std::to_string(i), [](Instance& db) {
      rows(db, "create table log (seq int primary key, submitter int, n int)");
    });
  }

  std::atomic<int> running[kTenants] = {};
  std::atomic<int> overlaps{0}, failures{0};
  Countdown all(kSubmitters * kItems);
  std::vector<std::thread> submitters;
  for (int s = 0; s < kSubmitters; ++s) {
    submitters.emplace_back([&, s] {
      int tenant = s % kTenants;
      for (int n = 0; n < kItems; ++n) {
        Status st = runtime->Submit(
            "t" + std::to_string(tenant),
            [&, s, n, tenant](Result<Session*> instance, const Timings&) {
              if (running[tenant].fetch_add(1) != 0) ++overlaps;
              if (!instance.ok()) {
                ++failures;
              } else {
                // One transaction as four separate Execs: another item of
                // this tenant in between would break the sequence.
                Instance& db = instance.value()->instance();
                rows(db, "begin");
                std::string max = scalar(db, "select coalesce(max(seq), 0) from log");
                rows(db, "insert into log values (" + std::to_string(std::stoi(max) + 1) + ", " +
                             std::to_string(s) + ", " + std::to_string(n) + ")");
                rows(db, "commit");
              }
              running[tenant].fetch_sub(1);
              all.done();
            });
        if (!st.ok()) {
          ++failures;
          all.done();
        }
      }
    });
  }
  for (std::thread& t : submitters) t.join();
  all.wait();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(failures.load(), 0);

  constexpr int kPerTenant = kSubmitters / kTenants * kItems;
  for (int i = 0; i < kTenants; ++i) {
    run_sync(*runtime, "t" + std::to_string(i), [&](Instance& db) {
      EXPECT_EQ(scalar(db, "select count(*) = max(seq) and min(seq) = 1 from log"), "t");
      EXPECT_EQ(scalar(db, "select count(*) from log"), std::to_string(kPerTenant));
      // Each submitter's numbers appear in the order it submitted them.
      EXPECT_EQ(scalar(db,
                       "select count(*) from (select n - lag(n) over (partition by submitter"
                       " order by seq) as step from log) s where step <> 1"),
                "0");
      EXPECT_EQ(scalar(db, "select count(distinct submitter) from log"),
                std::to_string(kSubmitters / kTenants));
    });
  }
}

TEST(Runtime, IdleTenantHibernatesAndThawsWithItsData) {
  TempDir dir;
  auto clock = std::make_shared<ManualClock>();
  RuntimeOptions options = options_for(dir);
  options.idle_timeout_ms = 100;
  options.clock = clock;
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  Timings first = run_sync(*runtime, "sleepy", [](Instance& db) {
    rows(db, "create table kv (k text primary key, v int); insert into kv values ('a', 42)");
  });
  EXPECT_TRUE(first.cold);
  EXPECT_EQ(first.cold_kind, ColdKind::kCreated);
  ASSERT_TRUE(settled(*runtime));

  // Idle for less than the timeout: warm.
  ASSERT_TRUE(advance(*clock, *runtime, milliseconds(99)));
  EXPECT_EQ(runtime->state("sleepy"), TenantState::kWarm);
  // The timeout counts from the last use, not from the thaw.
  run_sync(*runtime, "sleepy", [](Instance& db) { rows(db, "select 1"); });
  ASSERT_TRUE(settled(*runtime));
  // (5 ms short: the maintenance thread runs a pass at most every 5 ms.)
  ASSERT_TRUE(advance(*clock, *runtime, milliseconds(95)));
  EXPECT_EQ(runtime->state("sleepy"), TenantState::kWarm);
  EXPECT_EQ(runtime->stats().hibernations, 0u);
  // Idle for the whole timeout: hibernated (the maintenance thread asked
  // for it before it slept again; `advance` waited for the snapshot).
  ASSERT_TRUE(advance(*clock, *runtime, milliseconds(5)));
  EXPECT_EQ(runtime->state("sleepy"), TenantState::kCold);
  EXPECT_TRUE(fs::exists(snapshot_meta(dir, "sleepy")));
  EXPECT_EQ(runtime->stats().hibernated_tenants, 1u);
  EXPECT_GE(runtime->stats().hibernations, 1u);
  EXPECT_EQ(runtime->stats().warm_tenants, 0u);

  Timings again = run_sync(*runtime, "sleepy", [](Instance& db) {
    EXPECT_EQ(scalar(db, "select v from kv where k = 'a'"), "42");
  });
  EXPECT_TRUE(again.cold);
  EXPECT_EQ(again.cold_kind, ColdKind::kThawed);
  EXPECT_GT(again.thaw_us, 0);
  RuntimeStats stats = runtime->stats();
  EXPECT_EQ(stats.cold_starts_thawed, 1u);
  EXPECT_EQ(stats.cold_starts_created, 1u);
}

TEST(Runtime, InvalidTenantIdsAreRejectedWithoutTouchingDisk) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  const std::string bad[] = {"",
                             ".",
                             "..",
                             "a/b",
                             "../x",
                             "a b",
                             "a.b",
                             "é",
                             "tab\there",
                             "a\\b",
                             "x:y",
                             std::string(64, 'a'),
                             std::string("nul\0x", 5)};
  for (const std::string& id : bad) {
    EXPECT_EQ(Runtime::ValidateTenantId(id).code(), StatusCode::kInvalidArgument) << id;
    Status st = runtime->Submit(id, [](Result<Session*>, const Timings&) {
      ADD_FAILURE() << "work ran for an invalid id";
    });
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(runtime->SubmitHeld(id, 1, [](Result<Session*>, const Timings&) {}).code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(runtime->Hibernate(id).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(Runtime::ValidateTenantId(std::string(63, 'z')).ok());
  EXPECT_TRUE(Runtime::ValidateTenantId("Tenant_01-x").ok());
  EXPECT_TRUE(fs::is_empty(dir.path() + "/tenants"));
}

TEST(Runtime, ShutdownRunsQueuedWorkHibernatesAndRefusesNewWork) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  for (const char* id : {"a", "b", "c"}) {
    run_sync(*runtime, id,
             [&](Instance& db) { rows(db, "create table t (x int); insert into t values (1)"); });
  }
  std::atomic<int> ran{0};
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(runtime
                    ->Submit("a",
                             [&](Result<Session*> instance, const Timings&) {
                               ASSERT_TRUE(instance.ok());
                               rows(instance.value()->instance(), "insert into t values (2)");
                               ++ran;
                             })
                    .ok());
  }
  ASSERT_TRUE(runtime->Shutdown().ok());
  EXPECT_EQ(ran.load(), 20);
  RuntimeStats stats = runtime->stats();
  EXPECT_EQ(stats.warm_tenants, 0u);
  EXPECT_EQ(stats.hibernated_tenants, 3u);
  for (const char* id : {"a", "b", "c"}) {
    EXPECT_TRUE(fs::exists(snapshot_meta(dir, id))) << id;
    EXPECT_EQ(runtime->state(id), TenantState::kCold);
  }
  auto noop = [](Result<Session*>, const Timings&) { ADD_FAILURE() << "ran after shutdown"; };
  EXPECT_EQ(runtime->Submit("a", noop).code(), StatusCode::kUnavailable);
  EXPECT_EQ(runtime->SubmitHeld("d", 7, noop).code(), StatusCode::kUnavailable);
  EXPECT_TRUE(runtime->Shutdown().ok());  // twice is fine
  runtime.reset();

  // A new runtime over the same root thaws what the old one left.
  auto again = start(options_for(dir));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->stats().hibernated_tenants, 3u);
  Timings t = run_sync(*again, "a",
                       [](Instance& db) { EXPECT_EQ(scalar(db, "select count(*) from t"), "21"); });
  EXPECT_EQ(t.cold_kind, ColdKind::kThawed);
}

TEST(Runtime, AHolderInATransactionMakesOthersWaitUntilItEnds) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "h", [](Instance& db) { rows(db, "create table t (id serial, x int)"); });

  auto held = [&](uint64_t holder, const std::string& sql) {
    std::promise<void> done;
    ASSERT_TRUE(runtime
                    ->SubmitHeld("h", holder,
                                 [&](Result<Session*> instance, const Timings&) {
                                   EXPECT_TRUE(instance.ok());
                                   if (instance.ok()) rows(instance.value()->instance(), sql);
                                   done.set_value();
                                 })
                    .ok());
    done.get_future().get();
  };
  held(1, "begin; insert into t (x) values (1)");

  std::promise<void> other_done;
  std::atomic<bool> other_ran{false};
  ASSERT_TRUE(runtime
                  ->Submit("h",
                           [&](Result<Session*> instance, const Timings&) {
                             ASSERT_TRUE(instance.ok());
                             // Outside the holder's transaction: it committed.
                             EXPECT_TRUE(instance.value()->Idle());
                             rows(instance.value()->instance(), "insert into t (x) values (2)");
                             other_ran = true;
                             other_done.set_value();
                           })
                  .ok());
  // The holder's next item runs before the waiting one: had the hold not
  // kept the tenant, that one (queued first) would have run first.
  held(1, "insert into t (x) values (10)");
  EXPECT_FALSE(other_ran.load());
  EXPECT_EQ(runtime->stats().queued, 1u);
  EXPECT_EQ(runtime->Hibernate("h").code(), StatusCode::kUnavailable);
  runtime->Release("h", 2);  // not the holder: no effect
  held(1, "delete from t where x = 10");
  EXPECT_FALSE(other_ran.load());
  EXPECT_EQ(runtime->stats().queued, 1u);

  // The holder's later items pass the waiting one; its COMMIT ends the hold.
  held(1, "insert into t (x) values (3); commit");
  other_done.get_future().get();
  run_sync(*runtime, "h",
           [](Instance& db) { EXPECT_EQ(rows(db, "select x from t order by id"), "1\n3\n2\n"); });
  // Idle and free: it may hibernate now.
  EXPECT_TRUE(runtime->Hibernate("h").ok());
  EXPECT_EQ(runtime->state("h"), TenantState::kCold);
  EXPECT_TRUE(fs::exists(snapshot_meta(dir, "h")));
}

TEST(Runtime, AHolderThatLeavesHasItsTransactionAndExchangeRolledBack) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "h", [](Instance& db) { rows(db, "create table t (x int)"); });
  auto held = [&](uint64_t holder, const std::string& messages) {
    std::promise<void> done;
    ASSERT_TRUE(runtime
                    ->SubmitHeld("h", holder,
                                 [&](Result<Session*> session, const Timings&) {
                                   ASSERT_TRUE(session.ok());
                                   EXPECT_TRUE((*session)->Exec(messages).ok());
                                   done.set_value();
                                 })
                    .ok());
    done.get_future().get();
  };
  std::string q;
  ASSERT_TRUE(pgwire::frontend::query(q, "begin; insert into t values (1)").ok());
  held(1, q);
  runtime->Release("h", 1);  // a connection closed inside BEGIN
  // An extended exchange left open by Flush, then gone: its implicit
  // transaction is aborted, not committed by a Sync.
  std::string flushed;
  ASSERT_TRUE(pgwire::frontend::parse(flushed, "", "insert into t values (2)", {}).ok());
  ASSERT_TRUE(pgwire::frontend::bind(flushed, "", "", {}, {}).ok());
  ASSERT_TRUE(pgwire::frontend::execute(flushed, "", 0).ok());
  pgwire::frontend::flush(flushed);
  held(2, flushed);
  runtime->Release("h", 2);
  run_sync(*runtime, "h", [](Instance& db) {
    EXPECT_FALSE(db.InTransaction());
    EXPECT_TRUE(db.AtReady());
    EXPECT_EQ(scalar(db, "select count(*) from t"), "0");
  });
  // A holder that leaves from inside its own item: the same.
  std::promise<void> done;
  ASSERT_TRUE(runtime
                  ->SubmitHeld("h", 3,
                               [&](Result<Session*> session, const Timings&) {
                                 ASSERT_TRUE(session.ok());
                                 EXPECT_TRUE((*session)->Exec(q).ok());
                                 runtime->Release("h", 3);
                                 done.set_value();
                               })
                  .ok());
  done.get_future().get();
  run_sync(*runtime, "h",
           [](Instance& db) { EXPECT_EQ(scalar(db, "select count(*) from t"), "0"); });
}

TEST(Runtime, AHoldIdlePastItsTimeoutIsRolledBackAndItsHolderRefused) {
  TempDir dir;
  auto clock = std::make_shared<ManualClock>();
  RuntimeOptions options = options_for(dir);
  options.idle_in_transaction_timeout_ms = 1000;
  options.clock = clock;
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  std::promise<std::pair<std::string, uint64_t>> told;
  runtime->SetHoldExpiredHandler([&](const std::string& tenant, uint64_t holder) {
    told.set_value({tenant, holder});
  });
  std::future<std::pair<std::string, uint64_t>> expired = told.get_future();
  run_sync(*runtime, "h", [](Instance& db) { rows(db, "create table t (x int)"); });
  auto held = [&](const std::string& sql) {
    std::promise<void> done;
    ASSERT_TRUE(runtime
                    ->SubmitHeld("h", 1,
                                 [&](Result<Session*> session, const Timings&) {
                                   EXPECT_TRUE(session.ok());
                                   if (session.ok()) rows(session.value()->instance(), sql);
                                   done.set_value();
                                 })
                    .ok());
    done.get_future().get();
    ASSERT_TRUE(settled(*runtime));
  };
  held("begin; insert into t values (1)");
  clock->Advance(milliseconds(600));
  held("insert into t values (2)");  // the hold's idle time starts again here
  std::promise<std::string> other_saw;
  ASSERT_TRUE(runtime
                  ->Submit("h",
                           [&](Result<Session*> session, const Timings&) {
                             EXPECT_TRUE(session.ok());
                             other_saw.set_value(session.ok() ? scalar(session.value()->instance(),
                                                                       "select count(*) from t")
                                                              : "");
                           })
                  .ok());
  std::future<std::string> other = other_saw.get_future();

  // 999 ms after the holder's last item: still its.
  clock->Advance(milliseconds(999));
  ASSERT_TRUE(clock->AwaitSleeper());
  EXPECT_NE(expired.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_NE(other.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_EQ(runtime->stats().queued, 1u);

  // 1000 ms: rolled back, the holder told and refused, the waiting item runs.
  clock->Advance(milliseconds(1));
  ASSERT_EQ(expired.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(expired.get(), (std::pair<std::string, uint64_t>{"h", 1}));
  ASSERT_EQ(other.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(other.get(), "0");
  Status refused = runtime->SubmitHeld("h", 1, [](Result<Session*>, const Timings&) {
    ADD_FAILURE() << "an expired holder's item ran";
  });
  EXPECT_EQ(refused.code(), StatusCode::kAborted) << refused.ToString();
  EXPECT_NE(refused.message().find("idle-in-transaction timeout"), std::string::npos)
      << refused.ToString();
  // Once it is gone, its id may hold again (a new connection).
  runtime->Release("h", 1);
  held("begin; insert into t values (3); commit");
  run_sync(*runtime, "h",
           [](Instance& db) { EXPECT_EQ(scalar(db, "select count(*) from t"), "1"); });
}

TEST(Runtime, AnItemWithoutAHolderNeverLeavesATransactionOpen) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "p", [](Instance& db) { rows(db, "create table t (x int)"); });
  run_sync(*runtime, "p", [](Instance& db) { rows(db, "begin; insert into t values (1)"); });
  run_sync(*runtime, "p", [](Instance& db) {
    EXPECT_FALSE(db.InTransaction());
    EXPECT_EQ(scalar(db, "select count(*) from t"), "0");
  });
}

TEST(Runtime, PoolTenantSurvivesRenameHibernateAndRestart) {
  TempDir dir;
  RuntimeOptions options = options_for(dir);
  options.warm_pool_size = 2;
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  ASSERT_TRUE(runtime->Warmup().ok());
  EXPECT_EQ(runtime->stats().pool_ready, 2u);

  Timings t = run_sync(*runtime, "fresh", [](Instance& db) {
    rows(db, "create table t (x text); insert into t values ('from the pool')");
  });
  EXPECT_TRUE(t.cold);
  EXPECT_EQ(t.cold_kind, ColdKind::kPool);
  EXPECT_EQ(runtime->stats().cold_starts_pool, 1u);
  // The slot became the tenant's directory, laid out as open_tenant() does.
  EXPECT_TRUE(fs::exists(dir.path() + "/tenants/fresh/lower"));
  EXPECT_TRUE(fs::is_directory(dir.path() + "/tenants/fresh/data"));
  // Writes land under the new name (the VFS follows the renamed directory).
  run_sync(*runtime, "fresh", [](Instance& db) { rows(db, "checkpoint"); });
  bool found_relation_file = false;
  for (const auto& e : fs::recursive_directory_iterator(dir.path() + "/tenants/fresh/data")) {
    if (e.path().string().find("/base/") != std::string::npos && e.is_regular_file()) {
      found_relation_file = true;
    }
  }
  EXPECT_TRUE(found_relation_file);
  EXPECT_TRUE(eventually([&] { return runtime->stats().pool_ready == 2; }));

  ASSERT_TRUE(runtime->Hibernate("fresh").ok());
  ASSERT_TRUE(fs::exists(snapshot_meta(dir, "fresh")));
  t = run_sync(*runtime, "fresh", [](Instance& db) {
    EXPECT_EQ(scalar(db, "select x from t"), "from the pool");
    rows(db, "insert into t values ('after thaw')");
  });
  EXPECT_EQ(t.cold_kind, ColdKind::kThawed);

  // A second pooled tenant is independent of the first.
  run_sync(*runtime, "second", [](Instance& db) {
    EXPECT_EQ(scalar(db, "select count(*) from pg_class where relname = 't'"), "0");
  });
  ASSERT_TRUE(runtime->Shutdown().ok());
  runtime.reset();
  EXPECT_FALSE(fs::exists(dir.path() + "/pool/slot-0"));

  auto again = start(options);
  ASSERT_NE(again, nullptr);
  t = run_sync(*again, "fresh", [](Instance& db) {
    EXPECT_EQ(rows(db, "select x from t order by x"), "after thaw\nfrom the pool\n");
  });
  EXPECT_EQ(t.cold_kind, ColdKind::kThawed);
}

TEST(Runtime, MemoryBudgetHibernatesLeastRecentlyUsedFirst) {
  TempDir dir;
  auto clock = std::make_shared<ManualClock>();
  RuntimeOptions options = options_for(dir);
  options.tenant_memory_bytes = uint64_t{1} << 20;
  options.memory_budget_bytes = (uint64_t{5} << 20) / 2;  // room for two
  options.clock = clock;
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  // Used one millisecond apart by the runtime's clock, in an order that is
  // not the ids' (ties would go by id).
  for (const char* id : {"m4", "m3", "m2", "m1"}) {
    run_sync(*runtime, id, [](Instance& db) { rows(db, "create table t (x int)"); });
    ASSERT_TRUE(settled(*runtime));
    clock->Advance(milliseconds(1));
  }
  ASSERT_TRUE(eventually([&] {
    RuntimeStats s = runtime->stats();
    return s.warm_tenants == 2 && s.hibernations == 2;
  }));
  EXPECT_EQ(runtime->state("m4"), TenantState::kCold);
  EXPECT_EQ(runtime->state("m3"), TenantState::kCold);
  EXPECT_EQ(runtime->state("m2"), TenantState::kWarm);
  EXPECT_EQ(runtime->state("m1"), TenantState::kWarm);
  EXPECT_EQ(runtime->stats().warm_memory_bytes, uint64_t{2} << 20);
}

TEST(Runtime, MemoryBudgetChargesEachTenantsMeasuredMemory) {
  TempDir dir;
  RuntimeOptions options = options_for(dir);
  options.warm_pool_size = 0;
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "small", [](Instance& db) { rows(db, "select 1"); });
  uint64_t one = runtime->stats().warm_memory_bytes;
  EXPECT_GT(one, 0u);
  EXPECT_LT(one, uint64_t{256} << 20);
  // A tenant that touched 150 MB of its memory (twice: the planner copies
  // the folded constant) is charged for it.
  run_sync(*runtime, "big", [](Instance& db) {
    EXPECT_EQ(scalar(db, "select length(repeat('x', 150000000))"), "150000000");
  });
  // Charged once the work item has returned (the runtime measures then).
  EXPECT_TRUE(eventually([&] {
    return runtime->stats().warm_memory_bytes >= one + (uint64_t{150} << 20);
  })) << one
      << " -> " << runtime->stats().warm_memory_bytes;
  // Hibernation takes the tenant's charge off.
  ASSERT_TRUE(runtime->Hibernate("big").ok());
  uint64_t after = runtime->stats().warm_memory_bytes;
  EXPECT_LT(after, one + (uint64_t{64} << 20)) << after;
}

TEST(Runtime, ColdTenantThawIsScheduledAheadOfWarmWork) {
  TempDir dir;
  RuntimeOptions options = options_for(dir);
  options.threads = 1;
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "warm", [](Instance&) {});

  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::mutex order_mutex;
  std::vector<std::string> order;
  Countdown all(3);
  auto record = [&](const std::string& what) {
    return [&, what](Result<Session*> instance, const Timings&) {
      EXPECT_TRUE(instance.ok());
      if (what == "blocker") open.wait();
      std::lock_guard lock(order_mutex);
      order.push_back(what);
      all.done();
    };
  };
  ASSERT_TRUE(runtime->Submit("blocker", record("blocker")).ok());
  ASSERT_TRUE(eventually([&] { return runtime->state("blocker") == TenantState::kWarm; }));
  ASSERT_TRUE(runtime->Submit("warm", record("warm")).ok());
  ASSERT_TRUE(runtime->Submit("cold", record("cold")).ok());
  gate.set_value();
  all.wait();
  EXPECT_EQ(order, (std::vector<std::string>{"blocker", "cold", "warm"}));
}

TEST(Runtime, FailedThawGivesTheErrorToTheWorkItem) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  fs::create_directories(dir.path() + "/tenants/broken");
  std::ofstream(dir.path() + "/tenants/broken/data") << "not a directory";
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::promise<Status> got;
    ASSERT_TRUE(runtime
                    ->Submit("broken",
                             [&](Result<Session*> instance, const Timings& timings) {
                               EXPECT_TRUE(timings.cold);
                               got.set_value(instance.status());
                             })
                    .ok());
    Status st = got.get_future().get();
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("broken"), std::string::npos) << st.ToString();
    EXPECT_EQ(runtime->state("broken"), TenantState::kCold);
  }
  EXPECT_EQ(runtime->stats().warm_tenants, 0u);
  // Other tenants are unaffected.
  run_sync(*runtime, "fine", [](Instance& db) { EXPECT_EQ(scalar(db, "select 1"), "1"); });
}

TEST(Runtime, TenantWhoseInstanceTrappedIsBootedAgainFromItsFiles) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "fragile", [](Instance& db) {
    rows(db, "create table t (n int)");
    rows(db, "insert into t values (7)");
    rows(db,
         "create function r(n int) returns int language sql as "
         "'select case when n = 0 then 0 else r(n - 1) end'");
  });
  // A million-deep recursion on a thread with a small guest stack exhausts
  // it before Postgres' depth check: a trap.
  run_sync(*runtime, "fragile", [](Instance& db) {
    std::thread small([&] {
      ASSERT_TRUE(wasm::reserve_guest_stack(size_t{4} << 20));
      std::string q;
      ASSERT_TRUE(
          pgwire::frontend::query(q, "set max_stack_depth = '7680kB'; select r(1000000)").ok());
      EXPECT_EQ(db.Exec(q).status().code(), StatusCode::kEngineTrap);
    });
    small.join();
    EXPECT_FALSE(db.alive());
  });
  Timings timings = run_sync(*runtime, "fragile",
                             [](Instance& db) { EXPECT_EQ(scalar(db, "select n from t"), "7"); });
  EXPECT_TRUE(timings.cold);
  EXPECT_EQ(timings.cold_kind, ColdKind::kBooted);
}

// ---- Limits, fairness, exceptions, bounded shutdown ---------------------------------

// A work item that parks its worker until release() (not guest code, so a
// test can end it).
class Gate {
 public:
  void release() { open_.set_value(); }
  void wait() { opened_.wait(); }
  void entered() { entered_.set_value(); }
  void wait_entered() { entered_.get_future().wait(); }

 private:
  std::promise<void> open_;
  std::shared_future<void> opened_ = open_.get_future().share();
  std::promise<void> entered_;
};

TEST(Runtime, WorkItemThatThrowsIsAnInternalErrorAndTheTenantGoesOn) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "thrower",
           [](Instance& db) { rows(db, "create table t (n int); insert into t values (1)"); });

  std::promise<Status> second_call;
  std::atomic<int> calls{0};
  ASSERT_TRUE(runtime
                  ->Submit("thrower",
                           [&](Result<Session*> instance, const Timings&) {
                             if (++calls == 1) {
                               EXPECT_TRUE(instance.ok());
                               throw std::bad_alloc();
                             }
                             second_call.set_value(instance.status());
                           })
                  .ok());
  Status st = second_call.get_future().get();
  EXPECT_EQ(st.code(), StatusCode::kInternal) << st.ToString();
  EXPECT_NE(st.message().find("bad_alloc"), std::string::npos) << st.ToString();
  EXPECT_EQ(calls.load(), 2);

  // Anything else thrown, even twice, is contained the same way.
  std::promise<void> thrown_twice;
  ASSERT_TRUE(runtime
                  ->Submit("thrower",
                           [&](Result<Session*> instance, const Timings&) {
                             if (!instance.ok()) thrown_twice.set_value();
                             throw 42;
                           })
                  .ok());
  thrown_twice.get_future().get();

  // The instance was dropped: the next item boots the tenant from its files.
  Timings t = run_sync(*runtime, "thrower",
                       [](Instance& db) { EXPECT_EQ(scalar(db, "select n from t"), "1"); });
  EXPECT_EQ(t.cold_kind, ColdKind::kBooted);
  run_sync(*runtime, "bystander", [](Instance& db) { EXPECT_EQ(scalar(db, "select 2"), "2"); });
}

TEST(Runtime, QueueBeyondTheCapIsRefusedButNotTheHoldersItems) {
  TempDir dir;
  RuntimeOptions options = options_for(dir);
  options.max_queued_per_tenant = 3;
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "busy", [](Instance& db) { rows(db, "create table t (n int)"); });

  // The holder's transaction is open and its tenant is parked in its next item.
  Gate gate;
  ASSERT_TRUE(runtime
                  ->SubmitHeld("busy", 1,
                               [&](Result<Session*> instance, const Timings&) {
                                 ASSERT_TRUE(instance.ok());
                                 rows(instance.value()->instance(), "begin");
                                 gate.entered();
                                 gate.wait();
                               })
                  .ok());
  gate.wait_entered();
  std::atomic<int> ran{0};
  auto insert = [&](Result<Session*> instance, const Timings&) {
    EXPECT_TRUE(instance.ok());
    if (instance.ok()) rows(instance.value()->instance(), "insert into t values (1)");
    ++ran;
  };
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(runtime->Submit("busy", insert).ok());
  Status refused = runtime->Submit("busy", insert);
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused.ToString();
  EXPECT_TRUE(IsQueueFull(refused)) << refused.ToString();
  EXPECT_FALSE(IsTooManyTenants(refused));
  EXPECT_TRUE(IsQueueFull(refused.Annotate("tenant busy: ")));
  // Another holder waits behind the queue like anyone: refused too.
  EXPECT_TRUE(IsQueueFull(runtime->SubmitHeld("busy", 2, insert)));
  // Other tenants have queues of their own.
  std::promise<void> other;
  ASSERT_TRUE(
      runtime->Submit("other", [&](Result<Session*>, const Timings&) { other.set_value(); }).ok());
  other.get_future().get();

  // The holder still ends its transaction past the full queue.
  std::promise<void> committed;
  ASSERT_TRUE(runtime
                  ->SubmitHeld("busy", 1,
                               [&](Result<Session*> instance, const Timings&) {
                                 ASSERT_TRUE(instance.ok());
                                 rows(instance.value()->instance(),
                                      "insert into t values (0); commit");
                                 committed.set_value();
                               })
                  .ok());
  gate.release();
  committed.get_future().get();
  ASSERT_TRUE(eventually([&] { return ran.load() == 3; }));
  run_sync(*runtime, "busy",
           [](Instance& db) { EXPECT_EQ(scalar(db, "select count(*) from t"), "4"); });
  // The queue drained: room again.
  EXPECT_TRUE(runtime->Submit("busy", insert).ok());
  ASSERT_TRUE(eventually([&] { return ran.load() == 4; }));
}

TEST(Runtime, NewTenantsBeyondMaxTenantsAreRefusedWithoutADirectory) {
  TempDir dir;
  RuntimeOptions options = options_for(dir);
  options.max_tenants = 2;
  {
    auto runtime = start(options);
    ASSERT_NE(runtime, nullptr);
    run_sync(*runtime, "first", [](Instance& db) { rows(db, "create table t (n int)"); });
    run_sync(*runtime, "second", [](Instance&) {});
    EXPECT_EQ(runtime->stats().tenants, 2u);
    EXPECT_EQ(runtime->stats().tenants_created, 2u);
    std::promise<Status> got;
    ASSERT_TRUE(runtime
                    ->Submit("third", [&](Result<Session*> instance,
                                          const Timings&) { got.set_value(instance.status()); })
                    .ok());
    Status st = got.get_future().get();
    EXPECT_TRUE(IsTooManyTenants(st)) << st.ToString();
    EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
    EXPECT_FALSE(fs::exists(dir.path() + "/tenants/third"));
    EXPECT_EQ(runtime->stats().tenants_created, 2u);
    // Existing tenants go on.
    run_sync(*runtime, "first",
             [](Instance& db) { EXPECT_EQ(scalar(db, "select count(*) from t"), "0"); });
  }
  // A new runtime counts the directories it finds.
  auto again = start(options);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->stats().tenants, 2u);
  EXPECT_EQ(again->stats().tenants_created, 0u);
  std::promise<Status> got;
  ASSERT_TRUE(again
                  ->Submit("third", [&](Result<Session*> instance,
                                        const Timings&) { got.set_value(instance.status()); })
                  .ok());
  EXPECT_TRUE(IsTooManyTenants(got.get_future().get()));
  run_sync(*again, "second", [](Instance& db) { EXPECT_EQ(scalar(db, "select 1"), "1"); });
}

TEST(Runtime, ColdStartsLeaveAWorkerForWarmTenants) {
  TempDir dir;
  RuntimeOptions options = options_for(dir);
  options.threads = 3;  // at most two open at once
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "warm", [](Instance&) {});

  // Many new tenants at once, then one item of a warm tenant: cold tenants
  // go to the front of the ready queue, but the warm item need not wait
  // for all of them.
  constexpr int kCold = 16;
  std::atomic<int> cold_done{0};
  Countdown all(kCold + 1);
  for (int i = 0; i < kCold; ++i) {
    ASSERT_TRUE(runtime
                    ->Submit("new-" + std::to_string(i),
                             [&](Result<Session*> instance, const Timings& t) {
                               EXPECT_TRUE(instance.ok());
                               EXPECT_TRUE(t.cold);
                               ++cold_done;
                               all.done();
                             })
                    .ok());
  }
  int cold_done_when_warm_ran = -1;
  ASSERT_TRUE(runtime
                  ->Submit("warm",
                           [&](Result<Session*> instance, const Timings& t) {
                             EXPECT_TRUE(instance.ok());
                             EXPECT_FALSE(t.cold);
                             cold_done_when_warm_ran = cold_done.load();
                             all.done();
                           })
                  .ok());
  all.wait();
  // Without the reservation all three workers open cold tenants first and
  // the warm item, picked after them, runs after at least kCold - 2 of them.
  EXPECT_LT(cold_done_when_warm_ran, kCold - 4);
  std::cerr << "[ info ] the warm item ran after " << cold_done_when_warm_ran << " of " << kCold
            << " cold starts\n";
}

TEST(Runtime, ShutdownPastItsTimeoutAbandonsAStuckTenant) {
  TempDir dir;
  RuntimeOptions options = options_for(dir);
  options.threads = 2;
  options.shutdown_timeout_ms = 300;
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "kept", [](Instance& db) {
    rows(db, "create table t (v text); insert into t values ('kept')");
  });
  // Shared: the parked worker outlives the runtime object.
  auto gate = std::make_shared<Gate>();
  ASSERT_TRUE(runtime
                  ->Submit("stuck",
                           [gate](Result<Session*>, const Timings&) {
                             gate->entered();
                             gate->wait();  // as a query in an endless loop
                           })
                  .ok());
  gate->wait_entered();
  Status st = runtime->Shutdown();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("timed out"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("stuck"), std::string::npos) << st.ToString();
  EXPECT_TRUE(runtime->abandoned());
  EXPECT_EQ(runtime->Submit("kept", [](Result<Session*>, const Timings&) {}).code(),
            StatusCode::kUnavailable);
  runtime.reset();  // leaks the state the parked worker still uses
  gate->release();  // the worker finishes its turn and leaves

  // Nothing was hibernated; the files have every committed transaction.
  auto again = start(options_for(dir));
  ASSERT_NE(again, nullptr);
  Timings t = run_sync(*again, "kept",
                       [](Instance& db) { EXPECT_EQ(scalar(db, "select v from t"), "kept"); });
  EXPECT_EQ(t.cold_kind, ColdKind::kBooted);
}

}  // namespace
}  // namespace pgthaw::runtime

namespace pgthaw::runtime {
namespace {

// The first error of `sql` on `db`, as "SQLSTATE: message" ("" if none).
std::string first_error(Instance& db, const std::string& sql) {
  for (const pgwire::StatementResult& r : engine::testing::run(db, sql)) {
    if (r.error) return r.error->sqlstate() + ": " + r.error->message();
  }
  return "";
}

TEST(Runtime, ATenantsOwnStatementTimeoutOverridesTheServers) {
  TempDir dir;
  RuntimeOptions options = options_for(dir);
  options.statement_timeout_ms = 0;  // the server sets no limit
  auto runtime = start(options);
  ASSERT_NE(runtime, nullptr);
  const std::string kLong = "select count(*) from generate_series(1, 1e10)";
  run_sync(*runtime, "limited", [](Instance&) {});
  run_sync(*runtime, "free", [](Instance&) {});
  EXPECT_EQ(runtime->SetTenantSettings("nobody", {.statement_timeout_ms = 5}).code(),
            StatusCode::kNotFound);
  // Warm: its next item runs under the new limit.
  ASSERT_TRUE(runtime->SetTenantSettings("limited", {.statement_timeout_ms = 200}).ok());
  run_sync(*runtime, "limited", [&](Instance& db) {
    EXPECT_EQ(first_error(db, kLong), "57014: canceling statement due to statement timeout");
  });
  run_sync(*runtime, "free",
           [](Instance& db) { EXPECT_EQ(first_error(db, "select pg_sleep(0.4)"), ""); });
  // Kept in the tenant's directory: a thaw reads it again.
  ASSERT_TRUE(runtime->Hibernate("limited").ok());
  run_sync(*runtime, "limited", [&](Instance& db) {
    EXPECT_EQ(first_error(db, kLong), "57014: canceling statement due to statement timeout");
  });
  auto kept = read_tenant_settings(dir.path() + "/tenants/limited");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->statement_timeout_ms, 200);
  // Back to the server's value.
  ASSERT_TRUE(runtime->SetTenantSettings("limited", {}).ok());
  run_sync(*runtime, "limited",
           [](Instance& db) { EXPECT_EQ(first_error(db, "select pg_sleep(0.4)"), ""); });
}

TEST(Runtime, ABrokenSettingsFileFailsTheTenantsOpenWithItsName) {
  TempDir dir;
  auto runtime = start(options_for(dir));
  ASSERT_NE(runtime, nullptr);
  run_sync(*runtime, "t", [](Instance&) {});
  ASSERT_TRUE(runtime->Hibernate("t").ok());
  std::ofstream(dir.path() + "/tenants/t/settings.json") << R"({"statement_timeout_ms": "soon"})";
  std::promise<Status> opened;
  ASSERT_TRUE(runtime
                  ->Submit("t", [&](Result<Session*> session,
                                    const Timings&) { opened.set_value(session.status()); })
                  .ok());
  Status st = opened.get_future().get();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("settings.json"), std::string::npos) << st.ToString();
  // Fixed: it opens.
  std::ofstream(dir.path() + "/tenants/t/settings.json") << R"({"statement_timeout_ms": 1000})";
  run_sync(*runtime, "t", [](Instance& db) { EXPECT_EQ(scalar(db, "select 1"), "1"); });
}

TEST(TenantSettings, CommandLineAssignments) {
  TenantSettings s;
  EXPECT_TRUE(apply_tenant_setting(s, "statement_timeout_ms=5000").ok());
  EXPECT_EQ(s.statement_timeout_ms, 5000);
  EXPECT_TRUE(apply_tenant_setting(s, "statement_timeout_ms=default").ok());
  EXPECT_FALSE(s.statement_timeout_ms.has_value());
  EXPECT_EQ(apply_tenant_setting(s, "statement_timeout_ms=-1").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(apply_tenant_setting(s, "statement_timeout_ms=5s").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(apply_tenant_setting(s, "work_mem=1").code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pgthaw::runtime
