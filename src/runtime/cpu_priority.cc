// runtime::LongWorkDemoter: see cpu_priority.h.
#include "runtime/cpu_priority.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace pgthaw::runtime {

// A slot's state word: (item generation << 3) | phase. The owning thread
// starts a generation (Watch) and ends it (End); the watcher moves it from
// kWatching to kDemoting with a compare-and-swap on the whole word, so it
// cannot act on an item that already ended or on a later one.
struct LongWorkDemoter::Slot {
  enum Phase : uint64_t { kIdle, kWatching, kDemoting, kDemoted, kLeftAlone };
  static constexpr uint64_t kPhaseMask = 7;

  int tid = 0;
  clockid_t cpu_clock = CLOCK_THREAD_CPUTIME_ID;  // the thread's CPU-time clock
  std::atomic<uint64_t> state{kIdle};
  int original = 0;               // policy or nice before demotion; published by kDemoted
  std::atomic<bool> gone{false};  // the thread exited, or the demoter was destroyed
  // The watcher's own (under its mutex): the item it last saw running, and
  // the thread's CPU time at the last tick (-1: not read yet).
  uint64_t seen_word = 0;
  int64_t seen_cpu_ns = -1;

  static uint64_t with_phase(uint64_t word, Phase p) { return (word & ~kPhaseMask) | p; }
};

namespace {

using Slot = LongWorkDemoter::Slot;

std::atomic<uint64_t> g_next_serial{1};
thread_local bool t_stays_demoted = false;

int64_t cpu_time_ns(clockid_t clock) {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return -1;
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// This thread's slots, one per demoter it ran under; marked gone when the
// thread exits, so the demoter drops them.
struct ThreadSlots {
  std::vector<std::pair<uint64_t, std::shared_ptr<Slot>>> slots;  // demoter serial, slot
  ~ThreadSlots() {
    for (auto& [serial, slot] : slots) slot->gone = true;
  }
};
thread_local ThreadSlots t_slots;

}  // namespace

LongWorkDemoter::LongWorkDemoter(Demotion how, std::chrono::nanoseconds tick)
    : how_(how), tick_(tick), serial_(g_next_serial.fetch_add(1)) {
  thread_ = std::thread([this] { Loop(); });
}

LongWorkDemoter::~LongWorkDemoter() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
    for (const std::shared_ptr<Slot>& slot : slots_) slot->gone = true;
  }
  changed_.notify_all();
  thread_.join();
}

LongWorkDemoter::Scope::Scope(Scope&& other) noexcept
    : demoter_(other.demoter_), slot_(other.slot_) {
  other.demoter_ = nullptr;
}

bool LongWorkDemoter::Scope::End() {
  if (demoter_ == nullptr) return true;
  LongWorkDemoter* demoter = demoter_;
  demoter_ = nullptr;
  return demoter->End(slot_);
}

Slot* LongWorkDemoter::ThisThreadSlot() {
  for (auto& [serial, slot] : t_slots.slots) {
    if (serial == serial_) return slot.get();
  }
  // First item of this thread under this demoter.
  std::erase_if(t_slots.slots, [](const auto& entry) { return entry.second->gone.load(); });
  auto slot = std::make_shared<Slot>();
  slot->tid = gettid();
  clockid_t clock;
  if (pthread_getcpuclockid(pthread_self(), &clock) == 0) slot->cpu_clock = clock;
  {
    MutexLock lock(mutex_);
    std::erase_if(slots_, [](const std::shared_ptr<Slot>& s) { return s->gone.load(); });
    slots_.push_back(slot);
  }
  t_slots.slots.emplace_back(serial_, slot);
  return slot.get();
}

LongWorkDemoter::Scope LongWorkDemoter::Watch() {
  Slot* slot = ThisThreadSlot();
  const uint64_t generation = (slot->state.load(std::memory_order_relaxed) >> 3) + 1;
  // No system call here: reading one's own CPU clock updates the kernel's
  // accounting, which may reschedule a thread whose slice ran out, right at
  // the start of its item. The watcher takes the item's CPU baseline.
  slot->state.store((generation << 3) | Slot::kWatching);  // seq_cst: ordered before idle_
  // The watcher announces idle_ and then looks at every slot once more, so
  // either it sees this item or this sees idle_ (both seq_cst). While items
  // keep coming the watcher keeps ticking and no item wakes it.
  if (idle_.load()) {
    MutexLock lock(mutex_);
    idle_ = false;
    changed_.notify_one();
  }
  return Scope(this, slot);
}

