// report: markdown tables, JSON and gnuplot charts of a BenchReport.
#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "bench/engine/bench_rows.h"
#include "bench/engine/subprocess.h"
#include "bench/thaw/latency.h"

namespace pgthaw::bench {
namespace {

constexpr double kGiBKiB = 1024.0 * 1024.0;

std::string num(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, v < 1 ? "%.3f" : v < 100 ? "%.2f" : "%.1f", v);
  return buf;
}

std::string ratio(double other, double base) {
  if (std::isnan(other) || std::isnan(base) || base <= 0) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1fx", other / base);
  return buf;
}

const Series* find(const std::vector<Series>& all, const std::string& row,
                   const std::string& system) {
  for (const Series& s : all) {
    if (s.row == row && s.system == system && !s.ms.empty()) return &s;
  }
  return nullptr;
}

double p50_of(const Series* s) { return s ? summarize(s->ms).p50 : std::nan(""); }
std::string goal_of(const Series* s) { return s && !s->goal.empty() ? s->goal : "-"; }
double avg_of(const Series* s) { return s ? summarize(s->ms).mean : std::nan(""); }

// Systems that were measured, pgthaw first.
std::vector<std::string> measured_systems(const BenchReport& r) {
  std::vector<std::string> out;
  for (const SystemRun& s : r.systems) {
    if (s.measured) out.push_back(s.name);
  }
  return out;
}

std::string header(const std::vector<std::string>& cols) {
  std::string md = "|", rule = "|";
  for (size_t i = 0; i < cols.size(); ++i) {
    md += " " + cols[i] + " |";
    rule += i == 0 ? "---|" : "---:|";
  }
  return md + "\n" + rule + "\n";
}

std::string cold_table(const BenchReport& r, const std::vector<std::string>& systems) {
  std::vector<std::string> cols = {"Approach"};
  for (const std::string& s : systems) cols.push_back(s + " (ms)");
  for (size_t i = 1; i < systems.size(); ++i) cols.push_back(systems[i] + " / pgthaw");
  cols.push_back("pgthaw goal");
  std::string md = header(cols);
  for (const char* row : kColdRows) {
    md += std::string("| ") + row + " |";
    for (const std::string& s : systems) md += " " + num(p50_of(find(r.cold, row, s))) + " |";
    const Series* ours = find(r.cold, row, kSystemPgthaw);
    double base = p50_of(ours);
    for (size_t i = 1; i < systems.size(); ++i) {
      md += " " + ratio(p50_of(find(r.cold, row, systems[i])), base) + " |";
    }
    md += " " + goal_of(ours) + " |\n";
  }
  return md;
}

std::string warm_table(const BenchReport& r, const std::vector<std::string>& systems) {
  std::string md = header({"Mode", "System", "n", "min (ms)", "avg (ms)", "p50 (ms)", "p95 (ms)",
                           "max (ms)", "avg / pgthaw avg"});
  std::vector<std::string> rows = {kPingRow};
  for (const char* m : kWarmModes) rows.push_back(m);
  for (const std::string& row : rows) {
    double base = avg_of(find(r.warm, row, kSystemPgthaw));
    for (const std::string& s : systems) {
      const Series* series = find(r.warm, row, s);
      if (series == nullptr) continue;
      Latency l = summarize(series->ms);
      md += "| " + row + " | " + s + " | " + std::to_string(l.n) + " | " + num(l.min) + " | " +
            num(l.mean) + " | " + num(l.p50) + " | " + num(l.p95) + " | " + num(l.max) + " | " +
            (s == kSystemPgthaw ? std::string("1.0x") : ratio(l.mean, base)) + " |\n";
    }
  }
  return md;
}

std::string factory_vs_cold_table(const BenchReport& r, const std::vector<std::string>& systems) {
  std::string md = header({"System", "Warm factory /query avg (ms)",
                           "Cold consumer /cold-direct avg (ms)", "Improvement"});
  for (const std::string& s : systems) {
    double warm = avg_of(find(r.warm, "Factory DO", s));
    double cold = avg_of(find(r.cold, "Consumer DO (direct cold)", s));
    if (std::isnan(warm) || std::isnan(cold)) continue;
    char pct[64];
    std::snprintf(pct, sizeof pct, "%.1f%% faster", (cold - warm) / cold * 100.0);
    md += "| " + s + " | " + num(warm) + " | " + num(cold) + " | " + pct + " |\n";
  }
  return md;
}

// One line per row (fork, first query, per size): pgthaw's p50 and p99,
// each peer's p50 and its ratio to pgthaw's, and the goal.
std::string fork_table(const std::vector<Series>& all, const std::vector<std::string>& systems) {
  std::vector<std::string> cols = {"What", "pgthaw n", "pgthaw p50 (ms)", "pgthaw p99 (ms)"};
  for (size_t i = 1; i < systems.size(); ++i) {
    cols.push_back(systems[i] + " p50 (ms)");
    cols.push_back(systems[i] + " / pgthaw");
  }
  cols.push_back("goal");
  std::string md = header(cols);
  std::vector<std::string> rows;
  for (const Series& s : all) {
    if (std::find(rows.begin(), rows.end(), s.row) == rows.end()) rows.push_back(s.row);
  }
  for (const std::string& row : rows) {
    const Series* ours = find(all, row, kSystemPgthaw);
    Latency mine = ours != nullptr ? summarize(ours->ms) : Latency{};
    md +=
        "| " + row + " | " + std::to_string(mine.n) + " | " + num(mine.p50) + " | " + num(mine.p99);
    for (size_t i = 1; i < systems.size(); ++i) {
      const Series* peer = find(all, row, systems[i]);
      Latency theirs = peer != nullptr ? summarize(peer->ms) : Latency{};
      md += " | " + num(theirs.p50) + " | " + ratio(theirs.p50, mine.p50);
    }
    md += " | " + goal_of(ours) + " |\n";
  }
  return md;
}

std::string summary_table(const std::vector<Series>& all, const std::vector<std::string>& systems) {
  std::string md = header({"System", "What", "n", "p50 (ms)", "p99 (ms)", "avg (ms)", "max (ms)",
                           "p50 / pgthaw p50", "goal"});
  double base = std::nan("");
  for (const Series& s : all) {
    if (s.system == kSystemPgthaw && !s.ms.empty()) base = summarize(s.ms).p50;
  }
  for (const std::string& name : systems) {
    for (const Series& s : all) {
      if (s.system != name || s.ms.empty()) continue;
      Latency l = summarize(s.ms);
      md += "| " + s.system + " | " + s.row + " | " + std::to_string(l.n) + " | " + num(l.p50) +
            " | " + num(l.p99) + " | " + num(l.mean) + " | " + num(l.max) + " | " +
            (name == kSystemPgthaw ? std::string("1.0x") : ratio(l.p50, base)) + " | " +
            goal_of(&s) + " |\n";
    }
  }
  return md;
}

// One line per workload: each system's tps, pgthaw's ratio to each peer
// (above 1.0x pgthaw is faster) and pgthaw's goal.
std::string throughput_table(const BenchReport& r, const std::vector<std::string>& measured) {
  // Only the systems that ran pgbench (the PGlite peers have no wire
  // listener for it).
  std::vector<std::string> systems;
  for (const std::string& s : measured) {
    if (std::any_of(r.throughput.begin(), r.throughput.end(),
                    [&](const ThroughputRow& t) { return t.system == s; })) {
      systems.push_back(s);
    }
  }
  std::vector<std::string> workloads;
  for (const ThroughputRow& t : r.throughput) {
    if (std::find(workloads.begin(), workloads.end(), t.workload) == workloads.end())
      workloads.push_back(t.workload);
  }
  auto tps = [&](const std::string& workload, const std::string& system) -> const ThroughputRow* {
    for (const ThroughputRow& t : r.throughput) {
      if (t.workload == workload && t.system == system) return &t;
    }
    return nullptr;
  };
  std::vector<std::string> cols = {"Workload"};
  for (const std::string& s : systems) cols.push_back(s + " tps");
  for (size_t i = 1; i < systems.size(); ++i) cols.push_back("pgthaw / " + systems[i]);
  cols.push_back("pgthaw goal");
  std::string md = header(cols);
  for (const std::string& w : workloads) {
    const ThroughputRow* ours = tps(w, kSystemPgthaw);
    double base = ours ? ours->tps : std::nan("");
    md += "| " + w + " |";
    for (const std::string& s : systems) {
      const ThroughputRow* t = tps(w, s);
      md += " " + num(t ? t->tps : std::nan("")) + " |";
    }
    for (size_t i = 1; i < systems.size(); ++i) {
      const ThroughputRow* t = tps(w, systems[i]);
      md += " " + ratio(base, t ? t->tps : std::nan("")) + " |";
    }
    md += " " + (ours && !ours->goal.empty() ? ours->goal : std::string("-")) + " |\n";
  }
  return md;
}

std::string memory_table(const BenchReport& r) {
  std::string md = header({"System", "Tenants created", "RSS per tenant (KiB)",
                           "PSS per tenant (KiB)", "Warm tenants per GiB (PSS)", "goal"});
  for (const MemoryRow& m : r.memory) {
    md += "| " + m.system + " | " + std::to_string(m.tenants) + " | " + num(m.rss_kib_per_tenant) +
          " | " + num(m.pss_kib_per_tenant) + " | " +
          num(m.pss_kib_per_tenant > 0 ? kGiBKiB / m.pss_kib_per_tenant : std::nan("")) + " | " +
          (m.goal.empty() ? std::string("-") : m.goal) + " |\n";
  }
  return md;
}

std::string density_table(const BenchReport& r) {
  std::string md =
      header({"Tenants at rest", "n", "made in (s)", "server RSS before (MiB)",
              "server RSS after (MiB)", "RSS per tenant (KiB)", "disk per tenant (KiB)", "goal"});
  for (const DensityRow& d : r.density) {
    md += "| " + d.what + " | " + std::to_string(d.tenants) + " | " + num(d.seconds) + " | " +
          num(d.rss_before_kib / 1024) + " | " + num(d.rss_after_kib / 1024) + " | " +
          num(d.tenants > 0 ? (d.rss_after_kib - d.rss_before_kib) / d.tenants : std::nan("")) +
          " | " + num(d.disk_kib_per_tenant) + " | " + (d.goal.empty() ? "-" : d.goal) + " |\n";
  }
  return md;
}

// A markdown table cell: a bar inside would end it.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    if (c == '\n') {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

// The baseline of the ratios: the lower p99 of the rows with the victim
// alone (first and last), so a noisy moment of the machine in one of them
// cannot make the abuse rows look better than they are.
double noisy_alone_p99(const BenchReport& r) {
  double best = std::nan("");
  for (const NoisyNeighbourRow& row : r.noisy_neighbour) {
    if (!row.victim_alone || row.victim_ms.empty()) continue;
    double p99 = summarize(row.victim_ms).p99;
    if (std::isnan(best) || p99 < best) best = p99;
  }
  return best;
}

std::string noisy_neighbour_table(const BenchReport& r) {
  std::string md =
      header({"Another tenant runs", "n", "p50 (ms)", "p99 (ms)", "max (ms)", "p99 / alone p99",
              "p99 from schedule (ms)", "victim errors", "What the abuser got"});
  double alone = noisy_alone_p99(r);
  for (const NoisyNeighbourRow& row : r.noisy_neighbour) {
    Latency l = summarize(row.victim_ms);
    md += "| " + cell(row.abuse) + " | " + std::to_string(l.n) + " | " + num(l.p50) + " | " +
          num(l.p99) + " | " + num(l.max) + " | " + ratio(l.p99, alone) + " | " +
          num(summarize(row.victim_from_slot_ms).p99) + " | " + std::to_string(row.victim_errors) +
          " | " + cell(row.abuser_got.empty() ? "(no abuser)" : row.abuser_got) + " |\n";
  }
  return md;
}

nlohmann::json series_json(const std::vector<Series>& all) {
  nlohmann::json out = nlohmann::json::array();
  for (const Series& s : all) {
    Latency l = summarize(s.ms);
    out.push_back({{"row", s.row},
                   {"system", s.system},
                   {"how", s.how},
                   {"n", l.n},
                   {"min_ms", l.min},
                   {"avg_ms", l.mean},
                   {"p50_ms", l.p50},
                   {"p95_ms", l.p95},
                   {"max_ms", l.max},
                   {"p99_ms", l.p99},
                   {"goal", s.goal},
                   {"samples_ms", s.ms}});
  }
  return out;
}

}  // namespace

