// SCRAM-SHA-256 (RFC 5802, RFC 7677), the server's side, as PostgreSQL runs
// it: the stored verifier, password normalisation, channel binding and one
// authentication exchange.
//
// A role's password is never kept: only its Verifier (salt, iteration count,
// StoredKey, ServerKey), in PostgreSQL's own text form so that a verifier
// made by libpq (PQencryptPasswordConn) or read from pg_authid is usable as
// is. An exchange proves that the client knows the password without either
// side sending it:
//
//   client                                   server (ServerExchange)
//   SASLInitialResponse  client-first  --->  HandleInitial
//                        <---  server-first  (nonce, salt, iterations)
//   SASLResponse         client-final  --->  HandleFinal (checks the proof)
//                        <---  server-final  (v=ServerSignature)
//
// The server's messages look the same whether the role exists or not: for
// a role that does not exist the exchange runs against a mock verifier
// derived from a server-wide secret and the role name (PostgreSQL's mock
// authentication), so a client cannot probe for role names, and it fails
// only at the end.
//
// Failures of HandleInitial and HandleFinal come in two classes (plus the
// server's own failures, e.g. no random bytes):
//   kInvalidArgument  malformed message or protocol violation: the caller
//                     answers FATAL 08P01 (protocol_violation). Their
//                     messages are PostgreSQL's and may go to the client.
//   kUnauthenticated  the client failed to authenticate (wrong password,
//                     unknown role, channel binding mismatch): the caller
//                     answers FATAL 28P01 with the same text whatever the
//                     reason; the message says the reason for the server's
//                     log only (telling the client would reveal which roles
//                     exist).
// PostgreSQL answers 0A000 (feature_not_supported) for an authzid or a
// mandatory extension; here they are protocol violations.
//
// Not thread-safe: one ServerExchange belongs to one connection.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pgthaw::server::scram {

inline constexpr std::string_view kMechanism = "SCRAM-SHA-256";
inline constexpr std::string_view kMechanismPlus = "SCRAM-SHA-256-PLUS";
// PostgreSQL's defaults (scram_iterations, SCRAM_DEFAULT_SALT_LEN).
inline constexpr int kDefaultIterations = 4096;
inline constexpr size_t kDefaultSaltLength = 16;
inline constexpr size_t kKeyLength = 32;  // SHA-256 output
// libpq refuses to prepare longer passwords, so none could log in.
inline constexpr size_t kMaxPasswordLength = 1024;

// What is stored for a role instead of its password. Bytes are raw.
struct Verifier {
  int iterations = 0;
  std::string salt;
  std::string stored_key;  // H(ClientKey)
  std::string server_key;  // HMAC(SaltedPassword, "Server Key")

  // SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
  std::string ToString() const;
  // The form ToString writes; InvalidArgument for anything else (another
  // mechanism, bad base64, keys not 32 bytes, iterations not positive).
  static Result<Verifier> Parse(std::string_view text);
  // With a random salt of kDefaultSaltLength bytes. InvalidArgument for an
  // empty password (PostgreSQL refuses those too) or one longer than
  // kMaxPasswordLength.
  static Result<Verifier> FromPassword(std::string_view password,
                                       int iterations = kDefaultIterations);
  // The same with a given salt (tests, known vectors).
  static Result<Verifier> FromPasswordAndSalt(std::string_view password, std::string_view salt,
                                              int iterations);

  // Structurally sound: iterations > 0, a salt, both keys kKeyLength bytes.
  bool IsWellFormed() const;
  bool operator==(const Verifier&) const = default;
};

// The password as SCRAM hashes it, as PostgreSQL's pg_saslprep decides:
// SASLprep (RFC 4013, unassigned code points prohibited), or the raw bytes
// when the password is not valid UTF-8 or SASLprep refuses it.
std::string normalize_password(std::string_view password);

// What channel binding the connection offers: none (plain TCP, or a Unix
// socket), or TLS tls-server-end-point with the hash of the server's
// certificate (tls_server_end_point below).
struct ChannelBinding {
  static ChannelBinding None() { return {}; }
  static ChannelBinding TlsServerEndPoint(std::string certificate_hash) {
    return ChannelBinding{std::move(certificate_hash)};
  }
  bool offered() const { return !certificate_hash.empty(); }

  std::string certificate_hash;  // empty: nothing offered
};

// RFC 5929's tls-server-end-point data for `server_cert`: its hash with the
// digest of its signature algorithm, SHA-256 instead of MD5 or SHA-1 (as
// PostgreSQL's be_tls_get_certificate_hash). InvalidArgument when the
// signature algorithm has no single digest (Ed25519, for one).
Result<std::string> tls_server_end_point(X509* server_cert);

// The verifier an exchange for a role that does not exist runs against:
// deterministic in (mock_secret, role), so the same unknown role always
// gets the same salt, as a real one would.
Verifier mock_verifier(std::string_view mock_secret, std::string_view role,
                       int iterations = kDefaultIterations);

// The two failure classes of an exchange (see the top of this file).
bool is_protocol_violation(const Status& status);
bool is_authentication_failure(const Status& status);

// Base64 with padding (RFC 4648 section 4), the encoding SCRAM uses.
// Decoding is strict: no whitespace, padding required, nullopt otherwise.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

// One authentication of one connection. Call HandleInitial once, then
// HandleFinal once; any failure ends the exchange.
class ServerExchange {
 public:
  // The server's part of the nonce: printable ASCII without ','. By default
  // 18 random bytes in base64, as PostgreSQL.
  using NonceSource = std::function<Result<std::string>()>;

  // `verifier` is the role's, or nullopt when the role does not exist (or
  // has no SCRAM verifier): then the exchange runs against
  // mock_verifier(mock_secret, role) and fails in HandleFinal. `role` is
  // the startup packet's user; the name in client-first is ignored.
  ServerExchange(std::optional<Verifier> verifier, std::string_view role,
                 std::string_view mock_secret, ChannelBinding binding,
                 NonceSource server_nonce = nullptr);

  // For AuthenticationSASL, preferred first.
  std::vector<std::string> Mechanisms() const;

  // The SASLInitialResponse: the mechanism the client chose and its
  // client-first-message. Returns the server-first-message.
  Result<std::string> HandleInitial(std::string_view mechanism, std::string_view client_first);

  // The SASLResponse: client-final-message. Returns the
  // server-final-message (for AuthenticationSASLFinal) when the client
  // proved it knows the password.
  Result<std::string> HandleFinal(std::string_view client_final);

  // HandleFinal returned the server-final-message.
  bool Succeeded() const { return stage_ == Stage::kSucceeded; }

 private:
  enum class Stage { kAwaitingInitial, kAwaitingFinal, kSucceeded, kFailed };

  Result<std::string> ReadInitial(std::string_view mechanism, std::string_view client_first);
  Result<std::string> ReadFinal(std::string_view client_final);

  Verifier verifier_;
  bool role_exists_;
  ChannelBinding binding_;
  NonceSource server_nonce_;
  Stage stage_ = Stage::kAwaitingInitial;

  // Kept from HandleInitial for HandleFinal.
  bool uses_binding_ = false;  // the client chose SCRAM-SHA-256-PLUS
  std::string gs2_header_;     // "n,,", "y,," or "p=tls-server-end-point,,"
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;  // client's and server's parts together
};

}  // namespace pgthaw::server::scram
