// See dump_command.h.
#include "tools/dump_command.h"

namespace pgthaw::tools {

void add_dump_commands(CLI::App& app, TenantArgs& args, CLI::App** dump, CLI::App** restore) {
  *dump =
      app.add_subcommand("dump", "a logical dump of a tenant, by pg_dump 18 (plain SQL or -Fc)");
  (*dump)->add_option("--data-dir", args.data_dir, "the server's data directory")->required();
  (*dump)->add_option("name", args.name, "tenant id")->required();
  (*dump)->add_option("-f,--file", args.file, "write here (default: stdout)");
  (*dump)->add_option_function<std::string>(
      "-F,--format",
      [&args](const std::string& name) {
        auto format = runtime::parse_dump_format(name);
        if (!format.ok()) throw CLI::ValidationError("--format", format.status().message());
        args.dump.format = *format;
      },
      "plain (p, the default) or custom (c)");
  (*dump)->add_flag("-s,--schema-only", args.dump.schema_only, "definitions, no data");
  (*dump)->add_flag("-a,--data-only", args.dump.data_only, "data, no definitions");
  (*dump)->add_flag("-O,--no-owner", args.dump.no_owner, "no ownership statements");
  (*dump)->add_flag("-x,--no-privileges", args.dump.no_privileges, "no GRANT/REVOKE");
  (*dump)->add_flag("--inserts", args.dump.inserts, "INSERT statements instead of COPY");
  (*dump)->add_option("-t,--table", args.dump.tables, "only tables matching PATTERN");
  (*dump)->add_option("-n,--schema", args.dump.schemas, "only schemas matching PATTERN");
  (*dump)->callback([&args] { args.action = "dump"; });

  *restore = app.add_subcommand("restore", "run a pg_dump output (plain or -Fc) in a tenant");
  (*restore)->add_option("--data-dir", args.data_dir, "the server's data directory")->required();
  (*restore)->add_option("name", args.name, "tenant id")->required();
  (*restore)->add_option("file", args.file, "the dump")->required()->check(CLI::ExistingFile);
  (*restore)->callback([&args] { args.action = "restore"; });
}

}  // namespace pgthaw::tools
