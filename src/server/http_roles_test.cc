// Every endpoint of the seed's three tables, against a real server on
// loopback (all roles in one process, in-process factory binding).
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "server/http_test_fixture.h"

namespace pgthaw::server::testing {
namespace {

using nlohmann::json;

class Roles : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(shared_server().ok()); }
  ServerUnderTest& s() { return shared_server(); }
};

void expect_endpoints(const HttpResult& r, const std::vector<std::string>& paths) {
  ASSERT_EQ(r.status, 200) << r.body;
  std::set<std::string> listed;
  for (const json& e : r.json["endpoints"]) listed.insert(e["path"].get<std::string>());
  for (const std::string& p : paths) EXPECT_TRUE(listed.count(p)) << p << " missing: " << r.body;
}

void expect_timings(const json& body) {
  const json& t = body["timings"];
  for (const char* k : {"queueUs", "thawUs", "execUs", "encodeUs", "totalUs"}) {
    EXPECT_TRUE(t.contains(k) && t[k].is_number_integer()) << k << ": " << body.dump();
  }
  EXPECT_TRUE(t["cold"].is_boolean());
  EXPECT_TRUE(t["coldKind"].is_string());
  EXPECT_GE(t["totalUs"].get<int64_t>(), t["execUs"].get<int64_t>());
}

TEST_F(Roles, FactoryApiInfoPingAndStatus) {
  expect_endpoints(http_call(s().factory(), "GET", "/"),
                   {"/", "/ping", "/status", "/warmup", "/query", "/timing", "/cold-start"});
  HttpResult ping = http_call(s().factory(), "GET", "/ping");
  ASSERT_EQ(ping.status, 200);
  EXPECT_EQ(ping.json["ok"], true);
  HttpResult status = http_call(s().factory(), "GET", "/status");
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.json["pool"]["size"], 1);
  EXPECT_TRUE(status.json["tenants"].contains("warm"));
  EXPECT_TRUE(status.json["tenants"].contains("hibernated"));
  EXPECT_GT(status.json["memory"]["residentBytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE(status.json["uptimeMs"].is_number());
}

TEST_F(Roles, FactoryWarmupFillsThePool) {
  HttpResult r = http_call(s().factory(), "POST", "/warmup");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["poolReady"], 1);
  EXPECT_TRUE(r.json["warmupUs"].is_number_integer());
}

