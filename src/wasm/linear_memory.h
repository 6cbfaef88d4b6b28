// Linear memories we map ourselves.
//
// Every memory is one reservation of kReservationBytes of address space:
//
//   data                                   data + size        data + 8 GiB
//   |<-- read/write (current pages) ------>|<-- PROT_NONE ----------->|
//
// wasm2c is built with WASM_RT_MEMCHECK_SIGNAL_HANDLER: generated loads and
// stores carry no bounds checks. A 32-bit address plus a 32-bit offset stays
// below 8 GiB, so every out-of-bounds access lands in the PROT_NONE tail and
// faults; the fault handler (trap.cc) turns it into a trap. Growing is an
// mprotect, so `data` never moves. A later snapshot restore maps a memory
// image MAP_PRIVATE | MAP_FIXED over the front of the reservation.
//
// Live reservations are listed in a fixed table (at most kMaxReservations,
// more than the address space holds), read without locks by the fault
// handler.
//
// These back wasm_rt_allocate_memory/grow/free (runtime.cc), which the
// generated code calls for memories a module defines (initdb.wasm), and the
// host calls for the memory it hands to pglite.wasm as `env.memory`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "wasm-rt.h"

namespace pgthaw::wasm {

inline constexpr uint64_t kPageBytes = 65536;
inline constexpr uint64_t kReservationBytes = uint64_t{8} << 30;
// 128 TiB of user address space / 8 GiB.
inline constexpr size_t kMaxReservations = 16384;

// Reserves the address space and commits `initial_pages`. Returns false when
// the address space is exhausted.
bool allocate_memory(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages);

// Grows by `delta_pages`; returns the old page count or UINT32_MAX.
uint32_t grow_memory(wasm_rt_memory_t* memory, uint32_t delta_pages);

// Releases the whole reservation.
void free_memory(wasm_rt_memory_t* memory);

// True if `addr` lies in a reservation allocate_memory made and free_memory
// has not released yet. Async-signal-safe: the fault handler (trap.cc) asks
// it, to tell a guest's out-of-bounds access from a host bug.
bool in_memory_reservation(const void* addr);

}  // namespace pgthaw::wasm
