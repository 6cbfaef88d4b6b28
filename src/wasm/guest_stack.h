// wasm::run_on_guest_stack: guest code runs on a big native stack.
//
// wasm2c code uses the native stack for every wasm frame, roughly ten times
// what the same frame takes of Postgres' own (shadow) stack in linear memory.
// Postgres stops deep recursion with 54001 "stack depth limit exceeded" once
// the shadow stack passes max_stack_depth (at most 7.5 MB: Postgres refuses
// more, as the guest's RLIMIT_STACK is 8 MB); for that check to fire before
// the native stack runs out, guest code runs on a stack of kGuestStackBytes,
// reserved once per thread (committed only as it is touched), with a large
// guard below it so an overflow faults (a trap, wasm/trap.h) instead of
// running into other memory.
//
// Calls nest: code already on this thread's guest stack just runs.
// Exceptions thrown by `fn` are carried across the switch.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>

namespace pgthaw::wasm {

inline constexpr size_t kGuestStackBytes = size_t{256} << 20;
inline constexpr size_t kGuestStackGuardBytes = size_t{1} << 20;

// Runs `fn` on this thread's guest stack.
void run_on_guest_stack(const std::function<void()>& fn);

// Reserves this thread's guest stack with `bytes` (rounded to pages) if it
// has none yet; false if it already has one. Tests use a small stack to reach
// a stack-exhaustion trap; everything else gets kGuestStackBytes on first use.
bool reserve_guest_stack(size_t bytes);

// True if `addr` is in the guard region below this thread's guest stack.
bool in_guest_stack_guard(const void* addr);

}  // namespace pgthaw::wasm
