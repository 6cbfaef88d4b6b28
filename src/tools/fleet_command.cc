#include "tools/fleet_command.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include "fleet/etcd_client.h"
#include "fleet/placement.h"

namespace pgthaw::tools {

CLI::App* add_fleet_command(CLI::App& app, FleetArgs& args) {
  CLI::App* fleet = app.add_subcommand("fleet", "a fleet of pgthaw nodes placed through etcd");
  fleet->require_subcommand(1);
  CLI::App* status = fleet->add_subcommand("status", "nodes, their leases and tenant counts");
  status->add_option("--etcd", args.etcd, "etcd endpoints: http://HOST:PORT[,...]")->required();
  return fleet;
}

int run_fleet_status(const FleetArgs& args) {
  auto endpoints = fleet::ParseEtcdEndpoints(args.etcd);
  if (!endpoints.ok()) {
    std::cerr << "pgthaw fleet status: --etcd: " << endpoints.status().message() << "\n";
    return 2;
  }
  fleet::EtcdClient::Options options;
  options.endpoints = std::move(endpoints).value();
  auto client = std::make_shared<fleet::EtcdClient>(std::move(options));
  // Listing reads no registration of ours: no NodeLease.
  fleet::Placement placement(client, nullptr);
  auto nodes = placement.ListNodes();
  if (!nodes.ok()) {
    std::cerr << "pgthaw fleet status: " << nodes.status().message() << "\n";
    return 1;
  }
  std::printf("%-20s %-22s %-22s %10s %8s\n", "NODE", "POSTGRES", "HTTP", "LEASE_LEFT", "TENANTS");
  int64_t tenants = 0;
  for (const fleet::NodeStatus& node : *nodes) {
    std::string left = "-";
    if (node.lease != 0) {
      auto ttl = client->LeaseTimeToLive(node.lease);
      left = !ttl.ok() ? "?" : *ttl < 0 ? "expired" : std::to_string(*ttl) + "s";
    }
    auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
    std::printf("%-20s %-22s %-22s %10s %8lld\n", node.node_id.c_str(),
                or_dash(node.addresses.postgres).c_str(), or_dash(node.addresses.http).c_str(),
                left.c_str(), static_cast<long long>(node.tenants));
    tenants += node.tenants;
  }
  std::printf("%zu nodes, %lld tenants owned\n", nodes->size(), static_cast<long long>(tenants));
  return 0;
}

}  // namespace pgthaw::tools
