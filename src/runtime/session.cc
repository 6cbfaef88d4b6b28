#include "runtime/session.h"

#include "pgwire/frontend.h"
#include "pgwire/wire_format.h"

namespace pgthaw::runtime {

Result<Session::Reply> Session::Exec(std::string_view messages, const ExecOptions& options) {
  Result<std::string> bytes = instance_.Exec(messages, options);
  if (!bytes.ok()) return bytes.status();
  Reply reply;
  reply.bytes = std::move(bytes).value();
  reply.at_ready = instance_.AtReady();
  reply.in_transaction = instance_.alive() && instance_.InTransaction();
  return reply;
}

Status Session::Reset(std::string_view why) {
  if (!instance_.alive()) return Status::Ok();  // nothing left to reset
  if (!instance_.AtReady()) {
    // A DO block that raises: one Query, with the reason in its message.
    std::string sql = "DO $pgthaw$BEGIN RAISE EXCEPTION USING ERRCODE = 'admin_shutdown', ";
    sql += "MESSAGE = 'pgthaw: ";
    for (char c : why) {
      if (c == '\'') sql += '\'';  // a SQL string literal
      if (c != '$') sql += c;      // never ends the dollar quote
    }
    sql += "'; END$pgthaw$";
    std::string batch;
    PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(batch, sql));
    pgwire::frontend::sync(batch);
    Result<std::string> reply = instance_.Exec(batch);
    if (!reply.ok()) return reply.status();
    if (!instance_.AtReady()) {
      return Status::EngineError("the engine did not answer Sync with ReadyForQuery");
    }
  }
  if (instance_.alive() && instance_.InTransaction()) {
    std::string rollback;
    PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(rollback, "ROLLBACK"));
    Result<std::string> reply = instance_.Exec(rollback);
    if (!reply.ok()) return reply.status();
  }
  return Status::Ok();
}

}  // namespace pgthaw::runtime
