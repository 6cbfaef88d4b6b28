#include "fleet/etcd_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "fleet/assign_or_return.h"
#include "fleet/base64.h"

namespace pgthaw::fleet {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr size_t kMaxResponseHeaderBytes = 16 << 10;

// A JSON integer field of the gateway: a string ("12") or a number; a
// missing field is etcd's default, 0.
Result<int64_t> Int64Field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{INT64_MAX}) {
      return Status::Corruption(std::string("etcd field ") + name + " out of range");
    }
    return it->get<int64_t>();
  }
  if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return value;
  }
  return Status::Corruption(std::string("etcd field ") + name +
                            " is not an int64: " + it->dump().substr(0, 40));
}

Result<std::string> BytesField(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Status::Corruption(std::string("etcd field ") + name + " not text");
  Result<std::string> bytes = Base64Decode(it->get_ref<const std::string&>());
  if (!bytes.ok()) return bytes.status().Annotate(std::string("etcd field ") + name + ": ");
  return bytes;
}

bool BoolField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

Result<KeyValue> ParseKeyValue(const json& object) {
  if (!object.is_object()) return Status::Corruption("etcd kv is not an object");
  KeyValue kv;
  PGTHAW_ASSIGN_OR_RETURN(kv.key, BytesField(object, "key"));
  PGTHAW_ASSIGN_OR_RETURN(kv.value, BytesField(object, "value"));
  PGTHAW_ASSIGN_OR_RETURN(kv.create_revision, Int64Field(object, "create_revision"));
  PGTHAW_ASSIGN_OR_RETURN(kv.mod_revision, Int64Field(object, "mod_revision"));
  PGTHAW_ASSIGN_OR_RETURN(kv.version, Int64Field(object, "version"));
  PGTHAW_ASSIGN_OR_RETURN(kv.lease, Int64Field(object, "lease"));
  return kv;
}

Result<std::vector<KeyValue>> ParseKeyValues(const json& object) {
  std::vector<KeyValue> kvs;
  auto it = object.find("kvs");
  if (it == object.end() || it->is_null()) return kvs;
  if (!it->is_array()) return Status::Corruption("etcd kvs is not an array");
  for (const json& entry : *it) {
    KeyValue kv;
    PGTHAW_ASSIGN_OR_RETURN(kv, ParseKeyValue(entry));
    kvs.push_back(std::move(kv));
  }
  return kvs;
}

Result<int64_t> HeaderRevision(const json& object) {
  auto it = object.find("header");
  if (it == object.end() || !it->is_object()) return int64_t{0};
  return Int64Field(*it, "revision");
}

Result<RangeResult> ParseRange(const json& object) {
  RangeResult range;
  PGTHAW_ASSIGN_OR_RETURN(range.revision, HeaderRevision(object));
  PGTHAW_ASSIGN_OR_RETURN(range.kvs, ParseKeyValues(object));
  PGTHAW_ASSIGN_OR_RETURN(range.count, Int64Field(object, "count"));
  range.more = BoolField(object, "more");
  return range;
}

// The gateway's JSON text of a response (the keepalive stream may add a
// newline or, in principle, further messages: the first one counts).
Result<json> ParseBody(const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    const size_t newline = body.find('\n');
    if (newline != std::string::npos) {
      parsed = json::parse(body.substr(0, newline), nullptr, false);
    }
  }
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Status::Corruption("etcd answered with no JSON object: " + body.substr(0, 80));
  }
  return parsed;
}

// An etcd error answer ({"error": "...", "message": "...", "code": N}, or
// inside a stream {"error": {"grpc_code": N, "message": "..."}}) as a Status.
Status ErrorStatus(const json& error_object, const std::string& context) {
  const json* fields = &error_object;
  if (auto it = error_object.find("error"); it != error_object.end() && it->is_object()) {
    fields = &*it;
  }
  int64_t code = 0;
  for (const char* name : {"code", "grpc_code"}) {
    Result<int64_t> read = Int64Field(*fields, name);
    if (read.ok() && read.value() != 0) code = read.value();
  }
  std::string message = "etcd error";
  if (auto it = fields->find("message"); it != fields->end() && it->is_string()) {
    message = it->get<std::string>();
  }
  message = context + ": " + message;
  switch (code) {  // gRPC status codes
    case 3:
    case 9:  // FAILED_PRECONDITION
    case 11:
      return Status::InvalidArgument(message);
    case 5:
      return Status::NotFound(message);
    case 6:
      return Status::AlreadyExists(message);
    case 8:
      return Status::ResourceExhausted(message);
    case 4:  // DEADLINE_EXCEEDED
    case 14:
      return Status::Unavailable(message);
    case 16:
      return Status::Unauthenticated(message);
    default:
      return Status::Internal(message);
  }
}

