// PgStream: a Postgres client's byte stream, plain TCP until the client's
// SSLRequest is answered 'S', TLS after the handshake.
//
// It is an Asio AsyncReadStream and AsyncWriteStream (async_read_some,
// async_write_some, get_executor), so the connection's coroutine, the
// reply stream and asio::async_write use it whatever it carries. All of it
// belongs to the connection's strand, as the socket did.
#pragma once

// clang-format off
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <openssl/types.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>

#include "common/status.h"

namespace pgthaw::server {

class PgStream {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  using Tls = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

  explicit PgStream(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

  executor_type get_executor() { return lowest().get_executor(); }
  boost::asio::ip::tcp::socket& lowest() { return tls_ ? tls_->next_layer() : socket_; }

  template <typename Buffers, typename Token>
  decltype(auto) async_read_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <typename Buffers, typename Token>
  decltype(auto) async_write_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

  // The server's side of the TLS handshake, with `context` (kept for the
  // connection's life). The error says why it failed, for the log.
  boost::asio::awaitable<Status> StartTls(
      const std::shared_ptr<boost::asio::ssl::context>& context);
  bool tls() const { return tls_ != nullptr; }
  // The certificate this side presented (channel binding); null in the clear.
  X509* server_certificate() const;
  // "TLSv1.3 TLS_AES_256_GCM_SHA384", or "" in the clear (logs).
  std::string tls_description() const;

  bool is_open() const { return tls_ ? tls_->next_layer().is_open() : socket_.is_open(); }
  // Cancels pending reads and writes (they complete with operation_aborted).
  void cancel();
  // Shuts the connection down both ways and closes it. Any time on the
  // strand; idempotent.
  void close();

 private:
  boost::asio::ip::tcp::socket socket_;  // moved into tls_ by StartTls
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::unique_ptr<Tls> tls_;
};

}  // namespace pgthaw::server
