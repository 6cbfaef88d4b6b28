// The access policy on its own (http_access.h): hosts, origins, media types,
// bearer tokens and what each refusal looks like. No server, no sockets.
#include "server/http_access.h"

#include <gtest/gtest.h>

#include "engine/test_support.h"

namespace pgthaw::server {
namespace {

namespace ip = boost::asio::ip;

ip::tcp::endpoint at(const char* address, unsigned short port) {
  return ip::tcp::endpoint(ip::make_address(address), port);
}

const ip::tcp::endpoint kLoopback = at("127.0.0.1", 8787);

TEST(HostAllowed, TheListenersOwnAddressWithItsPort) {
  EXPECT_TRUE(host_allowed("127.0.0.1:8787", kLoopback, {}));
  EXPECT_TRUE(host_allowed("10.1.2.3:8787", at("10.1.2.3", 8787), {}));
  EXPECT_TRUE(host_allowed("[fd00::1]:8787", at("fd00::1", 8787), {}));
  EXPECT_FALSE(host_allowed("127.0.0.1:8788", kLoopback, {}));
  EXPECT_FALSE(host_allowed("127.0.0.1", kLoopback, {})) << "no port is port 80";
  EXPECT_TRUE(host_allowed("10.1.2.3", at("10.1.2.3", 80), {}));
  EXPECT_FALSE(host_allowed("10.1.2.4:8787", at("10.1.2.3", 8787), {}));
}

TEST(HostAllowed, LoopbackAlsoAnswersToLocalhostNames) {
  for (const char* host : {"localhost:8787", "LocalHost:8787", "127.0.0.1:8787", "[::1]:8787"}) {
    EXPECT_TRUE(host_allowed(host, kLoopback, {})) << host;
    EXPECT_TRUE(host_allowed(host, at("::1", 8787), {})) << host;
  }
  EXPECT_FALSE(host_allowed("localhost:8787", at("10.1.2.3", 8787), {}));
  // A dual-stack socket sees an IPv4 client's address as IPv4-mapped.
  EXPECT_TRUE(host_allowed("10.1.2.3:8787", at("::ffff:10.1.2.3", 8787), {}));
}

TEST(HostAllowed, ARebindingNameIsRefused) {
  EXPECT_FALSE(host_allowed("evil.example:8787", kLoopback, {}));
  EXPECT_FALSE(host_allowed("localhost.evil.example:8787", kLoopback, {}));
  EXPECT_FALSE(host_allowed("", kLoopback, {}));
  EXPECT_FALSE(host_allowed(":8787", kLoopback, {}));
  EXPECT_FALSE(host_allowed("127.0.0.1:87x", kLoopback, {}));
  EXPECT_FALSE(host_allowed("[::1:8787", kLoopback, {}));
}

TEST(HostAllowed, AllowListEntriesWithOrWithoutPort) {
  std::vector<std::string> allowed = {"db.internal", "proxy.example:443", "[fd00::7]:8787"};
  EXPECT_TRUE(host_allowed("db.internal:8787", kLoopback, allowed));
  EXPECT_TRUE(host_allowed("DB.Internal", kLoopback, allowed));
  EXPECT_TRUE(host_allowed("proxy.example:443", kLoopback, allowed));
  EXPECT_FALSE(host_allowed("proxy.example:8787", kLoopback, allowed));
  EXPECT_FALSE(host_allowed("proxy.example", kLoopback, allowed));
  EXPECT_TRUE(host_allowed("[fd00::7]:8787", kLoopback, allowed));
  EXPECT_FALSE(host_allowed("other.internal:8787", kLoopback, allowed));
}

TEST(OriginAllowed, ExactEntriesOnlyAndNeverNull) {
  std::vector<std::string> allowed = {"https://app.example.com", "null"};
  EXPECT_TRUE(origin_allowed("https://app.example.com", allowed));
  EXPECT_FALSE(origin_allowed("https://app.example.com:443", allowed));
  EXPECT_FALSE(origin_allowed("http://app.example.com", allowed));
  EXPECT_FALSE(origin_allowed("https://app.example.com.evil", allowed));
  EXPECT_FALSE(origin_allowed("null", allowed));
  EXPECT_FALSE(origin_allowed("https://app.example.com", {}));
}

TEST(JsonMediaType, ParametersAndCaseAreFine) {
  EXPECT_TRUE(is_json_media_type("application/json"));
  EXPECT_TRUE(is_json_media_type("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(is_json_media_type(" application/json ;charset=UTF-8"));
  EXPECT_FALSE(is_json_media_type("text/plain"));
  EXPECT_FALSE(is_json_media_type("application/x-www-form-urlencoded"));
  EXPECT_FALSE(is_json_media_type("multipart/form-data; boundary=x"));
  EXPECT_FALSE(is_json_media_type("application/jsonp"));
  EXPECT_FALSE(is_json_media_type(""));
}

TEST(BearerToken, SchemeInAnyCaseAndOneToken) {
  EXPECT_EQ(bearer_token("Bearer abc").value_or(""), "abc");
  EXPECT_EQ(bearer_token("bearer  abc ").value_or(""), "abc");
  EXPECT_EQ(bearer_token("BEARER\tabc").value_or(""), "abc");
  EXPECT_FALSE(bearer_token("Bearer"));
  EXPECT_FALSE(bearer_token("Bearer "));
  EXPECT_FALSE(bearer_token("Bearerabc"));
  EXPECT_FALSE(bearer_token("Basic YWxhZGRpbjpvcGVuc2VzYW1l"));
  EXPECT_FALSE(bearer_token("Bearer a b"));
}

// A request as the server builds it, to the loopback factory.
struct Req {
  std::string method = "POST", host = "127.0.0.1:8787", body = R"({"sql":"select 1"})";
  std::vector<std::string> origins, content_types = {"application/json"}, authorizations;
  unsigned version = 11;
  bool no_host = false;

  AccessRequest view() const {
    AccessRequest a;
    a.method = method;
    a.version = version;
    if (!no_host) a.hosts.push_back(host);
    for (const auto& o : origins) a.origins.push_back(o);
    for (const auto& c : content_types) a.content_types.push_back(c);
    for (const auto& t : authorizations) a.authorizations.push_back(t);
    a.body = body;
    return a;
  }
};

std::string code_of(const AccessDecision& d) {
  if (!d.early_reply) return "";
  return d.early_reply->body["error"].value("code", std::string());
}

std::string header(const Reply& reply, const std::string& name) {
  for (const auto& [n, v] : reply.headers) {
    if (n == name) return v;
  }
  return "";
}

TEST(DecideAccess, BrowserProtectionsHoldInTrustMode) {
  HttpAccessPolicy trust;
  RouteAccess route = RouteAccess::Tenant("default");
  Req ok;
  AccessDecision d = decide_access(ok.view(), kLoopback, &route, trust);
  EXPECT_FALSE(d.early_reply);
  EXPECT_FALSE(d.scope);

  Req rebound = ok;
  rebound.host = "attacker.example:8787";
  d = decide_access(rebound.view(), kLoopback, &route, trust);
  EXPECT_EQ(d.early_reply->status, 403);
  EXPECT_EQ(code_of(d), "host_not_allowed");

  Req no_host = ok;
  no_host.no_host = true;
  EXPECT_EQ(decide_access(no_host.view(), kLoopback, &route, trust).early_reply->status, 400);
  no_host.version = 10;  // HTTP/1.0 had no Host; browsers always send one
  EXPECT_FALSE(decide_access(no_host.view(), kLoopback, &route, trust).early_reply);

  Req foreign = ok;
  foreign.origins = {"https://attacker.example"};
  d = decide_access(foreign.view(), kLoopback, &route, trust);
  EXPECT_EQ(d.early_reply->status, 403);
  EXPECT_EQ(code_of(d), "origin_not_allowed");
  EXPECT_EQ(header(*d.early_reply, "Access-Control-Allow-Origin"), "");

  for (std::vector<std::string> types :
       {std::vector<std::string>{"text/plain"}, std::vector<std::string>{},
        std::vector<std::string>{"application/json", "text/plain"}}) {
    Req plain = ok;
    plain.content_types = types;
    d = decide_access(plain.view(), kLoopback, &route, trust);
    ASSERT_TRUE(d.early_reply);
    EXPECT_EQ(d.early_reply->status, 415);
    EXPECT_EQ(code_of(d), "unsupported_media_type");
  }
  Req no_body = ok;  // POST /warmup: no body, no type needed
  no_body.body.clear();
  no_body.content_types.clear();
  EXPECT_FALSE(decide_access(no_body.view(), kLoopback, &route, trust).early_reply);
}

TEST(DecideAccess, AnAllowedOriginGetsItselfBackAndItsPreflight) {
  HttpAccessPolicy policy;
  policy.allowed_origins = {"http://localhost:3000"};
  RouteAccess route = RouteAccess::Tenant("default");
  Req r;
  r.origins = {"http://localhost:3000"};
  AccessDecision d = decide_access(r.view(), kLoopback, &route, policy);
  EXPECT_FALSE(d.early_reply);
  EXPECT_EQ(d.cors_origin, "http://localhost:3000");

  Req preflight = r;
  preflight.method = "OPTIONS";
  preflight.body.clear();
  d = decide_access(preflight.view(), kLoopback, nullptr, policy);
  ASSERT_TRUE(d.early_reply);
  EXPECT_EQ(d.early_reply->status, 204);
  EXPECT_EQ(header(*d.early_reply, "Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_EQ(header(*d.early_reply, "Vary"), "Origin");
  EXPECT_EQ(header(*d.early_reply, "Access-Control-Allow-Methods"), "POST, GET");
  EXPECT_EQ(header(*d.early_reply, "Access-Control-Allow-Headers"), "authorization, content-type");

  preflight.origins = {"http://localhost:3001"};
  d = decide_access(preflight.view(), kLoopback, nullptr, policy);
  EXPECT_EQ(d.early_reply->status, 403);

  // A refusal to an allowed origin still carries it, so the page can read why.
  Req plain = r;
  plain.content_types = {"text/plain"};
  d = decide_access(plain.view(), kLoopback, &route, policy);
  EXPECT_EQ(d.early_reply->status, 415);
  EXPECT_EQ(header(*d.early_reply, "Access-Control-Allow-Origin"), "http://localhost:3000");
}

class DecideTokens : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = CredentialStore::Open(dir_.sub("credentials.json"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    policy_.credentials = std::move(store).value();
    ASSERT_TRUE(policy_.credentials->AddTenant("acme").ok());
    ASSERT_TRUE(policy_.credentials->AddTenant("globex").ok());
    admin_ = Issue(TokenScope::Admin());
    acme_ = Issue(TokenScope::Tenant("acme"));
    acme_ro_ = Issue(TokenScope::Tenant("acme", /*read_only=*/true));
  }
  std::string Issue(TokenScope scope) {
    auto issued = policy_.credentials->IssueToken(std::move(scope), "test");
    EXPECT_TRUE(issued.ok()) << issued.status().ToString();
    return issued.ok() ? issued->bearer : "";
  }
  AccessDecision Decide(const std::string& token, const RouteAccess& route,
                        const std::string& body = R"({"sql":"select 1","tenant":"acme"})") {
    Req r;
    r.body = body;
    if (!token.empty()) r.authorizations = {"Bearer " + token};
    return decide_access(r.view(), kLoopback, &route, policy_);
  }

  engine::testing::TempDir dir_;
  HttpAccessPolicy policy_;
  std::string admin_, acme_, acme_ro_;
  const RouteAccess tenant_route_ = RouteAccess::Tenant("default");
  const RouteAccess admin_route_ = RouteAccess::Admin();
};

TEST_F(DecideTokens, NoTokenIs401WithAChallenge) {
  AccessDecision d = Decide("", tenant_route_);
  ASSERT_TRUE(d.early_reply);
  EXPECT_EQ(d.early_reply->status, 401);
  EXPECT_EQ(code_of(d), "unauthorized");
  EXPECT_EQ(header(*d.early_reply, "WWW-Authenticate"), "Bearer realm=\"pgthaw\"");
  EXPECT_EQ(d.failure_reason, "missing");
  EXPECT_EQ(d.failure_tenant, "acme");
}

TEST_F(DecideTokens, ABadTokenIs401InvalidToken) {
  std::string revoked = Issue(TokenScope::Tenant("globex"));
  ASSERT_TRUE(policy_.credentials->RevokeToken(revoked.substr(4, 16)).ok());
  std::string wrong_secret = acme_;
  wrong_secret.back() = wrong_secret.back() == 'A' ? 'B' : 'A';
  for (const std::string& token : {std::string("nonsense"), wrong_secret, revoked}) {
    AccessDecision d = Decide(token, tenant_route_);
    ASSERT_TRUE(d.early_reply) << token;
    EXPECT_EQ(d.early_reply->status, 401);
    EXPECT_EQ(header(*d.early_reply, "WWW-Authenticate"),
              "Bearer realm=\"pgthaw\", error=\"invalid_token\"");
    EXPECT_EQ(d.failure_reason, "invalid");
  }
  Req basic;
  basic.authorizations = {"Basic YWxhZGRpbjpvcGVuc2VzYW1l"};
  EXPECT_EQ(decide_access(basic.view(), kLoopback, &tenant_route_, policy_).failure_reason,
            "invalid");
}

TEST_F(DecideTokens, ATenantTokenReachesOnlyItsTenant) {
  AccessDecision own = Decide(acme_, tenant_route_);
  EXPECT_FALSE(own.early_reply);
  ASSERT_TRUE(own.scope);
  EXPECT_EQ(own.scope->tenant, "acme");
  EXPECT_EQ(own.bearer, acme_);

  AccessDecision other = Decide(acme_, tenant_route_, R"({"sql":"select 1","tenant":"globex"})");
  ASSERT_TRUE(other.early_reply);
  EXPECT_EQ(other.early_reply->status, 403);
  EXPECT_EQ(code_of(other), "forbidden");
  EXPECT_EQ(other.failure_reason, "forbidden");
  EXPECT_EQ(other.failure_tenant, "globex");

  // No "tenant": the route's default, which is not acme.
  EXPECT_EQ(Decide(acme_, tenant_route_, R"({"sql":"select 1"})").early_reply->status, 403);
  // A tenant the store does not know is no metrics label.
  EXPECT_EQ(Decide(acme_, tenant_route_, R"({"sql":"x","tenant":"made-up"})").failure_tenant, "");
  // A body that does not parse is the handler's to refuse (400).
  EXPECT_FALSE(Decide(acme_, tenant_route_, "{not json").early_reply);

  AccessDecision admin_route = Decide(acme_, admin_route_);
  EXPECT_EQ(admin_route.early_reply->status, 403);
  EXPECT_EQ(admin_route.failure_tenant, "acme");
}

TEST_F(DecideTokens, AnAdminTokenReachesEveryRouteAndTenant) {
  for (const char* body : {R"({"sql":"select 1","tenant":"globex"})", R"({"sql":"select 1"})"}) {
    AccessDecision d = Decide(admin_, tenant_route_, body);
    EXPECT_FALSE(d.early_reply);
    EXPECT_EQ(d.scope, TokenScope::Admin());
  }
  EXPECT_FALSE(Decide(admin_, admin_route_).early_reply);
}

TEST_F(DecideTokens, ReadOnlyIsTheScopes) {
  AccessDecision d = Decide(acme_ro_, tenant_route_);
  ASSERT_FALSE(d.early_reply);
  EXPECT_TRUE(d.scope->read_only);
}

TEST_F(DecideTokens, PublicRoutesAndUnknownRoutesNeedNoToken) {
  RouteAccess open = RouteAccess::Public();
  EXPECT_FALSE(Decide("", open).early_reply);
  Req r;
  EXPECT_FALSE(decide_access(r.view(), kLoopback, nullptr, policy_).early_reply);
  // The browser checks still come first.
  r.host = "attacker.example:8787";
  EXPECT_EQ(decide_access(r.view(), kLoopback, &open, policy_).early_reply->status, 403);
}

}  // namespace
}  // namespace pgthaw::server
