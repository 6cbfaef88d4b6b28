#include "server/pg_stream.h"

#include <openssl/ssl.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace pgthaw::server {

namespace asio = boost::asio;

asio::awaitable<Status> PgStream::StartTls(const std::shared_ptr<asio::ssl::context>& context) {
  if (tls_) co_return Status::Internal("TLS is already on");
  context_ = context;
  tls_ = std::make_unique<Tls>(std::move(socket_), *context_);
  boost::system::error_code ec;
  co_await tls_->async_handshake(asio::ssl::stream_base::server,
                                 asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Status::Unavailable("TLS handshake: " + ec.message());
  co_return Status::Ok();
}

X509* PgStream::server_certificate() const {
  return tls_ ? SSL_get_certificate(const_cast<Tls&>(*tls_).native_handle()) : nullptr;
}

std::string PgStream::tls_description() const {
  if (!tls_) return "";
  SSL* ssl = const_cast<Tls&>(*tls_).native_handle();
  return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
}

void PgStream::cancel() {
  boost::system::error_code ec;
  lowest().cancel(ec);
}

void PgStream::close() {
  boost::system::error_code ec;
  asio::ip::tcp::socket& socket = lowest();
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

}  // namespace pgthaw::server
