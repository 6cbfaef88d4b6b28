// Host interrupts: what Postgres' signal handlers do, done on the guest
// thread at the points where a signal could have arrived.
//
// Postgres' SIGALRM handler (handle_sig_alarm, reached through libc's
// _emscripten_timeout) marks the timeouts that expired and runs their
// handlers; its SIGINT handler (a cancel) sets QueryCancelPending and
// InterruptPending and sets the process latch. The backend then raises the
// error at its next CHECK_FOR_INTERRUPTS(). We cannot interrupt a thread, so
// the watchdog only raises InterruptPending (Poke); CHECK_FOR_INTERRUPTS()
// then calls ProcessInterrupts, whose generated code first calls
// pgthaw_before_process_interrupts (scripts/build_engine.py), which runs the
// handlers here before Postgres looks at the flags. The poke also sets the
// process latch, so a WaitLatch (pg_sleep, lock waits) returns and its
// caller reaches CHECK_FOR_INTERRUPTS().
#include <algorithm>
#include <limits>

#include "host/host.h"
#include "host/watchdog.h"

namespace pgthaw::host {

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();

// The address a data export names (Emscripten exports a C variable as a
// global holding its address), or 0.
uint32_t data_address(const Host& h, std::string_view name) {
  const uint32_t* global = h.ExportGlobal(name);
  return global != nullptr ? *global : 0;
}

}  // namespace

void Host::BeginWatch(double statement_deadline_ms) {
  if (guest_flags_.interrupt_pending == 0) {
    guest_flags_.interrupt_pending = data_address(*this, "InterruptPending");
    guest_flags_.query_cancel_pending = data_address(*this, "QueryCancelPending");
    guest_flags_.my_latch = data_address(*this, "MyLatch");
  }
  statement_deadline_ms_ = statement_deadline_ms;
  statement_deadline_fired_ = false;
  cancel_reason_.store(static_cast<int>(CancelReason::kNone));
  UpdateWatchDeadline();
  watched_ = true;
  if (options_.watchdog != nullptr) options_.watchdog->Watch(this);
}

void Host::EndWatch() {
  if (options_.watchdog != nullptr) options_.watchdog->Unwatch(this);
  watched_ = false;
  statement_deadline_ms_ = 0;
  cancel_reason_.store(static_cast<int>(CancelReason::kNone));
  UpdateWatchDeadline();
}

void Host::RequestCancel(CancelReason reason) {
  cancel_reason_.store(static_cast<int>(reason));
  Poke();
}

void Host::Poke() {
  // The watchdog looks again once the guest has re-armed (UpdateWatchDeadline).
  watch_deadline_ms_.store(kNever, std::memory_order_release);
  if (uint8_t* flag = guest_flags_.interrupt_pending != 0
                          ? Bytes(guest_flags_.interrupt_pending, sizeof(uint32_t))
                          : nullptr) {
    // Postgres' flag is a volatile sig_atomic_t that handlers write at any
    // moment; this store from another thread plays the handler's part.
    __atomic_store_n(reinterpret_cast<uint32_t*>(flag), 1u, __ATOMIC_RELEASE);
    // And what SetLatch does: PGlite's WaitLatch waits by polling the clock
    // and the latch, with no CHECK_FOR_INTERRUPTS() inside (pg_sleep).
    uint32_t latch = guest_flags_.my_latch != 0 ? Load<uint32_t>(guest_flags_.my_latch) : 0;
    if (uint8_t* is_set = latch != 0 ? Bytes(latch, sizeof(uint32_t)) : nullptr) {
      __atomic_store_n(reinterpret_cast<uint32_t*>(is_set), 1u, __ATOMIC_RELEASE);
    }
  }
}

void Host::UpdateWatchDeadline() {
  double next = kNever;
  for (const Timer& t : timers_) {
    if (t.armed) next = std::min(next, t.deadline_ms);
  }
  if (statement_deadline_ms_ > 0) next = std::min(next, statement_deadline_ms_);
  double before = watch_deadline_ms_.exchange(next, std::memory_order_acq_rel);
  if (watched_ && next < before && options_.watchdog != nullptr) {
    options_.watchdog->DeadlineChanged(next);
  }
}

bool Host::SignalDue(double now) const {
  if (cancel_reason_.load() != static_cast<int>(CancelReason::kNone)) return true;
  if (statement_deadline_ms_ > 0 && statement_deadline_ms_ <= now) return true;
  return HasDueTimer();
}

void Host::DeliverSignals() {
  double now = monotonic_ms();
  for (uint32_t which = 0; which < 3; ++which) {
    if (!timers_[which].armed || timers_[which].deadline_ms > now) continue;
    timers_[which].armed = false;
    // libc raises the signal; Postgres' handler re-arms through _setitimer_js.
    Invoke<void>(fn_.timeout, which, now);
  }
  auto reason = static_cast<CancelReason>(cancel_reason_.exchange(0));
  if (statement_deadline_ms_ > 0 && statement_deadline_ms_ <= now) {
    statement_deadline_ms_ = 0;
    statement_deadline_fired_ = true;
    reason = CancelReason::kStatementTimeout;
  }
  if (reason != CancelReason::kNone && guest_flags_.query_cancel_pending != 0) {
    // What StatementCancelHandler does: the flags, then SetLatch(MyLatch)
    // (is_set is a Latch's first field), so a WaitLatch returns at once.
    Store<uint32_t>(guest_flags_.query_cancel_pending, 1);
    Store<uint32_t>(guest_flags_.interrupt_pending, 1);
    uint32_t latch = guest_flags_.my_latch != 0 ? Load<uint32_t>(guest_flags_.my_latch) : 0;
    if (latch != 0) Store<uint32_t>(latch, 1);
  }
  UpdateWatchDeadline();
}

}  // namespace pgthaw::host

// Called by the generated ProcessInterrupts before Postgres' own body, on the
// guest thread; `env` is the module's env import context.
extern "C" void pgthaw_before_process_interrupts(void* env) {
  pgthaw::host::Host* h = pgthaw::host::host_of(env);
  if (h->SignalDue(pgthaw::host::monotonic_ms())) h->DeliverSignals();
}
