#include "server/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stringprep.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <utility>

#include "server/random_secret.h"

namespace pgthaw::server::scram {

namespace {

constexpr std::string_view kVerifierPrefix = "SCRAM-SHA-256$";
constexpr std::string_view kTlsServerEndPoint = "tls-server-end-point";
constexpr size_t kServerNonceBytes = 18;  // PostgreSQL's SCRAM_RAW_NONCE_LEN

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Result<std::string> hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(kKeyLength, '\0');
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes_of(data), data.size(),
           reinterpret_cast<unsigned char*>(out.data()), &length) == nullptr ||
      length != kKeyLength) {
    return Status::Internal("HMAC-SHA-256 failed");
  }
  return out;
}

Result<std::string> sha256(std::string_view data) {
  std::string out(kKeyLength, '\0');
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &length,
                 EVP_sha256(), nullptr) != 1 ||
      length != kKeyLength) {
    return Status::Internal("SHA-256 failed");
  }
  return out;
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a);
  for (size_t i = 0; i < out.size() && i < b.size(); ++i) out[i] ^= b[i];
  return out;
}

Result<std::string> random_server_nonce() {
  Result<std::string> raw = random_bytes(kServerNonceBytes);
  if (!raw.ok()) return raw.status();
  return base64_encode(*raw);
}

// RFC 5802's "printable": %x21-7E except ','.
bool is_printable_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Well-formed UTF-8 as PostgreSQL's pg_utf8_islegal: no overlong forms, no
// surrogates, nothing above U+10FFFF, no NUL (the password is a C string).
bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    size_t length;
    unsigned char second_min = 0x80, second_max = 0xbf;
    if (c < 0x80) {
      length = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) second_min = 0xa0;  // overlong
      if (c == 0xed) second_max = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) second_min = 0x90;  // overlong
      if (c == 0xf4) second_max = 0x8f;  // above U+10FFFF
    } else {
      return false;
    }
    if (i + length > s.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(s[i + k]);
      unsigned char min = k == 1 ? second_min : 0x80, max = k == 1 ? second_max : 0xbf;
      if (next < min || next > max) return false;
    }
    i += length;
  }
  return true;
}

Status malformed(std::string detail) {
  return Status::InvalidArgument("malformed SCRAM message: " + std::move(detail));
}

// Reads the "x=value" attributes of a SCRAM message left to right; a value
// runs to the next ','.
class AttributeReader {
 public:
  explicit AttributeReader(std::string_view text) : text_(text) {}

  bool AtEnd() const { return position_ >= text_.size(); }
  size_t position() const { return position_; }

  // The next attribute, whatever its name.
  Result<std::pair<char, std::string_view>> Next() {
    if (AtEnd()) return malformed("attribute expected at end of message");
    char name = text_[position_];
    bool is_letter = (name >= 'a' && name <= 'z') || (name >= 'A' && name <= 'Z');
    if (!is_letter) return malformed(std::string("attribute expected, found '") + name + "'");
    if (position_ + 1 >= text_.size() || text_[position_ + 1] != '=') {
      return malformed(std::string("'=' expected after attribute '") + name + "'");
    }
    size_t value_start = position_ + 2;
    size_t comma = text_.find(',', value_start);
    size_t value_end = comma == std::string_view::npos ? text_.size() : comma;
    std::string_view value = text_.substr(value_start, value_end - value_start);
    position_ = value_end;
    if (comma != std::string_view::npos) {
      ++position_;
      if (AtEnd()) return malformed("attribute expected after ','");
    }
    return std::pair<char, std::string_view>(name, value);
  }

  // The value of the next attribute, which must be `expected`.
  Result<std::string_view> Expect(char expected) {
    if (AtEnd() || text_[position_] != expected) {
      return malformed(std::string("attribute '") + expected + "' expected");
    }
    Result<std::pair<char, std::string_view>> attribute = Next();
    if (!attribute.ok()) return attribute.status();
    return attribute->second;
  }

