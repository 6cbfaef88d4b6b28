// `pgthaw fleet status --etcd URL[,URL...]`: the fleet as etcd sees it, one
// line per node: its id, advertised Postgres and HTTP addresses, the seconds
// its lease has left, and the tenants it owns. Owners whose node key is
// already gone (a lease ending as we read) are listed too, with "-".
// Exit 0; 1 when etcd cannot be read; 2 for a bad --etcd.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace pgthaw::tools {

struct FleetArgs {
  std::string etcd;
};

// Registers `fleet` and its `status` subcommand on `app`, writing into `args`.
CLI::App* add_fleet_command(CLI::App& app, FleetArgs& args);

int run_fleet_status(const FleetArgs& args);

}  // namespace pgthaw::tools
