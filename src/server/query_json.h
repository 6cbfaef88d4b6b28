// The JSON side of a query: request bodies in, results and SQL errors out.
//
//   request  {"sql": "...", "params": [...], "tenant": "..."}
//   result   {"fields": [{"name", "typeOid"}], "rows": [[text or null]],
//             "rowCount": n, "command": "SELECT 1", "timings": {...}}
//   error    {"error": {"message", "sqlstate", "severity", "code": "sql"}}
//   too big  413 {"error": {"message", "code": "result_too_large", "limitBytes"}}
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
  // Not from the JSON: set from the request's token (http_access.h).
  // read_only: a read-only tenant token's query (read_only_query.h).
  // bearer: the token itself, which the HTTP factory binding passes on.
  bool read_only = false;
  std::string bearer;
  // role: the tenant role it runs as (Request::role); empty: the superuser.
  std::string role;
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
  std::string cold_kind;  // runtime::cold_kind_name()
};

nlohmann::json timings_json(const QueryTimings& timings);

// Decodes the engine's reply bytes into a result reply (200) or an SQL error
// reply (400, or 500 for server-side classes 53, 57, 58, XX, F0). A reply
// with no error that is not a finished statement (no result, a result with
// no CommandComplete/EmptyQueryResponse, no ReadyForQuery) is
// incomplete_reply(): never a 200 for a statement that did not run. Does not
// add "timings"; the caller does once encoding is measured.
Reply results_reply(std::string_view backend_bytes);

// Result size cap. The JSON of the rows and fields of every result in the
// reply is measured first, from the backend bytes and without building
// anything; past `max_json_bytes` (0: no cap) the answer is
// result_too_large_reply() instead of the result.
Reply results_reply(std::string_view backend_bytes, uint64_t max_json_bytes);
// Bytes of JSON the rows and fields of `backend_bytes` encode to (strings
// escaped as nlohmann::json dumps them; valid UTF-8 assumed). Stops counting
// once past `stop_after` (0: never), returning a value above it.
uint64_t result_json_bytes(std::string_view backend_bytes, uint64_t stop_after = 0);
// 413 {"error": {"code": "result_too_large", "message", "limitBytes"}}.
Reply result_too_large_reply(uint64_t max_json_bytes);
// The cap on the engine's reply bytes for a JSON result of at most
// `max_json_bytes`: a row's wire form is at most 7/3 of its JSON form (a row
// of no columns: 7 bytes against "[],"), so a reply past 5/2 of the JSON cap
// cannot fit; the engine stops there instead of buffering the whole result.
size_t reply_cap_for_json(uint64_t max_json_bytes);

// --max-result-bytes: the largest HTTP JSON result. Process-wide, set once at
// start-up (HttpServices::Start) before requests arrive.
inline constexpr uint64_t kDefaultMaxResultBytes = uint64_t{64} << 20;
void set_max_result_bytes(uint64_t bytes);
uint64_t max_result_bytes();
// 500 "internal": the engine's reply did not show the statement running.
Reply incomplete_reply();

// An SQL error reply made by the server itself (severity ERROR).
Reply sql_error(std::string_view sqlstate, std::string_view message);

// HTTP status for an SQLSTATE.
int sqlstate_http_status(std::string_view sqlstate);

}  // namespace pgthaw::server
