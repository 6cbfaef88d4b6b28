// proc_memory: this process' memory as /proc/self/smaps_rollup sums it
// (Linux 4.14+), for the per-tenant memory row of the thaw benchmark.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "common/status.h"

namespace pgthaw::bench {

struct MemoryRollup {
  int64_t rss_kb = 0;
  // Proportional set size: each page divided by the number of mappings
  // (in any process) that share it.
  int64_t pss_kb = 0;
  // Unique set size: Private_Clean + Private_Dirty, pages mapped once only.
  int64_t uss_kb = 0;
};

// Reads /proc/self/smaps_rollup after returning freed heap to the kernel
// (malloc_trim), so glibc's caches do not count as tenant memory.
Result<MemoryRollup> read_memory_rollup();

// The same sums for another process, read from /proc/PID/smaps_rollup (no
// malloc_trim: that process' heap is its own business).
Result<MemoryRollup> read_memory_rollup(pid_t pid);

}  // namespace pgthaw::bench
