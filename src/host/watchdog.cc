#include "host/watchdog.h"

#include <chrono>
#include <cmath>
#include <limits>

#include "host/host.h"

namespace pgthaw::host {

Watchdog::Watchdog() : thread_([this] { Loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void Watchdog::Watch(Host* host) {
  std::unique_lock lock(mutex_);
  watched_.insert(host);
  // Woken only when it would sleep past this host's deadline: no wake-up
  // (a futex call and a thread switch) per exchange.
  if (host->WatchDeadline() < wake_at_ms_) {
    lock.unlock();
    changed_.notify_all();
  }
}

void Watchdog::Unwatch(Host* host) {
  std::lock_guard lock(mutex_);
  watched_.erase(host);
}

void Watchdog::DeadlineChanged(double deadline_ms) {
  // Under the mutex: a scan in progress either saw the new deadline or has
  // not yet set the wake-up time compared here.
  std::unique_lock lock(mutex_);
  if (deadline_ms >= wake_at_ms_) return;
  lock.unlock();
  changed_.notify_all();
}

void Watchdog::Loop() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    double now = monotonic_ms();
    double next = std::numeric_limits<double>::infinity();
    for (Host* host : watched_) {
      double deadline = host->WatchDeadline();
      if (deadline <= now) {
        host->Poke();  // clears its deadline until the guest looks again
      } else {
        next = std::min(next, deadline);
      }
    }
    wake_at_ms_ = next;
    if (std::isinf(next)) {
      changed_.wait(lock);
    } else {
      // monotonic_ms() is steady_clock in milliseconds.
      auto wake = std::chrono::steady_clock::time_point(
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double, std::milli>(next)));
      changed_.wait_until(lock, wake);
    }
  }
}

}  // namespace pgthaw::host
