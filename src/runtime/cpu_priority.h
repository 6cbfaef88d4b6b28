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
// watcher thread ticks every kTick (10 ms) while items run. An item still
// running at two ticks in a row is long; if its thread then spends at least
// half of a tick on a CPU (its CPU clock: an item blocked on a slow client
// or in pg_sleep is left alone), it is demoted. So a CPU-bound item is
// demoted after 20-30 ms, and a short one is never looked at (its CPU clock
// is not even read: reading a running thread's clock updates the kernel's
// accounting and may reschedule it).
// Lowering another thread of this process needs no privilege. When the item
// ends, the thread restores itself, which needs CAP_SYS_NICE or RLIMIT_NICE
// (root has it, a user install usually not). If that fails the thread stays
// demoted and ThisThreadStaysDemoted() says so: it must not run more work,
// and the runtime replaces it with a fresh worker (worker_threads.h).
//
// Watch and End take no lock and make no system call unless the item was
// demoted (each thread has its own slot of atomics; only a thread's first
// Watch registers it under the mutex): a watcher descheduled on a busy
// machine never holds up a work item, and short items cost two atomics.
// A demotion and the end of the item it belongs to are ordered by a
// compare-and-swap on the slot, so a thread is never demoted after its item
// ended, nor for an earlier item. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"

namespace pgthaw::runtime {

enum class Demotion {
  kIdlePolicy,  // SCHED_IDLE (its nice value is kept): the default
  kNice19,      // nice 19 under the thread's own policy
};

class LongWorkDemoter {
 public:
  // The watcher's period while items run. An item is long once it has run
  // for a whole tick: far above a short statement (select 1 is ~0.1 ms, a
  // point lookup < 1 ms); short enough that a CPU loop yields within 30 ms.
  static constexpr std::chrono::milliseconds kTick{10};

  explicit LongWorkDemoter(Demotion how = Demotion::kIdlePolicy,
                           std::chrono::nanoseconds tick = kTick);
  ~LongWorkDemoter();
  LongWorkDemoter(const LongWorkDemoter&) = delete;
  LongWorkDemoter& operator=(const LongWorkDemoter&) = delete;

  struct Slot;  // one per thread that ever called Watch (cpu_priority.cc)

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
    Scope(LongWorkDemoter* demoter, Slot* slot) : demoter_(demoter), slot_(slot) {}
    LongWorkDemoter* demoter_;
    Slot* slot_;
  };
  [[nodiscard]] Scope Watch();

  // True on a thread that a Scope left demoted (no privilege to restore):
  // it should stop taking work (WorkerThreads::ReplaceCurrent).
  static bool ThisThreadStaysDemoted();

  uint64_t demotions() const { return demotions_.load(); }  // threads demoted so far
  // Of those, the ones left demoted (EPERM).
  uint64_t failed_restores() const { return failed_restores_.load(); }

 private:
  // Ticks of the watcher with no item running or started before it sleeps
  // until the next Watch wakes it.
  static constexpr int kQuietTicks = 10;
  struct Look {
    bool watching = false;  // an item is running
    uint64_t started = 0;   // items started so far, over all slots
  };

  Slot* ThisThreadSlot();  // registers the calling thread once
  void Loop();
  // One tick: demotes the long, busy items' threads.
  Look Check() REQUIRES(mutex_);
  bool End(Slot* slot);
  // Lowers thread `tid`, storing what it had in `original`; false if it was
  // left alone (already lowest, real-time) or the call failed.
  bool Demote(int tid, int* original) const;
  bool Restore(int original) const;  // the calling thread

  const Demotion how_;
  const std::chrono::nanoseconds tick_;
  const uint64_t serial_;  // tells demoters apart in threads' slot caches

  Mutex mutex_;  // slots_, stop_ and the watcher's sleep
  std::condition_variable changed_;
  std::vector<std::shared_ptr<Slot>> slots_ GUARDED_BY(mutex_);
  bool stop_ GUARDED_BY(mutex_) = false;
  // The watcher sleeps until an item starts (Watch wakes it): no ticks on
  // an idle server, and no wake-up per item on a busy one (a woken thread
  // may preempt the worker that woke it).
  std::atomic<bool> idle_{false};
  std::atomic<uint64_t> demotions_{0}, failed_restores_{0};
  std::thread thread_;
};

}  // namespace pgthaw::runtime
