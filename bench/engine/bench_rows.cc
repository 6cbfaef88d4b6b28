// bench_rows: renders the engine benchmark's markdown table and machine info.
#include "bench_rows.h"

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

namespace pgthaw::bench {
namespace {

struct RowSpec {
  const char* label;
  double EngineBenchRows::*field;
};

constexpr RowSpec kRows[] = {
    {"initdb: empty dir until it answers queries (ms)", &EngineBenchRows::initdb_ms},
    {"boot: existing dir until ready (ms)", &EngineBenchRows::boot_ms},
    {"first `select 1` after boot (ms)", &EngineBenchRows::first_query_ms},
    {"warm `select 1`, mean of 10,000 (µs)", &EngineBenchRows::warm_select1_us},
    {"10,000 single-row INSERTs in one transaction, total (ms)", &EngineBenchRows::insert10k_ms},
};

std::string format_value(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  // Two decimals below 10 so sub-millisecond rows keep a figure.
  std::snprintf(buf, sizeof buf, v < 10 ? "%.2f" : "%.1f", v);
  return buf;
}

std::string format_ratio(double num, double den) {
  if (std::isnan(num) || std::isnan(den) || den <= 0) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1fx", num / den);
  return buf;
}

const EngineBenchRows* find_system(const std::vector<EngineBenchRows>& systems,
                                   const std::string& name) {
  for (const EngineBenchRows& s : systems) {
    if (s.system == name) return &s;
  }
  return nullptr;
}

// A row's value for a ratio: NaN unless that system was measured.
double measured(const EngineBenchRows* s, double EngineBenchRows::*field) {
  if (s == nullptr || s->outcome != Outcome::kMeasured) return EngineBenchRows::kUnset;
  return s->*field;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "unknown CPU";
}

// What `nproc` prints: the CPUs this process may run on.
long online_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return sysconf(_SC_NPROCESSORS_ONLN);
}

}  // namespace

std::string machine_info() {
  std::string out = std::to_string(online_cpus()) + " CPUs (nproc), " + cpu_model();
  struct utsname u;
  if (uname(&u) == 0) {
    out += ", " + std::string(u.sysname) + " " + u.release + " (" + u.machine + ")";
  }
  return out;
}

std::string render_markdown(const std::vector<EngineBenchRows>& systems) {
  const EngineBenchRows* pgthaw = find_system(systems, kSystemPgthaw);
  const EngineBenchRows* pglite = find_system(systems, kSystemPgliteNode);
  const EngineBenchRows* native = find_system(systems, kSystemNativePg);

  std::string md = "| Measurement |";
  std::string rule = "|---|";
  for (const EngineBenchRows& s : systems) {
    md += " " + s.system + " |";
    rule += "---:|";
  }
  md += " PGlite-in-Node / pgthaw | native PG / pgthaw |\n";
  rule += "---:|---:|\n";
  md += rule;

  for (const RowSpec& row : kRows) {
    md += std::string("| ") + row.label + " |";
    for (const EngineBenchRows& s : systems) {
      switch (s.outcome) {
        case Outcome::kMeasured:
          md += " " + format_value(s.*row.field) + " |";
          break;
        case Outcome::kSkipped:
          md += " skipped |";
          break;
        case Outcome::kFailed:
          md += " failed |";
          break;
      }
    }
    double base = measured(pgthaw, row.field);
    md += " " + format_ratio(measured(pglite, row.field), base) + " |";
    md += " " + format_ratio(measured(native, row.field), base) + " |\n";
  }

  md +=
      "\nRatios are x-fold: the other system's time divided by pgthaw's "
      "(above 1.0x, pgthaw is faster). Lower is better in every row.\n\n";
  md += "Machine: " + machine_info() + "\n\n";
  for (const EngineBenchRows& s : systems) {
    md += "- **" + s.system + "**";
    if (!s.version.empty()) md += " (" + s.version + ")";
    if (s.outcome == Outcome::kSkipped) md += ": skipped: " + s.reason;
    if (s.outcome == Outcome::kFailed) md += ": FAILED: " + s.reason;
    if (!s.notes.empty()) md += ". " + s.notes;
    if (!s.extras.empty()) {
      md += ". Extras:";
      for (const auto& [name, value] : s.extras) md += " " + name + "=" + format_value(value);
    }
    md += "\n";
  }
  return md;
}

}  // namespace pgthaw::bench
