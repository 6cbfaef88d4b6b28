// A small blocking HTTP/1.1 client for the server tests (Beast, loopback).
// Header-only so the server library's source glob does not pick it up.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace pgthaw::server::testing {

struct HttpResult {
  int status = 0;  // 0: transport error (see error)
  std::string body;
  nlohmann::json json;  // discarded if the body is not JSON
  std::string content_type, allow, connection;
  std::string www_authenticate, allow_origin, vary;  // WWW-Authenticate, ACAO
  std::string error;
};

// One connection; requests on it reuse it (keep-alive).
class HttpClient {
 public:
  explicit HttpClient(unsigned short port);
  // A header every later Call sends (Authorization, Origin), or sends
  // instead of its own Host or Content-Type.
  void SetHeader(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
  }
  bool connected() const { return connected_; }
  HttpResult Call(const std::string& method, const std::string& target,
                  const std::string& body = "");
  // Writes raw bytes (for malformed requests) and reads one reply.
  HttpResult Raw(const std::string& bytes);
  // Writes raw bytes and closes at once without reading.
  void SendAndVanish(const std::string& bytes);

 private:
  HttpResult Read();
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
  unsigned short port_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

// One request on a fresh connection.
// http_call: one request on a fresh connection; post_json: POST a JSON body.

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

inline HttpClient::HttpClient(unsigned short port) : stream_(io_), port_(port) {
  beast::error_code ec;
  stream_.socket().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  connected_ = !ec;
}

inline HttpResult HttpClient::Read() {
  HttpResult result;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  beast::error_code ec;
  stream_.expires_after(std::chrono::seconds(60));
  http::read(stream_, buffer_, parser, ec);
  if (ec) {
    result.error = ec.message();
    return result;
  }
  auto& res = parser.get();
  result.status = static_cast<int>(res.result_int());
  result.body = res.body();
  result.content_type = std::string(res[http::field::content_type]);
  result.allow = std::string(res[http::field::allow]);
  result.connection = std::string(res[http::field::connection]);
  result.www_authenticate = std::string(res[http::field::www_authenticate]);
  result.allow_origin = std::string(res[http::field::access_control_allow_origin]);
  result.vary = std::string(res[http::field::vary]);
  result.json = nlohmann::json::parse(result.body, nullptr, false);
  return result;
}

inline HttpResult HttpClient::Call(const std::string& method, const std::string& target,
                                   const std::string& body) {
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  if (req.method() == http::verb::unknown) req.method_string(method);
  // The server checks that Host names it: the address connected to.
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
  req.keep_alive(true);
  if (!body.empty() || method == "POST") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  for (const auto& [name, value] : headers_) req.set(name, value);  // may replace the above
  req.prepare_payload();
  beast::error_code ec;
  stream_.expires_after(std::chrono::seconds(60));
  http::write(stream_, req, ec);
  if (ec) {
    HttpResult r;
    r.error = ec.message();
    return r;
  }
  return Read();
}

inline HttpResult HttpClient::Raw(const std::string& bytes) {
  beast::error_code ec;
  asio::write(stream_.socket(), asio::buffer(bytes), ec);
  if (ec) {
    HttpResult r;
    r.error = ec.message();
    return r;
  }
  return Read();
}

inline void HttpClient::SendAndVanish(const std::string& bytes) {
  beast::error_code ec;
  asio::write(stream_.socket(), asio::buffer(bytes), ec);
  stream_.socket().close(ec);
}

// With `bearer`: sent as `Authorization: Bearer <bearer>`.
inline HttpResult http_call(unsigned short port, const std::string& method,
                            const std::string& target, const std::string& body = "",
                            const std::string& bearer = "") {
  HttpClient client(port);
  if (!bearer.empty()) client.SetHeader("Authorization", "Bearer " + bearer);
  if (!client.connected()) {
    HttpResult r;
    r.error = "connect failed";
    return r;
  }
  return client.Call(method, target, body);
}

inline HttpResult post_json(unsigned short port, const std::string& target,
                            const nlohmann::json& body, const std::string& bearer = "") {
  return http_call(port, "POST", target, body.dump(), bearer);
}

}  // namespace pgthaw::server::testing
