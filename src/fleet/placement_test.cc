#include "fleet/placement.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fleet/test_support.h"

namespace pgthaw::fleet {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::EtcdProcess;
using testing::MakeClient;

// A node of the test: its own client, lease and placement.
struct TestNode {
  std::shared_ptr<EtcdClient> client;
  std::unique_ptr<NodeLease> lease;
  std::unique_ptr<Placement> placement;
};

class PlacementTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<EtcdProcess>> started = EtcdProcess::Start();
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    etcd_ = std::move(started).value().release();
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(etcd_, nullptr);
    admin_ = MakeClient({etcd_->endpoint()});
  }

  // Node ids carry the test's name: the suite shares one etcd.
  static std::string Id(std::string_view name) {
    return std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
           std::string(name);
  }

  TestNode StartNode(std::string_view name, bool background_renewal = true) {
    TestNode node;
    node.client = MakeClient({etcd_->endpoint()});
    NodeLease::Options options;
    options.node_id = Id(name);
    options.addresses = {.postgres = options.node_id + ":5432", .http = options.node_id + ":80"};
    options.ttl = seconds(10);
    options.background_renewal = background_renewal;
    Result<std::unique_ptr<NodeLease>> lease = NodeLease::Start(node.client, options);
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    if (!lease.ok()) return node;
    node.lease = std::move(lease).value();
    node.placement = std::make_unique<Placement>(node.client, node.lease.get());
    return node;
  }

  static EtcdProcess* etcd_;
  std::shared_ptr<EtcdClient> admin_;
};
EtcdProcess* PlacementTest::etcd_ = nullptr;

TEST_F(PlacementTest, ExactlyOneOfTwoRacingNodesClaimsATenant) {
  TestNode a = StartNode("a");
  TestNode b = StartNode("b");
  ASSERT_TRUE(a.placement && b.placement);
  int wins_a = 0;
  for (int round = 0; round < 20; ++round) {
    const std::string tenant = Id("tenant") + std::to_string(round);
    std::atomic<bool> go{false};
    Result<TenantOwner> from_a = Status::Internal("not run");
    Result<TenantOwner> from_b = Status::Internal("not run");
    std::thread racer_a([&] {
      while (!go) std::this_thread::yield();
      from_a = a.placement->Claim(tenant);
    });
    std::thread racer_b([&] {
      while (!go) std::this_thread::yield();
      from_b = b.placement->Claim(tenant);
    });
    go = true;
    racer_a.join();
    racer_b.join();
    ASSERT_TRUE(from_a.ok()) << from_a.status().ToString();
    ASSERT_TRUE(from_b.ok()) << from_b.status().ToString();
    ASSERT_NE(from_a->owned_by_me, from_b->owned_by_me) << "round " << round;
    const TestNode& winner = from_a->owned_by_me ? a : b;
    wins_a += from_a->owned_by_me ? 1 : 0;
    // Both agree on who owns it, where to reach it and its fencing token.
    for (const Result<TenantOwner>* seen : {&from_a, &from_b}) {
      EXPECT_EQ(seen->value().node_id, winner.lease->node_id());
      EXPECT_EQ(seen->value().addresses.postgres, winner.lease->addresses().postgres);
      EXPECT_EQ(seen->value().lease, winner.lease->lease_id());
    }
    EXPECT_EQ(from_a->fencing_token, from_b->fencing_token);
  }
  RecordProperty("wins_of_a", wins_a);
}