TEST_F(Roles, FactoryQueryUsesTheDefaultTenantAndParams) {
  HttpResult r = post_json(s().factory(), "/query",
                           {{"sql", "select $1::int + 1 as answer, $2::text as t, $3::text as n"},
                            {"params", {41, "x", nullptr}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["fields"][0]["name"], "answer");
  EXPECT_EQ(r.json["fields"][0]["typeOid"], 23);
  EXPECT_EQ(r.json["rows"], json::parse(R"([["42","x",null]])"));
  EXPECT_EQ(r.json["rowCount"], 1);
  expect_timings(r.json);
  // A named tenant keeps its own data.
  ASSERT_EQ(post_json(s().factory(), "/query",
                      {{"sql", "create table f(x int); insert into f values (7)"},
                       {"tenant", "factory-t1"}})
                .status,
            200);
  HttpResult again =
      post_json(s().factory(), "/query", {{"sql", "select x from f"}, {"tenant", "factory-t1"}});
  EXPECT_EQ(again.json["rows"], json::parse(R"([["7"]])")) << again.body;
}

TEST_F(Roles, FactoryTimingHasPhases) {
  HttpResult r = post_json(s().factory(), "/timing", {{"sql", "select 1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  expect_timings(r.json);
  EXPECT_EQ(r.json["phases"].size(), 4u);
  EXPECT_EQ(r.json["tenant"], "default");
  EXPECT_TRUE(r.json["stateBefore"].is_string());
}

TEST_F(Roles, FactoryColdStartIsABrandNewInstanceEachTime) {
  for (int i = 0; i < 2; ++i) {
    HttpResult r = post_json(s().factory(), "/cold-start",
                             {{"sql",
                               "create table c(x int); insert into c values (1); "
                               "select count(*) from c"}});
    ASSERT_EQ(r.status, 200) << r.body;  // would fail the 2nd time on a reused instance
    EXPECT_EQ(r.json["rows"], json::parse(R"([["1"]])"));
    EXPECT_EQ(r.json["timings"]["cold"], true);
    EXPECT_EQ(r.json["timings"]["coldKind"], "created");
    EXPECT_GT(r.json["timings"]["thawUs"].get<int64_t>(), 0);
  }
}

TEST_F(Roles, ConsumerApiInfoNamesTheBinding) {
  HttpResult r = http_call(s().consumer(), "GET", "/");
  expect_endpoints(r, {"/", "/direct", "/factory", "/compare", "/cold-direct", "/cold-factory"});
  EXPECT_EQ(r.json["binding"]["kind"], "in-process");
}

TEST_F(Roles, ConsumerDirectUsesTheTenantsOwnInstance) {
  HttpResult create =
      post_json(s().consumer(), "/direct",
                {{"sql", "create table notes(id int, body text)"}, {"tenant", "acme"}});
  ASSERT_EQ(create.status, 200) << create.body;
  HttpResult insert = post_json(s().consumer(), "/direct",
                                {{"sql", "insert into notes values ($1, $2), ($3, $4)"},
                                 {"params", {1, "one", 2, true}},
                                 {"tenant", "acme"}});
  ASSERT_EQ(insert.status, 200) << insert.body;
  EXPECT_EQ(insert.json["rowCount"], 2);
  EXPECT_EQ(insert.json["command"], "INSERT 0 2");
  HttpResult select =
      post_json(s().consumer(), "/direct",
                {{"sql", "select id, body from notes order by id"}, {"tenant", "acme"}});
  ASSERT_EQ(select.status, 200) << select.body;
  EXPECT_EQ(select.json["rows"], json::parse(R"([["1","one"],["2","true"]])"));
  EXPECT_EQ(select.json["timings"]["cold"], false);
  // Another tenant does not see it.
  HttpResult other =
      post_json(s().consumer(), "/direct", {{"sql", "select * from notes"}, {"tenant", "other"}});
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(other.json["error"]["sqlstate"], "42P01");
}

TEST_F(Roles, ConsumerFactoryGoesThroughTheBinding) {
  HttpResult r = post_json(s().consumer(), "/factory", {{"sql", "select 'via factory' as v"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["rows"], json::parse(R"([["via factory"]])"));
  EXPECT_EQ(r.json["binding"]["kind"], "in-process");
  EXPECT_TRUE(r.json["binding"]["bindingUs"].is_number_integer());
  expect_timings(r.json);
}

TEST_F(Roles, ConsumerCompareRunsBothAndReportsTheDifference) {
  HttpResult r =
      post_json(s().consumer(), "/compare", {{"sql", "select 40 + 2 as v"}, {"tenant", "cmp"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["binding"], "in-process");
  EXPECT_EQ(r.json["direct"]["result"]["rows"], json::parse(R"([["42"]])"));
  EXPECT_EQ(r.json["factory"]["result"]["rows"], json::parse(R"([["42"]])"));
  EXPECT_EQ(r.json["sameRows"], true);
  EXPECT_EQ(
      r.json["differenceUs"].get<int64_t>(),
      r.json["direct"]["elapsedUs"].get<int64_t>() - r.json["factory"]["elapsedUs"].get<int64_t>());
  EXPECT_TRUE(r.json["faster"] == "direct" || r.json["faster"] == "factory");
}

TEST_F(Roles, ConsumerColdDirectAndColdFactoryAreCold) {
  for (const char* path : {"/cold-direct", "/cold-factory"}) {
    HttpResult r = post_json(s().consumer(), path, {{"sql", "select 1 as one"}});
    ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.json["rows"], json::parse(R"([["1"]])"));
    EXPECT_EQ(r.json["timings"]["cold"], true) << path;
    EXPECT_EQ(r.json["timings"]["coldKind"], "created") << path;
  }
  HttpResult via = post_json(s().consumer(), "/cold-factory", {{"sql", "select 1"}});
  EXPECT_EQ(via.json["binding"]["kind"], "in-process");
}

TEST_F(Roles, WarmProxyApiInfoPingStatus) {
  expect_endpoints(http_call(s().warm_proxy(), "GET", "/"),
                   {"/", "/ping", "/status", "/query", "/timing"});
  EXPECT_EQ(http_call(s().warm_proxy(), "GET", "/ping").json["ok"], true);
  HttpResult status = http_call(s().warm_proxy(), "GET", "/status");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(status.json["instance"]["persistent"], false);
  std::string dir = status.json["instance"]["dataDir"].get<std::string>();
  if (access("/dev/shm", W_OK) == 0) {
    EXPECT_EQ(dir.rfind("/dev/shm/", 0), 0u) << dir;
  }
}

TEST_F(Roles, WarmProxyQueryAndTimingShareOneInstance) {
  HttpResult first = post_json(s().warm_proxy(), "/query",
                               {{"sql",
                                 "create table if not exists w(x int); "
                                 "insert into w values (1); select count(*) from w"}});
  ASSERT_EQ(first.status, 200) << first.body;
  int64_t n = std::stoll(first.json["rows"][0][0].get<std::string>());
  HttpResult second = post_json(s().warm_proxy(), "/timing",
                                {{"sql", "select count(*) from w"}, {"tenant", "ignored"}});
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.json["rows"][0][0], std::to_string(n));
  EXPECT_EQ(second.json["timings"]["cold"], false);
  EXPECT_EQ(second.json["phases"].size(), 4u);
  EXPECT_EQ(http_call(s().warm_proxy(), "GET", "/status").json["instance"]["state"], "warm");
}

TEST_F(Roles, MetricsOnEveryRole) {
  ASSERT_EQ(post_json(s().consumer(), "/cold-direct", {{"sql", "select 1"}}).status, 200);
  ASSERT_EQ(http_call(s().factory(), "GET", "/ping").status, 200);
  for (unsigned short port : {s().factory(), s().consumer(), s().warm_proxy()}) {
    HttpResult r = http_call(port, "GET", "/metrics");
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.content_type.find("text/plain"), std::string::npos);
    for (const char* needle :
         {"pgthaw_http_requests_total{role=\"factory\",route=\"/ping\",method=\"GET\","
          "status=\"200\"}",
          "pgthaw_http_request_duration_seconds_bucket{role=\"factory\",route=\"/ping\",le=",
          "pgthaw_cold_starts_total{role=\"consumer\",kind=\"created\"}",
          "pgthaw_tenants{runtime=\"tenants\",state=\"warm\"}",
          "pgthaw_tenants{runtime=\"factory\",state=\"hibernated\"}",
          "pgthaw_warm_memory_bytes{runtime=\"tenants\"}", "pgthaw_warm_proxy_instances",
          "pgthaw_process_resident_memory_bytes"}) {
      EXPECT_NE(r.body.find(needle), std::string::npos) << needle;
    }
  }
}

}  // namespace
}  // namespace pgthaw::server::testing
