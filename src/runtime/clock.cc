#include "runtime/clock.h"

#include <algorithm>

namespace pgthaw::runtime {

std::shared_ptr<Clock> SystemClock::Get() {
  static const std::shared_ptr<Clock> clock = std::make_shared<SystemClock>();
  return clock;
}

Clock::time_point ManualClock::now() const {
  std::lock_guard guard(mutex_);
  return now_;
}

void ManualClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            time_point deadline) {
  Waiter self{lock.mutex(), &cv, deadline};
  {
    std::lock_guard guard(mutex_);
    if (now_ >= deadline) return;
    waiters_.push_back(&self);
    waiters_changed_.notify_all();
  }
  // `lock` is still held: an Advance from here on notifies only once this
  // thread is inside the wait.
  cv.wait(lock);
  std::unique_lock guard(mutex_);
  if (self.advances_at_it > 0) {
    // An Advance is about to take `lock`'s mutex to notify `self`: let it
    // finish before `self` goes.
    lock.unlock();
    waiters_changed_.wait(guard, [&] { return self.advances_at_it == 0; });
  }
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &self));
  waiters_changed_.notify_all();
  guard.unlock();
  if (!lock.owns_lock()) lock.lock();
}

void ManualClock::Advance(duration by) {
  std::vector<Waiter*> due;
  {
    std::lock_guard guard(mutex_);
    now_ += by;
    for (Waiter* waiter : waiters_) {
      if (waiter->deadline <= now_) {
        ++waiter->advances_at_it;
        due.push_back(waiter);
      }
    }
  }
  for (Waiter* waiter : due) {
    // Once the mutex is ours, the waiter is inside cv.wait (it registered
    // holding that mutex) or has woken already: the notify is not lost.
    {
      std::lock_guard owner(*waiter->mutex);
      waiter->cv->notify_all();
    }
    std::lock_guard guard(mutex_);
    --waiter->advances_at_it;
    waiters_changed_.notify_all();
  }
}

bool ManualClock::AwaitSleeper(std::chrono::milliseconds limit) const {
  std::unique_lock guard(mutex_);
  return waiters_changed_.wait_for(guard, limit, [&] {
    return std::any_of(waiters_.begin(), waiters_.end(),
                       [&](const Waiter* waiter) { return waiter->deadline > now_; });
  });
}

}  // namespace pgthaw::runtime
