#include "server/http_query_exec.h"

#include <spdlog/spdlog.h>

#include "pgwire/frontend.h"
#include "pgwire/frontend_parser.h"
#include "pgwire/wire_format.h"
#include "server/copy_in_relay.h"
#include "server/read_only_query.h"
#include "server/tenant_roles.h"

namespace pgthaw::server {

using Clock = std::chrono::steady_clock;

namespace {
constexpr char kNoCopyOverHttp[] =
    "COPY FROM STDIN needs a Postgres connection to send its data; over HTTP use INSERT";
}  // namespace

namespace {

// A failed Exec as an HTTP error. Engine failures name host paths (the
// log has them): the client gets a fixed text instead.
Reply engine_failure_reply(const Status& status) {
  switch (status.code()) {
    case StatusCode::kResourceExhausted:
      return status_reply(status);
    case StatusCode::kUnavailable:
      return error_reply(503, "unavailable", "the tenant's engine is not running; try again");
    default:
      spdlog::warn("HTTP query: {}", status.ToString());
      return error_reply(500, "internal",
                         "internal error in the tenant's engine; it starts again from its files");
  }
}

}  // namespace

Reply with_timings(Reply reply, QueryTimings timings, Clock::time_point start) {
  timings.total_us = micros_since(start);
  reply.body["timings"] = timings_json(timings);
  return reply;
}

Reply execute_query(runtime::Session& instance, const std::string& wire, QueryTimings timings,
                    Clock::time_point start, std::function<std::string()> connections_report,
                    bool read_only, bool as_session_user) {
  Clock::time_point exec_start = Clock::now();
  // The engine stops a result that cannot fit the JSON cap as it is made,
  // instead of buffering all of it.
  const uint64_t max_json = max_result_bytes();
  runtime::Session::ExecOptions capped;
  capped.max_reply_bytes = reply_cap_for_json(max_json);
  capped.connections_report = std::move(connections_report);
  capped.as_session_user = as_session_user;
  // HTTP has no way to send COPY data: a COPY FROM STDIN gets a CopyFail
  // (and, through the extended protocol, the Sync the COPY read as input).
  bool copy_refused = false;
  capped.source = [&wire, &copy_refused](std::string& more) {
    copy_refused = true;
    more = copy_fail_message(kNoCopyOverHttp);
    if (!wire.empty() && wire[0] == 'P') pgwire::frontend::sync(more);
  };
  auto exec = instance.Exec(wire, capped);
  timings.exec_us = micros_since(exec_start);
  const bool too_large = exec.status().code() == StatusCode::kResourceExhausted;
  if (!exec.ok() && !too_large) {
    return with_timings(engine_failure_reply(exec.status()), timings, start);
  }
  std::string bytes = exec.ok() ? std::move(exec->bytes) : std::string();
  if (exec.ok() && !exec->at_ready) {
    // The engine did not finish the exchange (it was skipping to Sync, which
    // pg_connection.h's invariant rules out): answer that the statement did
    // not run (incomplete_reply() below).
    spdlog::warn("HTTP query: the engine's reply does not end with ReadyForQuery");
    bytes.clear();
  }
  if (!instance.Idle()) {
    // Back to idle for the next user (a capped reply, a BEGIN left open).
    Status reset = instance.Reset("HTTP query ended inside a transaction");
    if (!reset.ok()) return with_timings(engine_failure_reply(reset), timings, start);
  }
  if (exec.ok() && exec->in_transaction) {
    return with_timings(error_reply(400, "transaction_open",
                                    "HTTP queries are autocommit: the query left a transaction "
                                    "block open, so it was rolled back"),
                        timings, start);
  }
  if (too_large) return with_timings(result_too_large_reply(max_json), timings, start);
  if (copy_refused) {
    // The COPY failed (and with it the query's implicit transaction): say
    // why in the words of the feature, not of the CopyFail.
    return with_timings(sql_error("0A000", kNoCopyOverHttp), timings, start);
  }
  Clock::time_point encode_start = Clock::now();
  if (read_only) bytes = read_only_statement_reply(bytes);
  Reply reply = results_reply(bytes, max_json);
  timings.encode_us = micros_since(encode_start);
  return with_timings(std::move(reply), timings, start);
}

namespace {

// Creates `role` as the tenant's owner role (as the superuser), then makes
// it the session's user.
Result<std::vector<pgwire::ErrorFields>> adopt_owner_role(runtime::Session& db,
                                                          SessionHandover& handover,
                                                          const std::string& tenant,
                                                          const std::string& role) {
  auto superuser = handover.TakeOver(db, tenant, /*connection=*/0, {}, false, "");
  if (!superuser.ok()) return superuser.status();
  std::string sql;
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(sql, owner_role_sql(role)));
  auto made = db.Exec(sql);
  if (!made.ok()) return made.status();
  spdlog::info("tenant {}: owner role {} created in this runtime's copy", tenant, role);
  return handover.TakeOver(db, tenant, /*connection=*/0, {}, true, role);
}

}  // namespace

