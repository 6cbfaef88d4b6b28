// TlsCredentials: a listener's certificate chain and private key, loaded
// into an OpenSSL context that connections take at their handshake, and
// reloaded on demand (SIGHUP) without dropping anyone.
//
// Each handshake takes the context current at that moment and keeps it for
// the connection's life, so a reload changes what new connections see and
// nothing of those already up. A reload that fails (a missing file, a key
// that does not match the certificate) keeps the previous context and says
// why. TLS 1.2 at least, as PostgreSQL's ssl_min_protocol_version default.
//
// Thread-safe.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "common/thread_annotations.h"

namespace pgthaw::server {

class TlsCredentials {
 public:
  // Reads `cert_file` (PEM chain, leaf first) and `key_file` (PEM key).
  static Result<std::shared_ptr<TlsCredentials>> Load(std::string cert_file, std::string key_file);

  // Reads both files again; on failure the old context stays in use.
  Status Reload();

  std::shared_ptr<boost::asio::ssl::context> context() const;
  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }

 private:
  TlsCredentials(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}
  static Result<std::shared_ptr<boost::asio::ssl::context>> MakeContext(const std::string& cert,
                                                                        const std::string& key);

  const std::string cert_file_, key_file_;
  mutable Mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> context_ GUARDED_BY(mutex_);
};

}  // namespace pgthaw::server
