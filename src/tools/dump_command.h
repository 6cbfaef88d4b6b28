// `pgthaw dump` and `pgthaw restore`: logical dumps of a tenant, offline
// against a data directory (as `pgthaw tenant`; a running server has
// GET /admin/tenants/NAME/dump and POST /admin/tenants/NAME/restore).
//
//   dump --data-dir D NAME [-f FILE] [--format plain|custom] [--schema-only]
//        [--data-only] [--no-owner] [--no-privileges] [--inserts]
//        [--table PATTERN]... [--schema PATTERN]...
//   restore --data-dir D NAME FILE
//
// The dump is PGlite's pg_dump 18 (runtime/tenant_dump.h); without -f it
// goes to stdout. A restore runs a plain or custom dump in one transaction
// (runtime/tenant_restore.h) into an existing tenant.
#pragma once

#include <CLI/CLI.hpp>

#include "tools/tenant_command.h"

namespace pgthaw::tools {

// Registers both on `app`; run them with run_tenant_command(args).
void add_dump_commands(CLI::App& app, TenantArgs& args, CLI::App** dump, CLI::App** restore);

}  // namespace pgthaw::tools
