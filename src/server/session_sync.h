// Bringing a tenant's shared engine session back to ReadyForQuery.
//
// After an extended-protocol message fails, Postgres skips every message
// but Sync (a simple Query included, with no reply at all) until the next
// Sync. On a session shared by many clients that state must never outlast
// the work item that caused it (pg_connection.h states the invariant): a
// work item whose reply does not end with ReadyForQuery, and that may not
// keep the session for a later Sync, sends one itself with sync_engine().
// Stateless; called on the thread that owns the instance.
#pragma once

#include <string_view>

#include "common/status.h"
#include "runtime/session.h"

namespace pgthaw::server {

// True if the last message of `reply` is a ReadyForQuery: the engine then
// waits for a new exchange (not skipping to Sync, not inside one, not in
// COPY). False for an empty or malformed reply.
bool ends_at_ready(std::string_view reply);

// Sends the engine a Sync of its own and drops the reply: that ends a skip
// to Sync and an extended exchange left open, as the client's Sync would.
// Returns the transaction status of the ReadyForQuery it produced
// ('I', 'T' or 'E').
Result<char> sync_engine(runtime::Session& instance);

}  // namespace pgthaw::server
