// proc_memory: parses the "Name:   123 kB" lines of /proc/self/smaps_rollup.
#include "proc_memory.h"

#include <malloc.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace pgthaw::bench {

namespace {

Result<MemoryRollup> parse_rollup(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(std::string("cannot open ") + path + " (Linux 4.14+ needed)");
  MemoryRollup m;
  bool saw_pss = false, saw_private = false;
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // the header line (address range)
    std::string name = line.substr(0, colon);
    int64_t kb = std::strtoll(line.c_str() + colon + 1, nullptr, 10);
    if (name == "Rss") {
      m.rss_kb = kb;
    } else if (name == "Pss") {
      m.pss_kb = kb;
      saw_pss = true;
    } else if (name == "Private_Clean" || name == "Private_Dirty") {
      m.uss_kb += kb;
      saw_private = true;
    }
  }
  if (!saw_pss || !saw_private) {
    return Status::Corruption(std::string(path) + " has no Pss or Private_* lines");
  }
  return m;
}

}  // namespace

Result<MemoryRollup> read_memory_rollup() {
  malloc_trim(0);
  return parse_rollup("/proc/self/smaps_rollup");
}

Result<MemoryRollup> read_memory_rollup(pid_t pid) {
  return parse_rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
}

}  // namespace pgthaw::bench
