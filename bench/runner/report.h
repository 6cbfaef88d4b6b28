// report: what one `pgthaw-bench` run measured, and its three renderings:
// markdown (the seed's tables with a column per system and ratios to each
// peer), raw JSON, and gnuplot charts. Plain data, no I/O but the writers.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgthaw::bench {

inline constexpr const char* kSystemPgliteWorkerd = "PGlite-in-workerd";

// The seed's "Cold Start Times" rows, in its order.
inline constexpr const char* kColdRows[] = {
    "Factory DO (new instance)", "Consumer DO (direct cold)", "Warm Proxy (first request)",
    "Warm Proxy (subsequent)"};
// The seed's "Warm Query Times" modes.
inline constexpr const char* kWarmModes[] = {"Factory DO", "Consumer DO", "Warm Proxy"};
inline constexpr const char* kPingRow = "/ping (transport floor)";

struct SystemRun {
  std::string name;
  std::string version;
  bool measured = true;  // false: skipped, `reason` says why
  std::string reason;
  std::vector<std::string> notes;  // what each row means for this system
};

// One row x system: the samples in ms, and what was timed.
struct Series {
  std::string row;
  std::string system;
  std::vector<double> ms;
  std::string how;
  std::string goal;  // pgthaw's target for the row ("" = none), shown next to the figure
};

struct ThroughputRow {
  std::string workload;
  std::string system;
  double tps = std::numeric_limits<double>::quiet_NaN();
  std::string how;
  std::string goal;  // pgthaw's row only: its target as a ratio to native PG
};

struct MemoryRow {
  std::string system;
  int tenants = 0;
  double rss_kib_per_tenant = 0;
  double pss_kib_per_tenant = 0;
  std::string how;
  std::string goal;
};

// Tenants at rest on one node: what N of them cost the server's memory and
// the disk.
struct DensityRow {
  std::string what;
  int tenants = 0;
  double rss_before_kib = 0;  // the server's RSS before the tenants were made
  double rss_after_kib = 0;   // ... and after, all of them hibernated
  double disk_kib_per_tenant = 0;
  double seconds = 0;  // to make them all
  std::string how;
  std::string goal;
};

// One row of the noisy-neighbour table: a victim tenant's `select 1` over
// the Postgres wire while another tenant runs ABUSE ("" = the victim alone).
struct NoisyNeighbourRow {
  std::string abuse;
  std::string system;
  bool victim_alone = false;      // no abuser: a baseline row
  std::vector<double> victim_ms;  // each answered select 1, send to result
  // The same queries from their slot in the even schedule when sent late
  // because the previous one was held up (else from the send): time the
  // victim spent blocked counts for every query it could not send.
  std::vector<double> victim_from_slot_ms;
  int victim_planned = 0;  // queries planned; fewer answered means it stalled
  int victim_errors = 0;
  std::string victim_note;  // the victim's first error, a stall; "" when none
  std::string abuser_got;   // how the abuser's statements ended
  std::string how;
};

struct BenchReport {
  std::string command;
  std::string mode;  // "quick" or "full"
  std::string machine;
  std::string started_at;  // UTC, ISO 8601
  double duration_s = 0;
  std::vector<SystemRun> systems;
  std::vector<Series> cold;
  std::vector<Series> warm;  // includes the kPingRow floor per system
  std::vector<Series> thaw;
  std::vector<Series> fork;  // fork a tenant / first query on the fork, per size
  std::vector<ThroughputRow> throughput;
  std::vector<MemoryRow> memory;
  std::vector<DensityRow> density;                 // pgthaw only
  std::vector<NoisyNeighbourRow> noisy_neighbour;  // pgthaw only; the first row is "alone"
  std::string noisy_neighbour_context;             // e.g. the machine's load around the table
  std::vector<std::string> messages;               // skips and failures, as printed
};

std::string render_report_markdown(const BenchReport& report);
std::string render_report_json(const BenchReport& report);
// The charts' file names, in OUT_DIR (write_charts) and next to the docs
// copy of the report, which links them by these names.
inline constexpr const char* kChartFiles[] = {"cold_start.png", "warm_latency.png"};
// Writes the kChartFiles into OUT_DIR with gnuplot (small PNGs, fit to be
// committed); a missing gnuplot is a NotFound status saying so.
Status write_charts(const BenchReport& report, const std::string& out_dir);

}  // namespace pgthaw::bench
