// Traps: how a fault inside generated code comes back to the host.
//
// Every host->guest call runs inside an EntryFrame (see run_guarded). A trap,
// whether wasm_rt_trap() from generated code (unreachable, bad indirect call,
// division by zero) or a SIGSEGV/SIGBUS taken while this thread is inside
// guest code (an out-of-bounds access into a memory's PROT_NONE tail, or the
// native stack overflowing), longjmps to the innermost EntryFrame of the
// thread. Frames are thread-local, so instances on different threads trap
// independently. The fault handler runs on a per-thread alternate stack so a
// stack overflow can still be handled.
//
// After a trap the guest's state is unknown: the caller must treat that
// instance as dead.
#pragma once

#include <csetjmp>

#include "wasm-rt.h"

namespace pgthaw::wasm {

struct EntryFrame {
  jmp_buf jump;
  EntryFrame* prev = nullptr;
  wasm_rt_trap_t trap = WASM_RT_TRAP_NONE;
};

// Installs the process-wide fault handler (idempotent, thread-safe) and this
// thread's alternate signal stack (once per thread).
void prepare_thread_for_guest_calls();

// The innermost entry frame of this thread, or null.
EntryFrame* current_entry_frame();
void push_entry_frame(EntryFrame* frame);
void pop_entry_frame(EntryFrame* frame);

// Runs `fn` (which calls into generated code) and returns the trap that ended
// it, or WASM_RT_TRAP_NONE.
template <typename Fn>
wasm_rt_trap_t run_guarded(Fn&& fn) {
  prepare_thread_for_guest_calls();
  EntryFrame frame;
  push_entry_frame(&frame);
  if (setjmp(frame.jump) == 0) {
    fn();
    pop_entry_frame(&frame);
    return WASM_RT_TRAP_NONE;
  }
  pop_entry_frame(&frame);
  return frame.trap;
}

const char* trap_name(wasm_rt_trap_t trap);

}  // namespace pgthaw::wasm
