// One kept-alive HTTP/1.1 connection to one host (Boost.Beast, plain TCP),
// used one request at a time. It connects on first use and again after any
// failure; every connect, write and read has a deadline. Beast stays out
// of this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pgthaw::objstore {

struct HttpRequest {
  std::string method;  // "GET", "PUT", "HEAD", "DELETE"
  std::string target;  // "/bucket/key?query"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;
};

struct HttpResponse {
  unsigned status = 0;
  std::string body;
  std::string etag;
  // The Content-Length header's value, if there was a valid one.
  std::optional<uint64_t> content_length;
};

class HttpConnection {
 public:
  // HOST and PORT of the server; TIMEOUT per connect, write and read.
  HttpConnection(std::string host, std::string port, std::chrono::milliseconds timeout);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends REQUEST and reads the whole response, refusing a body longer
  // than MAX_BODY_BYTES (ResourceExhausted). A transport failure (refused,
  // reset, timed out, malformed response) is Unavailable and closes the
  // connection; the next call reconnects.
  Result<HttpResponse> RoundTrip(const HttpRequest& request, size_t max_body_bytes);

 private:
  struct Io;
  std::string host_;
  std::string port_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Io> io_;
};

}  // namespace pgthaw::objstore
