// bench_rows: one system's figures in the engine benchmark, and the markdown
// table that puts the systems side by side (a row per measurement, a column
// per system, then x-fold ratios against pgthaw and a line of machine info).
#pragma once

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace pgthaw::bench {

// System names; the ratio columns find pgthaw and its peers by these.
inline constexpr const char* kSystemPgthaw = "pgthaw";
inline constexpr const char* kSystemPgliteNode = "PGlite-in-Node";
inline constexpr const char* kSystemNativePg = "native PG 15";

enum class Outcome {
  kMeasured,
  kSkipped,  // a dependency is missing (no node_modules, no PG binaries)
  kFailed,   // it ran and something went wrong; `reason` says what
};

// The five rows, for one system. A row that was not measured holds NaN.
struct EngineBenchRows {
  static constexpr double kUnset = std::numeric_limits<double>::quiet_NaN();

  double initdb_ms = kUnset;        // empty dir -> answers queries
  double boot_ms = kUnset;          // cleanly shut-down dir -> answers queries
  double first_query_ms = kUnset;   // first `select 1` right after boot
  double warm_select1_us = kUnset;  // mean of 10,000 warm `select 1`
  double insert10k_ms = kUnset;     // BEGIN, 10,000 single-row INSERTs, COMMIT
  std::string system;
  std::string version;

  Outcome outcome = Outcome::kMeasured;
  std::string reason;  // why skipped or failed
  std::string notes;   // what exactly was timed, durability settings
  // Figures that explain a row (e.g. pg_ctl's share of boot_ms), in
  // insertion order; names carry their unit (`_ms`, `_us`).
  std::vector<std::pair<std::string, double>> extras;
};

// The markdown report: the table, a legend for the ratios, a machine-info
// line (nproc, CPU model from /proc/cpuinfo, kernel) and per-system notes.
std::string render_markdown(const std::vector<EngineBenchRows>& systems);

// "N CPUs, <model name>, Linux <release> (<machine>)".
std::string machine_info();

}  // namespace pgthaw::bench