 private:
  std::string_view text_;
  size_t position_ = 0;
};

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                     static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                     static_cast<unsigned char>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += kBase64Alphabet[(group >> shift) & 0x3f];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) group |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kBase64Alphabet[(group >> 18) & 0x3f];
    out += kBase64Alphabet[(group >> 12) & 0x3f];
    out += rest == 2 ? kBase64Alphabet[(group >> 6) & 0x3f] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last_group = i + 4 == text.size();
    int padding = 0;
    if (last_group && text[i + 3] == '=') padding = text[i + 2] == '=' ? 2 : 1;
    uint32_t group = 0;
    for (size_t k = 0; k < 4; ++k) {
      int value = k < 4 - static_cast<size_t>(padding) ? value_of(text[i + k]) : 0;
      if (value < 0) return std::nullopt;
      group = group << 6 | static_cast<uint32_t>(value);
    }
    // Bits below the last full byte must be zero: one text per byte string.
    if (padding == 2 && (group & 0xffff) != 0) return std::nullopt;
    if (padding == 1 && (group & 0xff) != 0) return std::nullopt;
    out += static_cast<char>(group >> 16);
    if (padding < 2) out += static_cast<char>((group >> 8) & 0xff);
    if (padding < 1) out += static_cast<char>(group & 0xff);
  }
  return out;
}

std::string normalize_password(std::string_view password) {
  // ASCII needs no preparation: SASLprep maps no ASCII character, and one it
  // would prohibit (a control character) means the raw bytes anyway.
  if (is_ascii(password)) return std::string(password);
  if (!is_valid_utf8(password)) return std::string(password);
  // libidn checks for prohibited output after NFKC (as RFC 3454 says),
  // pg_saslprep before it; they could part only on a string whose NFKC form
  // gains a prohibited character, which no ordinary password does.
  std::string input(password);
  char* prepared = nullptr;
  int rc = stringprep_profile(input.c_str(), &prepared, "SASLprep", STRINGPREP_NO_UNASSIGNED);
  std::string result = rc == STRINGPREP_OK && prepared != nullptr ? prepared : "";
  std::free(prepared);
  // PostgreSQL treats a password that maps to nothing as prohibited too.
  if (rc != STRINGPREP_OK || result.empty()) return std::string(password);
  return result;
}

std::string Verifier::ToString() const {
  return std::string(kVerifierPrefix) + std::to_string(iterations) + ":" + base64_encode(salt) +
         "$" + base64_encode(stored_key) + ":" + base64_encode(server_key);
}

bool Verifier::IsWellFormed() const {
  return iterations > 0 && !salt.empty() && stored_key.size() == kKeyLength &&
         server_key.size() == kKeyLength;
}

Result<Verifier> Verifier::Parse(std::string_view text) {
  auto invalid = [](const char* why) {
    return Status::InvalidArgument(std::string("not a SCRAM-SHA-256 verifier: ") + why);
  };
  if (!text.starts_with(kVerifierPrefix)) return invalid("no SCRAM-SHA-256$ prefix");
  text.remove_prefix(kVerifierPrefix.size());
  size_t dollar = text.find('$');
  if (dollar == std::string_view::npos) return invalid("no '$' before the keys");
  std::string_view parameters = text.substr(0, dollar);
  std::string_view keys = text.substr(dollar + 1);
  size_t parameters_colon = parameters.find(':');
  size_t keys_colon = keys.find(':');
  if (parameters_colon == std::string_view::npos || keys_colon == std::string_view::npos) {
    return invalid("':' missing");
  }

  Verifier verifier;
  std::string_view iterations = parameters.substr(0, parameters_colon);
  auto [end, error] = std::from_chars(iterations.data(), iterations.data() + iterations.size(),
                                      verifier.iterations);
  if (iterations.empty() || error != std::errc() || end != iterations.data() + iterations.size()) {
    return invalid("iteration count is not a number");
  }
  std::optional<std::string> salt = base64_decode(parameters.substr(parameters_colon + 1));
  std::optional<std::string> stored_key = base64_decode(keys.substr(0, keys_colon));
  std::optional<std::string> server_key = base64_decode(keys.substr(keys_colon + 1));
  if (!salt || !stored_key || !server_key) return invalid("bad base64");
  verifier.salt = std::move(*salt);
  verifier.stored_key = std::move(*stored_key);
  verifier.server_key = std::move(*server_key);
  if (!verifier.IsWellFormed()) return invalid("bad iteration count, salt or key length");
  return verifier;
}

