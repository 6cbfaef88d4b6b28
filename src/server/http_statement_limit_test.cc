// The server's --statement-timeout and --max-queued-per-tenant cover every
// way into guest code over HTTP: a tenant's own instance, the throwaway
// cold starts and the warm proxy's one instance. Real services, real engine.
#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "server/http_test_fixture.h"

namespace pgthaw::server::testing {
namespace {

using nlohmann::json;

constexpr int64_t kLimitMs = 500;

TEST(HttpStatementLimit, StopsAnEndlessLoopOnEveryRoute) {
  engine::testing::TempDir dir;
  HttpServicesOptions options = loopback_options(dir.sub("data"));
  options.statement_timeout_ms = kLimitMs;
  ServerUnderTest s(options);
  ASSERT_TRUE(s.ok());
  const json loop = {{"sql", "do $$ begin loop end loop; end $$"}, {"tenant", "looper"}};
  struct Route {
    unsigned short port;
    const char* path;
  };
  for (Route r : {Route{s.consumer(), "/direct"}, Route{s.consumer(), "/cold-direct"},
                  Route{s.factory(), "/cold-start"}, Route{s.warm_proxy(), "/query"}}) {
    HttpResult stopped = post_json(r.port, r.path, loop);
    EXPECT_EQ(stopped.status, 500) << r.path << ": " << stopped.body;
    EXPECT_EQ(stopped.json["error"]["sqlstate"], "57014") << r.path << ": " << stopped.body;
    EXPECT_EQ(stopped.json["error"]["message"], "canceling statement due to statement timeout")
        << r.path;
  }
  // Both instances that live on answer afterwards.
  HttpResult direct =
      post_json(s.consumer(), "/direct", {{"sql", "select 1"}, {"tenant", "looper"}});
  EXPECT_EQ(direct.status, 200) << direct.body;
  HttpResult proxy = post_json(s.warm_proxy(), "/query", {{"sql", "select 1"}});
  EXPECT_EQ(proxy.status, 200) << proxy.body;
}

TEST(HttpStatementLimit, ColdStartsAndTheWarmProxyHaveAQueueCap) {
  engine::testing::TempDir dir;
  HttpServicesOptions options = loopback_options(dir.sub("data"));
  options.max_queued_per_tenant = 1;
  ServerUnderTest s(options);
  ASSERT_TRUE(s.ok());
  const json slow = {{"sql", "select pg_sleep(1)"}};
  struct Route {
    unsigned short port;
    const char* path;
  };
  for (Route r : {Route{s.consumer(), "/cold-direct"}, Route{s.factory(), "/cold-start"},
                  Route{s.warm_proxy(), "/query"}}) {
    std::vector<std::future<HttpResult>> calls;
    for (int i = 0; i < 4; ++i) {
      calls.push_back(
          std::async(std::launch::async, [&] { return post_json(r.port, r.path, slow); }));
    }
    int answered = 0, refused = 0;
    for (auto& c : calls) {
      HttpResult got = c.get();
      if (got.status == 200) ++answered;
      if (got.status == 503) {
        ++refused;
        EXPECT_EQ(got.json["error"]["code"], "resource_exhausted") << got.body;
      }
    }
    // One at a time runs; the others, sent while it does, are refused.
    EXPECT_GE(answered, 1) << r.path;
    EXPECT_GE(refused, 1) << r.path;
    EXPECT_EQ(answered + refused, 4) << r.path;
  }
  // Room again once they are done.
  HttpResult after = post_json(s.factory(), "/cold-start", {{"sql", "select 1"}});
  EXPECT_EQ(after.status, 200) << after.body;
}

}  // namespace
}  // namespace pgthaw::server::testing
