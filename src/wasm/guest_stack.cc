#include "wasm/guest_stack.h"

#include <sys/mman.h>

#include <boost/context/detail/fcontext.hpp>
#include <cstdint>
#include <new>
#include <utility>

namespace pgthaw::wasm {
namespace {

// Boost.Context's fcontext switches stacks without a system call
// (swapcontext saves and restores the signal mask: two sigprocmask calls
// per switch, on every exchange with the engine). No signal mask needs
// carrying across: the trap handler runs with SA_NODEFER (trap.cc).
namespace fctx = boost::context::detail;

struct GuestStack {
  uint8_t* base = nullptr;          // the guard's start; the stack is above it
  size_t size = 0;                  // above the guard
  bool active = false;              // this thread runs on it now
  fctx::fcontext_t host = nullptr;  // where the guest side jumps back to
  const std::function<void()>* fn = nullptr;
  std::exception_ptr error;
};

thread_local GuestStack tls_stack;

// The guest side's entry. It never returns (an fcontext entry that returns
// ends the process): it jumps back to the host, and the context is dropped
// (the next run makes a fresh one on the same stack).
void trampoline(fctx::transfer_t from) {
  GuestStack& s = tls_stack;
  s.host = from.fctx;
  try {
    (*s.fn)();
  } catch (...) {
    s.error = std::current_exception();
  }
  fctx::jump_fcontext(s.host, nullptr);
}

// Reserved once per thread, never freed: a thread that ran guest code keeps
// its stack (pages stay only where it was touched).
bool reserve(GuestStack& s, size_t bytes) {
  if (s.base != nullptr) return true;
  constexpr size_t kPage = 4096;
  bytes = (bytes + kPage - 1) & ~(kPage - 1);
  void* p = mmap(nullptr, kGuestStackGuardBytes + bytes, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  auto* base = static_cast<uint8_t*>(p);
  if (mprotect(base + kGuestStackGuardBytes, bytes, PROT_READ | PROT_WRITE) != 0) {
    munmap(p, kGuestStackGuardBytes + bytes);
    return false;
  }
  s.base = base;
  s.size = bytes;
  return true;
}

}  // namespace

void run_on_guest_stack(const std::function<void()>& fn) {
  GuestStack& s = tls_stack;
  if (s.active) {
    fn();
    return;
  }
  if (!reserve(s, kGuestStackBytes)) throw std::bad_alloc();
  // make_fcontext takes the stack's top (it grows down) and its size.
  fctx::fcontext_t guest =
      fctx::make_fcontext(s.base + kGuestStackGuardBytes + s.size, s.size, trampoline);
  s.fn = &fn;
  s.error = nullptr;
  s.active = true;
  fctx::jump_fcontext(guest, nullptr);
  s.active = false;
  s.fn = nullptr;
  if (s.error) std::rethrow_exception(std::exchange(s.error, nullptr));
}

bool reserve_guest_stack(size_t bytes) {
  GuestStack& s = tls_stack;
  if (s.base != nullptr) return false;
  return reserve(s, bytes);
}

bool in_guest_stack_guard(const void* addr) {
  const GuestStack& s = tls_stack;
  auto* a = static_cast<const uint8_t*>(addr);
  return s.base != nullptr && a >= s.base && a < s.base + kGuestStackGuardBytes;
}

}  // namespace pgthaw::wasm
