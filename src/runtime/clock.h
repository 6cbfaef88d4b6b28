// runtime::Clock: the time the runtime decides by. Idle hibernation, the
// idle-in-transaction expiry of holds and the least-recently-used order of
// the memory budget read it; the runtime gets one through
// RuntimeOptions::clock (SystemClock when none is given).
//
// SystemClock is std::chrono::steady_clock. ManualClock stands still until
// a test moves it (Advance), so a test of a 60 s timeout takes no 60 s and
// does not depend on how fast the machine is.
//
// What only measures (Timings in microseconds) and deadlines a caller
// passes in (Shutdown, DeleteTenant) stay on std::chrono::steady_clock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace pgthaw::runtime {

class Clock {
 public:
  // Time points of every clock are steady_clock's type: a ManualClock's
  // are as far apart as the Advance calls say, not as the wall's.
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // condition_variable::wait_until(lock, deadline) by this clock: returns
  // (with `lock` held again) once `deadline` has passed on this clock,
  // `cv` was notified, or spuriously. The caller checks again what it
  // waits for, as with any condition variable.
  virtual void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         time_point deadline) = 0;
};

// The steady clock; what a runtime uses unless told otherwise.
class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 time_point deadline) override {
    cv.wait_until(lock, deadline);
  }
  // One shared instance (it has no state).
  static std::shared_ptr<Clock> Get();
};

// A clock that moves only when told to (tests). Thread-safe.
class ManualClock final : public Clock {
 public:
  ManualClock() = default;
  explicit ManualClock(time_point start) : now_(start) {}

  time_point now() const override;
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 time_point deadline) override;

  // Moves time on by `by` and wakes every WaitUntil whose deadline it
  // passed. Must not be called with a waiter's mutex held.
  void Advance(duration by);

  // Blocks until a thread waits in WaitUntil for a deadline still ahead of
  // now(): it has looked at the clock as it is now and found nothing due
  // yet. So after Advance, what the new time made due has been acted on.
  // False if none did within `limit` of real time.
  bool AwaitSleeper(std::chrono::milliseconds limit = std::chrono::seconds(30)) const;

 private:
  // A thread inside WaitUntil. Advance notifies `cv` holding `mutex`
  // (otherwise a waiter between its look at the clock and its wait would
  // miss the notify), so a waiter leaves only once no Advance is at it.
  struct Waiter {
    std::mutex* mutex;
    std::condition_variable* cv;
    time_point deadline;
    int advances_at_it = 0;  // Advance calls about to notify it
  };

  // A leaf: taken inside a waiter's mutex, never the other way round.
  mutable std::mutex mutex_;
  mutable std::condition_variable waiters_changed_;
  // Far from steady_clock's epoch, so that `now() - timeout` stays positive.
  time_point now_ = time_point{} + std::chrono::hours(24);
  std::vector<Waiter*> waiters_;
};

}  // namespace pgthaw::runtime
