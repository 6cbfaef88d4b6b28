#include "objstore/http_connection.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>

namespace pgthaw::objstore {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

// A response header longer than this is not an S3 service's.
constexpr uint32_t kMaxResponseHeaderBytes = 64 * 1024;

struct HttpConnection::Io {
  asio::io_context context;
  beast::tcp_stream stream{context};
  beast::flat_buffer buffer;
  bool connected = false;

  // tcp_stream's deadlines apply to asynchronous operations only: start one
  // and run the context until it completes (or its deadline closes it).
  template <typename Start>
  beast::error_code Run(std::chrono::milliseconds timeout, Start start) {
    beast::error_code result = asio::error::would_block;
    stream.expires_after(timeout);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    context.restart();
    context.run();
    return result;
  }

  void Close() {
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream.close();
    buffer.clear();
    connected = false;
  }
};

HttpConnection::HttpConnection(std::string host, std::string port,
                               std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(std::move(port)), timeout_(timeout), io_(new Io) {}

HttpConnection::~HttpConnection() {
  if (io_->connected) io_->Close();
}

Result<HttpResponse> HttpConnection::RoundTrip(const HttpRequest& request, size_t max_body_bytes) {
  const std::string where = "HTTP " + host_ + ":" + port_ + ": ";
  auto fail = [&](const char* step, const beast::error_code& ec) -> Status {
    io_->Close();
    return Status::Unavailable(where + step + ": " + ec.message());
  };

  if (!io_->connected) {
    asio::ip::tcp::resolver resolver(io_->context);
    beast::error_code ec;
    auto endpoints = resolver.resolve(host_, port_, ec);
    if (ec) return Status::Unavailable(where + "resolve: " + ec.message());
    ec = io_->Run(timeout_, [&](auto handler) { io_->stream.async_connect(endpoints, handler); });
    if (ec) return fail("connect", ec);
    io_->connected = true;
  }

  const http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    return Status::InvalidArgument(where + "unknown method " + request.method);
  }
  http::request<http::string_body> message{verb, request.target, 11};
  for (const auto& [name, value] : request.headers) message.set(name, value);
  message.body() = std::string(request.body);
  message.keep_alive(true);
  message.prepare_payload();
  // prepare_payload() leaves out Content-Length for an empty PUT; S3 wants it.
  if (verb == http::verb::put) message.content_length(request.body.size());

  beast::error_code ec =
      io_->Run(timeout_, [&](auto handler) { http::async_write(io_->stream, message, handler); });
  if (ec) return fail("write", ec);

  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxResponseHeaderBytes);
  parser.body_limit(max_body_bytes);
  // A HEAD response announces a length but carries no body.
  if (verb == http::verb::head) parser.skip(true);
  auto too_long = [&]() -> Status {
    io_->Close();
    return Status::ResourceExhausted(where + request.method + " " + request.target +
                                     ": response body longer than " +
                                     std::to_string(max_body_bytes) + " bytes");
  };
  // The header first, so an announced length over the limit is refused
  // before any of the body is read.
  ec = io_->Run(timeout_, [&](auto handler) {
    http::async_read_header(io_->stream, io_->buffer, parser, handler);
  });
  if (ec == http::error::body_limit) return too_long();
  if (ec) return fail("read header", ec);
  if (parser.content_length() && *parser.content_length() > max_body_bytes) return too_long();
  if (!parser.is_done()) {
    ec = io_->Run(timeout_, [&](auto handler) {
      http::async_read(io_->stream, io_->buffer, parser, handler);
    });
    if (ec == http::error::body_limit) return too_long();
    if (ec) return fail("read", ec);
  }
  if (parser.get().body().size() > max_body_bytes) return too_long();

  http::response<http::string_body> response = parser.release();
  HttpResponse out;
  out.status = response.result_int();
  out.etag = std::string(response[http::field::etag]);
  const beast::string_view length = response[http::field::content_length];
  uint64_t parsed = 0;
  if (!length.empty() &&
      std::from_chars(length.data(), length.data() + length.size(), parsed).ec == std::errc()) {
    out.content_length = parsed;
  }
  out.body = std::move(response.body());
  if (!response.keep_alive()) io_->Close();
  return out;
}

}  // namespace pgthaw::objstore
