// runtime::LongWorkDemoter: see cpu_priority.h.
#include "runtime/cpu_priority.h"

#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace pgthaw::runtime {

namespace {

using Clock = std::chrono::steady_clock;

thread_local bool t_stays_demoted = false;

std::chrono::nanoseconds cpu_time(clockid_t clock) {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return std::chrono::nanoseconds::zero();
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

clockid_t this_thread_cpu_clock() {
  clockid_t clock = CLOCK_THREAD_CPUTIME_ID;
  // The thread's own clock id, readable from the watcher thread.
  if (pthread_getcpuclockid(pthread_self(), &clock) != 0) clock = CLOCK_THREAD_CPUTIME_ID;
  return clock;
}

}  // namespace

LongWorkDemoter::LongWorkDemoter(Demotion how, std::chrono::nanoseconds after)
    : how_(how), after_(after) {
  thread_ = std::thread([this] { Loop(); });
}

LongWorkDemoter::~LongWorkDemoter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

LongWorkDemoter::Scope::Scope(Scope&& other) noexcept : demoter_(other.demoter_), id_(other.id_) {
  other.demoter_ = nullptr;
}

bool LongWorkDemoter::Scope::End() {
  if (demoter_ == nullptr) return true;
  LongWorkDemoter* demoter = demoter_;
  demoter_ = nullptr;
  return demoter->End(id_);
}

LongWorkDemoter::Scope LongWorkDemoter::Watch() {
  thread_local const pid_t tid = gettid();
  thread_local const clockid_t clock = this_thread_cpu_clock();
  Watched w;
  w.tid = tid;
  w.cpu_clock = clock;
  w.cpu_at_start = cpu_time(CLOCK_THREAD_CPUTIME_ID);
  w.check_at = Clock::now() + after_;
  std::lock_guard lock(mutex_);
  uint64_t id = next_id_++;
  watched_.emplace(id, w);
  // A watcher waiting on a deadline wakes before this one's (check_at is
  // never earlier than a deadline it already has), so only an idle one
  // needs waking: at most once per `after_`.
  if (idle_) {
    idle_ = false;
    changed_.notify_one();
  }
  return Scope(this, id);
}

bool LongWorkDemoter::ThisThreadStaysDemoted() { return t_stays_demoted; }

uint64_t LongWorkDemoter::demotions() const {
  std::lock_guard lock(mutex_);
  return demotions_;
}

uint64_t LongWorkDemoter::failed_restores() const {
  std::lock_guard lock(mutex_);
  return failed_restores_;
}

void LongWorkDemoter::Loop() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    Clock::time_point next = Check(Clock::now());
    if (next == Clock::time_point::max()) {
      idle_ = true;
      changed_.wait(lock);
    } else {
      changed_.wait_until(lock, next);
    }
  }
}

Clock::time_point LongWorkDemoter::Check(Clock::time_point now) {
  Clock::time_point next = Clock::time_point::max();
  for (auto& [id, w] : watched_) {
    if (w.state != Watched::kWatching) continue;
    if (now < w.check_at) {
      next = std::min(next, w.check_at);
      continue;
    }
    std::chrono::nanoseconds used = cpu_time(w.cpu_clock) - w.cpu_at_start;
    if (used < after_) {
      // Off the CPU part of the time (blocked, or waiting for a core).
      w.check_at = now + (after_ - used);
      next = std::min(next, w.check_at);
      continue;
    }
    if (Demote(w)) {
      w.state = Watched::kDemoted;
      ++demotions_;
    } else {
      w.state = Watched::kLeftAlone;
    }
  }
  return next;
}

bool LongWorkDemoter::Demote(Watched& w) const {
  if (how_ == Demotion::kIdlePolicy) {
    int policy = sched_getscheduler(w.tid);
    if (policy < 0) return false;
    policy &= ~SCHED_RESET_ON_FORK;
    // Only the fair policies: a real-time thread was put there on purpose,
    // and SCHED_IDLE is as low as it gets.
    if (policy != SCHED_OTHER && policy != SCHED_BATCH) return false;
    w.original = policy;
    sched_param param{};
    return sched_setscheduler(w.tid, SCHED_IDLE, &param) == 0;
  }
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(w.tid));
  if (errno != 0 || nice >= 19) return false;
  w.original = nice;
  return setpriority(PRIO_PROCESS, static_cast<id_t>(w.tid), 19) == 0;
}

bool LongWorkDemoter::Restore(int original) const {
  if (how_ == Demotion::kIdlePolicy) {
    sched_param param{};
    return sched_setscheduler(0, original, &param) == 0;
  }
  return setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), original) == 0;
}

bool LongWorkDemoter::End(uint64_t id) {
  Watched w;
  {
    std::lock_guard lock(mutex_);
    auto found = watched_.find(id);
    if (found == watched_.end()) return true;
    w = found->second;
    watched_.erase(found);
  }
  // Not watched any more: the watcher cannot demote this thread again.
  if (w.state != Watched::kDemoted) return true;
  if (Restore(w.original)) return true;
  // EPERM without CAP_SYS_NICE / RLIMIT_NICE: raising a priority is
  // privileged, lowering it is not.
  t_stays_demoted = true;
  std::lock_guard lock(mutex_);
  ++failed_restores_;
  return false;
}

}  // namespace pgthaw::runtime
