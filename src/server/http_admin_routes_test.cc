// The tenant admin API over HTTP, on a server with a credential store and
// auto-create off; in trust mode (the shared server) it does not exist.
#include "server/http_admin_routes.h"

#include <gtest/gtest.h>

#include "server/http_test_fixture.h"

namespace pgthaw::server {
namespace {

using nlohmann::json;
using testing::ServerUnderTest;

// The admin routes take the admin token only (issued in SetUpTestSuite).
std::string admin_token;

testing::HttpResult http_call(unsigned short port, const std::string& method,
                              const std::string& target, const std::string& body = "") {
  return testing::http_call(port, method, target, body, admin_token);
}
testing::HttpResult post_json(unsigned short port, const std::string& target,
                              const nlohmann::json& body) {
  return testing::post_json(port, target, body, admin_token);
}

// An upload route's call: `body` sent as `content_type`.
testing::HttpResult upload(unsigned short port, const std::string& target, const std::string& body,
                           const std::string& content_type) {
  testing::HttpClient client(port);
  client.SetHeader("Authorization", "Bearer " + admin_token);
  client.SetHeader("Content-Type", content_type);
  return client.Call("POST", target, body);
}

class HttpAdminRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new engine::testing::TempDir();
    auto store = CredentialStore::Open(dir_->sub("credentials.json"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    HttpServicesOptions options = testing::loopback_options(dir_->sub("data"));
    options.credentials = std::move(store).value();
    auto issued = options.credentials->IssueToken(TokenScope::Admin(), "http_admin_routes_test");
    ASSERT_TRUE(issued.ok()) << issued.status().ToString();
    admin_token = issued->bearer;
    options.auto_create_tenants = false;
    server_ = new ServerUnderTest(std::move(options));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(server_ != nullptr && server_->ok()); }
  static unsigned short port() { return server_->consumer(); }

  static engine::testing::TempDir* dir_;
  static ServerUnderTest* server_;
};

engine::testing::TempDir* HttpAdminRoutesTest::dir_ = nullptr;
ServerUnderTest* HttpAdminRoutesTest::server_ = nullptr;

TEST(HttpAdminRoutesTrustMode, AdminRoutesDoNotExist) {
  ASSERT_TRUE(testing::shared_server().ok());
  unsigned short port = testing::shared_server().consumer();
  EXPECT_EQ(testing::http_call(port, "GET", "/admin/tenants").status, 404);
  EXPECT_EQ(testing::post_json(port, "/admin/tenants", {{"tenant", "x"}, {"role", "app"}}).status,
            404);
}

TEST_F(HttpAdminRoutesTest, OnlyTheAdminTokenReachesThem) {
  EXPECT_EQ(testing::http_call(port(), "GET", "/admin/tenants").status, 401);
  EXPECT_EQ(
      testing::http_call(port(), "GET", "/admin/tenants", "", "pgt_0123456789abcdef_x").status,
      401);
  EXPECT_EQ(http_call(port(), "GET", "/admin/tenants").status, 200);
}

TEST_F(HttpAdminRoutesTest, TenantLifeCycle) {
  auto created = post_json(port(), "/admin/tenants", {{"tenant", "web"}, {"role", "app"}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json["tenant"], "web");
  EXPECT_EQ(created.json["role"], "app");
  ASSERT_TRUE(created.json["password"].is_string()) << created.body;
  EXPECT_EQ(created.json["password"].get<std::string>().size(), 43u);

  auto again = post_json(port(), "/admin/tenants", {{"tenant", "web"}, {"role", "app"}});
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(again.json["error"]["code"], "already_exists");
  auto bad = post_json(port(), "/admin/tenants", json::object());
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.json["error"]["code"], "invalid_argument");
  EXPECT_EQ(http_call(port(), "POST", "/admin/tenants", "{not json").status, 400);

  auto given = post_json(port(), "/admin/tenants",
                         {{"tenant", "web2"}, {"role", "owner"}, {"password", "a-password"}});
  ASSERT_EQ(given.status, 201) << given.body;
  EXPECT_FALSE(given.json.contains("password"));

  auto list = http_call(port(), "GET", "/admin/tenants");
  ASSERT_EQ(list.status, 200) << list.body;
  bool listed = false;
  for (const json& t : list.json["tenants"]) listed |= t["tenant"] == "web";
  EXPECT_TRUE(listed) << list.body;

  auto shown = http_call(port(), "GET", "/admin/tenants/web");
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(shown.json["owner"], "app");
  EXPECT_EQ(shown.json["roles"], json::array({"app"}));
  EXPECT_EQ(shown.body.find(created.json["password"].get<std::string>()), std::string::npos);
  EXPECT_EQ(http_call(port(), "GET", "/admin/tenants/nope").status, 404);

  // The tenant answers queries; an unknown one does not exist (no auto-create).
  auto query = post_json(port(), "/direct", {{"tenant", "web"}, {"sql", "select 1 as one"}});
  EXPECT_EQ(query.status, 200) << query.body;
  EXPECT_EQ(post_json(port(), "/direct", {{"tenant", "nope"}, {"sql", "select 1"}}).status, 404);

  EXPECT_EQ(http_call(port(), "POST", "/admin/tenants/web/hibernate").status, 200);

  auto deleted = http_call(port(), "DELETE", "/admin/tenants/web?force=1");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(http_call(port(), "GET", "/admin/tenants/web").status, 404);
  EXPECT_EQ(post_json(port(), "/direct", {{"tenant", "web"}, {"sql", "select 1"}}).status, 404);
  EXPECT_EQ(http_call(port(), "DELETE", "/admin/tenants/web").status, 404);
}

TEST_F(HttpAdminRoutesTest, DumpAndRestoreOverHttp) {
  for (const char* tenant : {"dump-src", "dump-dst"}) {
    ASSERT_EQ(post_json(port(), "/admin/tenants", {{"tenant", tenant}, {"role", "app"}}).status,
              201);
  }
  auto made = post_json(port(), "/direct",
                        {{"tenant", "dump-src"},
                         {"sql",
                          "create table t as select i, md5(i::text) h from "
                          "generate_series(1, 1000) i"}});
  ASSERT_EQ(made.status, 200) << made.body;
  const std::string sum = "select md5(string_agg(i || h, ',' order by i)) as s from t";

  auto plain = http_call(port(), "GET", "/admin/tenants/dump-src/dump");
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_NE(plain.body.find("CREATE TABLE public.t"), std::string::npos) << plain.body;
  auto custom = http_call(port(), "GET", "/admin/tenants/dump-src/dump?format=custom");
  ASSERT_EQ(custom.status, 200) << custom.body;
  ASSERT_EQ(custom.body.substr(0, 5), "PGDMP");
  EXPECT_EQ(http_call(port(), "GET", "/admin/tenants/dump-src/dump?format=tar").status, 400);
  EXPECT_EQ(http_call(port(), "GET", "/admin/tenants/nope/dump").status, 404);

  EXPECT_EQ(http_call(port(), "POST", "/admin/tenants/dump-dst/restore", plain.body).status, 415);
  auto restored =
      upload(port(), "/admin/tenants/dump-dst/restore", custom.body, "application/octet-stream");
  ASSERT_EQ(restored.status, 200) << restored.body;
  auto expected = post_json(port(), "/direct", {{"tenant", "dump-src"}, {"sql", sum}});
  auto got = post_json(port(), "/direct", {{"tenant", "dump-dst"}, {"sql", sum}});
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.json["rows"], expected.json["rows"]) << got.body;
  // Twice: the table exists, so nothing of the second restore stays.
  auto twice = upload(port(), "/admin/tenants/dump-dst/restore", plain.body, "application/sql");
  EXPECT_EQ(twice.status, 400) << twice.body;
  EXPECT_NE(twice.body.find("already exists"), std::string::npos) << twice.body;
}

TEST_F(HttpAdminRoutesTest, ForkOverHttp) {
  ASSERT_EQ(post_json(port(), "/admin/tenants", {{"tenant", "fork-web"}, {"role", "app"}}).status,
            201);
  ASSERT_EQ(post_json(port(), "/direct",
                      {{"tenant", "fork-web"}, {"sql", "create table t as select 1 as one"}})
                .status,
            200);
  auto forked = post_json(port(), "/admin/tenants/fork-web/fork", {{"tenant", "fork-web-2"}});
  ASSERT_EQ(forked.status, 201) << forked.body;
  EXPECT_EQ(forked.json["forked_from"], "fork-web");
  auto query =
      post_json(port(), "/direct", {{"tenant", "fork-web-2"}, {"sql", "select one from t"}});
  ASSERT_EQ(query.status, 200) << query.body;
  EXPECT_NE(query.body.find("1"), std::string::npos) << query.body;
  EXPECT_EQ(post_json(port(), "/admin/tenants/fork-web/fork", {{"tenant", "fork-web-2"}}).status,
            409);
  EXPECT_EQ(post_json(port(), "/admin/tenants/nope/fork", {{"tenant", "x"}}).status, 404);
  EXPECT_EQ(post_json(port(), "/admin/tenants/fork-web/fork", json::object()).status, 400);
}

TEST_F(HttpAdminRoutesTest, RolesAndTokens) {
  ASSERT_EQ(post_json(port(), "/admin/tenants", {{"tenant", "shop"}, {"role", "app"}}).status, 201);
  auto added = post_json(port(), "/admin/tenants/shop/roles",
                         {{"role", "reader"}, {"password", "reader-password"}});
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_FALSE(added.json.contains("password"));
  EXPECT_EQ(post_json(port(), "/admin/tenants/shop/roles", {{"role", "reader"}}).status, 409);

  auto rotated = post_json(port(), "/admin/tenants/shop/roles/reader/rotate", json::object());
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  EXPECT_TRUE(rotated.json["password"].is_string());
  EXPECT_EQ(post_json(port(), "/admin/tenants/shop/roles/nobody/rotate", json::object()).status,
            404);
  EXPECT_EQ(http_call(port(), "DELETE", "/admin/tenants/shop/roles/reader").status, 200);
  EXPECT_EQ(http_call(port(), "DELETE", "/admin/tenants/shop/roles/reader").status, 404);

  auto issued = post_json(port(), "/admin/tokens",
                          {{"scope", {{"tenant", "shop"}, {"read_only", true}}}, {"label", "ci"}});
  ASSERT_EQ(issued.status, 201) << issued.body;
  std::string id = issued.json["id"];
  EXPECT_TRUE(issued.json["token"].get<std::string>().starts_with("pgt_" + id + "_"));
  EXPECT_EQ(issued.json["scope"]["tenant"], "shop");
  auto admin_token = post_json(port(), "/admin/tokens", {{"scope", "admin"}});
  ASSERT_EQ(admin_token.status, 201) << admin_token.body;
  EXPECT_EQ(post_json(port(), "/admin/tokens", {{"scope", "everything"}}).status, 400);

  auto tokens = http_call(port(), "GET", "/admin/tokens");
  ASSERT_EQ(tokens.status, 200) << tokens.body;
  bool listed = false;
  for (const json& t : tokens.json["tokens"]) listed |= t["id"] == id;
  EXPECT_TRUE(listed);
  EXPECT_EQ(tokens.body.find(issued.json["token"].get<std::string>()), std::string::npos);

  EXPECT_EQ(http_call(port(), "DELETE", "/admin/tokens/" + id).status, 200);
  EXPECT_EQ(http_call(port(), "DELETE", "/admin/tokens/" + id).status, 404);
  EXPECT_EQ(
      http_call(port(), "DELETE", "/admin/tokens/" + admin_token.json["id"].get<std::string>())
          .status,
      200);
  EXPECT_EQ(http_call(port(), "PUT", "/admin/tokens/" + id).status, 405);
}

}  // namespace
}  // namespace pgthaw::server