const char* CompareTargetName(Compare::Target target) {
  switch (target) {
    case Compare::Target::kVersion:
      return "VERSION";
    case Compare::Target::kCreateRevision:
      return "CREATE";
    case Compare::Target::kModRevision:
      return "MOD";
    case Compare::Target::kValue:
      return "VALUE";
    case Compare::Target::kLease:
      return "LEASE";
  }
  return "VERSION";
}

const char* CompareResultName(Compare::Relation relation) {
  switch (relation) {
    case Compare::Relation::kEqual:
      return "EQUAL";
    case Compare::Relation::kNotEqual:
      return "NOT_EQUAL";
    case Compare::Relation::kGreater:
      return "GREATER";
    case Compare::Relation::kLess:
      return "LESS";
  }
  return "EQUAL";
}

json CompareJson(const Compare& compare) {
  json out = {{"key", Base64Encode(compare.key)},
              {"target", CompareTargetName(compare.target)},
              {"result", CompareResultName(compare.relation)}};
  const std::string number = std::to_string(compare.number);
  switch (compare.target) {
    case Compare::Target::kVersion:
      out["version"] = number;
      break;
    case Compare::Target::kCreateRevision:
      out["create_revision"] = number;
      break;
    case Compare::Target::kModRevision:
      out["mod_revision"] = number;
      break;
    case Compare::Target::kValue:
      out["value"] = Base64Encode(compare.value);
      break;
    case Compare::Target::kLease:
      out["lease"] = number;
      break;
  }
  return out;
}

json TxnOpJson(const TxnOp& op) {
  json request = {{"key", Base64Encode(op.key)}};
  switch (op.kind) {
    case TxnOp::Kind::kPut:
      request["value"] = Base64Encode(op.value);
      if (op.lease != 0) request["lease"] = std::to_string(op.lease);
      return {{"request_put", request}};
    case TxnOp::Kind::kRange:
      if (!op.range_end.empty()) request["range_end"] = Base64Encode(op.range_end);
      return {{"request_range", request}};
    case TxnOp::Kind::kDelete:
      if (!op.range_end.empty()) request["range_end"] = Base64Encode(op.range_end);
      return {{"request_delete_range", request}};
  }
  return request;
}

json TxnBranchJson(const std::vector<TxnOp>& ops) {
  json branch = json::array();
  for (const TxnOp& op : ops) branch.push_back(TxnOpJson(op));
  return branch;
}

Result<TxnOpResult> ParseTxnOpResult(const json& response) {
  TxnOpResult result;
  if (auto it = response.find("response_range"); it != response.end()) {
    result.kind = TxnOp::Kind::kRange;
    PGTHAW_ASSIGN_OR_RETURN(result.kvs, ParseKeyValues(*it));
  } else if (auto put = response.find("response_put"); put != response.end()) {
    result.kind = TxnOp::Kind::kPut;
  } else if (auto del = response.find("response_delete_range"); del != response.end()) {
    result.kind = TxnOp::Kind::kDelete;
    PGTHAW_ASSIGN_OR_RETURN(result.deleted, Int64Field(*del, "deleted"));
  } else {
    return Status::Corruption("etcd txn response of unknown kind: " +
                              response.dump().substr(0, 80));
  }
  return result;
}

// The outcome of one HTTP exchange with one endpoint.
struct Exchange {
  bool reached = false;  // false: try the next endpoint
  Status status;         // of the exchange itself when reached
  unsigned http_status = 0;
  std::string body;
};

