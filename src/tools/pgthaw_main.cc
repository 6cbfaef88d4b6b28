// The pgthaw command line. Subcommands parse their flags here and call one
// function each; configuration errors are reported together by CLI11.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "tools/dump_command.h"
#include "tools/fleet_command.h"
#include "tools/serve_command.h"
#include "tools/sql_command.h"
#include "tools/tenant_command.h"
#include "tools/tenant_settings_command.h"

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

  std::string settings_tenant;
  std::vector<std::string> assignments;
  CLI::App* settings = app.add_subcommand(
      "tenant-settings", "show or change one tenant's settings (e.g. statement_timeout_ms=5000)");
  settings->add_option("--data-dir", data_dir, "the server's data directory")->required();
  settings->add_option("tenant", settings_tenant, "tenant id")->required();
  settings->add_option("assignments", assignments, "KEY=VALUE (VALUE \"default\": remove)");

  pgthaw::tools::TenantArgs tenant_args;
  CLI::App* tenant = pgthaw::tools::add_tenant_command(app, tenant_args);
  CLI::App* dump = nullptr;
  CLI::App* restore = nullptr;
  pgthaw::tools::add_dump_commands(app, tenant_args, &dump, &restore);

  pgthaw::tools::ServeArgs serve_args;
  CLI::App* serve = pgthaw::tools::add_serve_command(app, serve_args);
  pgthaw::tools::FleetArgs fleet_args;
  CLI::App* fleet = pgthaw::tools::add_fleet_command(app, fleet_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    // `pgthaw tenant` promises 2 for usage errors (scripts tell them from
    // failed operations); the other subcommands keep CLI11's codes.
    bool tenant_usage = false;
    for (int i = 1; i < argc && !tenant_usage; ++i) {
      std::string word = argv[i];
      if (word.starts_with("-")) continue;
      tenant_usage = word == "tenant" || word == "dump" || word == "restore";
      break;
    }
    return code != 0 && tenant_usage ? 2 : code;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("pgthaw"));
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

  if (*sql) return pgthaw::tools::run_sql_command(data_dir, statements);
  if (*tenant || *dump || *restore) return pgthaw::tools::run_tenant_command(tenant_args);
  if (*settings) {
    return pgthaw::tools::run_tenant_settings_command(data_dir, settings_tenant, assignments);
  }
  if (*fleet) return pgthaw::tools::run_fleet_status(fleet_args);
  if (*serve) {
    if (!verbose) spdlog::set_level(spdlog::level::info);
    return pgthaw::tools::run_serve_command(std::move(serve_args));
  }
  return 0;
}
