// HTTP access control on a real server (every role, real engine, loopback
// sockets) with a credential store: browser protections, bearer tokens per
// route and tenant, read-only tokens, and the failures in /metrics.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "server/credential_store.h"
#include "server/http_test_fixture.h"

namespace pgthaw::server::testing {
namespace {

using nlohmann::json;

constexpr char kAllowedOrigin[] = "http://localhost:5173";
constexpr char kAllowedHost[] = "pgthaw.test";

// One server with tokens for the whole suite (templates are the slow part).
struct AuthServer {
  AuthServer() {
    auto opened = CredentialStore::Open(dir.sub("credentials.json"));
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (!opened.ok()) return;
    store = std::move(opened).value();
    // Owner roles the tenants' databases do not have yet: the first query of
    // a tenant token makes them (in each runtime's copy of the tenant).
    for (const char* tenant : {"acme", "globex"}) {
      EXPECT_TRUE(store->AddTenant(tenant, std::string("owner_") + tenant).ok());
    }
    admin = Issue(TokenScope::Admin());
    acme = Issue(TokenScope::Tenant("acme"));
    acme_ro = Issue(TokenScope::Tenant("acme", /*read_only=*/true));
    HttpServicesOptions o = loopback_options(dir.sub("data"));
    o.credentials = store;
    o.allowed_origins = {kAllowedOrigin};
    o.allowed_hosts = {kAllowedHost};
    server = std::make_unique<ServerUnderTest>(o);
  }
  std::string Issue(TokenScope scope) {
    auto issued = store->IssueToken(std::move(scope), "http_auth_test");
    EXPECT_TRUE(issued.ok()) << issued.status().ToString();
    return issued.ok() ? issued->bearer : "";
  }

  engine::testing::TempDir dir;  // declared first: removed after the server is gone
  std::shared_ptr<CredentialStore> store;
  std::string admin, acme, acme_ro;
  std::unique_ptr<ServerUnderTest> server;
};

AuthServer& auth_server() {
  static AuthServer holder;
  return holder;
}

class HttpAuth : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(auth_server().server && auth_server().server->ok()); }
  ServerUnderTest& s() { return *auth_server().server; }
  const std::string& admin() { return auth_server().admin; }
  const std::string& acme() { return auth_server().acme; }
  const std::string& acme_ro() { return auth_server().acme_ro; }

  // One request on a fresh connection with `token` (none if empty) and
  // the extra headers.
  static HttpResult Call(unsigned short port, const std::string& method, const std::string& target,
                         const std::string& token, const std::string& body = "",
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpClient client(port);
    if (!client.connected()) {
      HttpResult r;
      r.error = "connect failed";
      return r;
    }
    if (!token.empty()) client.SetHeader("Authorization", "Bearer " + token);
    for (auto& [name, value] : headers) client.SetHeader(name, value);
    return client.Call(method, target, body);
  }
  static HttpResult Query(unsigned short port, const std::string& target, const std::string& token,
                          const json& body,
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
    return Call(port, "POST", target, token, body.dump(), std::move(headers));
  }
  // The consumer's /direct on `tenant` with `token`.
  HttpResult Direct(const std::string& token, const std::string& tenant, const std::string& sql) {
    return Query(s().consumer(), "/direct", token, {{"sql", sql}, {"tenant", tenant}});
  }
  // A one-value result as text ("" if none).
  static std::string Value(const HttpResult& r) {
    if (!r.json.is_object() || !r.json.contains("rows") || r.json["rows"].empty()) return "";
    const json& v = r.json["rows"][0][0];
    return v.is_string() ? v.get<std::string>() : "";
  }
  std::string RelationCount(const std::string& tenant, const std::string& name) {
    return Value(
        Direct(admin(), tenant, "select count(*) from pg_class where relname = '" + name + "'"));
  }
};

void expect_error(const HttpResult& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.error << r.body;
  ASSERT_TRUE(r.json.is_object()) << r.body;
  EXPECT_EQ(r.json["error"]["code"], code) << r.body;
}