Exchange PostOnce(const EtcdEndpoint& endpoint, std::string_view path, const std::string& body,
                  milliseconds connect_timeout, milliseconds request_timeout,
                  size_t max_response_bytes) {
  Exchange exchange;
  boost::asio::io_context io;
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  const auto addresses = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
  if (ec) {
    exchange.status = Status::Unavailable("resolve " + endpoint.ToString() + ": " + ec.message());
    return exchange;
  }
  // beast::tcp_stream's timeouts apply to asynchronous operations only, so
  // each step is started asynchronously and run to completion here.
  beast::tcp_stream stream(io);
  stream.expires_after(connect_timeout);
  stream.async_connect(addresses,
                       [&](boost::system::error_code e, const tcp::endpoint&) { ec = e; });
  io.run();
  if (ec) {
    exchange.status = Status::Unavailable("connect " + endpoint.ToString() + ": " + ec.message());
    return exchange;
  }

  http::request<http::string_body> request{http::verb::post, std::string(path), 11};
  request.set(http::field::host, endpoint.host + ":" + std::to_string(endpoint.port));
  request.set(http::field::content_type, "application/json");
  request.keep_alive(false);
  request.body() = body;
  request.prepare_payload();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxResponseHeaderBytes);
  parser.body_limit(max_response_bytes);

  stream.expires_after(request_timeout);
  io.restart();
  http::async_write(stream, request, [&](boost::system::error_code e, size_t) { ec = e; });
  io.run();
  if (!ec) {
    io.restart();
    http::async_read(stream, buffer, parser, [&](boost::system::error_code e, size_t) { ec = e; });
    io.run();
  }
  if (ec == http::error::body_limit || ec == http::error::header_limit) {
    exchange.reached = true;
    exchange.status =
        Status::ResourceExhausted("etcd answer to " + std::string(path) + " exceeds " +
                                  std::to_string(max_response_bytes) + " bytes");
    return exchange;
  }
  if (ec) {
    exchange.status =
        Status::Unavailable(std::string(path) + " at " + endpoint.ToString() + ": " + ec.message());
    return exchange;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  exchange.reached = true;
  exchange.http_status = parser.get().result_int();
  exchange.body = std::move(parser.get().body());
  return exchange;
}

}  // namespace

Result<EtcdEndpoint> ParseEtcdEndpoint(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::InvalidArgument("etcd endpoint must start with http://: " + std::string(url));
  }
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  EtcdEndpoint endpoint;
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || rest.find(']', colon) != std::string_view::npos) {
    endpoint.host = std::string(rest);
  } else {
    endpoint.host = std::string(rest.substr(0, colon));
    const std::string_view port = rest.substr(colon + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return Status::InvalidArgument("bad port in etcd endpoint " + std::string(url));
    }
    endpoint.port = static_cast<uint16_t>(value);
  }
  // [::1] -> ::1 for the resolver.
  if (endpoint.host.size() >= 2 && endpoint.host.front() == '[' && endpoint.host.back() == ']') {
    endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
  }
  if (endpoint.host.empty() || endpoint.host.find('/') != std::string::npos) {
    return Status::InvalidArgument("bad host in etcd endpoint " + std::string(url));
  }
  return endpoint;
}

Result<std::vector<EtcdEndpoint>> ParseEtcdEndpoints(std::string_view urls) {
  std::vector<EtcdEndpoint> endpoints;
  while (!urls.empty()) {
    const size_t comma = urls.find(',');
    const std::string_view one = urls.substr(0, comma);
    if (!one.empty()) {
      EtcdEndpoint endpoint;
      PGTHAW_ASSIGN_OR_RETURN(endpoint, ParseEtcdEndpoint(one));
      endpoints.push_back(std::move(endpoint));
    }
    if (comma == std::string_view::npos) break;
    urls.remove_prefix(comma + 1);
  }
  if (endpoints.empty()) return Status::InvalidArgument("no etcd endpoint given");
  return endpoints;
}

namespace {

Compare NumberCompare(std::string key, Compare::Target target, int64_t number) {
  Compare compare;
  compare.key = std::move(key);
  compare.target = target;
  compare.number = number;
  return compare;
}

TxnOp KeyOp(TxnOp::Kind kind, std::string key) {
  TxnOp op;
  op.kind = kind;
  op.key = std::move(key);
  return op;
}

}  // namespace

