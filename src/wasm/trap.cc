// Trap delivery: wasm_rt_trap(), the fault handler and per-thread frames.
#include "wasm/trap.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "wasm/guest_stack.h"
#include "wasm/linear_memory.h"

namespace pgthaw::wasm {
namespace {

thread_local EntryFrame* tls_entry = nullptr;
thread_local bool tls_alt_stack_ready = false;
constexpr size_t kAltStackBytes = 64 * 1024;

void on_fault(int sig, siginfo_t* info, void* /*ucontext*/) {
  EntryFrame* frame = tls_entry;
  if (frame != nullptr && in_guest_stack_guard(info->si_addr)) {
    // The guest's recursion ran past its native stack.
    frame->trap = WASM_RT_TRAP_EXHAUSTION;
    longjmp(frame->jump, 1);
  }
  if (frame != nullptr && in_memory_reservation(info->si_addr)) {
    // An access past a memory's current size, into its PROT_NONE tail.
    frame->trap = WASM_RT_TRAP_OOB;
    longjmp(frame->jump, 1);
  }
  // Not the guest's: a host bug, even if guest code is on the stack (an
  // import, a callback). Unwinding it would skip held locks and half-done
  // state, so die with the default action: the crash is visible and dumps
  // core.
  signal(sig, SIG_DFL);
  raise(sig);
}

void install_handler() {
  struct sigaction sa = {};
  sa.sa_sigaction = on_fault;
  // SA_NODEFER: we leave the handler by longjmp, which would otherwise leave
  // the signal blocked on this thread.
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
}

}  // namespace

void prepare_thread_for_guest_calls() {
  static std::once_flag once;
  std::call_once(once, install_handler);
  if (tls_alt_stack_ready) return;
  // Leaked on purpose: it must outlive every signal this thread can take,
  // and threads that run guest code live as long as the process.
  stack_t ss = {};
  ss.ss_sp = std::malloc(kAltStackBytes);
  ss.ss_size = kAltStackBytes;
  if (ss.ss_sp != nullptr && sigaltstack(&ss, nullptr) == 0) tls_alt_stack_ready = true;
}

EntryFrame* current_entry_frame() { return tls_entry; }

void push_entry_frame(EntryFrame* frame) {
  frame->prev = tls_entry;
  frame->trap = WASM_RT_TRAP_NONE;
  tls_entry = frame;
}

void pop_entry_frame(EntryFrame* frame) { tls_entry = frame->prev; }

const char* trap_name(wasm_rt_trap_t trap) {
  // Not enumerators of wasm_rt_trap_t, so not switch cases.
  if (trap == kTrapHostOutOfMemory) return "out of host memory in a host import";
  if (trap == kTrapHostException) return "exception in a host import";
  switch (trap) {
    case WASM_RT_TRAP_NONE:
      return "no trap";
    case WASM_RT_TRAP_OOB:
      return "out-of-bounds memory access or stack exhaustion";
    case WASM_RT_TRAP_INT_OVERFLOW:
      return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO:
      return "integer division by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION:
      return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE:
      return "unreachable executed (abort)";
    case WASM_RT_TRAP_CALL_INDIRECT:
      return "invalid indirect call";
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION:
      return "uncaught exception";
    case WASM_RT_TRAP_EXHAUSTION:
      return "call stack exhausted";
  }
  return "unknown trap";
}

}  // namespace pgthaw::wasm

extern "C" void wasm_rt_trap(wasm_rt_trap_t trap) {
  pgthaw::wasm::EntryFrame* frame = pgthaw::wasm::tls_entry;
  if (frame == nullptr) std::abort();  // generated code ran outside run_guarded
  frame->trap = trap;
  longjmp(frame->jump, 1);
}