Result<Verifier> Verifier::FromPassword(std::string_view password, int iterations) {
  Result<std::string> salt = random_bytes(kDefaultSaltLength);
  if (!salt.ok()) return salt.status();
  return FromPasswordAndSalt(password, *salt, iterations);
}

Result<Verifier> Verifier::FromPasswordAndSalt(std::string_view password, std::string_view salt,
                                               int iterations) {
  if (password.empty()) return Status::InvalidArgument("empty password");
  if (password.size() > kMaxPasswordLength) {
    return Status::InvalidArgument("password longer than " + std::to_string(kMaxPasswordLength) +
                                   " bytes");
  }
  if (salt.empty()) return Status::InvalidArgument("empty salt");
  if (iterations <= 0) return Status::InvalidArgument("iteration count must be positive");

  std::string prepared = normalize_password(password);
  std::string salted_password(kKeyLength, '\0');
  if (PKCS5_PBKDF2_HMAC(prepared.data(), static_cast<int>(prepared.size()), bytes_of(salt),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(kKeyLength),
                        reinterpret_cast<unsigned char*>(salted_password.data())) != 1) {
    return Status::Internal("PBKDF2-HMAC-SHA-256 failed");
  }
  Result<std::string> client_key = hmac_sha256(salted_password, "Client Key");
  if (!client_key.ok()) return client_key.status();
  Result<std::string> stored_key = sha256(*client_key);
  if (!stored_key.ok()) return stored_key.status();
  Result<std::string> server_key = hmac_sha256(salted_password, "Server Key");
  if (!server_key.ok()) return server_key.status();
  return Verifier{iterations, std::string(salt), std::move(*stored_key), std::move(*server_key)};
}

