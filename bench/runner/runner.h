// runner: `pgthaw-bench`. Starts (or reaches) pgthaw's three roles and the
// peers, measures the seed's tables plus thaw, pgbench throughput and warm
// tenants per GiB, and writes the report (markdown, JSON, charts). Bounded:
// every loop has a fixed count or time; progress goes to stderr. Runs on
// the caller's thread; everything it starts is stopped before it returns.
#pragma once

#include <string>

#include "report.h"

namespace pgthaw::bench {

struct RunnerOptions {
  bool quick = false;     // small counts: the whole run in under 2 minutes
  bool no_peers = false;  // pgthaw only (the test's mode)
  bool charts = true;
  // Measure running servers instead of starting one (http://HOST:PORT).
  std::string factory_url;
  std::string consumer_url;
  std::string warm_proxy_url;
  std::string pgthaw_binary;  // `serve` and `tenant fork` are run from it (required)
  std::string source_dir;     // the repo: bench/node lives there
  std::string out_dir;        // default SOURCE_DIR/bench/out
  std::string docs_path;      // when set, the markdown also goes there
  std::string pg_bindir = "/usr/lib/postgresql/15/bin";
  std::string command;  // the command line, for the report
};

// Runs everything; the report is also written to OUT_DIR/bench.{md,json}.
Result<BenchReport> run_bench(const RunnerOptions& options);

// The CLI's entry: fills defaults (env FACTORY_URL, CONSUMER_URL,
// WARM_PROXY_URL), runs, prints where the report went; an exit code.
int run_bench_command(RunnerOptions options);

}  // namespace pgthaw::bench