TEST_F(HttpAuth, TextPlainPostIsRefusedAndNothingRan) {
  json body = {{"sql", "create table plain_ran (x int)"}, {"tenant", "acme"}};
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded"}) {
    HttpResult r = Query(s().consumer(), "/direct", admin(), body, {{"Content-Type", type}});
    expect_error(r, 415, "unsupported_media_type");
  }
  EXPECT_EQ(RelationCount("acme", "plain_ran"), "0");
  // The same body as JSON runs, with parameters in the media type.
  HttpResult json_ok =
      Query(s().consumer(), "/direct", admin(), {{"sql", "select 1"}, {"tenant", "acme"}},
            {{"Content-Type", "Application/JSON; charset=utf-8"}});
  EXPECT_EQ(json_ok.status, 200) << json_ok.body;
}

TEST_F(HttpAuth, ForeignOriginIsRefused) {
  json body = {{"sql", "create table origin_ran (x int)"}, {"tenant", "acme"}};
  HttpResult r =
      Query(s().consumer(), "/direct", admin(), body, {{"Origin", "https://attacker.example"}});
  expect_error(r, 403, "origin_not_allowed");
  EXPECT_EQ(r.allow_origin, "");
  EXPECT_EQ(RelationCount("acme", "origin_ran"), "0");
  // Its preflight too.
  HttpResult preflight =
      Call(s().consumer(), "OPTIONS", "/direct", "", "",
           {{"Origin", "https://attacker.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(preflight.status, 403) << preflight.body;
  EXPECT_EQ(preflight.allow_origin, "");
}

TEST_F(HttpAuth, ForeignHostIsRefused) {
  const std::string port = std::to_string(s().factory());
  json body = {{"sql", "select 1"}, {"tenant", "acme"}};
  HttpResult rebound =
      Query(s().factory(), "/query", admin(), body, {{"Host", "attacker.example:" + port}});
  expect_error(rebound, 403, "host_not_allowed");
  // Public routes too: the Host check is before everything.
  HttpResult ping = Call(s().factory(), "GET", "/ping", "", "", {{"Host", "attacker.example"}});
  expect_error(ping, 403, "host_not_allowed");
  for (std::string host :
       {"localhost:" + port, std::string(kAllowedHost) + ":" + port, std::string(kAllowedHost)}) {
    HttpResult named = Query(s().factory(), "/query", admin(), body, {{"Host", host}});
    EXPECT_EQ(named.status, 200) << host << ": " << named.body;
  }
}

TEST_F(HttpAuth, AllowedOriginGetsItsExactOriginBack) {
  HttpResult r = Query(s().consumer(), "/direct", admin(),
                       {{"sql", "select 1"}, {"tenant", "acme"}}, {{"Origin", kAllowedOrigin}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.allow_origin, kAllowedOrigin);
  EXPECT_EQ(r.vary, "Origin");
  // An error reply to it as well, so the page can read it.
  HttpResult unauthorized =
      Query(s().consumer(), "/direct", "", {{"sql", "select 1"}}, {{"Origin", kAllowedOrigin}});
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_EQ(unauthorized.allow_origin, kAllowedOrigin);
  HttpResult preflight = Call(s().consumer(), "OPTIONS", "/direct", "", "",
                              {{"Origin", kAllowedOrigin},
                               {"Access-Control-Request-Method", "POST"},
                               {"Access-Control-Request-Headers", "authorization, content-type"}});
  EXPECT_EQ(preflight.status, 204) << preflight.error << preflight.body;
  EXPECT_EQ(preflight.allow_origin, kAllowedOrigin);
  // No Origin: no CORS headers at all.
  HttpResult plain = Direct(admin(), "acme", "select 1");
  EXPECT_EQ(plain.allow_origin, "");
}

TEST_F(HttpAuth, NoTokenIs401WithAChallenge) {
  HttpResult none = Direct("", "acme", "select 1");
  expect_error(none, 401, "unauthorized");
  EXPECT_EQ(none.www_authenticate, "Bearer realm=\"pgthaw\"");
  HttpResult bad = Direct("pgt_0123456789abcdef_nope", "acme", "select 1");
  expect_error(bad, 401, "unauthorized");
  EXPECT_EQ(bad.www_authenticate, "Bearer realm=\"pgthaw\", error=\"invalid_token\"");
  for (unsigned short port : {s().factory(), s().consumer(), s().warm_proxy()}) {
    EXPECT_EQ(Call(port, "GET", "/", "").status, 200) << port;
    expect_error(Call(port, "GET", "/metrics", ""), 401, "unauthorized");
  }
  EXPECT_EQ(Call(s().factory(), "GET", "/ping", "").status, 200);
  EXPECT_EQ(Call(s().warm_proxy(), "GET", "/ping", "").status, 200);
}

TEST_F(HttpAuth, TenantTokenOnAnotherTenantIs403) {
  EXPECT_EQ(Direct(acme(), "acme", "select 1").status, 200);
  HttpResult other = Direct(acme(), "globex", "create table stolen (x int)");
  expect_error(other, 403, "forbidden");
  EXPECT_EQ(RelationCount("globex", "stolen"), "0");
  // No tenant in the body is the default tenant, which is not acme's.
  expect_error(Query(s().consumer(), "/direct", acme(), {{"sql", "select 1"}}), 403, "forbidden");
  // Its tenant through the factory, both in the factory and via the binding.
  json acme_query = {{"sql", "select 1"}, {"tenant", "acme"}};
  EXPECT_EQ(Query(s().factory(), "/query", acme(), acme_query).status, 200);
  EXPECT_EQ(Query(s().factory(), "/timing", acme(), acme_query).status, 200);
  EXPECT_EQ(Query(s().consumer(), "/factory", acme(), acme_query).status, 200);
  EXPECT_EQ(Query(s().consumer(), "/compare", acme(), acme_query).status, 200);
  // Routes of no one tenant are the admin's.
  expect_error(Query(s().consumer(), "/cold-direct", acme(), acme_query), 403, "forbidden");
  expect_error(Query(s().consumer(), "/cold-factory", acme(), acme_query), 403, "forbidden");
  expect_error(Query(s().factory(), "/cold-start", acme(), acme_query), 403, "forbidden");
  expect_error(Call(s().factory(), "POST", "/warmup", acme()), 403, "forbidden");
  expect_error(Call(s().factory(), "GET", "/status", acme()), 403, "forbidden");
  expect_error(Call(s().consumer(), "GET", "/metrics", acme()), 403, "forbidden");
  expect_error(Query(s().warm_proxy(), "/query", acme(), acme_query), 403, "forbidden");
  expect_error(Call(s().warm_proxy(), "GET", "/status", acme()), 403, "forbidden");
}

TEST_F(HttpAuth, TenantTokenQueriesRunAsTheOwnerRoleNotTheSuperuser) {
  HttpResult who = Direct(acme(), "acme",
                          "select current_user || ' ' || "
                          "current_setting('is_superuser')");
  EXPECT_EQ(Value(who), "owner_acme off") << who.body;
  for (const char* sql :
       {"select pg_catalog.pg_read_file('PG_VERSION')", "alter system set work_mem = '1MB'",
        "reset session authorization; set role postgres", "set session authorization postgres"}) {
    HttpResult r = Direct(acme(), "acme", sql);
    EXPECT_EQ(r.json["error"]["sqlstate"], "42501") << sql << ": " << r.body;
  }
  // The admin's queries are the superuser's, whoever ran before.
  EXPECT_EQ(Value(Direct(admin(), "acme", "select current_user")), "postgres");
  EXPECT_EQ(Value(Direct(acme(), "acme", "select session_user")), "owner_acme");
}

TEST_F(HttpAuth, AdminTokenWorksEverywhere) {
  json q = {{"sql", "select 1"}, {"tenant", "globex"}};
  EXPECT_EQ(Query(s().consumer(), "/direct", admin(), q).status, 200);
  EXPECT_EQ(Query(s().consumer(), "/direct", admin(), {{"sql", "select 1"}}).status, 200);
  EXPECT_EQ(Query(s().consumer(), "/factory", admin(), q).status, 200);
  EXPECT_EQ(Query(s().consumer(), "/compare", admin(), q).status, 200);
  EXPECT_EQ(Query(s().consumer(), "/cold-direct", admin(), q).status, 200);
  EXPECT_EQ(Query(s().consumer(), "/cold-factory", admin(), q).status, 200);
  EXPECT_EQ(Query(s().factory(), "/query", admin(), q).status, 200);
  EXPECT_EQ(Query(s().factory(), "/timing", admin(), q).status, 200);
  EXPECT_EQ(Query(s().factory(), "/cold-start", admin(), q).status, 200);
  EXPECT_EQ(Call(s().factory(), "POST", "/warmup", admin()).status, 200);
  EXPECT_EQ(Query(s().warm_proxy(), "/query", admin(), q).status, 200);
  EXPECT_EQ(Query(s().warm_proxy(), "/timing", admin(), q).status, 200);
  for (unsigned short port : {s().factory(), s().consumer(), s().warm_proxy()}) {
    EXPECT_EQ(Call(port, "GET", "/metrics", admin()).status, 200) << port;
  }
  EXPECT_EQ(Call(s().factory(), "GET", "/status", admin()).status, 200);
  EXPECT_EQ(Call(s().warm_proxy(), "GET", "/status", admin()).status, 200);
  // Unknown routes are 404 for anyone: no handler runs.
  expect_error(Call(s().factory(), "GET", "/nope", ""), 404, "not_found");
}

TEST_F(HttpAuth, ReadOnlyTokenReadsButCannotWrite) {
  // Made by the tenant's owner role: a table the admin made would be the
  // superuser's, out of the tenant's reach.
  HttpResult setup = Direct(acme(), "acme",
                            "drop table if exists ro_t; create table ro_t (n int); "
                            "insert into ro_t values (1)");
  ASSERT_EQ(setup.status, 200) << setup.body;

  // A read answers exactly as the same query with a writable token.
  for (json body :
       {json{{"sql", "select n, 'x' as s from ro_t"}, {"tenant", "acme"}},
        json{{"sql", "select n + $1::int as m from ro_t"}, {"params", {41}}, {"tenant", "acme"}}}) {
    HttpResult ro = Query(s().consumer(), "/direct", acme_ro(), body);
    HttpResult rw = Query(s().consumer(), "/direct", acme(), body);
    ASSERT_EQ(ro.status, 200) << ro.body;
    for (const char* key : {"fields", "rows", "rowCount", "command"}) {
      EXPECT_EQ(ro.json[key], rw.json[key]) << key << ": " << ro.body << " vs " << rw.body;
    }
    EXPECT_TRUE(ro.json.contains("timings"));
  }

  HttpResult insert = Direct(acme_ro(), "acme", "insert into ro_t values (2)");
  expect_error(insert, 400, "sql");
  EXPECT_EQ(insert.json["error"]["sqlstate"], "25006") << insert.body;
  EXPECT_NE(insert.json["error"]["message"].get<std::string>().find("read-only transaction"),
            std::string::npos)
      << insert.body;

  // Ways out of the transaction, each in one request.
  for (const char* sql : {
           "commit; insert into ro_t values (3)",
           "set transaction_read_only = off; insert into ro_t values (4)",
           "do $$ begin insert into ro_t values (5); end $$",
           "do $$ begin perform set_config('transaction_read_only', 'off', true); "
           "insert into ro_t values (6); end $$",
           "do $$ begin commit; insert into ro_t values (7); end $$",
           "with w as (insert into ro_t values (8) returning n) select * from w",
           "select set_config('transaction_read_only', 'off', false)",
           "create table ro_made (x int)",
       }) {
    HttpResult r = Direct(acme_ro(), "acme", sql);
    EXPECT_NE(r.status, 200) << sql << ": " << r.body;
  }
  EXPECT_EQ(
      Direct(acme_ro(), "acme", "commit; insert into ro_t values (3)").json["error"]["sqlstate"],
      "42601");
  EXPECT_EQ(Direct(acme_ro(), "acme", "do $$ begin insert into ro_t values (5); end $$")
                .json["error"]["sqlstate"],
            "25006");

  // One request loosening the transaction or the session's defaults does not
  // help the next one: each begins its own read-only transaction.
  for (const char* loosen : {"set transaction_read_only = off", "begin read write",
                             "set session characteristics as transaction read write",
                             "set default_transaction_read_only = off", "commit", "rollback"}) {
    Direct(acme_ro(), "acme", loosen);
    HttpResult after = Direct(acme_ro(), "acme", "insert into ro_t values (9)");
    EXPECT_EQ(after.json["error"]["sqlstate"], "25006") << loosen << ": " << after.body;
  }

  // Through the factory (in-process binding) too.
  ASSERT_EQ(Query(s().factory(), "/query", admin(),
                  {{"sql", "create table if not exists ro_f (n int)"}, {"tenant", "acme"}})
                .status,
            200);
  for (const char* target : {"/factory", "/compare"}) {
    HttpResult via = Query(s().consumer(), target, acme_ro(),
                           {{"sql", "insert into ro_f values (1)"}, {"tenant", "acme"}});
    EXPECT_NE(via.status, 200) << target << ": " << via.body;
  }
  HttpResult factory_rows = Query(s().factory(), "/query", admin(),
                                  {{"sql", "select count(*) from ro_f"}, {"tenant", "acme"}});
  EXPECT_EQ(Value(factory_rows), "0") << factory_rows.body;

  // Nothing was written, and the tenant is idle and usable for everyone.
  HttpResult rows = Direct(admin(), "acme", "select count(*), max(n) from ro_t");
  ASSERT_EQ(rows.status, 200) << rows.body;
  EXPECT_EQ(rows.json["rows"], json::parse(R"([["1", "1"]])")) << rows.body;
  EXPECT_EQ(RelationCount("acme", "ro_made"), "0");
  EXPECT_EQ(Value(Direct(acme_ro(), "acme", "select count(*) from ro_t")), "1");
  EXPECT_EQ(Direct(acme(), "acme", "insert into ro_t values (10)").status, 200);
  EXPECT_EQ(Value(Direct(admin(), "acme", "select count(*) from ro_t")), "2");
}

TEST_F(HttpAuth, FailuresAreCountedPerReason) {
  Direct("", "acme", "select 1");                           // missing, tenant acme
  Direct("", "made-up-tenant", "select 1");                 // missing, no tenant label
  Direct("pgt_0123456789abcdef_nope", "acme", "select 1");  // invalid
  Direct(acme(), "globex", "select 1");                     // forbidden, tenant globex
  HttpResult metrics = Call(s().consumer(), "GET", "/metrics", admin());
  ASSERT_EQ(metrics.status, 200);
  const std::string& text = metrics.body;
  EXPECT_NE(text.find("# TYPE pgthaw_auth_failures_total counter"), std::string::npos);
  for (const char* series :
       {R"(pgthaw_auth_failures_total{listener="http",tenant="acme",reason="missing"} )",
        R"(pgthaw_auth_failures_total{listener="http",reason="missing"} )",
        R"(pgthaw_auth_failures_total{listener="http",tenant="acme",reason="invalid"} )",
        R"(pgthaw_auth_failures_total{listener="http",tenant="globex",reason="forbidden"} )"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
  EXPECT_EQ(text.find("made-up-tenant"), std::string::npos);
}

}  // namespace
}  // namespace pgthaw::server::testing
