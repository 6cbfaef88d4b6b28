// See tenant_dump.h.
#include "runtime/tenant_dump.h"

#include <cerrno>
#include <filesystem>
#include <set>

#include "common/durable_file.h"
#include "dumpfile/sql_identifier.h"
#include "engine/pg_dump.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"

namespace pgthaw::runtime {
namespace {

namespace fs = std::filesystem;

// The session settings a startup reply reports (libpq reads server_version
// and client_encoding; the rest as a Postgres server sends them).
const std::vector<std::string> kStartupParameters = {
    "server_version",    "server_encoding",
    "client_encoding",   "DateStyle",
    "IntervalStyle",     "TimeZone",
    "integer_datetimes", "standard_conforming_strings",
    "is_superuser",      "session_authorization",
    "application_name",  "default_transaction_read_only",
    "in_hot_standby",    "scram_iterations"};

// Runs `sql` as a simple query; the rows of its last statement, or its error.
Result<std::vector<pgwire::Row>> query(Session& session, const std::string& sql) {
  std::string request;
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(request, sql));
  auto reply = session.Exec(request);
  if (!reply.ok()) return reply.status();
  auto results = pgwire::collect_results(reply->bytes);
  if (!results.ok()) return results.status();
  std::vector<pgwire::Row> rows;
  for (pgwire::StatementResult& r : *results) {
    if (r.error) return Status::EngineError(r.error->message());
    rows = std::move(r.rows);
  }
  return rows;
}

Result<std::set<std::string>> prepared_statements(Session& session) {
  auto rows = query(session, "SELECT name FROM pg_catalog.pg_prepared_statements");
  if (!rows.ok()) return rows.status();
  std::set<std::string> names;
  for (const pgwire::Row& row : *rows) {
    if (!row.empty() && row[0]) names.insert(*row[0]);
  }
  return names;
}

// Puts the session back as pg_dump found it: its transaction (it leaves
// one open), its prepared statements, its settings.
Status undo_session_changes(Session& session, const std::set<std::string>& prepared_before) {
  if (!session.Idle()) PGTHAW_RETURN_IF_ERROR(session.Reset("pg_dump ended"));
  auto prepared = prepared_statements(session);
  if (!prepared.ok()) return prepared.status();
  std::string sql = "RESET ALL;";
  for (const std::string& name : *prepared) {
    if (!prepared_before.contains(name))
      sql += " DEALLOCATE " + dumpfile::quote_identifier(name) + ";";
  }
  return query(session, sql).status();
}

}  // namespace

Result<DumpOptions::Format> parse_dump_format(const std::string& name) {
  if (name == "plain" || name == "p") return DumpOptions::Format::kPlain;
  if (name == "custom" || name == "c") return DumpOptions::Format::kCustom;
  return Status::InvalidArgument("unknown dump format \"" + name + "\" (plain or custom)");
}

std::vector<std::string> pg_dump_arguments(const DumpOptions& options) {
  std::vector<std::string> args = {
      options.format == DumpOptions::Format::kCustom ? "--format=custom" : "--format=plain"};
  if (options.schema_only) args.push_back("--schema-only");
  if (options.data_only) args.push_back("--data-only");
  if (options.no_owner) args.push_back("--no-owner");
  if (options.no_privileges) args.push_back("--no-privileges");
  if (options.inserts) args.push_back("--inserts");
  for (const std::string& t : options.tables) args.push_back("--table=" + t);
  for (const std::string& n : options.schemas) args.push_back("--schema=" + n);
  return args;
}

Status dump_session(const engine::Engine& engine, Session& session, const DumpOptions& options,
                    const std::string& scratch_dir, const std::string& out) {
  if (!session.Idle()) return Status::Unavailable("the tenant's session is busy");
  auto values = session.ReadSettings(kStartupParameters);
  if (!values.ok()) return values.status();
  auto prepared_before = prepared_statements(session);
  if (!prepared_before.ok()) return prepared_before.status();

  engine::PgDumpRequest request;
  request.arguments = pg_dump_arguments(options);
  request.output_dir = scratch_dir;
  for (size_t i = 0; i < kStartupParameters.size(); ++i) {
    if ((*values)[i]) request.parameters.emplace_back(kStartupParameters[i], *(*values)[i]);
  }
  request.exchange = [&session](std::string_view messages) -> Result<std::string> {
    auto reply = session.Exec(messages);
    if (!reply.ok()) return reply.status();
    return std::move(reply->bytes);
  };
  Status dumped = engine::run_pg_dump(engine, request);
  Status undone = undo_session_changes(session, *prepared_before);
  PGTHAW_RETURN_IF_ERROR(dumped);
  PGTHAW_RETURN_IF_ERROR(undone);

  // The finished file goes next to `out` first, so `out` is whole or absent.
  const std::string written = scratch_dir + "/" + engine::kPgDumpFile;
  const std::string staged = out + ".tmp";
  std::error_code ec;
  fs::rename(written, staged, ec);
  if (ec == std::errc::cross_device_link) {
    fs::copy_file(written, staged, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) return Status::FromErrno("move the dump to " + staged, ec.value());
  if (engine.options().durable) PGTHAW_RETURN_IF_ERROR(fsync_file(staged));
  if (std::rename(staged.c_str(), out.c_str()) != 0) {
    const int err = errno;
    fs::remove(staged, ec);
    return Status::FromErrno("rename " + staged, err);
  }
  if (engine.options().durable) {
    PGTHAW_RETURN_IF_ERROR(fsync_dir(fs::path(out).parent_path().string()));
  }
  return Status::Ok();
}

}  // namespace pgthaw::runtime