Compare Compare::CreateRevisionIs(std::string key, int64_t revision) {
  return NumberCompare(std::move(key), Target::kCreateRevision, revision);
}
Compare Compare::ModRevisionIs(std::string key, int64_t revision) {
  return NumberCompare(std::move(key), Target::kModRevision, revision);
}
Compare Compare::LeaseIs(std::string key, int64_t lease) {
  return NumberCompare(std::move(key), Target::kLease, lease);
}
Compare Compare::ValueIs(std::string key, std::string value) {
  Compare compare = NumberCompare(std::move(key), Target::kValue, 0);
  compare.value = std::move(value);
  return compare;
}

TxnOp TxnOp::Put(std::string key, std::string value, int64_t lease) {
  TxnOp op = KeyOp(Kind::kPut, std::move(key));
  op.value = std::move(value);
  op.lease = lease;
  return op;
}
TxnOp TxnOp::Get(std::string key) { return KeyOp(Kind::kRange, std::move(key)); }
TxnOp TxnOp::Delete(std::string key) { return KeyOp(Kind::kDelete, std::move(key)); }

std::string PrefixRangeEnd(std::string_view prefix) {
  std::string end(prefix);
  // Drop trailing 0xff bytes, then bump the last byte left.
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::string(1, '\0');
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

EtcdClient::EtcdClient(Options options) : options_(std::move(options)) {}

Result<std::string> EtcdClient::Post(std::string_view path, const std::string& body,
                                     std::optional<milliseconds> total_timeout) {
  const size_t count = options_.endpoints.size();
  if (count == 0) return Status::InvalidArgument("etcd client has no endpoints");
  const auto start = std::chrono::steady_clock::now();
  const size_t first = preferred_endpoint_.load(std::memory_order_relaxed) % count;
  Status last_failure = Status::Unavailable("no etcd endpoint tried");
  for (size_t attempt = 0; attempt < count; ++attempt) {
    milliseconds connect_timeout = options_.connect_timeout;
    milliseconds request_timeout = options_.request_timeout;
    if (total_timeout) {
      const auto left = *total_timeout - std::chrono::duration_cast<milliseconds>(
                                             std::chrono::steady_clock::now() - start);
      if (left <= milliseconds(0)) break;
      connect_timeout = std::min(connect_timeout, left);
      request_timeout = std::min(request_timeout, left);
    }
    const size_t index = (first + attempt) % count;
    Exchange exchange = PostOnce(options_.endpoints[index], path, body, connect_timeout,
                                 request_timeout, options_.max_response_bytes);
    if (!exchange.reached) {
      last_failure = exchange.status;
      continue;
    }
    preferred_endpoint_.store(index, std::memory_order_relaxed);
    if (!exchange.status.ok()) return exchange.status;
    if (exchange.http_status != 200) {
      Result<json> error = ParseBody(exchange.body);
      if (!error.ok()) {
        return Status::Internal(std::string(path) + ": HTTP " +
                                std::to_string(exchange.http_status));
      }
      return ErrorStatus(error.value(), std::string(path));
    }
    return std::move(exchange.body);
  }
  return last_failure.Annotate("etcd unreachable (" + std::to_string(count) + " endpoints): ");
}

Result<int64_t> EtcdClient::Put(std::string_view key, std::string_view value, int64_t lease) {
  json request = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) request["lease"] = std::to_string(lease);
  std::string body;
  PGTHAW_ASSIGN_OR_RETURN(body, Post("/v3/kv/put", request.dump(), std::nullopt));
  json answer;
  PGTHAW_ASSIGN_OR_RETURN(answer, ParseBody(body));
  return HeaderRevision(answer);
}

Result<RangeResult> EtcdClient::Range(std::string_view key, std::string_view range_end,
                                      int64_t limit) {
  json request = {{"key", Base64Encode(key)}};
  if (!range_end.empty()) request["range_end"] = Base64Encode(range_end);
  if (limit > 0) request["limit"] = std::to_string(limit);
  std::string body;
  PGTHAW_ASSIGN_OR_RETURN(body, Post("/v3/kv/range", request.dump(), std::nullopt));
  json answer;
  PGTHAW_ASSIGN_OR_RETURN(answer, ParseBody(body));
  return ParseRange(answer);
}

