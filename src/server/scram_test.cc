#include "server/scram.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace pgthaw::server::scram {
namespace {

// RFC 7677 section 3.
constexpr char kRfcClientNonce[] = "rOprNGfwEbeRWgbNEkqO";
constexpr char kRfcServerNonce[] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr char kRfcSalt[] = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr char kRfcServerFirst[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr char kRfcClientFinal[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr char kRfcServerFinal[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

constexpr char kMockSecret[] = "server-wide mock secret";

ServerExchange::NonceSource fixed_nonce(std::string nonce) {
  return [nonce] { return Result<std::string>(nonce); };
}

Verifier rfc_verifier() {
  Result<Verifier> verifier =
      Verifier::FromPasswordAndSalt("pencil", *base64_decode(kRfcSalt), 4096);
  EXPECT_TRUE(verifier.ok()) << verifier.status().ToString();
  return *verifier;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<char*>(out), length);
}

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out, &length, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), length);
}

// The client's side of an exchange, written from RFC 5802 section 3 with
// nothing shared with the server's code but base64 and normalize_password.
struct TestClient {
  std::string password;
  std::string gs2_header = "n,,";
  std::string certificate_hash{};  // for p=tls-server-end-point
  std::string client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
  std::string final_extension{};  // e.g. ",x=1", signed with the rest

  std::string ClientFirstBare() const { return "n=,r=" + client_nonce; }
  std::string ClientFirst() const { return gs2_header + ClientFirstBare(); }

  // The client-final-message answering `server_first`; the server-final the
  // client then expects goes to `server_final`.
  std::string ClientFinal(const std::string& server_first, std::string* server_final) const {
    std::string nonce, salt;
    int iterations = 0;
    size_t start = 0;
    while (start < server_first.size()) {
      size_t comma = server_first.find(',', start);
      if (comma == std::string::npos) comma = server_first.size();
      std::string attribute = server_first.substr(start, comma - start);
      if (attribute[0] == 'r') nonce = attribute.substr(2);
      if (attribute[0] == 's') salt = *base64_decode(attribute.substr(2));
      if (attribute[0] == 'i') iterations = std::stoi(attribute.substr(2));
      start = comma + 1;
    }
    std::string prepared = normalize_password(password);
    unsigned char salted[32];
    PKCS5_PBKDF2_HMAC(prepared.data(), static_cast<int>(prepared.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()),
                      static_cast<int>(salt.size()), iterations, EVP_sha256(), 32, salted);
    std::string salted_password(reinterpret_cast<char*>(salted), 32);
    std::string client_key = hmac(salted_password, "Client Key");
    std::string stored_key = digest(EVP_sha256(), client_key);
    std::string without_proof =
        "c=" + base64_encode(gs2_header + certificate_hash) + ",r=" + nonce + final_extension;
    std::string auth_message = ClientFirstBare() + "," + server_first + "," + without_proof;
    std::string proof = client_key;
    std::string signature = hmac(stored_key, auth_message);
    for (size_t i = 0; i < proof.size(); ++i) proof[i] ^= signature[i];
    if (server_final != nullptr) {
      *server_final = "v=" + base64_encode(hmac(hmac(salted_password, "Server Key"), auth_message));
    }
    return without_proof + ",p=" + base64_encode(proof);
  }
};

// A self-signed certificate signed with `md`, for channel binding.
struct TestCertificate {
  std::unique_ptr<X509, decltype(&X509_free)> cert{nullptr, X509_free};

  explicit TestCertificate(const EVP_MD* md) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    cert.reset(X509_new());
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("pgthaw test"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key);
    X509_sign(cert.get(), key, md);
    EVP_PKEY_free(key);
  }

  std::string Der() const {
    unsigned char* der = nullptr;
    int length = i2d_X509(cert.get(), &der);
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(length));
    OPENSSL_free(der);
    return out;
  }
};

TEST(Scram, Rfc7677ExampleExchange) {
  ServerExchange exchange(rfc_verifier(), "user", kMockSecret, ChannelBinding::None(),
                          fixed_nonce(kRfcServerNonce));
  EXPECT_EQ(exchange.Mechanisms(), std::vector<std::string>{"SCRAM-SHA-256"});
  Result<std::string> server_first =
      exchange.HandleInitial("SCRAM-SHA-256", std::string("n,,n=user,r=") + kRfcClientNonce);
  ASSERT_TRUE(server_first.ok()) << server_first.status().ToString();
  EXPECT_EQ(*server_first, kRfcServerFirst);
  Result<std::string> server_final = exchange.HandleFinal(kRfcClientFinal);
  ASSERT_TRUE(server_final.ok()) << server_final.status().ToString();
  EXPECT_EQ(*server_final, kRfcServerFinal);
  EXPECT_TRUE(exchange.Succeeded());
}

