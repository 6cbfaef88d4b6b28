// FleetMembership against a real etcd (fleet/test_support.h): routing by
// ownership, a graceful leave, fencing when etcd stops answering, and the
// address parsing of --advertise-pg.
#include "server/fleet_membership.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "common/thread_annotations.h"
#include "fleet/test_support.h"
#include "objstore/file_object_store.h"
#include "server/fenced_object_store.h"

namespace pgthaw::server {
namespace {

using namespace std::chrono_literals;

TEST(SplitHostPortTest, ReadsHostAndPort) {
  auto v4 = SplitHostPort("10.0.0.5:6432");
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_EQ(v4->first, "10.0.0.5");
  EXPECT_EQ(v4->second, 6432);
  auto v6 = SplitHostPort("[::1]:5432");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->first, "::1");
  EXPECT_EQ(v6->second, 5432);
  auto name = SplitHostPort("node-a.internal:1");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->first, "node-a.internal");
  for (const char* bad :
       {"", "host", "host:", ":5432", "host:0", "host:65536", "host:12x", "host:-1"}) {
    EXPECT_FALSE(SplitHostPort(bad).ok()) << bad;
  }
}

class FleetMembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = fleet::testing::EtcdProcess::Start();
    ASSERT_TRUE(etcd.ok()) << etcd.status().ToString();
    etcd_ = std::move(etcd).value();
  }
  void TearDown() override {
    if (etcd_ != nullptr) etcd_->Resume();
  }

  std::shared_ptr<FleetMembership> Join(const std::string& id, const std::string& pg) {
    FleetOptions o;
    o.etcd = {etcd_->endpoint()};
    o.node_id = id;
    o.advertise_pg = pg;
    o.lease_ttl = 3s;
    auto m = FleetMembership::Join(o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : nullptr;
  }

  std::unique_ptr<fleet::testing::EtcdProcess> etcd_;
};

TEST_F(FleetMembershipTest, RoutesToTheOwnerAndTakesOverAfterItLeaves) {
  auto a = Join("a", "127.0.0.1:7001");
  auto b = Join("b", "127.0.0.1:7002");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto at_a = a->Route("t1");
  ASSERT_TRUE(at_a.ok()) << at_a.status().ToString();
  EXPECT_TRUE(at_a->local);
  EXPECT_EQ(at_a->owner, "a");
  auto at_b = b->Route("t1");
  ASSERT_TRUE(at_b.ok()) << at_b.status().ToString();
  EXPECT_FALSE(at_b->local);
  EXPECT_EQ(at_b->owner, "a");
  EXPECT_EQ(at_b->owner_host, "127.0.0.1");
  EXPECT_EQ(at_b->owner_port, 7001);
  // Asked again (from the remembered claim, then asynchronously): still a's.
  EXPECT_TRUE(a->Route("t1")->local);
  std::promise<Result<TenantRoute>> routed;
  b->RouteAsync("t1", [&](Result<TenantRoute> r) { routed.set_value(std::move(r)); });
  auto async_route = routed.get_future().get();
  ASSERT_TRUE(async_route.ok());
  EXPECT_EQ(async_route->owner_port, 7001);

  ASSERT_TRUE(a->Leave().ok());
  auto taken = b->Route("t1");
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_TRUE(taken->local);
  EXPECT_EQ(taken->owner, "b");
}

TEST_F(FleetMembershipTest, FencedWhenEtcdStopsAnswering) {
  auto a = Join("a", "127.0.0.1:7001");
  ASSERT_NE(a, nullptr);
  std::promise<std::string> lost;
  std::atomic<bool> told{false};
  a->SetOwnershipLostHandler([&](const std::string& why) {
    if (!told.exchange(true)) lost.set_value(why);
  });
  ASSERT_TRUE(a->Route("t1").ok());
  // The node's store: writable while it serves.
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("pgthaw-fenced-store-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::remove_all(dir);
  auto files = objstore::FileObjectStore::Open(dir);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  FencedObjectStore store(std::shared_ptr<objstore::ObjectStore>(std::move(files).value()),
                          [&a] { return a->CheckServing(); });
  ASSERT_TRUE(store.Put("tenants/t1/manifest", "before").ok());
  etcd_->Pause();
  auto future = lost.get_future();
  // TTL 3 s, margin 1 s: fenced at most 2 s after the last renewal.
  ASSERT_EQ(future.wait_for(4s), std::future_status::ready);
  EXPECT_NE(future.get().find("lost its etcd lease"), std::string::npos);
  EXPECT_FALSE(a->serving());
  // Even the remembered claim is refused now.
  auto refused = a->Route("t1");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("lost its etcd lease"), std::string::npos);
  // Fenced: no write reaches the store; reads still do.
  Status put = store.Put("tenants/t1/manifest", "after");
  EXPECT_EQ(put.code(), StatusCode::kUnavailable) << put.ToString();
  EXPECT_EQ(store.PutIfAbsent("blobs/x", "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(store.Delete("tenants/t1/manifest").code(), StatusCode::kUnavailable);
  auto read = store.Get("tenants/t1/manifest");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, "before");
  std::filesystem::remove_all(dir);
  etcd_->Resume();
}

TEST(FleetMembershipJoinTest, UnreachableEtcdIsUnavailable) {
  FleetOptions o;
  o.etcd = {{"127.0.0.1", fleet::testing::FreeLoopbackPort()}};
  o.node_id = "a";
  o.advertise_pg = "127.0.0.1:7001";
  auto m = FleetMembership::Join(o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable) << m.status().ToString();
}

}  // namespace
}  // namespace pgthaw::server
