// See linear_memory.h for the layout.
#include "wasm/linear_memory.h"

#include <sys/mman.h>

namespace pgthaw::wasm {

bool allocate_memory(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages) {
  void* base = mmap(nullptr, kReservationBytes, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return false;
  uint64_t bytes = uint64_t{initial_pages} * kPageBytes;
  if (bytes != 0 && mprotect(base, bytes, PROT_READ | PROT_WRITE) != 0) {
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
  if (memory->data != nullptr) munmap(memory->data, kReservationBytes);
  memory->data = nullptr;
  memory->pages = memory->size = 0;
}

}  // namespace pgthaw::wasm
