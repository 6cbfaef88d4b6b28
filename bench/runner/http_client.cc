// http_client: a blocking Beast client over a kept-alive socket.
#include "http_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/http.hpp>

#include "bench/engine/stopwatch.h"

namespace pgthaw::bench {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {
constexpr int kSocketTimeoutSeconds = 300;  // a hung server fails the row, not the run
}  // namespace

HttpClient::HttpClient(std::string base_url, std::string host, std::string port)
    : base_url_(std::move(base_url)),
      host_(std::move(host)),
      port_(std::move(port)),
      socket_(io_) {}

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const std::string& base_url) {
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    return Status::InvalidArgument("\"" + base_url + "\": must be http://HOST:PORT");
  }
  std::string rest = url.substr(scheme.size());
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon + 1 == rest.size()) {
    return Status::InvalidArgument("\"" + base_url + "\": must be http://HOST:PORT");
  }
  std::string host = rest.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return std::unique_ptr<HttpClient>(new HttpClient(url, host, rest.substr(colon + 1)));
}

Status HttpClient::Connect() {
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  auto endpoints = resolver.resolve(host_, port_, ec);
  if (ec) return Status::Unavailable("resolve " + base_url_ + ": " + ec.message());
  socket_ = tcp::socket(io_);
  boost::asio::connect(socket_, endpoints, ec);
  if (ec) return Status::Unavailable("connect " + base_url_ + ": " + ec.message());
  socket_.set_option(tcp::no_delay(true), ec);
  timeval tv{kSocketTimeoutSeconds, 0};
  setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  buffer_.clear();
  connected_ = true;
  return Status::Ok();
}

void HttpClient::Close() {
  boost::system::error_code ec;
  if (connected_) socket_.close(ec);
  connected_ = false;
}

Result<HttpReply> HttpClient::Get(const std::string& target) {
  return Send(http::verb::get, target, "");
}

Result<HttpReply> HttpClient::Delete(const std::string& target) {
  return Send(http::verb::delete_, target, "");
}

Result<HttpReply> HttpClient::Post(const std::string& target, const std::string& json_body) {
  return Send(http::verb::post, target, json_body);
}

Result<HttpReply> HttpClient::Send(http::verb verb, const std::string& target,
                                   const std::string& body) {
  const bool post = verb == http::verb::post;
  // A kept-alive connection the server closed shows up as an error on the
  // first write or read: reopen and retry once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!connected_) PGTHAW_RETURN_IF_ERROR(Connect());
    http::request<http::string_body> req(verb, target, 11);
    // pgthaw checks that Host names it: the authority of the URL, port
    // included, an IPv6 address in brackets.
    req.set(http::field::host,
            (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + port_);
    req.keep_alive(true);
    if (!bearer_.empty()) req.set(http::field::authorization, "Bearer " + bearer_);
    if (post) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    boost::system::error_code ec;
    Stopwatch watch;
    http::write(socket_, req, ec);
    http::response<http::string_body> res;
    if (!ec) http::read(socket_, buffer_, res, ec);
    double ms = watch.ElapsedMs();
    if (ec) {
      Close();
      if (attempt == 0) continue;
      return Status::Unavailable(std::string(http::to_string(verb)) + " " + base_url_ + target +
                                 ": " + ec.message());
    }
    if (!res.keep_alive()) Close();
    return HttpReply{static_cast<int>(res.result_int()), std::move(res.body()), ms};
  }
  return Status::Internal("unreachable");
}

}  // namespace pgthaw::bench