void query_tenant(runtime::Runtime& runtime, const QueryRequest& request, Clock::time_point start,
                  Respond respond, SessionHandover* handover, const ConnectionActivity* activity) {
  if (Status st = runtime::Runtime::ValidateTenantId(request.tenant); !st.ok()) {
    return respond(error_reply(400, "bad_tenant", st.message()));
  }
  auto wire = request.read_only ? encode_read_only_query(request) : encode_query(request);
  if (!wire.ok()) return respond(status_reply(wire.status()));
  // Submit takes a copyable std::function: share the one-shot responder.
  auto shared_respond = std::make_shared<Respond>(std::move(respond));
  Status submitted = runtime.Submit(
      request.tenant, [wire = std::move(wire).value(), start, shared_respond, handover, activity,
                       tenant = request.tenant, read_only = request.read_only, role = request.role,
                       authenticated = !request.bearer.empty()](Result<runtime::Session*> instance,
                                                                const runtime::Timings& t) {
        QueryTimings timings;
        timings.queue_us = t.queue_us;
        timings.thaw_us = t.thaw_us;
        timings.cold = t.cold;
        timings.cold_kind = runtime::cold_kind_name(t.cold_kind);
        if (!instance.ok()) {
          return (*shared_respond)(with_timings(status_reply(instance.status()), timings, start));
        }
        if (handover != nullptr || authenticated) {
          // The server's defaults: no startup values, nothing of its own,
          // as `role`. (Without a handover, a session only HTTP queries use
          // changes hands only between roles, when tokens are in use.)
          SessionHandover own;
          SessionHandover& h = handover != nullptr ? *handover : own;
          auto taken = h.TakeOver(**instance, tenant, /*connection=*/0, {}, false, role);
          if (taken.ok() && !taken->empty() && taken->front().sqlstate() == "28000") {
            // This runtime's copy of the tenant lacks its owner role (the
            // factory's runtime keeps its own copies of tenants): it is
            // made here, as the tenant API makes it.
            taken = adopt_owner_role(**instance, h, tenant, role);
          }
          if (!taken.ok()) {
            return (*shared_respond)(with_timings(status_reply(taken.status()), timings, start));
          }
          if (!taken->empty()) {  // the database lacks the role
            return (*shared_respond)(with_timings(
                error_reply(403, "forbidden", taken->front().message()), timings, start));
          }
        }
        std::function<std::string()> report;
        if (activity != nullptr) {
          report = [activity, &tenant] { return activity->Report(tenant, /*current_pid=*/0); };
        }
        (*shared_respond)(execute_query(**instance, wire, timings, start, std::move(report),
                                        read_only,
                                        /*as_session_user=*/!role.empty()));
      });
  if (!submitted.ok()) (*shared_respond)(status_reply(submitted));
}

Respond counting_cold_starts(Metrics& metrics, std::string role, Respond respond) {
  return [&metrics, role = std::move(role), respond = std::move(respond)](Reply reply) {
    auto timings = reply.body.find("timings");
    if (timings != reply.body.end() && timings->is_object() && timings->value("cold", false)) {
      metrics.RecordColdStart(role, timings->value("coldKind", std::string()));
    }
    respond(std::move(reply));
  };
}

}  // namespace pgthaw::server