std::string render_report_markdown(const BenchReport& r) {
  std::vector<std::string> systems = measured_systems(r);
  std::string md = "## Cold start per approach (ms, p50)\n\n" + cold_table(r, systems);
  md +=
      "\nRows are the seed's \"Cold Start Times\" table; ratios are x-fold (the peer's time "
      "divided by pgthaw's: above 1.0x pgthaw is faster). What each row times per system is "
      "listed under Systems.\n";
  md += "\n## Warm query per mode (ms)\n\n" + warm_table(r, systems);
  md += "\n## Warm factory vs cold consumer\n\n" + factory_vs_cold_table(r, systems);
  md += "\n## Hibernated-tenant thaw (ms)\n\n" + summary_table(r.thaw, systems);
  if (!r.fork.empty()) {
    md += "\n## Fork a tenant (ms)\n\n" + fork_table(r.fork, systems) +
          "\npgthaw: `POST /admin/tenants/SRC/fork` (no files copied; a warm source is "
          "snapshotted first), then the fork's first indexed lookup over `/direct`; native PG: "
          "`CREATE DATABASE ... TEMPLATE src` (a file copy), then a new connection's first "
          "lookup.\n";
  }
  md += "\n## Throughput (pgbench, tps)\n\n" + throughput_table(r, systems);
  md += "\n## Warm tenants per GiB\n\n" + memory_table(r);
  if (!r.density.empty()) {
    md += "\n## Hibernated tenants on one node\n\n" + density_table(r);
    for (const DensityRow& d : r.density) md += "- " + d.what + ": " + d.how + "\n";
  }
  if (!r.noisy_neighbour.empty()) {
    const NoisyNeighbourRow& first = r.noisy_neighbour.front();
    md += "\n## Noisy neighbour (victim `select 1` over the Postgres wire, ms)\n\n" +
          noisy_neighbour_table(r);
    md += "\nA victim tenant runs " + std::to_string(first.victim_planned) +
          " `select 1` per row on one libpq connection, spread evenly over the row's window; "
          "p50/p99/max run from each query's send to its result. \"p99 from schedule\" times "
          "a query sent late, because the previous one was held up, from its slot in that "
          "schedule instead, so time the victim spent blocked counts for every query it could "
          "not send (no coordinated omission); it is also the figure most sensitive to the "
          "machine's own stalls. The first and the last row are "
          "the victim alone; the ratios divide by the lower of their two p99s (the stricter "
          "baseline), and the two side by side show how much this machine's own noise moves "
          "the figure. In each row between, another tenant runs the abuse on its own threads "
          "and connections, stopped (CancelRequest) when the victim is done. Goal (issue 8): "
          "p99 under abuse at most 2.0x the p99 alone. pgthaw only: the peers are "
          "not measured (see Systems).";
    if (!r.noisy_neighbour_context.empty()) md += " " + r.noisy_neighbour_context;
    md += "\n";
    for (const NoisyNeighbourRow& row : r.noisy_neighbour) {
      md += "- " + row.abuse + ": " + row.how;
      if (!row.victim_note.empty()) md += " (victim: " + row.victim_note + ")";
      md += "\n";
    }
  }
  md += "\n## Systems\n\n";
  for (const SystemRun& s : r.systems) {
    md += "- **" + s.name + "**";
    if (!s.version.empty()) md += " (" + s.version + ")";
    if (!s.measured) md += ": skipped: " + s.reason;
    md += "\n";
    for (const std::string& n : s.notes) md += "  - " + n + "\n";
  }
  md += "\nMachine: " + r.machine + ". Mode: " + r.mode + ". Started " + r.started_at + ", took " +
        num(r.duration_s) + " s.\n";
  if (!r.messages.empty()) {
    md += "\nMessages:\n";
    for (const std::string& m : r.messages) md += "- " + m + "\n";
  }
  return md;
}