TEST_F(PlacementTest, ClaimOwnerAndRelease) {
  TestNode a = StartNode("a");
  TestNode b = StartNode("b");
  ASSERT_TRUE(a.placement && b.placement);
  const std::string tenant = Id("t");

  Result<std::optional<TenantOwner>> none = b.placement->Owner(tenant);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  Result<TenantOwner> claimed = a.placement->Claim(tenant);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  EXPECT_TRUE(claimed->owned_by_me);
  EXPECT_GT(claimed->fencing_token, 0);
  // Claiming what is ours already changes nothing.
  Result<TenantOwner> again = a.placement->Claim(tenant);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->owned_by_me);
  EXPECT_EQ(again->fencing_token, claimed->fencing_token);

  Result<std::optional<TenantOwner>> seen_by_b = b.placement->Owner(tenant);
  ASSERT_TRUE(seen_by_b.ok());
  ASSERT_TRUE(seen_by_b->has_value());
  EXPECT_FALSE(seen_by_b.value()->owned_by_me);
  EXPECT_EQ(seen_by_b.value()->node_id, Id("a"));
  EXPECT_EQ(seen_by_b.value()->addresses.http, Id("a") + ":80");

  EXPECT_EQ(b.placement->Release(tenant).code(), StatusCode::kNotFound);
  ASSERT_TRUE(a.placement->Release(tenant).ok());
  Result<TenantOwner> taken = b.placement->Claim(tenant);
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(taken->owned_by_me);
  EXPECT_GT(taken->fencing_token, claimed->fencing_token);

  EXPECT_EQ(a.placement->Claim("bad/tenant").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(PlacementTest, ADeadOwnersTenantIsFreeOnceItsLeaseEnds) {
  TestNode a = StartNode("a", /*background_renewal=*/false);
  TestNode b = StartNode("b");
  ASSERT_TRUE(a.placement && b.placement);
  const std::string tenant = Id("t");
  ASSERT_TRUE(a.placement->Claim(tenant).ok());
  Result<TenantOwner> blocked = b.placement->Claim(tenant);
  ASSERT_TRUE(blocked.ok());
  EXPECT_FALSE(blocked->owned_by_me);

  // a's lease ends (as when it expires after a's death).
  ASSERT_TRUE(admin_->LeaseRevoke(a.lease->lease_id()).ok());
  Result<TenantOwner> taken = b.placement->Claim(tenant);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_TRUE(taken->owned_by_me);
  EXPECT_EQ(taken->node_id, Id("b"));
}

TEST_F(PlacementTest, AStaleOwnersLateWriteIsRejected) {
  // a renews nothing: it stands for an owner that stalled (a long pause)
  // and has not noticed yet that its lease ended.
  TestNode a = StartNode("a", /*background_renewal=*/false);
  TestNode b = StartNode("b");
  ASSERT_TRUE(a.placement && b.placement);
  const std::string tenant = Id("t");
  const std::string data_key = "/pgthaw/tenants/" + tenant + "/manifest";

  Result<TenantOwner> by_a = a.placement->Claim(tenant);
  ASSERT_TRUE(by_a.ok());
  ASSERT_TRUE(by_a->owned_by_me);
  ASSERT_TRUE(a.placement->GuardedPut(tenant, by_a->fencing_token, data_key, "a1").ok());
  ASSERT_TRUE(a.placement->CheckFence(tenant, by_a->fencing_token).ok());

  ASSERT_TRUE(admin_->LeaseRevoke(a.lease->lease_id()).ok());
  Result<TenantOwner> by_b = b.placement->Claim(tenant);
  ASSERT_TRUE(by_b.ok());
  ASSERT_TRUE(by_b->owned_by_me);
  ASSERT_NE(by_b->fencing_token, by_a->fencing_token);

  ASSERT_TRUE(a.lease->serving()) << "the stale owner still believes it serves";
  EXPECT_EQ(a.placement->GuardedPut(tenant, by_a->fencing_token, data_key, "late").code(),
            StatusCode::kAborted);
  EXPECT_EQ(a.placement->CheckFence(tenant, by_a->fencing_token).code(), StatusCode::kAborted);
  // b's own token, used by a, does not name a either.
  EXPECT_EQ(a.placement->GuardedPut(tenant, by_b->fencing_token, data_key, "late").code(),
            StatusCode::kAborted);
  Result<RangeResult> data = admin_->Range(data_key);
  ASSERT_TRUE(data.ok());
  ASSERT_EQ(data->kvs.size(), 1u);
  EXPECT_EQ(data->kvs[0].value, "a1");

  ASSERT_TRUE(b.placement->GuardedPut(tenant, by_b->fencing_token, data_key, "b1").ok());
  data = admin_->Range(data_key);
  ASSERT_TRUE(data.ok());
  ASSERT_EQ(data->kvs.size(), 1u);
  EXPECT_EQ(data->kvs[0].value, "b1");
}

TEST_F(PlacementTest, AFencedNodeClaimsAndWritesNothing) {
  std::atomic<int64_t> fake_ms{0};
  const auto epoch = std::chrono::steady_clock::now();
  std::shared_ptr<EtcdClient> client = MakeClient({etcd_->endpoint()});
  NodeLease::Options options;
  options.node_id = Id("a");
  options.ttl = seconds(10);
  options.clock = [&] { return epoch + milliseconds(fake_ms.load()); };
  options.background_renewal = false;
  Result<std::unique_ptr<NodeLease>> lease = NodeLease::Start(client, options);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  Placement placement(client, lease.value().get());
  const std::string tenant = Id("t");
  Result<TenantOwner> claimed = placement.Claim(tenant);
  ASSERT_TRUE(claimed.ok());

  fake_ms = 7500;  // TTL 10 s - margin 2.5 s
  EXPECT_EQ(placement.Claim(Id("other")).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(placement.GuardedPut(tenant, claimed->fencing_token, "/x", "y").code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(placement.CheckFence(tenant, claimed->fencing_token).code(), StatusCode::kUnavailable);
}

TEST_F(PlacementTest, ListsNodesWithTheirTenantCounts) {
  TestNode a = StartNode("a");
  TestNode b = StartNode("b");
  ASSERT_TRUE(a.placement && b.placement);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.placement->Claim(Id("ta") + std::to_string(i)).ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(b.placement->Claim(Id("tb") + std::to_string(i)).ok());
  // Other per-tenant keys are not owners.
  ASSERT_TRUE(admin_->Put("/pgthaw/tenants/" + Id("ta0") + "/manifest", Id("a")).ok());

  Result<std::map<std::string, int64_t>> counts = a.placement->TenantCountsByNode();
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(counts.value()[Id("a")], 3);
  EXPECT_EQ(counts.value()[Id("b")], 2);

  Result<std::vector<NodeStatus>> nodes = b.placement->ListNodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  int found = 0;
  for (const NodeStatus& node : nodes.value()) {
    if (node.node_id == Id("a")) {
      ++found;
      EXPECT_EQ(node.tenants, 3);
      EXPECT_EQ(node.lease, a.lease->lease_id());
      EXPECT_EQ(node.addresses.postgres, Id("a") + ":5432");
    } else if (node.node_id == Id("b")) {
      ++found;
      EXPECT_EQ(node.tenants, 2);
    }
  }
  EXPECT_EQ(found, 2);
}

}  // namespace
}  // namespace pgthaw::fleet
