#include "server/query_json.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>

#include "pgwire/frontend.h"
#include "pgwire/result.h"

namespace pgthaw::server {

using nlohmann::json;

namespace {

Result<std::optional<std::string>> param_text(const json& value, size_t index) {
  switch (value.type()) {
    case json::value_t::null:
      return std::optional<std::string>();
    case json::value_t::string:
      return std::optional<std::string>(value.get<std::string>());
    case json::value_t::boolean:
      return std::optional<std::string>(value.get<bool>() ? "true" : "false");
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return std::optional<std::string>(value.dump());
    default:
      return Status::InvalidArgument("params[" + std::to_string(index) +
                                     "] must be a string, number, boolean or null");
  }
}

// "INSERT 0 3" -> 3; "SELECT 2" -> 2; tags without a count -> nullopt.
std::optional<int64_t> tag_count(const std::string& tag) {
  size_t space = tag.rfind(' ');
  if (space == std::string::npos) return std::nullopt;
  int64_t n = 0;
  const char* begin = tag.data() + space + 1;
  const char* end = tag.data() + tag.size();
  auto [ptr, ec] = std::from_chars(begin, end, n);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return n;
}

Reply sql_error_reply(const pgwire::ErrorFields& error) {
  Reply reply;
  reply.status = sqlstate_http_status(error.sqlstate());
  json e = {{"message", error.message()},
            {"sqlstate", error.sqlstate()},
            {"severity", error.severity_nonlocalized().empty() ? error.severity()
                                                               : error.severity_nonlocalized()},
            {"code", "sql"}};
  if (!error.detail().empty()) e["detail"] = error.detail();
  if (!error.hint().empty()) e["hint"] = error.hint();
  if (!error.position().empty()) e["position"] = error.position();
  reply.body = {{"error", std::move(e)}};
  return reply;
}

std::atomic<uint64_t> g_max_result_bytes{kDefaultMaxResultBytes};

uint32_t be32(std::string_view b, size_t at) {
  return uint32_t{static_cast<uint8_t>(b[at])} << 24 |
         uint32_t{static_cast<uint8_t>(b[at + 1])} << 16 |
         uint32_t{static_cast<uint8_t>(b[at + 2])} << 8 | uint32_t{static_cast<uint8_t>(b[at + 3])};
}

uint16_t be16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(uint16_t{static_cast<uint8_t>(b[at])} << 8 |
                               uint16_t{static_cast<uint8_t>(b[at + 1])});
}

// A JSON string's length as nlohmann::json::dump writes it.
uint64_t json_string_bytes(std::string_view text) {
  uint64_t n = 2;  // the quotes
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u == '"' || u == '\\' || u == '\b' || u == '\f' || u == '\n' || u == '\r' || u == '\t') {
      n += 2;
    } else if (u < 0x20) {
      n += 6;  // \u00XX
    } else {
      n += 1;
    }
  }
  return n;
}

// JSON bytes of one DataRow payload: [v,v,...] plus the separating comma.
uint64_t data_row_json_bytes(std::string_view payload) {
  if (payload.size() < 2) return 0;
  uint64_t n = 3;  // "[", "]", ","
  size_t at = 2;
  for (uint16_t i = 0, count = be16(payload, 0); i < count && at + 4 <= payload.size(); ++i) {
    uint32_t len = be32(payload, at);
    at += 4;
    if (i > 0) n += 1;
    if (len == 0xffffffffu) {
      n += 4;  // null
      continue;
    }
    size_t take = std::min<size_t>(len, payload.size() - at);
    n += json_string_bytes(payload.substr(at, take));
    at += take;
  }
  return n;
}

// JSON bytes of one RowDescription's fields: {"name":"..","typeOid":N},...
uint64_t row_description_json_bytes(std::string_view payload) {
  if (payload.size() < 2) return 0;
  uint64_t n = 0;
  size_t at = 2;
  for (uint16_t i = 0, count = be16(payload, 0); i < count && at < payload.size(); ++i) {
    size_t end = payload.find('\0', at);
    if (end == std::string_view::npos) break;
    n += json_string_bytes(payload.substr(at, end - at)) + 30;  // keys, braces, oid, comma
    at = end + 1 + 18;
  }
  return n;
}

}  // namespace

uint64_t result_json_bytes(std::string_view b, uint64_t stop_after) {
  uint64_t total = 0;
  for (size_t at = 0; at + 5 <= b.size();) {
    char type = b[at];
    uint32_t len = be32(b, at + 1);
    if (len < 4 || len - 4 > b.size() - at - 5) break;  // framing errors are reported later
    std::string_view payload = b.substr(at + 5, len - 4);
    if (type == pgwire::backend_type::kDataRow) total += data_row_json_bytes(payload);
    if (type == pgwire::backend_type::kRowDescription) total += row_description_json_bytes(payload);
    if (stop_after != 0 && total > stop_after) return total;
    at += 1 + size_t{len};
  }
  return total;
}

Reply result_too_large_reply(uint64_t max_json_bytes) {
  Reply reply = error_reply(413, "result_too_large",
                            "the statement's result is larger than the server's limit for HTTP "
                            "results (--max-result-bytes " +
                                std::to_string(max_json_bytes) +
                                " bytes) and was not kept; add a LIMIT or use the Postgres "
                                "protocol");
  reply.body["error"]["limitBytes"] = max_json_bytes;
  return reply;
}

