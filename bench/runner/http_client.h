// http_client: the runner's one HTTP/1.1 client, used for every system so
// the transport cost is the same for all of them (and measured: the /ping
// floor). Blocking Boost.Beast over one kept-alive loopback connection per
// client; a dropped connection is reopened once per request. Not
// thread-safe: one thread owns a client.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/verb.hpp>
#include <string>

#include "common/status.h"

namespace pgthaw::bench {

struct HttpReply {
  int status = 0;
  std::string body;
  double elapsed_ms = 0;  // request written to reply read, on this client
};

class HttpClient {
 public:
  // BASE_URL is http://HOST:PORT (a trailing slash is ignored).
  static Result<std::unique_ptr<HttpClient>> Create(const std::string& base_url);

  Result<HttpReply> Get(const std::string& target);
  Result<HttpReply> Post(const std::string& target, const std::string& json_body);
  Result<HttpReply> Delete(const std::string& target);
  // Closes the kept-alive connection (the next request opens a new one).
  void Close();
  // Sends `Authorization: Bearer TOKEN` with every request (empty: none).
  void SetBearer(std::string token) { bearer_ = std::move(token); }
  const std::string& base_url() const { return base_url_; }

 private:
  HttpClient(std::string base_url, std::string host, std::string port);
  Result<HttpReply> Send(boost::beast::http::verb verb, const std::string& target,
                         const std::string& body);
  Status Connect();

  std::string base_url_;
  std::string host_;
  std::string port_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
  std::string bearer_;
};

}  // namespace pgthaw::bench
