// thaw_report: everything one bench_thaw run measured, and its two renderings:
// the markdown report (tables, targets met/missed, peer ratios, machine) and
// the raw JSON. A section that was not measured says why (`error` for a
// failure, the peer's `outcome` for a skip); nothing here asserts on timings.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "../engine/bench_rows.h"
#include "latency.h"
#include "proc_memory.h"

namespace pgthaw::bench {

inline constexpr double kUnsetMs = std::numeric_limits<double>::quiet_NaN();

// How big a run is; --quick shrinks every count.
struct ThawConfig {
  int new_tenants = 1000;    // section 1 samples
  int thaw_cycles = 50;      // section 2 hibernate/thaw cycles
  int boot_repeats = 20;     // section 3 boots
  int memory_tenants = 200;  // section 4 tenants kept alive
  int table_rows = 10240;    // section 2 table: rows of kPadBytes
  int pad_bytes = 1024;      // 10240 x 1024 B = 10 MiB of text
  int warmup_tenants = 3;    // untimed new tenants before section 1
};

// 1. New tenant from the template: open_tenant() + first `select 1`.
struct NewTenantFigures {
  std::string error;  // non-empty: the section failed
  Latency total_ms, open_ms, first_query_ms;
  double first_in_process_ms = kUnsetMs;  // the first (untimed) warm-up tenant
  double template_ensure_ms = kUnsetMs;   // Template::Ensure in a fresh root (initdb included)
};

// 2. A hibernated tenant with a 10 MiB table: thaw + indexed query.
struct HibernatedFigures {
  std::string error;
  Latency total_ms, thaw_ms, query_ms;
  Latency hibernate_ms;                 // hibernate_tenant(), between cycles (not in total)
  double load_ms = kUnsetMs;            // create table + insert of the rows
  int64_t relation_bytes = 0;           // pg_total_relation_size('big')
  int64_t snapshot_bytes = 0;           // disk blocks of the last snapshot/
  int64_t snapshot_apparent_bytes = 0;  // their apparent size (sparse files)
};

// 3. The same tenant booted from its files (no snapshot) + indexed query.
struct BootFigures {
  std::string error;
  Latency total_ms, boot_ms, query_ms;
  Latency close_ms;  // clean shutdown after each sample (not in total)
};

// 4. Memory of warm idle tenants (each ran a first query, all alive).
struct MemoryFigures {
  std::string error;
  int tenants = 0;
  MemoryRollup before, after, released;  // released: after Abandon() of all
  double pss_per_tenant_mb = kUnsetMs;
  double uss_per_tenant_mb = kUnsetMs;
  double rss_per_tenant_mb = kUnsetMs;
};

// 5. PGlite 0.5.16 in Node, from bench/engine/pglite_node.mjs.
struct PeerFigures {
  Outcome outcome = Outcome::kSkipped;
  std::string reason;  // why skipped or failed
  std::string version;
  double initdb_ms = kUnsetMs;       // fresh database, first in a cold process
  double initdb_warm_ms = kUnsetMs;  // fresh database, wasm already compiled
  double boot_ms = kUnsetMs;         // existing (small, cleanly closed) directory
};

struct ThawReport {
  ThawConfig config;
  bool quick = false;
  NewTenantFigures new_tenant;
  HibernatedFigures hibernated;
  BootFigures boot;
  MemoryFigures memory;
  PeerFigures peer;
};

// Targets printed next to the results (not asserts).
inline constexpr double kTargetNewTenantP50Ms = 2.0;
inline constexpr double kTargetHibernatedP50Ms = 5.0;
inline constexpr double kTargetPrivatePerTenantMb = 8.0;

std::string render_thaw_markdown(const ThawReport& report);
nlohmann::json thaw_to_json(const ThawReport& report);

// True when a pgthaw section or the peer failed (not skipped).
bool any_failed(const ThawReport& report);

}  // namespace pgthaw::bench
