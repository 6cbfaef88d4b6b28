// The HTTP layer's contract: bad input gets a clear JSON error and the
// server stays up; keep-alive; the HTTP factory binding.
#include <gtest/gtest.h>

#include <thread>

#include "server/http_test_fixture.h"
#include "server/query_json.h"

namespace pgthaw::server::testing {
namespace {

using nlohmann::json;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(shared_server().ok()); }
  ServerUnderTest& s() { return shared_server(); }
  // The server still answers a query: what every bad-input test ends with.
  void ExpectStillUp() {
    HttpResult r = post_json(s().consumer(), "/direct", {{"sql", "select 1"}});
    EXPECT_EQ(r.status, 200) << r.error << r.body;
  }
};

void expect_error(const HttpResult& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.error << r.body;
  ASSERT_TRUE(r.json.is_object()) << r.body;
  EXPECT_EQ(r.json["error"]["code"], code) << r.body;
  EXPECT_FALSE(r.json["error"]["message"].get<std::string>().empty());
}

TEST_F(HttpServerTest, MalformedJsonIs400) {
  expect_error(http_call(s().consumer(), "POST", "/direct", "{\"sql\": "), 400, "bad_request");
  expect_error(http_call(s().factory(), "POST", "/query", "[1,2]"), 400, "bad_request");
  ExpectStillUp();
}

TEST_F(HttpServerTest, MissingOrBadFieldsAre400) {
  HttpResult r = http_call(s().warm_proxy(), "POST", "/query", R"({"params": [1]})");
  expect_error(r, 400, "bad_request");
  EXPECT_NE(r.json["error"]["message"].get<std::string>().find("sql"), std::string::npos);
  expect_error(post_json(s().factory(), "/query", {{"sql", "select $1"}, {"params", {{1, 2}}}}),
               400, "bad_request");
  expect_error(post_json(s().factory(), "/query", {{"sql", 5}}), 400, "bad_request");
  expect_error(post_json(s().consumer(), "/direct", {{"sql", "select 1"}, {"tenant", "../etc"}}),
               400, "bad_tenant");
  ExpectStillUp();
}

TEST_F(HttpServerTest, OversizeBodyIs413) {
  std::string big(kTestMaxBodyBytes + 1, 'x');
  expect_error(http_call(s().consumer(), "POST", "/direct", big), 413, "payload_too_large");
  // Announced but never sent: refused from the header alone.
  HttpClient client(s().factory());
  HttpResult r = client.Raw("POST /query HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n");
  expect_error(r, 413, "payload_too_large");
  ExpectStillUp();
}

TEST_F(HttpServerTest, UnknownRouteIs404AndWrongMethodIs405) {
  expect_error(http_call(s().factory(), "GET", "/nope"), 404, "not_found");
  expect_error(http_call(s().consumer(), "POST", "/ping"), 404, "not_found");
  HttpResult r = http_call(s().factory(), "GET", "/query");
  expect_error(r, 405, "method_not_allowed");
  EXPECT_EQ(r.allow, "POST");
  expect_error(http_call(s().warm_proxy(), "DELETE", "/status"), 405, "method_not_allowed");
  ExpectStillUp();
}

TEST_F(HttpServerTest, SqlErrorsCarryTheirSqlstate) {
  HttpResult missing = post_json(s().factory(), "/query", {{"sql", "select * from no_such"}});
  expect_error(missing, 400, "sql");
  EXPECT_EQ(missing.json["error"]["sqlstate"], "42P01");
  EXPECT_EQ(missing.json["error"]["severity"], "ERROR");
  HttpResult syntax = post_json(s().consumer(), "/direct", {{"sql", "selec 1"}});
  EXPECT_EQ(syntax.json["error"]["sqlstate"], "42601") << syntax.body;
  HttpResult bad_param = post_json(s().warm_proxy(), "/query",
                                   {{"sql", "select $1::int"}, {"params", {"not a number"}}});
  expect_error(bad_param, 400, "sql");
  EXPECT_EQ(bad_param.json["error"]["sqlstate"], "22P02");
  HttpResult division = post_json(s().consumer(), "/cold-direct", {{"sql", "select 1/0"}});
  EXPECT_EQ(division.json["error"]["sqlstate"], "22012") << division.body;
  ExpectStillUp();
}

TEST_F(HttpServerTest, AnOpenTransactionIsRolledBack) {
  HttpResult r = post_json(s().consumer(), "/direct",
                           {{"sql", "begin; create table tx_left(x int)"}, {"tenant", "tx"}});
  expect_error(r, 400, "transaction_open");
  HttpResult after =
      post_json(s().consumer(), "/direct", {{"sql", "select * from tx_left"}, {"tenant", "tx"}});
  EXPECT_EQ(after.json["error"]["sqlstate"], "42P01") << after.body;
}