std::string render_report_json(const BenchReport& r) {
  nlohmann::json j;
  j["command"] = r.command;
  j["mode"] = r.mode;
  j["machine"] = r.machine;
  j["started_at"] = r.started_at;
  j["duration_s"] = r.duration_s;
  j["systems"] = nlohmann::json::array();
  for (const SystemRun& s : r.systems) {
    j["systems"].push_back({{"name", s.name},
                            {"version", s.version},
                            {"measured", s.measured},
                            {"reason", s.reason},
                            {"notes", s.notes}});
  }
  j["cold_start"] = series_json(r.cold);
  j["warm_query"] = series_json(r.warm);
  j["thaw"] = series_json(r.thaw);
  j["fork"] = series_json(r.fork);
  j["throughput"] = nlohmann::json::array();
  for (const ThroughputRow& t : r.throughput) {
    j["throughput"].push_back({{"workload", t.workload},
                               {"system", t.system},
                               {"tps", t.tps},
                               {"how", t.how},
                               {"goal", t.goal}});
  }
  j["memory"] = nlohmann::json::array();
  for (const MemoryRow& m : r.memory) {
    j["memory"].push_back({{"system", m.system},
                           {"tenants", m.tenants},
                           {"rss_kib_per_tenant", m.rss_kib_per_tenant},
                           {"pss_kib_per_tenant", m.pss_kib_per_tenant},
                           {"how", m.how}});
  }
  j["density"] = nlohmann::json::array();
  for (const DensityRow& d : r.density) {
    j["density"].push_back({{"what", d.what},
                            {"tenants", d.tenants},
                            {"rss_before_kib", d.rss_before_kib},
                            {"rss_after_kib", d.rss_after_kib},
                            {"disk_kib_per_tenant", d.disk_kib_per_tenant},
                            {"seconds", d.seconds},
                            {"how", d.how},
                            {"goal", d.goal}});
  }
  j["noisy_neighbour"] = nlohmann::json::array();
  j["noisy_neighbour_context"] = r.noisy_neighbour_context;
  double alone = noisy_alone_p99(r);
  for (const NoisyNeighbourRow& row : r.noisy_neighbour) {
    Latency l = summarize(row.victim_ms);
    j["noisy_neighbour"].push_back(
        {{"abuse", row.abuse},
         {"system", row.system},
         {"victim_alone", row.victim_alone},
         {"how", row.how},
         {"victim_planned", row.victim_planned},
         {"n", l.n},
         {"victim_errors", row.victim_errors},
         {"victim_note", row.victim_note},
         {"p50_ms", l.p50},
         {"p99_ms", l.p99},
         {"max_ms", l.max},
         {"p99_over_alone", l.p99 / alone},
         {"p99_from_schedule_ms", summarize(row.victim_from_slot_ms).p99},
         {"samples_from_schedule_ms", row.victim_from_slot_ms},
         {"abuser_got", row.abuser_got},
         {"samples_ms", row.victim_ms}});
  }
  j["messages"] = r.messages;
  return j.dump(2) + "\n";
}

