// thaw_report: markdown and JSON for a bench_thaw run.
#include "thaw_report.h"

#include <cmath>
#include <cstdio>
#include <tuple>

namespace pgthaw::bench {
namespace {

using nlohmann::json;

std::string fmt(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  // Three decimals below 1 so sub-millisecond parts keep a figure.
  std::snprintf(buf, sizeof buf, v < 1 ? "%.3f" : v < 10 ? "%.2f" : "%.1f", v);
  return buf;
}

std::string fmt_ratio(double num, double den) {
  if (std::isnan(num) || std::isnan(den) || den <= 0) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0fx", num / den);
  if (num / den < 10) std::snprintf(buf, sizeof buf, "%.1fx", num / den);
  return buf;
}

double mb(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// One latency row; a failed section prints its status once, in its first row.
std::string latency_row(const std::string& label, const Latency& l, const std::string& error) {
  if (!error.empty()) return "| " + label + " | failed | | | |\n";
  return "| " + label + " | " + std::to_string(l.n) + " | " + fmt(l.p50) + " | " + fmt(l.p99) +
         " | " + fmt(l.max) + " |\n";
}

std::string target_row(const std::string& label, const std::string& goal, double value,
                       double limit, const std::string& unit) {
  std::string verdict = std::isnan(value) ? "n/a" : value <= limit ? "met" : "**missed**";
  return "| " + label + " | " + goal + " | " + fmt(value) + " " + unit + " | " + verdict + " |\n";
}

json latency_json(const Latency& l) {
  return {{"n", l.n}, {"p50", l.p50}, {"p99", l.p99}, {"max", l.max}, {"mean", l.mean}};
}

json rollup_json(const MemoryRollup& m) {
  return {{"rss_kb", m.rss_kb}, {"pss_kb", m.pss_kb}, {"uss_kb", m.uss_kb}};
}

json error_or_null(const std::string& error) { return error.empty() ? json() : json(error); }

const char* outcome_name(Outcome o) {
  return o == Outcome::kMeasured ? "measured" : o == Outcome::kSkipped ? "skipped" : "failed";
}

}  // namespace

bool any_failed(const ThawReport& r) {
  return !r.new_tenant.error.empty() || !r.hibernated.error.empty() || !r.boot.error.empty() ||
         !r.memory.error.empty() || r.peer.outcome == Outcome::kFailed;
}

std::string render_thaw_markdown(const ThawReport& r) {
  const ThawConfig& c = r.config;
  const NewTenantFigures& nt = r.new_tenant;
  const HibernatedFigures& hb = r.hibernated;
  const BootFigures& bt = r.boot;
  const MemoryFigures& mem = r.memory;
  const PeerFigures& peer = r.peer;
  std::string table_mb = fmt(mb(int64_t{c.table_rows} * c.pad_bytes));

  std::string md = "### pgthaw: thaw and new-tenant latency (ms)\n\n";
  md += "| Measurement (ms) | n | p50 | p99 | max |\n|---|---:|---:|---:|---:|\n";
  md += latency_row("1. new tenant from template: `open_tenant` + first `select 1`", nt.total_ms,
                    nt.error);
  md += latency_row("&nbsp;&nbsp;of which `open_tenant`", nt.open_ms, nt.error);
  md += latency_row("&nbsp;&nbsp;of which first `select 1`", nt.first_query_ms, nt.error);
  md += latency_row(
      "2. hibernated tenant (" + table_mb + " MiB table): thaw (`open_tenant`) + indexed query",
      hb.total_ms, hb.error);
  md += latency_row("&nbsp;&nbsp;of which thaw", hb.thaw_ms, hb.error);
  md += latency_row("&nbsp;&nbsp;of which `select pad from big where id = $1`", hb.query_ms,
                    hb.error);
  md += latency_row(
      "3. same tenant booted from files, no snapshot (`Instance::Boot`) + indexed "
      "query",
      bt.total_ms, bt.error);
  md += latency_row("&nbsp;&nbsp;of which boot", bt.boot_ms, bt.error);
  md += latency_row("&nbsp;&nbsp;of which indexed query", bt.query_ms, bt.error);
  md += "\n";

  md += "### pgthaw: memory per warm idle tenant\n\n";
  md +=
      "| Measurement (MB per tenant) | tenants alive | Pss | USS (private) | Rss |\n"
      "|---|---:|---:|---:|---:|\n";
  if (mem.error.empty()) {
    md += "| 4. tenants from the template, each after a first query | " +
          std::to_string(mem.tenants) + " | " + fmt(mem.pss_per_tenant_mb) + " | " +
          fmt(mem.uss_per_tenant_mb) + " | " + fmt(mem.rss_per_tenant_mb) + " |\n";
  } else {
    md += "| 4. tenants from the template, each after a first query | failed | | | |\n";
  }
  md += "\n";

  md += "### Targets (not asserts)\n\n| Target | Goal | Measured | |\n|---|---|---:|---|\n";
  md += target_row("new tenant p50 (open + first query)", "<= 2 ms", nt.total_ms.p50,
                   kTargetNewTenantP50Ms, "ms");
  md += target_row("hibernated tenant p50 (thaw + indexed query)", "<= 5 ms", hb.total_ms.p50,
                   kTargetHibernatedP50Ms, "ms");
  md += target_row("private memory per warm idle tenant (USS)", "<= 8 MB", mem.uss_per_tenant_mb,
                   kTargetPrivatePerTenantMb, "MB");
  md += "\n";

  md += "### Peer: PGlite 0.5.16 in Node, same run\n\n";
  if (peer.outcome == Outcome::kSkipped) {
    md += "Skipped: " + peer.reason + "\n\n";
  } else if (peer.outcome == Outcome::kFailed) {
    md += "FAILED: " + peer.reason + "\n\n";
  } else {
    md +=
        "| Comparison | PGlite-in-Node (ms) | pgthaw p50 (ms) | ratio |\n"
        "|---|---:|---:|---:|\n";
    md += "| fresh start (`PGlite.create` on an empty dir, cold process) / new tenant | " +
          fmt(peer.initdb_ms) + " | " + fmt(nt.total_ms.p50) + " | " +
          fmt_ratio(peer.initdb_ms, nt.total_ms.p50) + " |\n";
    md += "| fresh start, wasm already compiled / new tenant | " + fmt(peer.initdb_warm_ms) +
          " | " + fmt(nt.total_ms.p50) + " | " + fmt_ratio(peer.initdb_warm_ms, nt.total_ms.p50) +
          " |\n";
    md += "| boot of an existing dir (`PGlite.create`) / thaw (`open_tenant`) | " +
          fmt(peer.boot_ms) + " | " + fmt(hb.thaw_ms.p50) + " | " +
          fmt_ratio(peer.boot_ms, hb.thaw_ms.p50) + " |\n";
    md += "\nPGlite: " + peer.version +
          ". Its figures are single samples; its existing dir is a small, cleanly closed "
          "database (no 10 MiB table); no fsync (NODEFS).\n\n";
  }

  md +=
      "Notes: pgthaw figures are in-process C++ API calls (`durable=true`), one protocol "
      "round trip per query, timed with steady_clock; percentiles are nearest-rank (p99 of "
      "fewer than 100 samples is the max). ";
  if (nt.error.empty()) {
    md += "Template built in this run in " + fmt(nt.template_ensure_ms) +
          " ms (initdb included, once per build); the first tenant in the process took " +
          fmt(nt.first_in_process_ms) + " ms (untimed warm-up). ";
  }
  if (hb.error.empty()) {
    md += "Table `big`: " + std::to_string(c.table_rows) + " rows of " +
          std::to_string(c.pad_bytes) + " B, pg_total_relation_size " + fmt(mb(hb.relation_bytes)) +
          " MiB, loaded in " + fmt(hb.load_ms) + " ms; hibernate p50 " + fmt(hb.hibernate_ms.p50) +
          " ms, snapshot " + fmt(mb(hb.snapshot_bytes)) + " MiB on disk (" +
          fmt(mb(hb.snapshot_apparent_bytes)) + " MiB apparent). ";
  }
  if (bt.error.empty())
    md += "Clean Close() after each boot, p50 " + fmt(bt.close_ms.p50) + " ms. ";
  if (mem.error.empty()) {
    md += "Memory: smaps_rollup before/after " + std::to_string(mem.tenants) + " tenants: Pss " +
          fmt(mem.before.pss_kb / 1024.0) + " -> " + fmt(mem.after.pss_kb / 1024.0) + " MB, USS " +
          fmt(mem.before.uss_kb / 1024.0) + " -> " + fmt(mem.after.uss_kb / 1024.0) +
          " MB (after releasing them: Pss " + fmt(mem.released.pss_kb / 1024.0) + " MB).";
  }
  md += "\n\n";
  for (const auto& [name, error] : {std::pair<const char*, const std::string&>{"1", nt.error},
                                    {"2", hb.error},
                                    {"3", bt.error},
                                    {"4", mem.error}}) {
    if (!error.empty()) md += "- Section " + std::string(name) + " FAILED: " + error + "\n";
  }
  md += "Machine: " + machine_info() + (r.quick ? " (--quick run)" : "") + "\n";
  return md;
}

json thaw_to_json(const ThawReport& r) {
  const ThawConfig& c = r.config;
  json doc;
  doc["benchmark"] = "thaw";
  doc["machine"] = machine_info();
  doc["quick"] = r.quick;
  doc["config"] = {{"new_tenants", c.new_tenants},      {"thaw_cycles", c.thaw_cycles},
                   {"boot_repeats", c.boot_repeats},    {"memory_tenants", c.memory_tenants},
                   {"table_rows", c.table_rows},        {"pad_bytes", c.pad_bytes},
                   {"warmup_tenants", c.warmup_tenants}};
  const NewTenantFigures& nt = r.new_tenant;
  doc["new_tenant"] = {{"error", error_or_null(nt.error)},
                       {"total_ms", latency_json(nt.total_ms)},
                       {"open_ms", latency_json(nt.open_ms)},
                       {"first_query_ms", latency_json(nt.first_query_ms)},
                       {"first_in_process_ms", nt.first_in_process_ms},
                       {"template_ensure_ms", nt.template_ensure_ms}};
  const HibernatedFigures& hb = r.hibernated;
  doc["hibernated"] = {{"error", error_or_null(hb.error)},
                       {"total_ms", latency_json(hb.total_ms)},
                       {"thaw_ms", latency_json(hb.thaw_ms)},
                       {"query_ms", latency_json(hb.query_ms)},
                       {"hibernate_ms", latency_json(hb.hibernate_ms)},
                       {"load_ms", hb.load_ms},
                       {"relation_bytes", hb.relation_bytes},
                       {"snapshot_bytes", hb.snapshot_bytes},
                       {"snapshot_apparent_bytes", hb.snapshot_apparent_bytes}};
  const BootFigures& bt = r.boot;
  doc["boot_without_snapshot"] = {{"error", error_or_null(bt.error)},
                                  {"total_ms", latency_json(bt.total_ms)},
                                  {"boot_ms", latency_json(bt.boot_ms)},
                                  {"query_ms", latency_json(bt.query_ms)},
                                  {"close_ms", latency_json(bt.close_ms)}};
  const MemoryFigures& mem = r.memory;
  doc["memory"] = {
      {"error", error_or_null(mem.error)},          {"tenants", mem.tenants},
      {"before", rollup_json(mem.before)},          {"after", rollup_json(mem.after)},
      {"released", rollup_json(mem.released)},      {"pss_per_tenant_mb", mem.pss_per_tenant_mb},
      {"uss_per_tenant_mb", mem.uss_per_tenant_mb}, {"rss_per_tenant_mb", mem.rss_per_tenant_mb}};
  const PeerFigures& peer = r.peer;
  doc["peer"] = {{"system", kSystemPgliteNode},
                 {"outcome", outcome_name(peer.outcome)},
                 {"reason", peer.reason},
                 {"version", peer.version},
                 {"initdb_ms", peer.initdb_ms},
                 {"initdb_warm_ms", peer.initdb_warm_ms},
                 {"boot_ms", peer.boot_ms},
                 {"ratio_fresh_start_over_new_tenant_p50", peer.initdb_ms / nt.total_ms.p50},
                 {"ratio_boot_over_thaw_p50", peer.boot_ms / hb.thaw_ms.p50}};
  doc["targets"] = json::array();
  for (const auto& [name, limit, value] :
       {std::tuple<const char*, double, double>{"new_tenant_p50_ms", kTargetNewTenantP50Ms,
                                                nt.total_ms.p50},
        {"hibernated_p50_ms", kTargetHibernatedP50Ms, hb.total_ms.p50},
        {"private_mb_per_warm_idle_tenant", kTargetPrivatePerTenantMb, mem.uss_per_tenant_mb}}) {
    // met is null when the figure was not measured.
    doc["targets"].push_back({{"name", name},
                              {"limit", limit},
                              {"value", value},
                              {"met", std::isnan(value) ? json() : json(value <= limit)}});
  }
  return doc;
}

}  // namespace pgthaw::bench
