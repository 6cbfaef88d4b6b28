// ManualClock: time moves only on Advance, which wakes waits it makes due.
#include "runtime/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace pgthaw::runtime {
namespace {

using std::chrono::milliseconds;

TEST(ManualClock, StandsStillUntilAdvanced) {
  ManualClock clock;
  const Clock::time_point start = clock.now();
  EXPECT_EQ(clock.now(), start);
  clock.Advance(milliseconds(250));
  EXPECT_EQ(clock.now() - start, milliseconds(250));
  // Far enough from the epoch that a timeout subtracted stays positive.
  EXPECT_GT(start.time_since_epoch(), std::chrono::hours(1));
}

TEST(ManualClock, AWaitPastItsDeadlineReturnsAtOnce) {
  ManualClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  std::unique_lock lock(mutex);
  clock.WaitUntil(lock, cv, clock.now());
  EXPECT_TRUE(lock.owns_lock());
}

// A waiter loops as the runtime's maintenance thread does: it wakes only
// when an Advance reaches its deadline.
TEST(ManualClock, AdvanceWakesAWaiterOnlyOnceItsDeadlineIsReached) {
  ManualClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  const Clock::time_point deadline = clock.now() + milliseconds(100);
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    std::unique_lock lock(mutex);
    while (clock.now() < deadline) {
      clock.WaitUntil(lock, cv, deadline);
      EXPECT_TRUE(lock.owns_lock());
    }
    done = true;
  });
  ASSERT_TRUE(clock.AwaitSleeper());
  clock.Advance(milliseconds(99));
  // Not due: it still waits for a deadline ahead of the clock.
  ASSERT_TRUE(clock.AwaitSleeper());
  EXPECT_FALSE(done.load());
  clock.Advance(milliseconds(1));
  waiter.join();  // woken by the Advance: nothing else notifies `cv`
  EXPECT_TRUE(done.load());
}

// The owner's own notify still wakes a wait on a manual clock.
TEST(ManualClock, TheConditionVariablesNotifyWakesTheWait) {
  ManualClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  bool stop = false;
  std::thread waiter([&] {
    std::unique_lock lock(mutex);
    while (!stop) clock.WaitUntil(lock, cv, clock.now() + std::chrono::hours(1));
  });
  ASSERT_TRUE(clock.AwaitSleeper());
  {
    std::lock_guard lock(mutex);
    stop = true;
  }
  cv.notify_all();
  waiter.join();
}

// Many advances racing with a waiter that re-arms at once: none is lost
// (the waiter always sees the final time) and nothing deadlocks.
TEST(ManualClock, AdvancesRacingWithWaitsAreNeverLost) {
  ManualClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  const Clock::time_point start = clock.now();
  constexpr int kSteps = 2000;
  std::thread waiter([&] {
    std::unique_lock lock(mutex);
    for (;;) {
      const Clock::time_point now = clock.now();
      if (now - start >= milliseconds(kSteps)) return;
      clock.WaitUntil(lock, cv, now + milliseconds(1));
    }
  });
  for (int i = 0; i < kSteps; ++i) clock.Advance(milliseconds(1));
  waiter.join();
  EXPECT_FALSE(clock.AwaitSleeper(milliseconds(1)));  // it left
}

TEST(SystemClock, IsTheSteadyClock) {
  std::shared_ptr<Clock> clock = SystemClock::Get();
  ASSERT_NE(clock, nullptr);
  EXPECT_EQ(clock, SystemClock::Get());
  const auto before = std::chrono::steady_clock::now();
  const Clock::time_point now = clock->now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, std::chrono::steady_clock::now());
  std::mutex mutex;
  std::condition_variable cv;
  std::unique_lock lock(mutex);
  clock->WaitUntil(lock, cv, now + milliseconds(1));  // times out
  EXPECT_TRUE(lock.owns_lock());
}

}  // namespace
}  // namespace pgthaw::runtime
