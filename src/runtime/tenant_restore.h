// Restoring a pg_dump output into a tenant, as psql runs a plain script and
// pg_restore an archive: statement by statement, COPY data streamed from
// the file, all of it in one transaction (pg_restore --single-transaction),
// so a restore that fails at one statement leaves the tenant as it was.
//
// Plain scripts may hold only what pg_dump writes: SQL, COPY ... FROM stdin
// with its data, and the psql meta-commands \restrict / \unrestrict (pg_dump
// 18's guard, skipped). \connect (a dump made with --create) and any other
// meta-command are refused: a tenant is one database. Archives restore in
// their table-of-contents order with each object's owner, as pg_restore
// does without --create; large objects are refused.
#pragma once

#include <string>

#include "common/status.h"
#include "runtime/session.h"

namespace pgthaw::runtime {

// Runs the dump in `file` (a custom archive if it starts with "PGDMP", else
// a plain script) on `session`, which must be Idle(), as the session's
// current user. The Status of a failure names its place in the file (the
// line of a script, the entry of an archive) and Postgres' error.
Status restore_session(Session& session, const std::string& file);

}  // namespace pgthaw::runtime