Result<int64_t> EtcdClient::DeleteRange(std::string_view key, std::string_view range_end) {
  json request = {{"key", Base64Encode(key)}};
  if (!range_end.empty()) request["range_end"] = Base64Encode(range_end);
  std::string body;
  PGTHAW_ASSIGN_OR_RETURN(body, Post("/v3/kv/deleterange", request.dump(), std::nullopt));
  json answer;
  PGTHAW_ASSIGN_OR_RETURN(answer, ParseBody(body));
  return Int64Field(answer, "deleted");
}

Result<TxnResult> EtcdClient::Txn(const std::vector<Compare>& compares,
                                  const std::vector<TxnOp>& success,
                                  const std::vector<TxnOp>& failure) {
  json compare_json = json::array();
  for (const Compare& compare : compares) compare_json.push_back(CompareJson(compare));
  const json request = {{"compare", compare_json},
                        {"success", TxnBranchJson(success)},
                        {"failure", TxnBranchJson(failure)}};
  std::string body;
  PGTHAW_ASSIGN_OR_RETURN(body, Post("/v3/kv/txn", request.dump(), std::nullopt));
  json answer;
  PGTHAW_ASSIGN_OR_RETURN(answer, ParseBody(body));
  TxnResult result;
  result.succeeded = BoolField(answer, "succeeded");
  PGTHAW_ASSIGN_OR_RETURN(result.revision, HeaderRevision(answer));
  if (auto it = answer.find("responses"); it != answer.end() && it->is_array()) {
    for (const json& response : *it) {
      TxnOpResult op_result;
      PGTHAW_ASSIGN_OR_RETURN(op_result, ParseTxnOpResult(response));
      result.responses.push_back(std::move(op_result));
    }
  }
  return result;
}

Result<Lease> EtcdClient::LeaseGrant(int64_t ttl_seconds) {
  const json request = {{"TTL", std::to_string(ttl_seconds)}};
  std::string body;
  PGTHAW_ASSIGN_OR_RETURN(body, Post("/v3/lease/grant", request.dump(), std::nullopt));
  json answer;
  PGTHAW_ASSIGN_OR_RETURN(answer, ParseBody(body));
  if (auto it = answer.find("error"); it != answer.end() && it->is_string() && !it->empty()) {
    return Status::Internal("lease grant: " + it->get<std::string>());
  }
  Lease lease;
  PGTHAW_ASSIGN_OR_RETURN(lease.id, Int64Field(answer, "ID"));
  PGTHAW_ASSIGN_OR_RETURN(lease.ttl_seconds, Int64Field(answer, "TTL"));
  if (lease.id == 0) return Status::Corruption("etcd granted lease 0");
  return lease;
}

Result<int64_t> EtcdClient::LeaseKeepAlive(int64_t lease_id, std::optional<milliseconds> timeout) {
  const json request = {{"ID", std::to_string(lease_id)}};
  std::string body;
  PGTHAW_ASSIGN_OR_RETURN(body, Post("/v3/lease/keepalive", request.dump(), timeout));
  json answer;
  PGTHAW_ASSIGN_OR_RETURN(answer, ParseBody(body));
  // A streaming endpoint: the message is under "result", an error under "error".
  if (auto error = answer.find("error"); error != answer.end() && error->is_object()) {
    return ErrorStatus(answer, "/v3/lease/keepalive");
  }
  auto result = answer.find("result");
  if (result == answer.end() || !result->is_object()) {
    return Status::Corruption("etcd keepalive answer has no result: " + body.substr(0, 80));
  }
  // An unknown (expired, revoked) lease comes back with no TTL: 0.
  return Int64Field(*result, "TTL");
}

Status EtcdClient::LeaseRevoke(int64_t lease_id) {
  const json request = {{"ID", std::to_string(lease_id)}};
  Result<std::string> body = Post("/v3/lease/revoke", request.dump(), std::nullopt);
  return body.status();
}

Result<int64_t> EtcdClient::LeaseTimeToLive(int64_t lease_id) {
  const json request = {{"ID", std::to_string(lease_id)}};
  std::string body;
  PGTHAW_ASSIGN_OR_RETURN(body, Post("/v3/lease/timetolive", request.dump(), std::nullopt));
  json answer;
  PGTHAW_ASSIGN_OR_RETURN(answer, ParseBody(body));
  return Int64Field(answer, "TTL");
}

}  // namespace pgthaw::fleet
