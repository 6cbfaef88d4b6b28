// http_client: the runner's one HTTP/1.1 client, used for every system so
// the transport cost is the same for all of them (and measured: the /ping
// floor). Blocking Boost.Beast over one kept-alive loopback connection per
// client; a dropped connection is reopened once per request. Not
// thread-safe: one thread owns a client.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
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
  // Closes the kept-alive connection (the next request opens a new one).
  void Close();
  const std::string& base_url() const { return base_url_; }

 private:
  HttpClient(std::string base_url, std::string host, std::string port);
  Result<HttpReply> Send(bool post, const std::string& target, const std::string& body);
  Status Connect();

  std::string base_url_;
  std::string host_;
  std::string port_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

}  // namespace pgthaw::bench
