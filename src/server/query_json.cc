#include "server/query_json.h"

#include <charconv>

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

}  // namespace

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
