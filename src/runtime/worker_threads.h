// runtime::WorkerThreads: the runtime's worker threads, each running the
// same body, any of which can hand its place to a fresh thread.
//
// Why: a worker that a long work item left at the lowest CPU priority,
// without the privilege to raise it again (cpu_priority.h), must not run
// other tenants' short statements at that priority. A new thread inherits
// its creator's priority, so the replacement is created by this object's own
// thread, which runs no guest code and is never demoted; that thread also
// joins the retired one.
//
// Thread-safe. mutex_ is a leaf lock: a body may call ReplaceCurrent while
// holding its own locks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"

namespace pgthaw::runtime {

class WorkerThreads {
 public:
  explicit WorkerThreads(std::function<void()> body);
  ~WorkerThreads();  // JoinAll() unless DetachAll() ran
  WorkerThreads(const WorkerThreads&) = delete;
  WorkerThreads& operator=(const WorkerThreads&) = delete;

  // Starts `n` more threads running the body.
  void Start(unsigned n);

  // Called from inside the body by a worker about to return: a fresh
  // thread, created on this object's thread, runs the body in its place.
  // False (nothing done) when the caller is not one of the workers, or
  // JoinAll/DetachAll has taken it already.
  bool ReplaceCurrent();

  // Joins every worker, replacements included: the bodies must be
  // returning (the caller told them to stop).
  void JoinAll();
  // Gives up on the workers (they may be stuck): detaches them; no more
  // replacements are made.
  void DetachAll();

  uint64_t replaced() const;

 private:
  void Loop();

  const std::function<void()> body_;
  mutable Mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread> threads_ GUARDED_BY(mutex_);
  std::deque<std::thread> retiring_ GUARDED_BY(mutex_);  // workers to replace and join
  bool stop_ GUARDED_BY(mutex_) = false;  // no more replacements (JoinAll, DetachAll)
  bool detached_ GUARDED_BY(mutex_) = false;
  uint64_t replaced_ GUARDED_BY(mutex_) = 0;
  std::thread replacer_;
};

}  // namespace pgthaw::runtime