bool LongWorkDemoter::End(Slot* slot) {
  for (;;) {
    uint64_t word = slot->state.load(std::memory_order_acquire);
    const uint64_t idle = Slot::with_phase(word, Slot::kIdle);
    switch (word & Slot::kPhaseMask) {
      case Slot::kWatching:
        if (slot->state.compare_exchange_weak(word, idle, std::memory_order_acq_rel)) return true;
        continue;  // the watcher took it to kDemoting meanwhile
      case Slot::kDemoting:
        std::this_thread::yield();  // one syscall away from kDemoted or kLeftAlone
        continue;
      case Slot::kDemoted: {
        const bool restored = Restore(slot->original);
        slot->state.store(idle, std::memory_order_release);
        if (restored) return true;
        // EPERM without CAP_SYS_NICE / RLIMIT_NICE: raising a priority is
        // privileged, lowering it is not.
        t_stays_demoted = true;
        ++failed_restores_;
        return false;
      }
      default:
        slot->state.store(idle, std::memory_order_release);
        return true;
    }
  }
}

bool LongWorkDemoter::ThisThreadStaysDemoted() { return t_stays_demoted; }

void LongWorkDemoter::Loop() {
  MutexLock lock(mutex_);
  uint64_t seen = 0;  // items started, as of the last look
  int quiet = 0;      // looks in a row with nothing running and nothing started
  while (!stop_) {
    Look look = Check();
    quiet = (look.watching || look.started != seen) ? 0 : quiet + 1;
    seen = look.started;
    if (quiet < kQuietTicks) {
      changed_.wait_for(lock, tick_);
      continue;
    }
    idle_ = true;
    look = Check();  // an item started between the two looks?
    if (look.watching || look.started != seen) {
      idle_ = false;
      quiet = 0;
      seen = look.started;
      continue;
    }
    changed_.wait(lock, [&]() REQUIRES(mutex_) { return !idle_.load() || stop_; });
    quiet = 0;
  }
}

LongWorkDemoter::Look LongWorkDemoter::Check() {
  Look look;
  for (const std::shared_ptr<Slot>& slot : slots_) {
    // seq_cst: after Loop's store to idle_ (see Watch).
    uint64_t word = slot->state.load();
    look.started += word >> 3;  // the slot's generation: its items so far
    if ((word & Slot::kPhaseMask) != Slot::kWatching) continue;
    look.watching = true;
    if (slot->seen_word != word) {  // started since the last tick: short so far
      slot->seen_word = word;
      slot->seen_cpu_ns = -1;
      continue;
    }
    // Running for a whole tick or more: only now is its CPU clock read
    // (reading a running thread's clock updates its accounting and may
    // reschedule it, which a short item should never suffer).
    const int64_t cpu_ns = cpu_time_ns(slot->cpu_clock);
    const int64_t since = slot->seen_cpu_ns;
    slot->seen_cpu_ns = cpu_ns;
    if (cpu_ns < 0 || since < 0 || cpu_ns - since < tick_.count() / 2) continue;
    if (!slot->state.compare_exchange_strong(word, Slot::with_phase(word, Slot::kDemoting),
                                             std::memory_order_acq_rel)) {
      continue;  // that item ended
    }
    int original = 0;
    const bool demoted = Demote(slot->tid, &original);
    slot->original = original;
    slot->state.store(Slot::with_phase(word, demoted ? Slot::kDemoted : Slot::kLeftAlone),
                      std::memory_order_release);
    if (demoted) ++demotions_;
  }
  return look;
}

bool LongWorkDemoter::Demote(int tid, int* original) const {
  if (how_ == Demotion::kIdlePolicy) {
    int policy = sched_getscheduler(tid);
    if (policy < 0) return false;
    policy &= ~SCHED_RESET_ON_FORK;
    // Only the fair policies: a real-time thread was put there on purpose,
    // and SCHED_IDLE is as low as it gets.
    if (policy != SCHED_OTHER && policy != SCHED_BATCH) return false;
    *original = policy;
    sched_param param{};
    return sched_setscheduler(tid, SCHED_IDLE, &param) == 0;
  }
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  if (errno != 0 || nice >= 19) return false;
  *original = nice;
  return setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 19) == 0;
}

bool LongWorkDemoter::Restore(int original) const {
  if (how_ == Demotion::kIdlePolicy) {
    sched_param param{};
    return sched_setscheduler(0, original, &param) == 0;
  }
  return setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), original) == 0;
}

}  // namespace pgthaw::runtime