TEST_F(HttpServerTest, MalformedHttpIs400) {
  HttpClient client(s().consumer());
  HttpResult r = client.Raw("THIS IS NOT HTTP\r\n\r\n");
  expect_error(r, 400, "bad_request");
  ExpectStillUp();
}

TEST_F(HttpServerTest, ClientVanishingMidRequestLeavesTheServerUp) {
  {
    HttpClient client(s().consumer());
    client.SendAndVanish("POST /direct HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"sql");
  }
  {
    // Gone while its query runs: the reply has nowhere to go.
    HttpClient client(s().consumer());
    std::string body = json{{"sql", "select pg_sleep(0.2)"}, {"tenant", "vanish"}}.dump();
    client.SendAndVanish(
        "POST /direct HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(s().consumer()) +
        "\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ExpectStillUp();
  HttpResult same_tenant =
      post_json(s().consumer(), "/direct", {{"sql", "select 2"}, {"tenant", "vanish"}});
  EXPECT_EQ(same_tenant.status, 200) << same_tenant.body;
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  HttpClient client(s().factory());
  ASSERT_TRUE(client.connected());
  HttpResult first = client.Call("GET", "/ping");
  ASSERT_EQ(first.status, 200) << first.error;
  EXPECT_NE(first.connection, "close");
  HttpResult second = client.Call("POST", "/query", R"({"sql": "select 'again'"})");
  ASSERT_EQ(second.status, 200) << second.error;
  EXPECT_EQ(second.json["rows"][0][0], "again");
  // An error reply keeps the connection too.
  HttpResult third = client.Call("GET", "/nope");
  EXPECT_EQ(third.status, 404);
  EXPECT_EQ(client.Call("GET", "/ping").status, 200);
}

TEST_F(HttpServerTest, ExpectContinueIsHonoured) {
  HttpClient client(s().factory());
  std::string body = R"({"sql": "select 3"})";
  HttpResult r =
      client.Raw("POST /query HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(s().factory()) +
                 "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                 "Content-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(r.status, 100);
  HttpResult reply = client.Raw(body);
  EXPECT_EQ(reply.status, 200) << reply.error << reply.body;
}

// A consumer running apart from its factory reaches it over HTTP, and
// /compare says so.
TEST(HttpBinding, ConsumerApartUsesHttpAndCompareReportsIt) {
  ASSERT_TRUE(shared_server().ok());
  engine::testing::TempDir dir;
  HttpServicesOptions o = loopback_options(dir.sub("data"));
  o.factory = o.warm_proxy = false;
  o.factory_url = "http://127.0.0.1:" + std::to_string(shared_server().factory());
  ServerUnderTest consumer(o);
  ASSERT_TRUE(consumer.ok());
  EXPECT_STREQ(consumer.services().binding_kind(), "http");
  for (int i = 0; i < 2; ++i) {  // the second call reuses the kept-alive connection
    HttpResult r = post_json(consumer.consumer(), "/compare",
                             {{"sql", "select $1::int * 2 as v"}, {"params", {21}}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json["binding"], "http");
    EXPECT_EQ(r.json["factory"]["result"]["rows"], json::parse(R"([["42"]])"));
    EXPECT_EQ(r.json["factory"]["result"]["binding"]["kind"], "http");
  }
  HttpResult cold = post_json(consumer.consumer(), "/cold-factory", {{"sql", "select 1"}});
  EXPECT_EQ(cold.json["timings"]["coldKind"], "created") << cold.body;
  HttpResult sql_error = post_json(consumer.consumer(), "/factory", {{"sql", "selec"}});
  EXPECT_EQ(sql_error.json["error"]["sqlstate"], "42601") << sql_error.body;
}

TEST(HttpBinding, UnreachableFactoryIs502) {
  engine::testing::TempDir dir;
  HttpServicesOptions o = loopback_options(dir.sub("data"));
  o.factory = o.warm_proxy = false;
  o.factory_url = "http://127.0.0.1:1";
  ServerUnderTest consumer(o);
  ASSERT_TRUE(consumer.ok());
  HttpResult r = post_json(consumer.consumer(), "/factory", {{"sql", "select 1"}});
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(r.json["error"]["code"], "bad_gateway");
}

TEST(QueryJson, ParamsBecomeTextAndNull) {
  auto q = parse_query_body(R"({"sql":"x","params":["a",1,2.5,true,null]})", "d");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->extended);
  EXPECT_EQ(q->tenant, "d");
  ASSERT_EQ(q->params.size(), 5u);
  EXPECT_EQ(*q->params[0], "a");
  EXPECT_EQ(*q->params[1], "1");
  EXPECT_EQ(*q->params[2], "2.5");
  EXPECT_EQ(*q->params[3], "true");
  EXPECT_FALSE(q->params[4].has_value());
  EXPECT_FALSE(parse_query_body("", "d").ok());
  EXPECT_FALSE(parse_query_body(R"({"sql":""})", "d").ok());
}

}  // namespace
}  // namespace pgthaw::server::testing
