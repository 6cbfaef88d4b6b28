// runner_test: `pgthaw-bench --quick --no-peers` end to end against a real
// pgthaw server the runner starts, checking the report's structure and that
// every figure it printed for pgthaw was measured (a positive number).
#include "bench/runner/runner.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// The cells of a markdown table line; a backslash-escaped bar belongs to its cell.
std::vector<std::string> split_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  bool started = false;  // past the first bar
  auto push = [&] {
    size_t a = cell.find_first_not_of(' '), b = cell.find_last_not_of(' ');
    cells.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
    cell.clear();
  };
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cell += '|';
      ++i;
    } else if (line[i] == '|') {
      if (started) push();
      started = true;
      cell.clear();
    } else {
      cell += line[i];
    }
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
  // The noisy-neighbour table: the victim alone, six abuses, two tenants'
  // CPU loops at once, the victim alone again; every figure measured.
  std::vector<std::string> noisy = table_after(md, "## Noisy neighbour");
  ASSERT_EQ(noisy.size(), 2u + 9u) << md;
  std::vector<std::string> noisy_header = split_cells(noisy[0]);
  ASSERT_EQ(noisy_header.size(), 9u) << noisy[0];
  EXPECT_EQ(noisy_header.at(3), "p99 (ms)");
  EXPECT_EQ(split_cells(noisy[2]).at(0), "none (victim alone)");
  // The ratios' baseline is the quieter of the two alone rows.
  EXPECT_TRUE(split_cells(noisy[2]).at(5) == "1.0x" || split_cells(noisy.back()).at(5) == "1.0x")
      << noisy[2] << "\n"
      << noisy.back();
  EXPECT_EQ(split_cells(noisy.back()).at(0), "none (victim alone, again after the abuses)");
  for (size_t i = 2; i < noisy.size(); ++i) {
    std::vector<std::string> cells = split_cells(noisy[i]);
    ASSERT_EQ(cells.size(), 9u) << noisy[i];
    for (size_t c = 1; c <= 6; ++c) {
      std::string v = cells[c];
      if (c == 5 && !v.empty() && v.back() == 'x') v.pop_back();
      EXPECT_TRUE(positive_number(v)) << noisy[i];
    }
    EXPECT_FALSE(cells[7].empty()) << noisy[i];
    EXPECT_TRUE(std::all_of(cells[7].begin(), cells[7].end(), [](unsigned char ch) {
      return std::isdigit(ch) != 0;
    })) << noisy[i];
    EXPECT_FALSE(cells[8].empty()) << noisy[i];
  }
  for (const char* abuse : {"CPU loop", "pg_sleep", "generate_series(1, 20000000)", "order by",
                            "idle in BEGIN", "repeat('x', 400000000)", "2 tenants"}) {
    EXPECT_NE(md.find(abuse, md.find("## Noisy neighbour")), std::string::npos) << abuse;
  }
  ASSERT_EQ(j["noisy_neighbour"].size(), 9u);
  for (const auto& row : j["noisy_neighbour"]) {
    EXPECT_EQ(row["system"], "pgthaw");
    EXPECT_GT(row["victim_planned"].get<int>(), 0);
    ASSERT_FALSE(row["samples_ms"].empty()) << row["abuse"];
    for (const auto& v : row["samples_ms"]) EXPECT_GT(v.get<double>(), 0) << row["abuse"];
    EXPECT_EQ(row["samples_from_schedule_ms"].size(), row["samples_ms"].size());
    for (const char* key :
         {"p50_ms", "p99_ms", "max_ms", "p99_over_alone", "p99_from_schedule_ms"}) {
      ASSERT_TRUE(row[key].is_number()) << row["abuse"] << " " << key;
      EXPECT_GT(row[key].get<double>(), 0) << row["abuse"] << " " << key;
    }
  }

  // Skipped peers say so.
  EXPECT_NE(md.find("skipped: --no-peers"), std::string::npos);
}

}  // namespace
}  // namespace pgthaw::bench