Result<std::string> tls_server_end_point(X509* server_cert) {
  if (server_cert == nullptr) return Status::InvalidArgument("no server certificate");
  int digest_nid = NID_undef;
  if (OBJ_find_sigid_algs(X509_get_signature_nid(server_cert), &digest_nid, nullptr) != 1) {
    return Status::InvalidArgument("unknown signature algorithm of the server certificate");
  }
  // RFC 5929 section 4.1: MD5 and SHA-1 give way to SHA-256.
  const EVP_MD* digest = digest_nid == NID_md5 || digest_nid == NID_sha1
                             ? EVP_sha256()
                             : EVP_get_digestbynid(digest_nid);
  if (digest == nullptr) {
    return Status::InvalidArgument(
        "the server certificate's signature algorithm names no digest for channel binding");
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> hash{};
  unsigned int length = 0;
  if (X509_digest(server_cert, digest, hash.data(), &length) != 1) {
    return Status::Internal("could not hash the server certificate");
  }
  return std::string(reinterpret_cast<const char*>(hash.data()), length);
}

Verifier mock_verifier(std::string_view mock_secret, std::string_view role, int iterations) {
  // HMAC keyed with the secret: without it nobody can tell a mock salt from
  // a real one. The labels keep the three values independent.
  auto derive = [&](std::string_view label) {
    Result<std::string> value = hmac_sha256(mock_secret, std::string(label) + std::string(role));
    return value.ok() ? std::move(value).value() : std::string(kKeyLength, '\0');
  };
  return Verifier{iterations, derive("mock salt:").substr(0, kDefaultSaltLength),
                  derive("mock stored key:"), derive("mock server key:")};
}

bool is_protocol_violation(const Status& status) {
  return status.code() == StatusCode::kInvalidArgument;
}

bool is_authentication_failure(const Status& status) {
  return status.code() == StatusCode::kUnauthenticated;
}

ServerExchange::ServerExchange(std::optional<Verifier> verifier, std::string_view role,
                               std::string_view mock_secret, ChannelBinding binding,
                               NonceSource server_nonce)
    : verifier_(verifier ? std::move(*verifier) : mock_verifier(mock_secret, role)),
      role_exists_(verifier.has_value()),
      binding_(std::move(binding)),
      server_nonce_(server_nonce ? std::move(server_nonce) : random_server_nonce) {}

std::vector<std::string> ServerExchange::Mechanisms() const {
  std::vector<std::string> mechanisms;
  if (binding_.offered()) mechanisms.emplace_back(kMechanismPlus);
  mechanisms.emplace_back(kMechanism);
  return mechanisms;
}

Result<std::string> ServerExchange::HandleInitial(std::string_view mechanism,
                                                  std::string_view client_first) {
  if (stage_ != Stage::kAwaitingInitial) {
    stage_ = Stage::kFailed;
    return Status::Internal("SCRAM client-first-message out of turn");
  }
  Result<std::string> server_first = ReadInitial(mechanism, client_first);
  stage_ = server_first.ok() ? Stage::kAwaitingFinal : Stage::kFailed;
  return server_first;
}

Result<std::string> ServerExchange::ReadInitial(std::string_view mechanism,
                                                std::string_view client_first) {
  if (mechanism == kMechanismPlus && binding_.offered()) {
    uses_binding_ = true;
  } else if (mechanism != kMechanism) {
    return Status::InvalidArgument("client selected an invalid SASL authentication mechanism");
  }
  if (client_first.find('\0') != std::string_view::npos) return malformed("NUL byte in message");
  if (client_first.empty()) return malformed("empty client-first-message");

  // gs2-header: the channel binding flag, then the authzid (none allowed).
  size_t position = 1;
  switch (client_first[0]) {
    case 'n':
      if (uses_binding_) {
        return malformed(
            "the client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include "
            "channel binding data");
      }
      break;
    case 'y':
      if (uses_binding_) {
        return malformed(
            "the client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include "
            "channel binding data");
      }
      // The client could bind but believes the server cannot: someone in
      // between stripped SCRAM-SHA-256-PLUS from the mechanisms we sent.
      if (binding_.offered()) {
        return Status::InvalidArgument(
            "SCRAM channel binding negotiation error: the client supports SCRAM channel binding "
            "but thinks the server does not; however, this server does support channel binding");
      }
      break;
    case 'p': {
      if (!uses_binding_) {
        return malformed(
            "the client selected SCRAM-SHA-256 without channel binding, but the SCRAM message "
            "includes channel binding data");
      }
      if (client_first.size() < 2 || client_first[1] != '=') return malformed("'=' expected");
      size_t comma = client_first.find(',', 2);
      std::string_view type = client_first.substr(
          2, comma == std::string_view::npos ? std::string_view::npos : comma - 2);
      if (type != kTlsServerEndPoint) {
        return Status::InvalidArgument("unsupported SCRAM channel-binding type \"" +
                                       std::string(type) + "\"");
      }
      position = 2 + type.size();
      break;
    }
    default:
      return malformed("unexpected channel-binding flag");
  }
  if (position >= client_first.size() || client_first[position] != ',') {
    return malformed("',' expected after the channel-binding flag");
  }
  ++position;
  if (position < client_first.size() && client_first[position] == 'a') {
    return Status::InvalidArgument("client uses authorization identity, but it is not supported");
  }
  if (position >= client_first.size() || client_first[position] != ',') {
    return malformed("',' expected after the authorization identity");
  }
  ++position;
  gs2_header_ = std::string(client_first.substr(0, position));
  client_first_bare_ = std::string(client_first.substr(position));

  AttributeReader reader(client_first_bare_);
  if (!reader.AtEnd() && client_first_bare_[0] == 'm') {
    return Status::InvalidArgument("client requires an unsupported SCRAM extension");
  }
  // PostgreSQL ignores the user name here: the startup packet's counts.
  Result<std::string_view> user = reader.Expect('n');
  if (!user.ok()) return user.status();
  Result<std::string_view> client_nonce = reader.Expect('r');
  if (!client_nonce.ok()) return client_nonce.status();
  if (!is_printable_nonce(*client_nonce)) {
    return malformed("non-printable characters in SCRAM nonce");
  }
  while (!reader.AtEnd()) {  // optional extensions: ignored
    Result<std::pair<char, std::string_view>> extension = reader.Next();
    if (!extension.ok()) return extension.status();
  }

  Result<std::string> server_nonce = server_nonce_();
  if (!server_nonce.ok()) return server_nonce.status();
  if (!is_printable_nonce(*server_nonce)) return Status::Internal("unprintable server nonce");
  nonce_ = std::string(*client_nonce) + *server_nonce;
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(verifier_.salt) +
                  ",i=" + std::to_string(verifier_.iterations);
  return server_first_;
}

Result<std::string> ServerExchange::HandleFinal(std::string_view client_final) {
  if (stage_ != Stage::kAwaitingFinal) {
    stage_ = Stage::kFailed;
    return Status::Internal("SCRAM client-final-message out of turn");
  }
  Result<std::string> server_final = ReadFinal(client_final);
  stage_ = server_final.ok() ? Stage::kSucceeded : Stage::kFailed;
  return server_final;
}

Result<std::string> ServerExchange::ReadFinal(std::string_view client_final) {
  if (client_final.find('\0') != std::string_view::npos) return malformed("NUL byte in message");
  AttributeReader reader(client_final);

  // c=: the gs2 header again, with the certificate hash when binding. A
  // different hash means another certificate than ours reached the client:
  // a man in the middle.
  Result<std::string_view> channel_binding = reader.Expect('c');
  if (!channel_binding.ok()) return channel_binding.status();
  std::string expected_binding =
      base64_encode(gs2_header_ + (uses_binding_ ? binding_.certificate_hash : ""));
  if (*channel_binding != expected_binding) {
    if (uses_binding_) return Status::Unauthenticated("SCRAM channel binding check failed");
    return Status::InvalidArgument(
        "unexpected SCRAM channel-binding attribute in client-final-message");
  }

  Result<std::string_view> nonce = reader.Expect('r');
  if (!nonce.ok()) return nonce.status();
  if (*nonce != nonce_) return Status::InvalidArgument("invalid SCRAM response: nonce mismatch");

  // Extensions (ignored) up to the proof, which ends the message.
  std::optional<std::string> proof;
  size_t proof_start = 0;
  while (!proof) {
    proof_start = reader.position();
    Result<std::pair<char, std::string_view>> attribute = reader.Next();
    if (!attribute.ok()) return attribute.status();
    if (attribute->first != 'p') continue;
    proof = base64_decode(attribute->second);
    if (!proof || proof->size() != kKeyLength) {
      return malformed("malformed proof in client-final-message");
    }
  }
  if (!reader.AtEnd()) return malformed("garbage found at the end of client-final-message");

  // proof_start is just past the ',' before "p=".
  std::string_view final_without_proof = client_final.substr(0, proof_start - 1);
  std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(final_without_proof);

  // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); it must hash
  // to StoredKey. The mock runs the same steps so it takes as long.
  Result<std::string> client_signature = hmac_sha256(verifier_.stored_key, auth_message);
  if (!client_signature.ok()) return client_signature.status();
  Result<std::string> stored_key = sha256(xor_bytes(*proof, *client_signature));
  if (!stored_key.ok()) return stored_key.status();
  bool proof_matches =
      CRYPTO_memcmp(stored_key->data(), verifier_.stored_key.data(), kKeyLength) == 0;
  if (!role_exists_) return Status::Unauthenticated("role does not exist (mock authentication)");
  if (!proof_matches) return Status::Unauthenticated("wrong password (SCRAM proof mismatch)");

  Result<std::string> server_signature = hmac_sha256(verifier_.server_key, auth_message);
  if (!server_signature.ok()) return server_signature.status();
  return "v=" + base64_encode(*server_signature);
}

}  // namespace pgthaw::server::scram
