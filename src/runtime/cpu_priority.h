// runtime::LongWorkDemoter: a work item that has kept its thread busy for
// long runs at the lowest CPU priority for the rest of that item.
//
// Why: when every core runs guest code (two tenants in a CPU loop on a
// two-core machine), a short statement of a third tenant gets a worker (the
// runtime has spare workers) but then waits for the kernel's time slice
// behind the loops, and so does the listener's io thread: a victim's
// `select 1` p99 went from 0.3 ms alone to 3-5 ms. That wait is the OS
// scheduler's, so the fix is a priority: a long item's thread is demoted,
// and the kernel runs any normal thread that wakes on its core at once.
// Measured on Linux 6.18 (EEVDF), demoting the looping threads by hand:
// SCHED_IDLE and nice 19 both bring the victim's p99 back to its p99 alone
// (0.25 ms vs 3.1-3.6 ms undemoted); SCHED_BATCH does not (1.5-2.9 ms). The
// io threads need nothing once the loops are demoted.
//
// How: a worker wraps each work item in a Scope (Watch). This object's own
// watcher thread demotes a watched thread once its item has used
// kDemoteAfter of CPU time (CLOCK of that thread, not wall time: an item
// blocked on a slow client or in pg_sleep is not demoted). Lowering another
// thread of this process needs no privilege. When the item ends, the thread
// restores itself, which needs CAP_SYS_NICE or RLIMIT_NICE (root has it, a
// user install usually not). If that fails the thread stays demoted and
// ThisThreadStaysDemoted() says so: it must not run more work, and the
// runtime replaces it with a fresh worker (worker_threads.h).
//
// Demotion and the end of a Scope are serialised by the demoter's mutex, so a
// thread is never demoted after its item ended. Thread-safe.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

namespace pgthaw::runtime {

enum class Demotion {
  kIdlePolicy,  // SCHED_IDLE (its nice value is kept): the default
  kNice19,      // nice 19 under the thread's own policy
};

class LongWorkDemoter {
 public:
  // CPU time a work item may use at its thread's normal priority: far
  // above a short statement (select 1 is ~0.1 ms, a point lookup < 1 ms),
  // short enough that a CPU loop yields within a tick or two.
  static constexpr std::chrono::milliseconds kDemoteAfter{10};

  explicit LongWorkDemoter(Demotion how = Demotion::kIdlePolicy,
                           std::chrono::nanoseconds after = kDemoteAfter);
  ~LongWorkDemoter();
  LongWorkDemoter(const LongWorkDemoter&) = delete;
  LongWorkDemoter& operator=(const LongWorkDemoter&) = delete;

  // Watches the calling thread from Watch() to End() (or destruction).
  class Scope {
   public:
    Scope(Scope&& other) noexcept;
    Scope& operator=(Scope&&) = delete;
    ~Scope() { End(); }
    // Stops watching; a demoted thread restores its priority. False when it
    // was demoted and could not be restored (see ThisThreadStaysDemoted).
    bool End();

   private:
    friend class LongWorkDemoter;
    Scope(LongWorkDemoter* demoter, uint64_t id) : demoter_(demoter), id_(id) {}
    LongWorkDemoter* demoter_;
    uint64_t id_;
  };
  [[nodiscard]] Scope Watch();

  // True on a thread that a Scope left demoted (no privilege to restore):
  // it should stop taking work (WorkerThreads::ReplaceCurrent).
  static bool ThisThreadStaysDemoted();

  uint64_t demotions() const;        // threads demoted so far
  uint64_t failed_restores() const;  // of those, left demoted (EPERM)

 private:
  struct Watched {
    enum State { kWatching, kDemoted, kLeftAlone };
    pid_t tid = 0;
    clockid_t cpu_clock = 0;  // the thread's CPU-time clock
    std::chrono::nanoseconds cpu_at_start{0};
    std::chrono::steady_clock::time_point check_at;  // when it may have used `after_`
    State state = kWatching;
    int original = 0;  // the policy or nice value before demotion
  };

  void Loop();
  // Demotes the watched threads that used `after_`; returns the next check.
  // REQUIRES mutex_.
  std::chrono::steady_clock::time_point Check(std::chrono::steady_clock::time_point now);
  bool End(uint64_t id);
  // Lowers w's thread, remembering what it had; false if it was left alone.
  bool Demote(Watched& w) const;
  bool Restore(int original) const;  // the calling thread

  const Demotion how_;
  const std::chrono::nanoseconds after_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, Watched> watched_;  // guarded by mutex_
  uint64_t next_id_ = 1;                 // guarded by mutex_
  bool idle_ = false;                    // the watcher waits with no deadline; guarded by mutex_
  bool stop_ = false;                    // guarded by mutex_
  uint64_t demotions_ = 0, failed_restores_ = 0;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace pgthaw::runtime
