// HttpServer: one role's HTTP/1.1 listener (Boost.Beast on Asio).
//
// One acceptor per role and port, as the seed's Workers had one hostname
// each. Connections are keep-alive; each runs on its own strand of the
// shared io_context, reads one request at a time (header first, so an
// oversized Content-Length is refused with 413 before the body is sent, and
// `Expect: 100-continue` is honoured), hands it to the Router, and writes the
// reply when the handler calls Respond (from any thread).
//
// Access (http_access.h): Host, Origin and Content-Type are checked for every
// request, and bearer tokens when options.access has credentials, once the
// body is read and before the route's handler runs; the route learns the
// token's scope (Request::scope). Replies to an allowed Origin carry it back.
//
// TLS (options.tls): every connection starts with its handshake, within
// the read timeout, with the context current at its accept (a SIGHUP
// reload changes it for the next connections only).
//
// Errors on the wire: a malformed request 400, an oversized header 431, an
// oversized body 413 (then the connection closes); a client that vanishes
// mid-request or mid-reply only closes its own connection (logged at debug).
//
// Shutdown: Stop() closes the acceptor and the idle keep-alive connections;
// requests in flight finish and their connections close after the reply.
// WaitDrained() blocks until no connection is left.
//
// Thread-safe: Start/Stop/WaitDrained from any thread; the io_context may be
// run by several threads. Sessions share state with the server through a
// shared_ptr, so a late reply after Stop() is harmless.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/http_access.h"
#include "server/http_router.h"
#include "server/metrics.h"
#include "server/tls_credentials.h"

namespace pgthaw::server {

struct HttpServerOptions {
  std::string role;                      // metrics label and log field
  uint64_t max_body_bytes = 1 << 20;     // larger bodies: 413
  uint32_t max_header_bytes = 16 << 10;  // larger headers: 431
  // A connection idle this long between requests, or this slow to send one,
  // is closed.
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  // Hosts, origins and tokens (http_access.h).
  HttpAccessPolicy access;
  // HTTPS with these (reloadable) credentials; null: plain HTTP.
  std::shared_ptr<TlsCredentials> tls;
  // Upload routes' bodies are streamed to files here, at most
  // max_upload_bytes each (larger: 413). Empty: upload routes get 404.
  std::string upload_dir;
  uint64_t max_upload_bytes = uint64_t{10} << 30;
};

class HttpServer {
 public:
  // Binds and listens on `endpoint` (port 0: any free port) and starts
  // accepting on `io`. `metrics` is not owned and must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Start(boost::asio::io_context& io,
                                                   const boost::asio::ip::tcp::endpoint& endpoint,
                                                   Router router, HttpServerOptions options,
                                                   Metrics* metrics);
  ~HttpServer();  // Stop()s; does not wait.

  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_endpoint_; }

  void Stop();
  // True when every connection has closed before `timeout`.
  bool WaitDrained(std::chrono::milliseconds timeout);

  struct Shared;

 private:
  explicit HttpServer(std::shared_ptr<Shared> shared, boost::asio::ip::tcp::endpoint local)
      : shared_(std::move(shared)), local_endpoint_(local) {}
  std::shared_ptr<Shared> shared_;
  boost::asio::ip::tcp::endpoint local_endpoint_;
};

// "127.0.0.1:8787" or "[::1]:8787" -> endpoint; InvalidArgument otherwise.
Result<boost::asio::ip::tcp::endpoint> parse_listen_address(const std::string& text);

}  // namespace pgthaw::server