Status write_charts(const BenchReport& r, const std::string& out_dir) {
  std::optional<std::string> gnuplot = find_executable("gnuplot");
  if (!gnuplot)
    return Status::NotFound("gnuplot not in PATH (Debian: apt-get install gnuplot-nox)");
  std::vector<std::string> systems = measured_systems(r);
  {
    std::ofstream dat(out_dir + "/cold_start.dat");
    dat << "approach";
    for (const std::string& s : systems) dat << "\t\"" << s << "\"";
    dat << "\n";
    for (const char* row : kColdRows) {
      dat << "\"" << row << "\"";
      for (const std::string& s : systems) {
        double v = p50_of(find(r.cold, row, s));
        dat << "\t" << (std::isnan(v) ? std::string("NaN") : std::to_string(v));
      }
      dat << "\n";
    }
  }
  {
    // One block per (system, mode): sorted samples and their cumulative share.
    std::ofstream dat(out_dir + "/warm_latency.dat");
    for (const Series& s : r.warm) {
      if (s.ms.empty() || s.row == kPingRow) continue;
      std::vector<double> v = s.ms;
      std::sort(v.begin(), v.end());
      dat << "# \"" << s.system << " / " << s.row << "\"\n";
      for (size_t i = 0; i < v.size(); ++i) dat << v[i] << "\t" << (i + 1.0) / v.size() << "\n";
      dat << "\n\n";
    }
  }
  std::string script = "set terminal png size 900,480\nset datafile separator '\\t'\n";
  script += "set output '" + out_dir + "/cold_start.png'\n";
  script +=
      "set title 'Cold start per approach (p50, ms, log scale)'\nset logscale y\n"
      "set style data histograms\nset style histogram clustered\nset style fill solid 0.8\n"
      "set key top right\nset ylabel 'ms'\nset xtics noenhanced font ',9'\nset key noenhanced\n";
  script += "plot";
  for (size_t i = 0; i < systems.size(); ++i) {
    script += (i ? ", " : " ") + std::string("'") + out_dir + "/cold_start.dat' using " +
              std::to_string(i + 2) + ":xtic(1) title columnheader(" + std::to_string(i + 2) + ")";
  }
  script += "\nunset logscale y\nset output '" + out_dir + "/warm_latency.png'\n";
  script +=
      "set title 'Warm query latency distribution (CDF)'\nunset style\nset logscale x\n"
      "set xlabel 'ms (log scale)'\nset ylabel 'share of queries'\nset key bottom right\n";
  script += "plot";
  int block = 0;
  for (const Series& s : r.warm) {
    if (s.ms.empty() || s.row == kPingRow) continue;
    script += (block ? ", " : " ") + std::string("'") + out_dir + "/warm_latency.dat' index " +
              std::to_string(block) + " using 1:2 with lines lw 2 title '" + s.system + " / " +
              s.row + "'";
    ++block;
  }
  script += "\n";
  std::string script_path = out_dir + "/charts.gnuplot";
  std::ofstream(script_path) << script;
  Result<CommandResult> run = run_command({*gnuplot, script_path});
  if (!run.ok()) return run.status();
  if (run->exit_code != 0)
    return Status::Internal("gnuplot exited " + std::to_string(run->exit_code) + ": " + run->err);
  return Status::Ok();
}

}  // namespace pgthaw::bench
