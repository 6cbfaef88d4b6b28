// A read-only tenant token's query: its one statement runs inside a
// read-only transaction that the statement cannot leave.
//
// One batch on the session:
//   Parse/Bind/Execute           BEGIN READ ONLY
//   Parse/Bind/Describe/Execute  the statement, with its params
//   Parse/Bind/Execute           COMMIT
//   Sync
//   Query                        ROLLBACK
// The statement goes through Parse, which refuses several statements in
// one (42601 "cannot insert multiple commands into a prepared statement"),
// so "COMMIT; INSERT ..." never runs. A statement that reads or writes takes
// a snapshot, after which Postgres refuses to turn transaction_read_only off
// ("transaction read-write mode must be set before any query"), also inside
// a DO block or a function; a write then fails with Postgres' own 25006
// ("cannot execute INSERT in a read-only transaction"), and a DO block may
// not COMMIT inside a transaction block (2D000). A statement that takes no
// snapshot (SET, COMMIT, BEGIN READ WRITE) may end or loosen the
// transaction, but it is the only one: what follows is the COMMIT. After an
// error the Sync leaves the block failed, and the ROLLBACK ends it (after a
// success it is a no-op with a warning), so the session is idle afterwards
// either way.
//
// A tenant token's queries run as the tenant's owner role, not a
// superuser (Request::role), so COPY TO a file or lo_export are refused
// (42501) besides; HTTP queries keep no session settings after them.
// Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "server/query_json.h"

namespace pgthaw::server {

// The batch above for `request` (extended or not, its SQL is one statement).
// InvalidArgument when the SQL or params cannot be put on the wire.
Result<std::string> encode_read_only_query(const QueryRequest& request);

// The engine's reply to that batch as the reply to the statement alone: its
// own messages (notices included), an error of the COMMIT if it failed, and
// the last ReadyForQuery; what BEGIN, COMMIT and ROLLBACK answered is
// dropped. So results_reply() builds the JSON a normal query would. A reply
// cut off before its ReadyForQuery keeps no ReadyForQuery (results_reply
// then refuses it as incomplete); a framing error gives "".
std::string read_only_statement_reply(std::string_view backend_bytes);

}  // namespace pgthaw::server
