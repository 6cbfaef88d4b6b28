// See linear_memory.h for the layout.
#include "wasm/linear_memory.h"

#include <sys/mman.h>

#include <atomic>
#include <mutex>

namespace pgthaw::wasm {

namespace {

// Base addresses of live reservations (0: a free slot). Writers take
// g_table_mutex; the fault handler only loads.
std::atomic<uintptr_t> g_reservations[kMaxReservations];
std::atomic<size_t> g_slots_used{0};  // slots at or past it were never used
std::mutex g_table_mutex;

bool add_reservation(void* base) {
  std::lock_guard lock(g_table_mutex);
  size_t used = g_slots_used.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kMaxReservations; ++i) {
    if (g_reservations[i].load(std::memory_order_relaxed) != 0) continue;
    g_reservations[i].store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    if (i >= used) g_slots_used.store(i + 1, std::memory_order_release);
    return true;
  }
  return false;
}

void remove_reservation(void* base) {
  std::lock_guard lock(g_table_mutex);
  size_t used = g_slots_used.load(std::memory_order_relaxed);
  for (size_t i = 0; i < used; ++i) {
    if (g_reservations[i].load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(base)) {
      g_reservations[i].store(0, std::memory_order_release);
      return;
    }
  }
}

}  // namespace

bool in_memory_reservation(const void* addr) {
  auto a = reinterpret_cast<uintptr_t>(addr);
  size_t used = g_slots_used.load(std::memory_order_acquire);
  for (size_t i = 0; i < used; ++i) {
    uintptr_t base = g_reservations[i].load(std::memory_order_acquire);
    if (base != 0 && a >= base && a - base < kReservationBytes) return true;
  }
  return false;
}

bool allocate_memory(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages) {
  void* base = mmap(nullptr, kReservationBytes, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return false;
  uint64_t bytes = uint64_t{initial_pages} * kPageBytes;
  if ((bytes != 0 && mprotect(base, bytes, PROT_READ | PROT_WRITE) != 0) ||
      !add_reservation(base)) {
    munmap(base, kReservationBytes);
    return false;
  }
  memory->data = static_cast<uint8_t*>(base);
  memory->pages = initial_pages;
  memory->max_pages = max_pages;
  memory->size = static_cast<uint32_t>(bytes);
  return true;
}

uint32_t grow_memory(wasm_rt_memory_t* memory, uint32_t delta_pages) {
  uint32_t old_pages = memory->pages;
  uint64_t new_pages = uint64_t{old_pages} + delta_pages;
  if (delta_pages == 0) return old_pages;
  // wasm_rt_memory_t::size is 32 bits: 65536 pages would not fit.
  if (new_pages > memory->max_pages || new_pages >= 65536) return UINT32_MAX;
  uint8_t* start = memory->data + uint64_t{old_pages} * kPageBytes;
  if (mprotect(start, uint64_t{delta_pages} * kPageBytes, PROT_READ | PROT_WRITE) != 0) {
    return UINT32_MAX;
  }
  memory->pages = static_cast<uint32_t>(new_pages);
  memory->size = static_cast<uint32_t>(new_pages * kPageBytes);
  return old_pages;
}

void free_memory(wasm_rt_memory_t* memory) {
  if (memory->data != nullptr) {
    // Listed until unmapped: a fault in between is still the guest's.
    munmap(memory->data, kReservationBytes);
    remove_reservation(memory->data);
  }
  memory->data = nullptr;
  memory->pages = memory->size = 0;
}

}  // namespace pgthaw::wasm
