// LongWorkDemoter and WorkerThreads: a long work item's thread is demoted
// while it runs and restored (or replaced) after; a short item never is.
// The thread's policy and nice value are read with sched_getscheduler and
// getpriority from inside the item. No timing asserts: the long items spin
// until the demotion shows (bounded by a generous wall-clock limit).
#include "runtime/cpu_priority.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "engine/test_support.h"
#include "runtime/runtime.h"
#include "runtime/worker_threads.h"

namespace pgthaw::runtime {
namespace {

using Clock = std::chrono::steady_clock;
using engine::testing::run;
using engine::testing::TempDir;
using engine::testing::test_engine;

int my_policy() { return sched_getscheduler(0) & ~SCHED_RESET_ON_FORK; }

// A user install: RLIMIT_NICE 0 and, if root, CAP_SYS_NICE dropped from this
// thread (threads it creates inherit that). For a forked child only.
bool drop_nice_privilege() {
  rlimit none{0, 0};
  if (setrlimit(RLIMIT_NICE, &none) != 0) return false;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2] = {};
  if (syscall(SYS_capget, &header, caps) != 0) return false;
  const unsigned bit = 1u << (CAP_SYS_NICE % 32);
  caps[CAP_SYS_NICE / 32].effective &= ~bit;
  caps[CAP_SYS_NICE / 32].permitted &= ~bit;
  caps[CAP_SYS_NICE / 32].inheritable &= ~bit;
  return syscall(SYS_capset, &header, caps) == 0;
}
int my_nice() { return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())); }

bool demoted(Demotion how) {
  return how == Demotion::kIdlePolicy ? my_policy() == SCHED_IDLE : my_nice() == 19;
}

// Burns CPU on this thread until `done` or a minute passed (a stalled
// machine must not hang the test; the caller's assert then fails).
template <class Done>
bool spin_until(Done done) {
  const Clock::time_point give_up = Clock::now() + std::chrono::minutes(1);
  volatile uint64_t sink = 0;
  while (!done()) {
    if (Clock::now() > give_up) return false;
    for (int i = 0; i < 10000; ++i) sink = sink + static_cast<uint64_t>(i);
  }
  return true;
}

class DemoterTest : public ::testing::TestWithParam<Demotion> {};

TEST_P(DemoterTest, LongItemIsDemotedWhileItRunsAndRestoredAfter) {
  const Demotion how = GetParam();
  LongWorkDemoter demoter(how);
  const int policy = my_policy();
  const int nice = my_nice();
  ASSERT_FALSE(demoted(how));
  LongWorkDemoter::Scope scope = demoter.Watch();
  EXPECT_TRUE(spin_until([&] { return demoted(how); })) << "not demoted within a minute";
  EXPECT_TRUE(scope.End());  // this test binary runs as root in CI (CAP_SYS_NICE)
  EXPECT_EQ(my_policy(), policy);
  EXPECT_EQ(my_nice(), nice);
  EXPECT_FALSE(LongWorkDemoter::ThisThreadStaysDemoted());
  EXPECT_EQ(demoter.demotions(), 1u);
  EXPECT_EQ(demoter.failed_restores(), 0u);
}

TEST_P(DemoterTest, ShortAndBlockedItemsAreNeverDemoted) {
  const Demotion how = GetParam();
  LongWorkDemoter demoter(how);
  for (int i = 0; i < 2000; ++i) {
    LongWorkDemoter::Scope scope = demoter.Watch();
    EXPECT_FALSE(demoted(how));
  }
  EXPECT_EQ(demoter.demotions(), 0u);
  // Five ticks in wall time, almost none of it on the CPU. The demoter
  // judges by its tick, so a 1 ms one keeps the sleep short.
  constexpr std::chrono::milliseconds kShortTick{1};
  LongWorkDemoter fast(how, kShortTick);
  {
    LongWorkDemoter::Scope scope = fast.Watch();
    std::this_thread::sleep_for(5 * kShortTick);
    EXPECT_FALSE(demoted(how));
    EXPECT_TRUE(scope.End());
  }
  EXPECT_EQ(fast.demotions(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Both, DemoterTest,
                         ::testing::Values(Demotion::kIdlePolicy, Demotion::kNice19));

// Without CAP_SYS_NICE and with RLIMIT_NICE 0 (a user install) the restore
// fails: the thread says it stays demoted. In a forked child, so the rest
// of this binary keeps its privileges.
TEST(DemoterPrivilegeTest, WithoutPrivilegeTheThreadStaysDemoted) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!drop_nice_privilege()) _exit(10);
    int code = 0;
    {
      LongWorkDemoter demoter(Demotion::kIdlePolicy);
      LongWorkDemoter::Scope scope = demoter.Watch();
      if (!spin_until([] { return my_policy() == SCHED_IDLE; })) code = 12;
      if (code == 0 && scope.End()) code = 13;  // restored without privilege?
      if (code == 0 && !LongWorkDemoter::ThisThreadStaysDemoted()) code = 14;
      if (code == 0 && my_policy() != SCHED_IDLE) code = 15;
      if (code == 0 && demoter.failed_restores() != 1) code = 16;
    }
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at check " << WEXITSTATUS(status);
}

