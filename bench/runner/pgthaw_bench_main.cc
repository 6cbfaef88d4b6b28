// pgthaw-bench: the benchmark runner (runner.h) as its own executable, so
// the server binary links neither it nor libpq. `make bench` runs it.
#include <CLI/CLI.hpp>
#include <filesystem>

#include "bench/runner/runner.h"

int main(int argc, char** argv) {
  CLI::App app{"pgthaw-bench: cold start, warm queries, thaw, throughput, memory vs the peers"};
  pgthaw::bench::RunnerOptions o;
  o.source_dir = PGTHAW_SOURCE_DIR;
  bool no_charts = false;
  app.add_flag("--quick", o.quick, "small counts (under 2 minutes)");
  app.add_flag("--no-peers", o.no_peers, "pgthaw only: no PGlite, no native PG");
  app.add_flag("--no-charts", no_charts, "skip the gnuplot charts");
  app.add_option("--factory-url", o.factory_url, "measure this running factory");
  app.add_option("--consumer-url", o.consumer_url, "measure this running consumer");
  app.add_option("--warm-proxy-url", o.warm_proxy_url, "measure this running warm proxy");
  app.add_option("--out-dir", o.out_dir, "report directory (default bench/out)");
  app.add_option("--docs", o.docs_path, "also write the markdown here");
  app.add_option("--pg-bindir", o.pg_bindir, "native PostgreSQL 15 binaries")
      ->capture_default_str();
  app.add_option("--pgthaw", o.pgthaw_binary,
                 "the pgthaw binary to serve and fork with (default: the one beside this)");
  CLI11_PARSE(app, argc, argv);
  o.charts = !no_charts;
  if (o.pgthaw_binary.empty()) {
    std::error_code ec;
    o.pgthaw_binary =
        (std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "pgthaw").string();
  }
  for (int i = 0; i < argc; ++i) o.command += (i ? " " : "") + std::string(argv[i]);
  return pgthaw::bench::run_bench_command(std::move(o));
}
