// The fault handler's rule (trap.h): inside guest code, a fault in a linear
// memory's reservation is a trap of that call; any other fault is a host bug
// and kills the process with the signal, guest code on the stack or not.
#include "wasm/trap.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>

#include "wasm/linear_memory.h"

namespace pgthaw::wasm {
namespace {

TEST(Trap, AnAccessPastAMemorysSizeIsATrap) {
  wasm_rt_memory_t memory{};
  ASSERT_TRUE(allocate_memory(&memory, 1, 4));
  EXPECT_TRUE(in_memory_reservation(memory.data));
  EXPECT_TRUE(in_memory_reservation(memory.data + kReservationBytes - 1));
  EXPECT_FALSE(in_memory_reservation(memory.data + kReservationBytes));
  volatile uint8_t* past = memory.data + 3 * kPageBytes;
  wasm_rt_trap_t trap = run_guarded([&] { *past = 1; });
  EXPECT_EQ(trap, WASM_RT_TRAP_OOB);
  // The same address after growing is memory like any other.
  ASSERT_NE(grow_memory(&memory, 3), UINT32_MAX);
  EXPECT_EQ(run_guarded([&] { *past = 1; }), WASM_RT_TRAP_NONE);
  uint8_t* data = memory.data;
  free_memory(&memory);
  EXPECT_FALSE(in_memory_reservation(data));
}

TEST(TrapDeathTest, AHostBugInsideGuestCodeCrashesTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        wasm_rt_memory_t memory{};
        if (!allocate_memory(&memory, 1, 1)) _exit(3);
        // A wild pointer outside every reservation, with a guest frame live.
        (void)run_guarded([] {
          volatile uintptr_t address = 16;
          *reinterpret_cast<volatile int*>(address) = 1;
        });
        _exit(0);  // not reached: the fault must not become a trap
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(TrapDeathTest, AFaultOutsideGuestCodeCrashesTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        prepare_thread_for_guest_calls();
        wasm_rt_memory_t memory{};
        if (!allocate_memory(&memory, 1, 1)) _exit(3);
        volatile uint8_t* past = memory.data + 2 * kPageBytes;
        *past = 1;  // in a reservation, but no guest frame: a host bug
        _exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

}  // namespace
}  // namespace pgthaw::wasm