TEST(Scram, DefaultServerNonceIs18RandomBytesInBase64) {
  ServerExchange exchange(rfc_verifier(), "user", kMockSecret, ChannelBinding::None());
  Result<std::string> server_first = exchange.HandleInitial("SCRAM-SHA-256", "n,,n=,r=abc");
  ASSERT_TRUE(server_first.ok());
  std::string nonce = server_first->substr(2, server_first->find(',') - 2);
  ASSERT_TRUE(nonce.starts_with("abc"));
  std::optional<std::string> raw = base64_decode(nonce.substr(3));
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->size(), 18u);
}

TEST(Scram, VerifierRoundTripsThroughText) {
  Verifier verifier = rfc_verifier();
  std::string text = verifier.ToString();
  EXPECT_TRUE(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")) << text;
  Result<Verifier> parsed = Verifier::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, verifier);

  Result<Verifier> random_salt = Verifier::FromPassword("pencil");
  ASSERT_TRUE(random_salt.ok());
  EXPECT_EQ(random_salt->salt.size(), 16u);
  EXPECT_EQ(random_salt->iterations, 4096);
  EXPECT_NE(random_salt->salt, verifier.salt);
}

TEST(Scram, ParseRejectsMalformedVerifiers) {
  std::string good = rfc_verifier().ToString();
  std::string keys = good.substr(good.find('$', 14));
  for (std::string bad : {
           std::string(""),
           std::string("md5c0ffee"),
           "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$40x6:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$4096:" + keys,
           "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ" + keys,  // padding missing
           "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           std::string("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA"),  // keys too short
           good.substr(0, good.size() - 4),
           good + "$",
       }) {
    Result<Verifier> parsed = Verifier::Parse(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(Scram, LibpqVerifierParsesAndAuthenticates) {
  // PQencryptPasswordConn needs a PGconn but, given the algorithm, never
  // talks to the server: a connection that failed is enough.
  PGconn* conn = PQconnectdb("host=/nonexistent-pgthaw-test-dir connect_timeout=1");
  ASSERT_NE(conn, nullptr);
  char* encrypted = PQencryptPasswordConn(conn, "pencil", "user", "scram-sha-256");
  ASSERT_NE(encrypted, nullptr) << PQerrorMessage(conn);
  std::string text = encrypted;
  PQfreemem(encrypted);
  PQfinish(conn);

  Result<Verifier> verifier = Verifier::Parse(text);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  EXPECT_EQ(verifier->ToString(), text);
  // The same password and salt give the same keys here as in libpq.
  Result<Verifier> ours =
      Verifier::FromPasswordAndSalt("pencil", verifier->salt, verifier->iterations);
  ASSERT_TRUE(ours.ok());
  EXPECT_EQ(*ours, *verifier);

  ServerExchange exchange(*verifier, "user", kMockSecret, ChannelBinding::None());
  TestClient client{.password = "pencil"};
  Result<std::string> server_first = exchange.HandleInitial("SCRAM-SHA-256", client.ClientFirst());
  ASSERT_TRUE(server_first.ok());
  std::string expected_final;
  Result<std::string> server_final =
      exchange.HandleFinal(client.ClientFinal(*server_first, &expected_final));
  ASSERT_TRUE(server_final.ok()) << server_final.status().ToString();
  EXPECT_EQ(*server_final, expected_final);
}

TEST(Scram, WrongPasswordIsAnAuthenticationFailure) {
  ServerExchange exchange(rfc_verifier(), "user", kMockSecret, ChannelBinding::None());
  TestClient client{.password = "pencils"};
  Result<std::string> server_first = exchange.HandleInitial("SCRAM-SHA-256", client.ClientFirst());
  ASSERT_TRUE(server_first.ok());
  Result<std::string> server_final =
      exchange.HandleFinal(client.ClientFinal(*server_first, nullptr));
  ASSERT_FALSE(server_final.ok());
  EXPECT_TRUE(is_authentication_failure(server_final.status()));
  EXPECT_FALSE(is_protocol_violation(server_final.status()));
  EXPECT_FALSE(exchange.Succeeded());
}

TEST(Scram, UnknownRoleRunsAMockExchangeThatFails) {
  auto server_first_for = [](const std::string& role) {
    ServerExchange exchange(std::nullopt, role, kMockSecret, ChannelBinding::None(),
                            fixed_nonce("servernonce"));
    return exchange.HandleInitial("SCRAM-SHA-256", "n,,n=,r=clientnonce").value();
  };
  // The same salt every time for one role, another for another role.
  std::string first = server_first_for("ghost");
  EXPECT_EQ(first, server_first_for("ghost"));
  EXPECT_NE(first, server_first_for("phantom"));
  EXPECT_TRUE(first.starts_with("r=clientnonceservernonce,s=")) << first;
  EXPECT_TRUE(first.ends_with(",i=4096")) << first;
  std::string salt = first.substr(first.find(",s=") + 3);
  salt = salt.substr(0, salt.find(','));
  EXPECT_EQ(base64_decode(salt)->size(), 16u);

  ServerExchange exchange(std::nullopt, "ghost", kMockSecret, ChannelBinding::None());
  TestClient client{.password = "anything"};
  Result<std::string> server_first = exchange.HandleInitial("SCRAM-SHA-256", client.ClientFirst());
  ASSERT_TRUE(server_first.ok());
  Result<std::string> server_final =
      exchange.HandleFinal(client.ClientFinal(*server_first, nullptr));
  ASSERT_FALSE(server_final.ok());
  EXPECT_TRUE(is_authentication_failure(server_final.status()));
}

TEST(Scram, ChannelBindingWithTheRightCertificateHashSucceeds) {
  TestCertificate certificate(EVP_sha256());
  Result<std::string> hash = tls_server_end_point(certificate.cert.get());
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  EXPECT_EQ(*hash, digest(EVP_sha256(), certificate.Der()));

  ServerExchange exchange(rfc_verifier(), "user", kMockSecret,
                          ChannelBinding::TlsServerEndPoint(*hash));
  EXPECT_EQ(exchange.Mechanisms(),
            (std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}));
  TestClient client{
      .password = "pencil", .gs2_header = "p=tls-server-end-point,,", .certificate_hash = *hash};
  Result<std::string> server_first =
      exchange.HandleInitial("SCRAM-SHA-256-PLUS", client.ClientFirst());
  ASSERT_TRUE(server_first.ok()) << server_first.status().ToString();
  std::string expected_final;
  Result<std::string> server_final =
      exchange.HandleFinal(client.ClientFinal(*server_first, &expected_final));
  ASSERT_TRUE(server_final.ok()) << server_final.status().ToString();
  EXPECT_EQ(*server_final, expected_final);
}

TEST(Scram, ChannelBindingWithAnotherCertificateHashFails) {
  TestCertificate ours(EVP_sha256());
  TestCertificate theirs(EVP_sha256());  // what a man in the middle showed the client
  ServerExchange exchange(
      rfc_verifier(), "user", kMockSecret,
      ChannelBinding::TlsServerEndPoint(tls_server_end_point(ours.cert.get()).value()));
  TestClient client{.password = "pencil",
                    .gs2_header = "p=tls-server-end-point,,",
                    .certificate_hash = tls_server_end_point(theirs.cert.get()).value()};
  Result<std::string> server_first =
      exchange.HandleInitial("SCRAM-SHA-256-PLUS", client.ClientFirst());
  ASSERT_TRUE(server_first.ok());
  Result<std::string> server_final =
      exchange.HandleFinal(client.ClientFinal(*server_first, nullptr));
  ASSERT_FALSE(server_final.ok());
  EXPECT_TRUE(is_authentication_failure(server_final.status()));
}

TEST(Scram, CertificateHashFollowsTheSignatureDigest) {
  TestCertificate sha384(EVP_sha384());
  EXPECT_EQ(tls_server_end_point(sha384.cert.get()).value(), digest(EVP_sha384(), sha384.Der()));
  // SHA-1 signatures bind with SHA-256 (RFC 5929 section 4.1).
  TestCertificate sha1(EVP_sha1());
  EXPECT_EQ(tls_server_end_point(sha1.cert.get()).value(), digest(EVP_sha256(), sha1.Der()));
  EXPECT_FALSE(tls_server_end_point(nullptr).ok());
}

TEST(Scram, ClientThatThinksTheServerCannotBindIsRefusedWhenItCan) {
  ChannelBinding binding = ChannelBinding::TlsServerEndPoint(std::string(32, 'h'));
  ServerExchange downgraded(rfc_verifier(), "user", kMockSecret, binding);
  Result<std::string> server_first = downgraded.HandleInitial("SCRAM-SHA-256", "y,,n=,r=abc");
  ASSERT_FALSE(server_first.ok());
  EXPECT_TRUE(is_protocol_violation(server_first.status()));

  // Without TLS on offer 'y' is the truth, and fine.
  ServerExchange plain(rfc_verifier(), "user", kMockSecret, ChannelBinding::None());
  TestClient client{.password = "pencil", .gs2_header = "y,,"};
  server_first = plain.HandleInitial("SCRAM-SHA-256", client.ClientFirst());
  ASSERT_TRUE(server_first.ok()) << server_first.status().ToString();
  EXPECT_TRUE(plain.HandleFinal(client.ClientFinal(*server_first, nullptr)).ok());
}

TEST(Scram, GsTwoHeaderRulesAreEnforced) {
  ChannelBinding tls = ChannelBinding::TlsServerEndPoint(std::string(32, 'h'));
  struct Case {
    ChannelBinding binding;
    const char* mechanism;
    const char* client_first;
  };
  for (const Case& c : {
           Case{tls, "SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abc"},  // p without PLUS
           Case{tls, "SCRAM-SHA-256-PLUS", "n,,n=,r=abc"},                  // PLUS without p
           Case{tls, "SCRAM-SHA-256-PLUS", "y,,n=,r=abc"},
           Case{tls, "SCRAM-SHA-256-PLUS", "p=tls-unique,,n=,r=abc"},
           Case{ChannelBinding::None(), "SCRAM-SHA-256-PLUS",
                "p=tls-server-end-point,,n=,r=abc"},  // PLUS not offered
           Case{ChannelBinding::None(), "SCRAM-SHA-1", "n,,n=,r=abc"},
           Case{ChannelBinding::None(), "SCRAM-SHA-256", "n,a=admin,n=,r=abc"},  // authzid
           Case{ChannelBinding::None(), "SCRAM-SHA-256", "n,,m=ext,n=,r=abc"},   // mandatory ext.
           Case{ChannelBinding::None(), "SCRAM-SHA-256", "x,,n=,r=abc"},
           Case{ChannelBinding::None(), "SCRAM-SHA-256", "n,n=,r=abc"},
           Case{ChannelBinding::None(), "SCRAM-SHA-256",
                "n,,n=,r=a\x01"
                "bc"},  // unprintable nonce
           Case{ChannelBinding::None(), "SCRAM-SHA-256", "n,,n=,r="},
           Case{ChannelBinding::None(), "SCRAM-SHA-256", "n,,n="},
           Case{ChannelBinding::None(), "SCRAM-SHA-256", "n,,r=abc"},
           Case{ChannelBinding::None(), "SCRAM-SHA-256", "n,,n=,r=abc,"},
           Case{ChannelBinding::None(), "SCRAM-SHA-256", "n,,n=,r=abc,1=x"},
           Case{ChannelBinding::None(), "SCRAM-SHA-256", ""},
       }) {
    ServerExchange exchange(rfc_verifier(), "user", kMockSecret, c.binding);
    Result<std::string> server_first = exchange.HandleInitial(c.mechanism, c.client_first);
    ASSERT_FALSE(server_first.ok()) << c.mechanism << " " << c.client_first;
    EXPECT_TRUE(is_protocol_violation(server_first.status()))
        << c.client_first << ": " << server_first.status().ToString();
  }
  // A NUL inside the message.
  ServerExchange exchange(rfc_verifier(), "user", kMockSecret, ChannelBinding::None());
  EXPECT_TRUE(is_protocol_violation(
      exchange.HandleInitial("SCRAM-SHA-256", std::string("n,,n=\0,r=abc", 12)).status()));
}

TEST(Scram, UserNameAndExtensionsInClientFirstAreIgnored) {
  ServerExchange exchange(rfc_verifier(), "user", kMockSecret, ChannelBinding::None(),
                          fixed_nonce("srv"));
  Result<std::string> server_first =
      exchange.HandleInitial("SCRAM-SHA-256", "n,,n=someone=2Celse,r=abc,x=extension");
  ASSERT_TRUE(server_first.ok()) << server_first.status().ToString();
  EXPECT_TRUE(server_first->starts_with("r=abcsrv,"));
}

TEST(Scram, MalformedClientFinalIsAProtocolViolation) {
  TestClient client{.password = "pencil"};
  std::string nonce_prefix = "r=" + client.client_nonce + "srv";
  std::string proof = ",p=" + base64_encode(std::string(32, 'x'));
  for (std::string bad : {
           std::string(""),
           "r=" + client.client_nonce + "srv" + proof,           // c= missing
           "c=eSws," + nonce_prefix + proof,                     // y,, after n,,
           "c=biws,r=" + client.client_nonce + "other" + proof,  // nonce mismatch
           "c=biws," + nonce_prefix,                             // proof missing
           "c=biws," + nonce_prefix + ",p=" + base64_encode("short"),
           "c=biws," + nonce_prefix + ",p=not base64!",
           "c=biws," + nonce_prefix + proof + ",x=after",
           "c=biws," + nonce_prefix + proof + ",",
       }) {
    ServerExchange exchange(rfc_verifier(), "user", kMockSecret, ChannelBinding::None(),
                            fixed_nonce("srv"));
    ASSERT_TRUE(exchange.HandleInitial("SCRAM-SHA-256", client.ClientFirst()).ok());
    Result<std::string> server_final = exchange.HandleFinal(bad);
    ASSERT_FALSE(server_final.ok()) << bad;
    EXPECT_TRUE(is_protocol_violation(server_final.status()))
        << bad << ": " << server_final.status().ToString();
  }
}

TEST(Scram, ExtensionBeforeTheProofIsIgnoredButSigned) {
  TestClient client{.password = "pencil", .final_extension = ",x=1"};
  {
    ServerExchange exchange(rfc_verifier(), "user", kMockSecret, ChannelBinding::None());
    Result<std::string> server_first =
        exchange.HandleInitial("SCRAM-SHA-256", client.ClientFirst());
    ASSERT_TRUE(server_first.ok());
    Result<std::string> server_final =
        exchange.HandleFinal(client.ClientFinal(*server_first, nullptr));
    EXPECT_TRUE(server_final.ok()) << server_final.status().ToString();
  }
  // The proof covers everything before it: an extension spliced in by
  // someone else breaks it.
  client.final_extension = "";
  ServerExchange exchange(rfc_verifier(), "user", kMockSecret, ChannelBinding::None());
  Result<std::string> server_first = exchange.HandleInitial("SCRAM-SHA-256", client.ClientFirst());
  ASSERT_TRUE(server_first.ok());
  std::string final_message = client.ClientFinal(*server_first, nullptr);
  size_t proof = final_message.find(",p=");
  std::string spliced = final_message.substr(0, proof) + ",x=1" + final_message.substr(proof);
  Result<std::string> server_final = exchange.HandleFinal(spliced);
  ASSERT_FALSE(server_final.ok());
  EXPECT_TRUE(is_authentication_failure(server_final.status()));
}

TEST(Scram, MessagesOutOfTurnFail) {
  ServerExchange exchange(rfc_verifier(), "user", kMockSecret, ChannelBinding::None());
  EXPECT_FALSE(exchange.HandleFinal(kRfcClientFinal).ok());
  EXPECT_FALSE(exchange.HandleInitial("SCRAM-SHA-256", "n,,n=,r=abc").ok());
}

TEST(Scram, SaslPrepNormalisesPasswords) {
  // U+00A0 NO-BREAK SPACE maps to ' '; U+00AD SOFT HYPHEN to nothing.
  EXPECT_EQ(normalize_password("a\u00A0b"), "a b");
  EXPECT_EQ(normalize_password("I\u00ADX"), "IX");
  // NFKC: U+2168 ROMAN NUMERAL NINE is "IX"; U+00AA FEMININE ORDINAL is "a".
  EXPECT_EQ(normalize_password("\u2168"), "IX");
  EXPECT_EQ(normalize_password("\u00AA"), "a");
  EXPECT_EQ(normalize_password("pencil"), "pencil");
  // Refused by SASLprep, so the raw bytes: a prohibited control character
  // (U+0080), invalid UTF-8, an unassigned code point (U+0221 in Unicode
  // 3.2), a bidi violation, and a password that maps to nothing.
  for (std::string raw : {std::string("a\u0080b"),
                          std::string("a\xff"
                                      "b"),
                          std::string("a\u0221b"),
                          std::string("\u0627"
                                      "1"),
                          std::string("\u00AD")}) {
    EXPECT_EQ(normalize_password(raw), raw);
  }
  // The verifier hashes the normalised form.
  std::string salt = *base64_decode(kRfcSalt);
  EXPECT_EQ(Verifier::FromPasswordAndSalt("pen\u00ADcil", salt, 4096).value(), rfc_verifier());
}

TEST(Scram, FromPasswordRefusesEmptyAndOverlongPasswords) {
  EXPECT_EQ(Verifier::FromPassword("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Verifier::FromPassword(std::string(kMaxPasswordLength + 1, 'x'), 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(Verifier::FromPassword(std::string(kMaxPasswordLength, 'x'), 1).ok());
  EXPECT_EQ(Verifier::FromPassword("x", 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(Scram, Base64IsStrict) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(*base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(*base64_decode(""), "");
  for (const char* bad :
       {"Zg", "Zg=", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n", "=Zm9", "Zg==Zg=="}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

}  // namespace
}  // namespace pgthaw::server::scram