// A worker left at nice 19 hands its place to a fresh thread, which starts
// at the creator's priority; the retired one is joined.
TEST(WorkerThreadsTest, AReplacementStartsAtNormalPriority) {
  const int nice = my_nice();
  std::atomic<int> generation{0};
  std::atomic<bool> stop{false};
  std::promise<std::pair<std::thread::id, int>> replacement;
  std::thread::id first;
  WorkerThreads workers([&] {
    if (generation.fetch_add(1) == 0) {
      first = std::this_thread::get_id();
      // Lowering one's own priority needs no privilege.
      EXPECT_EQ(setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19), 0);
      EXPECT_TRUE(workers.ReplaceCurrent());
      return;
    }
    replacement.set_value({std::this_thread::get_id(), my_nice()});
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  workers.Start(1);
  auto [id, replacement_nice] = replacement.get_future().get();
  EXPECT_NE(id, first);
  EXPECT_EQ(replacement_nice, nice);
  stop = true;
  workers.JoinAll();
  EXPECT_EQ(workers.replaced(), 1u);
  EXPECT_EQ(generation.load(), 2);
}

// End to end on the runtime, one worker: a PL/pgSQL CPU loop's item is
// demoted while it runs; the next item, another tenant's, runs on that same
// thread at normal priority, and a short statement's item is not demoted.
TEST(RuntimeCpuPriorityTest, LongItemDemotedShortItemNot) {
  TempDir dir;
  RuntimeOptions options;
  options.data_root = dir.path();
  options.threads = 1;
  options.warm_pool_size = 0;
  auto started = Runtime::Start(test_engine(), options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  Runtime& runtime = **started;
  const int policy = my_policy();

  struct Seen {
    pid_t tid = 0;
    int policy = -1;
    std::string error;
  };
  auto submit = [&](const std::string& tenant, std::function<void(engine::Instance&)> fn) {
    std::promise<Seen> seen;
    Status st = runtime.Submit(tenant, [&](Result<Session*> session, const Timings&) {
      Seen s;
      if (!session.ok()) {
        s.error = session.status().ToString();
      } else {
        fn(session.value()->instance());
      }
      s.tid = gettid();
      s.policy = my_policy();
      seen.set_value(s);
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return seen.get_future().get();
  };

  Seen short_item = submit("short", [](engine::Instance& i) { run(i, "select 1"); });
  EXPECT_EQ(short_item.error, "");
  EXPECT_EQ(short_item.policy, policy);

  Seen long_item = submit("looper", [](engine::Instance& i) {
    // Each loop ends at its statement_timeout (57014); again until the
    // watcher has demoted this thread (after 20-30 ms of CPU).
    run(i, "set statement_timeout = 50");
    for (int n = 0; n < 1200 && my_policy() != SCHED_IDLE; ++n) {
      run(i, "do $$begin loop end loop; end$$");
    }
  });
  EXPECT_EQ(long_item.error, "");
  EXPECT_EQ(long_item.policy, SCHED_IDLE);

  Seen after = submit("short", [](engine::Instance& i) { run(i, "select 1"); });
  EXPECT_EQ(after.tid, long_item.tid);  // one worker
  EXPECT_EQ(after.policy, policy);
  EXPECT_TRUE(runtime.Shutdown().ok());
}

// The same without privilege (a forked child): the worker a long item left
// demoted retires, and the next item runs on a fresh worker at normal
// priority. The engine's watchdog thread is not in the child, so the long
// item is a query that ends by itself, repeated until the demotion shows.
TEST(RuntimeCpuPriorityTest, WithoutPrivilegeADemotedWorkerIsReplaced) {
  const engine::Engine& engine = test_engine();  // opened before the fork
  TempDir dir;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!drop_nice_privilege()) _exit(10);
    const int policy = my_policy();
    RuntimeOptions options;
    options.data_root = dir.path();
    options.threads = 1;
    options.warm_pool_size = 0;
    auto started = Runtime::Start(engine, options);
    if (!started.ok()) _exit(11);
    Runtime& runtime = **started;
    auto seen = [&](const std::string& tenant, bool long_item) {
      std::promise<std::pair<pid_t, int>> done;
      Status st = runtime.Submit(tenant, [&](Result<Session*> session, const Timings&) {
        if (session.ok()) {
          engine::Instance& db = session.value()->instance();
          run(db, "select 1");
          const Clock::time_point give_up = Clock::now() + std::chrono::minutes(1);
          while (long_item && my_policy() != SCHED_IDLE && Clock::now() < give_up) {
            run(db, "select count(*) from generate_series(1, 200000)");
          }
        }
        done.set_value({gettid(), my_policy()});
      });
      if (!st.ok()) _exit(12);
      return done.get_future().get();
    };
    auto [long_tid, long_policy] = seen("looper", true);
    auto [next_tid, next_policy] = seen("short", false);
    int code = 0;
    if (long_policy != SCHED_IDLE) code = 13;
    if (code == 0 && next_tid == long_tid) code = 14;  // not replaced
    if (code == 0 && next_policy != policy) code = 15;
    if (code == 0 && !runtime.Shutdown().ok()) code = 16;
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at check " << WEXITSTATUS(status);
}

}  // namespace
}  // namespace pgthaw::runtime
