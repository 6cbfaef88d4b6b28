// host::Watchdog: the one thread that makes deadlines reach running guests.
//
// Postgres stops a running statement when a signal handler has raised
// InterruptPending and the backend reaches CHECK_FOR_INTERRUPTS(). Our guests
// get no signals, so a Host that runs guest code is watched: at its earliest
// deadline (an armed ITIMER_REAL, the server's statement limit) the watchdog
// pokes it from this thread (Host::Poke: InterruptPending = 1, and a guest
// sleeping in poll() wakes). The guest thread then delivers the timer or the
// cancel itself (host/signals.cc), exactly where a signal handler would run.
//
// Thread-safe. A Host is watched only between Watch() and Unwatch(); pokes
// happen under the watchdog's mutex, so Unwatch() returning means no poke is
// in flight for that Host.
#pragma once

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

namespace pgthaw::host {

class Host;

class Watchdog {
 public:
  Watchdog();
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void Watch(Host* host);
  void Unwatch(Host* host);
  // A watched host's deadline moved earlier, to `deadline_ms`: look again
  // if that is before the watchdog's next look.
  void DeadlineChanged(double deadline_ms);

 private:
  void Loop();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<Host*> watched_;  // guarded by mutex_
  bool stop_ = false;        // guarded by mutex_
  // When the loop looks next (monotonic ms; infinity: when woken); guarded.
  double wake_at_ms_ = 0;
  std::thread thread_;
};

}  // namespace pgthaw::host
