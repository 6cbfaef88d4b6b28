#include "server/tls_credentials.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace pgthaw::server {

namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's error queue as one line (and emptied).
std::string openssl_errors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> TlsCredentials::MakeContext(const std::string& cert,
                                                                  const std::string& key) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(native, cert.c_str()) != 1) {
    return Status::InvalidArgument("TLS certificate " + cert + ": " + openssl_errors());
  }
  if (SSL_CTX_use_PrivateKey_file(native, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status::InvalidArgument("TLS key " + key + ": " + openssl_errors());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return Status::InvalidArgument("TLS key " + key + " does not match certificate " + cert + ": " +
                                   openssl_errors());
  }
  return context;
}

Result<std::shared_ptr<TlsCredentials>> TlsCredentials::Load(std::string cert_file,
                                                             std::string key_file) {
  std::shared_ptr<TlsCredentials> credentials(
      new TlsCredentials(std::move(cert_file), std::move(key_file)));
  PGTHAW_RETURN_IF_ERROR(credentials->Reload());
  return credentials;
}

Status TlsCredentials::Reload() {
  auto context = MakeContext(cert_file_, key_file_);
  if (!context.ok()) return context.status();
  MutexLock lock(mutex_);
  context_ = std::move(context).value();
  return Status::Ok();
}

std::shared_ptr<ssl::context> TlsCredentials::context() const {
  MutexLock lock(mutex_);
  return context_;
}

}  // namespace pgthaw::server
