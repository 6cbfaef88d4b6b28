// Traps: how a fault inside generated code comes back to the host.
//
// Every host->guest call runs inside an EntryFrame (see run_guarded). A trap,
// whether wasm_rt_trap() from generated code (unreachable, bad indirect call,
// division by zero) or a SIGSEGV/SIGBUS taken while this thread is inside
// guest code at an address of a linear-memory reservation (an out-of-bounds
// access into its PROT_NONE tail) or of the guest stack's guard (the native
// stack overflowing), longjmps to the innermost EntryFrame of the thread.
// Any other fault is a host bug and kills the process with the signal's
// default action, guest code on the stack or not. Frames are thread-local, so instances on
// different threads trap independently. The fault handler runs on a per-thread alternate stack so a
// stack overflow can still be handled.
//
// A C++ exception thrown by host code that the guest called (an import, a
// table callback) unwinds through the generated C frames (they carry unwind
// tables and nothing to clean up) to run_guarded, which turns it into a trap
// of that instance: std::bad_alloc is kTrapHostOutOfMemory, anything else
// kTrapHostException. It never reaches std::terminate.
//
// After a trap the guest's state is unknown: the caller must treat that
// instance as dead.
#pragma once

#include <csetjmp>
#include <new>

#include "wasm-rt.h"

namespace pgthaw::wasm {

// Traps raised by the host rather than by generated code. wasm-rt.h's enum
// ends at 8, so 14 and 15 are values the enum can hold that wabt never uses.
inline constexpr wasm_rt_trap_t kTrapHostOutOfMemory = static_cast<wasm_rt_trap_t>(14);
inline constexpr wasm_rt_trap_t kTrapHostException = static_cast<wasm_rt_trap_t>(15);

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
    wasm_rt_trap_t thrown = WASM_RT_TRAP_NONE;
    try {
      fn();
    } catch (const std::bad_alloc&) {
      thrown = kTrapHostOutOfMemory;
    } catch (...) {
      thrown = kTrapHostException;
    }
    pop_entry_frame(&frame);
    return thrown;
  }
  pop_entry_frame(&frame);
  return frame.trap;
}

const char* trap_name(wasm_rt_trap_t trap);

}  // namespace pgthaw::wasm
