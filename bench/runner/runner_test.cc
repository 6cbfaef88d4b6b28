// runner_test: `pgthaw bench --quick --no-peers` end to end against a real
// pgthaw server the runner starts, checking the report's structure and that
// every figure it printed for pgthaw was measured (a positive number).
#include "bench/runner/runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace pgthaw::bench {
namespace {

std::vector<std::string> split_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  std::string cell;
  std::getline(ss, cell, '|');  // before the first bar
  while (std::getline(ss, cell, '|')) {
    size_t a = cell.find_first_not_of(' '), b = cell.find_last_not_of(' ');
    cells.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
  }
  return cells;
}

// The lines of the first markdown table after HEADING.
std::vector<std::string> table_after(const std::string& md, const std::string& heading) {
  std::vector<std::string> out;
  size_t at = md.find(heading);
  if (at == std::string::npos) return out;
  std::stringstream ss(md.substr(at));
  std::string line;
  bool in_table = false;
  while (std::getline(ss, line)) {
    if (line.rfind("|", 0) == 0) {
      in_table = true;
      out.push_back(line);
    } else if (in_table) {
      break;
    }
  }
  return out;
}

bool positive_number(const std::string& cell) {
  char* end = nullptr;
  double v = std::strtod(cell.c_str(), &end);
  return end != cell.c_str() && *end == '\0' && std::isfinite(v) && v > 0;
}

TEST(BenchRunner, QuickRunWithoutPeersReportsTheSeedTablesWithMeasuredValues) {
  std::string out = ::testing::TempDir() + "/bench-runner-test";
  std::filesystem::remove_all(out);
  RunnerOptions o;
  o.quick = true;
  o.no_peers = true;
  o.charts = false;
  o.pgthaw_binary = PGTHAW_BINARY;
  o.source_dir = PGTHAW_SOURCE_DIR;
  o.out_dir = out;
  o.command = "bench_runner_test";
  Result<BenchReport> r = run_bench(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  std::ifstream in(out + "/bench.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string md = ss.str();

  // The first table has the seed's Cold Start rows, in order, with a
  // pgthaw column holding measured values.
  size_t first_table = md.find('|');
  ASSERT_NE(first_table, std::string::npos);
  std::vector<std::string> cold = table_after(md, "## Cold start per approach");
  ASSERT_EQ(md.find("| Approach |"), first_table) << md;
  ASSERT_EQ(cold.size(), 2u + 4u) << md;
  EXPECT_EQ(split_cells(cold[0]).at(1), "pgthaw (ms)");
  const char* rows[] = {"Factory DO (new instance)", "Consumer DO (direct cold)",
                        "Warm Proxy (first request)", "Warm Proxy (subsequent)"};
  for (int i = 0; i < 4; ++i) {
    std::vector<std::string> cells = split_cells(cold[2 + i]);
    EXPECT_EQ(cells.at(0), rows[i]);
    EXPECT_TRUE(positive_number(cells.at(1))) << cold[2 + i];
  }

  // Every numeric cell of the pgthaw rows in the other tables is positive.
  for (const char* heading : {"## Warm query per mode", "## Warm factory vs cold consumer",
                              "## Hibernated-tenant thaw", "## Warm tenants per GiB"}) {
    std::vector<std::string> table = table_after(md, heading);
    ASSERT_GE(table.size(), 3u) << heading << "\n" << md;
    for (size_t i = 2; i < table.size(); ++i) {
      std::vector<std::string> cells = split_cells(table[i]);
      for (size_t c = 0; c < cells.size(); ++c) {
        if (cells[c].empty() || !std::isdigit(static_cast<unsigned char>(cells[c][0]))) continue;
        std::string v = cells[c];
        if (v.back() == 'x') v.pop_back();
        if (v.size() > 7 && v.substr(v.size() - 7) == " faster") v = v.substr(0, v.size() - 8);
        EXPECT_TRUE(positive_number(v)) << heading << ": " << table[i];
      }
    }
  }
  EXPECT_NE(table_after(md, "## Warm query per mode").size(), 0u);

  // The raw JSON: every sample of every series is a positive number.
  std::ifstream jin(out + "/bench.json");
  nlohmann::json j = nlohmann::json::parse(jin, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  for (const char* key : {"cold_start", "warm_query", "thaw"}) {
    ASSERT_FALSE(j[key].empty()) << key;
    for (const auto& s : j[key]) {
      ASSERT_FALSE(s["samples_ms"].empty()) << s.dump();
      for (const auto& v : s["samples_ms"]) EXPECT_GT(v.get<double>(), 0) << s["row"];
    }
  }
  for (const auto& m : j["memory"]) EXPECT_GT(m["pss_kib_per_tenant"].get<double>(), 0);
  for (const auto& t : j["throughput"]) EXPECT_GT(t["tps"].get<double>(), 0);
  // Skipped peers say so.
  EXPECT_NE(md.find("skipped: --no-peers"), std::string::npos);
}

}  // namespace
}  // namespace pgthaw::bench
