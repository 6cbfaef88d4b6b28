// Running one HTTP query on an instance, inside its tenant's turn.
//
// An HTTP query is autocommit: if it leaves a transaction block open
// ("BEGIN" alone), it is rolled back and answered 400 "transaction_open", so
// the instance is never handed on mid-transaction. A COPY FROM STDIN is
// refused (0A000) before it runs: HTTP has no way to send its data. A reply
// that does not show the statement running (no ReadyForQuery, no
// CommandComplete) is a 500 "internal", never a 200, and a reply without
// ReadyForQuery is followed by a Sync so the next user finds the session
// clean (pg_connection.h states the invariant). Called on the thread that
// owns the instance (a runtime actor, the warm proxy's thread, a cold start).
#pragma once

#include <chrono>
#include <string>

#include "runtime/runtime.h"
#include "runtime/session.h"
#include "server/connection_activity.h"
#include "server/http_reply.h"
#include "server/metrics.h"
#include "server/query_json.h"
#include "server/session_handover.h"

namespace pgthaw::server {

// Execs `wire` (encode_query's bytes) on `instance` and builds the reply with
// "timings": `timings` as given plus exec, encode and total (from `start`).
// A result past max_result_bytes() is 413 result_too_large (query_json.h);
// the engine is stopped early, so nothing buffers the whole result.
// `connections_report`: what the query reads as the tenant's connections
// (engine::ExecOptions::connections_report). `read_only`: `wire` is
// encode_read_only_query's, whose reply is read as its statement's
// (read_only_query.h).
Reply execute_query(runtime::Session& instance, const std::string& wire, QueryTimings timings,
                    std::chrono::steady_clock::time_point start,
                    std::function<std::string()> connections_report = {}, bool read_only = false,
                    bool as_session_user = false);

// Adds "timings" to an error reply made before the query ran.
Reply with_timings(Reply reply, QueryTimings timings, std::chrono::steady_clock::time_point start);

// Runs `request` on its tenant's actor in `runtime` (thawing it if cold) and
// answers with the result or error; read-only (read_only_query.h) when
// request.read_only. Invalid tenant ids and SQL that cannot
// be encoded are answered 400 before anything is queued.
// With `handover`, the query runs with the server's defaults whatever a
// Postgres connection left in the session (and what it left is kept for it);
// with `activity`, its pg_stat_activity shows the tenant's connections.
void query_tenant(runtime::Runtime& runtime, const QueryRequest& request,
                  std::chrono::steady_clock::time_point start, Respond respond,
                  SessionHandover* handover = nullptr,
                  const ConnectionActivity* activity = nullptr);

// Wraps `respond` so that a reply whose timings say "cold" counts as a cold
// start of its kind for `role`.
Respond counting_cold_starts(Metrics& metrics, std::string role, Respond respond);

}  // namespace pgthaw::server