size_t reply_cap_for_json(uint64_t max_json_bytes) {
  if (max_json_bytes == 0) return 0;
  uint64_t cap = max_json_bytes / 2 * 5 + (uint64_t{64} << 10);
  return static_cast<size_t>(std::min<uint64_t>(cap, SIZE_MAX / 2));
}

void set_max_result_bytes(uint64_t bytes) { g_max_result_bytes.store(bytes); }

uint64_t max_result_bytes() { return g_max_result_bytes.load(); }

Result<QueryRequest> parse_query_body(std::string_view body, std::string_view default_tenant) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("request body is not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("request body must be a JSON object");
  QueryRequest request;
  auto sql = doc.find("sql");
  if (sql == doc.end()) return Status::InvalidArgument("missing \"sql\"");
  if (!sql->is_string()) return Status::InvalidArgument("\"sql\" must be a string");
  request.sql = sql->get<std::string>();
  if (request.sql.empty()) return Status::InvalidArgument("\"sql\" is empty");
  if (auto params = doc.find("params"); params != doc.end() && !params->is_null()) {
    if (!params->is_array()) return Status::InvalidArgument("\"params\" must be an array");
    request.extended = true;
    for (size_t i = 0; i < params->size(); ++i) {
      auto text = param_text((*params)[i], i);
      if (!text.ok()) return text.status();
      request.params.push_back(std::move(text).value());
    }
  }
  request.tenant = std::string(default_tenant);
  if (auto tenant = doc.find("tenant"); tenant != doc.end() && !tenant->is_null()) {
    if (!tenant->is_string()) return Status::InvalidArgument("\"tenant\" must be a string");
    request.tenant = tenant->get<std::string>();
  }
  return request;
}

std::string query_body_json(const QueryRequest& request) {
  json body = {{"sql", request.sql}, {"tenant", request.tenant}};
  if (request.extended) {
    json params = json::array();
    for (const auto& p : request.params) params.push_back(p ? json(*p) : json(nullptr));
    body["params"] = std::move(params);
  }
  return body.dump();
}

Result<std::string> encode_query(const QueryRequest& request) {
  std::string out;
  if (!request.extended) {
    PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(out, request.sql));
    return out;
  }
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::parse(out, "", request.sql));
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::bind(out, "", "", {}, request.params));
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::describe(out, 'P', ""));
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::execute(out, ""));
  pgwire::frontend::sync(out);
  return out;
}

json timings_json(const QueryTimings& t) {
  return {{"queueUs", t.queue_us},   {"thawUs", t.thaw_us},   {"execUs", t.exec_us},
          {"encodeUs", t.encode_us}, {"totalUs", t.total_us}, {"cold", t.cold},
          {"coldKind", t.cold_kind}};
}

Reply results_reply(std::string_view backend_bytes, uint64_t max_json_bytes) {
  if (max_json_bytes != 0 && result_json_bytes(backend_bytes, max_json_bytes) > max_json_bytes) {
    return result_too_large_reply(max_json_bytes);
  }
  return results_reply(backend_bytes);
}

Reply results_reply(std::string_view backend_bytes) {
  pgwire::ReplyInfo info;
  auto results = pgwire::collect_results(backend_bytes, &info);
  if (!results.ok()) {
    return error_reply(500, "internal", "bad reply from the engine: " + results.status().message());
  }
  for (const pgwire::StatementResult& r : *results) {
    if (r.error) return sql_error_reply(*r.error);
  }
  // Success only for a statement that ran: its result ended (CommandComplete
  // or EmptyQueryResponse) and so did the exchange (ReadyForQuery).
  bool complete = info.ready_status.has_value() && !results->empty();
  for (const pgwire::StatementResult& r : *results) complete = complete && r.complete;
  if (!complete) return incomplete_reply();
  Reply reply;
  json fields = json::array();
  json rows = json::array();
  std::string tag;
  int64_t row_count = 0;
  if (!results->empty()) {
    const pgwire::StatementResult& last = results->back();
    for (const auto& f : last.fields) {
      fields.push_back({{"name", f.name}, {"typeOid", f.type_oid}});
    }
    for (const pgwire::Row& row : last.rows) {
      json values = json::array();
      for (const auto& v : row) values.push_back(v ? json(*v) : json(nullptr));
      rows.push_back(std::move(values));
    }
    tag = last.command_tag;
    row_count =
        last.fields.empty() ? tag_count(tag).value_or(0) : static_cast<int64_t>(last.rows.size());
  }
  reply.body = {{"fields", std::move(fields)},
                {"rows", std::move(rows)},
                {"rowCount", row_count},
                {"command", tag}};
  return reply;
}

Reply incomplete_reply() {
  return error_reply(500, "internal",
                     "the engine's reply has no result for the statement: it did not run");
}

Reply sql_error(std::string_view sqlstate, std::string_view message) {
  pgwire::ErrorFields error;
  error.fields['S'] = error.fields['V'] = "ERROR";
  error.fields['C'] = std::string(sqlstate);
  error.fields['M'] = std::string(message);
  return sql_error_reply(error);
}

int sqlstate_http_status(std::string_view sqlstate) {
  std::string_view cls = sqlstate.substr(0, 2);
  if (cls == "53" || cls == "57" || cls == "58" || cls == "XX" || cls == "F0") return 500;
  return 400;
}

}  // namespace pgthaw::server
