// See tenant_restore.h.
#include "runtime/tenant_restore.h"

#include <fstream>

#include "dumpfile/custom_archive.h"
#include "dumpfile/owner_statement.h"
#include "dumpfile/sql_script.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"

namespace pgthaw::runtime {
namespace {

// COPY data goes to the backend in messages of about this size.
constexpr size_t kCopyChunkBytes = 1 << 20;

// Feeds one COPY's data: appends the next chunk of rows to `chunk` and says
// whether more follow.
using CopyFeeder = std::function<Result<bool>(std::string& chunk)>;

class Restorer {
 public:
  explicit Restorer(Session& session) : session_(session) {}

  // Runs one statement; `where` names its place in the file for errors.
  Status Run(const std::string& sql, const std::string& where) {
    std::string request;
    PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(request, sql));
    auto reply = session_.Exec(request);
    if (!reply.ok()) return reply.status();
    return Check(reply->bytes, where);
  }

  // Runs a COPY ... FROM stdin with the data `feed` gives.
  Status Copy(const std::string& sql, const std::string& where, const CopyFeeder& feed) {
    std::string request;
    PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(request, sql));
    Status fed;
    Session::ExecOptions options;
    options.source = [&](std::string& more) {
      std::string chunk;
      Result<bool> more_data = fed.ok() ? feed(chunk) : Result<bool>(false);
      if (!more_data.ok()) {
        fed = more_data.status();
        (void)pgwire::frontend::copy_fail(more, fed.message());
        return;
      }
      if (!chunk.empty()) (void)pgwire::frontend::copy_data(more, chunk);
      if (!*more_data) pgwire::frontend::copy_done(more);
    };
    auto reply = session_.Exec(request, options);
    PGTHAW_RETURN_IF_ERROR(fed);
    if (!reply.ok()) return reply.status();
    return Check(reply->bytes, where);
  }

 private:
  static Status Check(const std::string& bytes, const std::string& where) {
    auto results = pgwire::collect_results(bytes);
    if (!results.ok()) return results.status();
    for (const pgwire::StatementResult& r : *results) {
      if (!r.error) continue;
      std::string text = where + ": ERROR: " + r.error->message();
      if (!r.error->detail().empty()) text += " (" + r.error->detail() + ")";
      return Status::InvalidArgument(text + " [" + r.error->sqlstate() + "]");
    }
    return Status::Ok();
  }

  Session& session_;
};

Status restore_script(Restorer& restorer, const std::string& file) {
  auto script = dumpfile::SqlScript::Open(file);
  if (!script.ok()) return script.status();
  for (;;) {
    auto next = (*script)->Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return Status::Ok();
    const dumpfile::ScriptStatement& statement = **next;
    const std::string where = file + ":" + std::to_string(statement.line);
    switch (statement.kind) {
      case dumpfile::ScriptStatementKind::kRestrict:
        continue;  // psql's guard against a dump's text as commands: nothing to run
      case dumpfile::ScriptStatementKind::kConnect:
        return Status::InvalidArgument(where + ": the script connects to another database (" +
                                       statement.text.substr(0, 60) +
                                       "): made with --create; a tenant is one database");
      case dumpfile::ScriptStatementKind::kMeta:
        return Status::InvalidArgument(where + ": the psql command " +
                                       statement.text.substr(0, 60) +
                                       " is not part of a pg_dump script");
      case dumpfile::ScriptStatementKind::kSql:
        break;
    }
    if (statement.copy_from_stdin) {
      PGTHAW_RETURN_IF_ERROR(restorer.Copy(statement.text, where, [&](std::string& chunk) {
        return (*script)->ReadCopyData(chunk, kCopyChunkBytes);
      }));
    } else {
      PGTHAW_RETURN_IF_ERROR(restorer.Run(statement.text, where));
    }
  }
}

// What pg_restore skips without --create: the database itself.
bool database_entry(const dumpfile::ArchiveEntry& entry) {
  return entry.desc == "DATABASE" || entry.desc == "DATABASE PROPERTIES";
}

Status restore_archive(Restorer& restorer, const std::string& file) {
  auto archive = dumpfile::CustomArchive::Open(file);
  if (!archive.ok()) return archive.status();
  for (const dumpfile::ArchiveEntry& entry : (*archive)->entries()) {
    if (database_entry(entry)) continue;
    const std::string where = file + ": entry " + std::to_string(entry.dump_id) + " (" +
                              entry.desc + " " + entry.tag + ")";
    if (!entry.defn.empty()) PGTHAW_RETURN_IF_ERROR(restorer.Run(entry.defn, where));
    if (std::string owner = dumpfile::owner_statement(entry); !owner.empty()) {
      PGTHAW_RETURN_IF_ERROR(restorer.Run(owner, where));
    }
    if (!entry.has_data) continue;
    if (entry.desc != "TABLE DATA") {
      return Status::InvalidArgument(where + ": " + entry.desc +
                                     " (large objects) cannot be restored");
    }
    auto data = (*archive)->OpenData(entry);
    if (!data.ok()) return Status::InvalidArgument(where + ": " + data.status().message());
    PGTHAW_RETURN_IF_ERROR(restorer.Copy(entry.copy_stmt, where, [&](std::string& chunk) {
      return (*data)->Read(chunk, kCopyChunkBytes);
    }));
  }
  return Status::Ok();
}

bool is_archive(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  char magic[5] = {};
  in.read(magic, sizeof magic);
  return in.gcount() == 5 && std::string_view(magic, 5) == "PGDMP";
}

}  // namespace

Status restore_session(Session& session, const std::string& file) {
  if (!session.Idle()) return Status::Unavailable("the tenant's session is busy");
  {
    std::ifstream probe(file, std::ios::binary);
    if (!probe) return Status::NotFound("cannot open " + file);
  }
  Restorer restorer(session);
  PGTHAW_RETURN_IF_ERROR(restorer.Run("BEGIN", file));
  Status restored =
      is_archive(file) ? restore_archive(restorer, file) : restore_script(restorer, file);
  if (restored.ok()) restored = restorer.Run("COMMIT", file);
  if (!restored.ok() && !session.Idle()) (void)session.Reset("restore failed");
  // A dump's SETs (search_path, timeouts) are not the session user's.
  Status reset = restorer.Run("RESET ALL", file);
  PGTHAW_RETURN_IF_ERROR(restored);
  return reset;
}

}  // namespace pgthaw::runtime
