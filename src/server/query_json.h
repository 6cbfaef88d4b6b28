// The JSON side of a query: request bodies in, results and SQL errors out.
//
//   request  {"sql": "...", "params": [...], "tenant": "..."}
//   result   {"fields": [{"name", "typeOid"}], "rows": [[text or null]],
//             "rowCount": n, "command": "SELECT 1", "timings": {...}}
//   error    {"error": {"message", "sqlstate", "severity", "code": "sql"}}
//
// Parsing never throws (nlohmann's non-throwing parse). Params travel as
// text: strings as they are, numbers and booleans as their JSON spelling,
// null as SQL NULL; a query with params uses the extended protocol
// (Parse/Bind/Describe/Execute/Sync), one without the simple protocol (which
// allows several statements; the last one's result is returned).
// Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "server/http_reply.h"

namespace pgthaw::server {

struct QueryRequest {
  std::string sql;
  std::vector<std::optional<std::string>> params;  // nullopt = NULL
  bool extended = false;                           // "params" was given
  std::string tenant;                              // the default when absent
};

// InvalidArgument naming what is wrong: not JSON, not an object, no "sql",
// a param that is an array or object, a tenant that is not a string.
// The tenant id itself is validated by the runtime.
Result<QueryRequest> parse_query_body(std::string_view body, std::string_view default_tenant);

// The request as a JSON body again (the HTTP binding forwards it).
std::string query_body_json(const QueryRequest& request);

// The frontend protocol bytes that run `request`.
Result<std::string> encode_query(const QueryRequest& request);

// Per-request phases, microseconds.
struct QueryTimings {
  int64_t queue_us = 0, thaw_us = 0, exec_us = 0, encode_us = 0, total_us = 0;
  bool cold = false;
  std::string cold_kind;  // "created" | "thawed" | "booted" | "pool" | ""
};

nlohmann::json timings_json(const QueryTimings& timings);

// Decodes the engine's reply bytes into a result reply (200) or an SQL error
// reply (400, or 500 for server-side classes 53, 57, 58, XX, F0). A reply
// with no error that is not a finished statement (no result, a result with
// no CommandComplete/EmptyQueryResponse, no ReadyForQuery) is
// incomplete_reply(): never a 200 for a statement that did not run. Does not
// add "timings"; the caller does once encoding is measured.
Reply results_reply(std::string_view backend_bytes);

// 500 "internal": the engine's reply did not show the statement running.
Reply incomplete_reply();

// An SQL error reply made by the server itself (severity ERROR).
Reply sql_error(std::string_view sqlstate, std::string_view message);

// HTTP status for an SQLSTATE.
int sqlstate_http_status(std::string_view sqlstate);

}  // namespace pgthaw::server
