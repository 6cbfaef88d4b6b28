// The pgthaw command line. Subcommands parse their flags here and call one
// function each; configuration errors are reported together by CLI11.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "tools/serve_command.h"
#include "tools/sql_command.h"

int main(int argc, char** argv) {
  CLI::App app{"pgthaw: many small PostgreSQL databases (PGlite's engine, native), thawed fast"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log what the engine does (and its stderr)");

  std::string data_dir;
  std::vector<std::string> statements;
  CLI::App* sql = app.add_subcommand("sql", "run SQL statements against a data directory");
  sql->add_option("--data-dir", data_dir, "database directory (created when absent or empty)")
      ->required();
  sql->add_option("statements", statements, "SQL to run, in order")->required();

  pgthaw::tools::ServeArgs serve_args;
  CLI::App* serve = pgthaw::tools::add_serve_command(app, serve_args);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_default_logger(spdlog::stderr_color_mt("pgthaw"));
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

  if (*sql) return pgthaw::tools::run_sql_command(data_dir, statements);
  if (*serve) {
    if (!verbose) spdlog::set_level(spdlog::level::info);
    return pgthaw::tools::run_serve_command(std::move(serve_args));
  }
  return 0;
}
