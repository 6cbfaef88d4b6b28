// `pgthaw tenant --data-dir D [--auth-file F] ...`: the tenant admin API
// (server/tenant_admin.h) offline, against a data directory no server runs
// on (it takes the data directory's lock, data_dir_lock.h; with a server
// running, use the server's HTTP admin API instead).
//
//   create NAME [--role R] [--password P | --password-stdin]   (R: NAME)
//   list [--json]
//   show NAME
//   delete NAME [--force]
//   fork SOURCE NEW         a copy of SOURCE (its data and roles), no files copied
//   import NAME FILE [--role R] / export NAME FILE [--gzip]   PGlite data directories
//   hibernate NAME          a no-op: offline, every tenant is hibernated
//   role add NAME ROLE [--password P | --password-stdin]
//   role rotate NAME ROLE [--password P | --password-stdin]
//   role drop NAME ROLE
//   token issue (--admin | --tenant NAME [--read-only]) [--label L]
//   token list
//   token revoke ID
//
// The auth file (credential_store.h) defaults to D/credentials.json.
// Results are JSON on stdout (list without --json: a table); a generated
// password or a token's secret is printed once. Audit lines go to stderr.
// Exit status: 0 ok, 1 the operation failed, 2 usage.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "runtime/tenant_dump.h"

namespace pgthaw::tools {

struct TenantArgs {
  std::string data_dir;
  std::string auth_file;  // "": DATA/credentials.json
  std::string action;     // "create", "list", ..., "role add", "token issue"
  std::string name;       // tenant
  std::string role;
  std::string password;
  bool password_stdin = false;
  bool json = false;
  bool force = false;
  bool admin = false;  // token issue
  std::string token_tenant;
  bool read_only = false;
  std::string label;
  std::string token_id;
  std::string file;   // import, export: the archive; dump, restore: the dump
  bool gzip = false;  // export
  runtime::DumpOptions dump;
  std::string fork;  // fork: the new tenant
};

// Registers `tenant` and its subcommands on `app`, writing into `args`.
CLI::App* add_tenant_command(CLI::App& app, TenantArgs& args);

int run_tenant_command(const TenantArgs& args);

}  // namespace pgthaw::tools
