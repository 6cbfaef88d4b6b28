#include "fleet/node_lease.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fleet/test_support.h"

namespace pgthaw::fleet {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::EtcdProcess;
using testing::MakeClient;

// Polls `condition` every 20 ms until it holds or `limit` passes.
template <typename Condition>
bool WaitFor(Condition condition, steady_clock::duration limit) {
  const auto deadline = steady_clock::now() + limit;
  while (!condition()) {
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

class NodeLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<EtcdProcess>> started = EtcdProcess::Start();
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    etcd_ = std::move(started).value();
    client_ = MakeClient({etcd_->endpoint()});
  }

  NodeLease::Options NodeOptions(std::string node_id, seconds ttl) {
    NodeLease::Options options;
    options.node_id = std::move(node_id);
    options.addresses = {.postgres = "10.1.2.3:5432", .http = "10.1.2.3:8080"};
    options.ttl = ttl;
    return options;
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::shared_ptr<EtcdClient> client_;
};

TEST(NodeRecordTest, RoundTripsAndRejectsBadIds) {
  const std::string record = NodeRecordJson("n1", {.postgres = "a:1", .http = "b:2"});
  Result<NodeAddresses> parsed = ParseNodeRecord(record);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->postgres, "a:1");
  EXPECT_EQ(parsed->http, "b:2");
  EXPECT_FALSE(ParseNodeRecord("not json").ok());
  EXPECT_EQ(NodeKey("n1"), "/pgthaw/nodes/n1");
  EXPECT_TRUE(ValidateIdSegment("id", "tenant-1.x").ok());
  EXPECT_FALSE(ValidateIdSegment("id", "").ok());
  EXPECT_FALSE(ValidateIdSegment("id", "a/b").ok());
  EXPECT_FALSE(ValidateIdSegment("id", std::string("a\0b", 3)).ok());
}

TEST_F(NodeLeaseTest, RegistersUnderItsLeaseAndLeaves) {
  Result<std::unique_ptr<NodeLease>> node =
      NodeLease::Start(client_, NodeOptions("n1", seconds(4)));
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  NodeLease& lease = *node.value();
  EXPECT_TRUE(lease.serving());
  EXPECT_EQ(lease.safety_margin(), seconds(1));
  Result<RangeResult> key = client_->Range("/pgthaw/nodes/n1");
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(key->kvs.size(), 1u);
  EXPECT_EQ(key->kvs[0].lease, lease.lease_id());
  Result<NodeAddresses> addresses = ParseNodeRecord(key->kvs[0].value);
  ASSERT_TRUE(addresses.ok());
  EXPECT_EQ(addresses->postgres, "10.1.2.3:5432");
  EXPECT_EQ(addresses->http, "10.1.2.3:8080");

  const int64_t lease_id = lease.lease_id();
  ASSERT_TRUE(lease.Leave().ok());
  EXPECT_FALSE(lease.serving());
  key = client_->Range("/pgthaw/nodes/n1");
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(key->kvs.empty());
  Result<int64_t> left = client_->LeaseTimeToLive(lease_id);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left.value(), -1);
}

TEST_F(NodeLeaseTest, RejectsBadOptions) {
  EXPECT_FALSE(NodeLease::Start(client_, NodeOptions("a/b", seconds(4))).ok());
  EXPECT_FALSE(NodeLease::Start(client_, NodeOptions("n", seconds(1))).ok());
  NodeLease::Options options = NodeOptions("n", seconds(4));
  options.safety_margin = seconds(4);
  EXPECT_FALSE(NodeLease::Start(client_, options).ok());
}

TEST_F(NodeLeaseTest, FencesAtTtlMinusMarginByItsClock) {
  std::atomic<int64_t> fake_ms{0};
  const steady_clock::time_point epoch = steady_clock::now();
  NodeLease::Options options = NodeOptions("clocked", seconds(20));
  options.clock = [&] { return epoch + milliseconds(fake_ms.load()); };
  options.background_renewal = false;
  Result<std::unique_ptr<NodeLease>> node = NodeLease::Start(client_, options);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  NodeLease& lease = *node.value();
  EXPECT_EQ(lease.safety_margin(), seconds(5)) << "max(1 s, TTL/4)";
  EXPECT_EQ(lease.fence_deadline(), epoch + seconds(15));

  fake_ms = 14999;
  EXPECT_TRUE(lease.serving());
  fake_ms = 15000;
  EXPECT_FALSE(lease.serving()) << "fenced at TTL - margin, while the lease still holds";
  // A renewal that works (the lease is alive in etcd) ends the fence, and
  // the next one is counted from when it was sent.
  ASSERT_TRUE(lease.RenewOnce().ok());
  EXPECT_TRUE(lease.serving());
  EXPECT_EQ(lease.fence_deadline(), epoch + milliseconds(30000));
}

TEST_F(NodeLeaseTest, RenewalKeepsTheLeaseBeyondItsTtl) {
  Result<std::unique_ptr<NodeLease>> node =
      NodeLease::Start(client_, NodeOptions("kept", seconds(2)));
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  std::this_thread::sleep_for(milliseconds(3500));
  EXPECT_TRUE(node.value()->serving());
  Result<int64_t> left = client_->LeaseTimeToLive(node.value()->lease_id());
  ASSERT_TRUE(left.ok());
  EXPECT_GT(left.value(), 0);
  Result<RangeResult> key = client_->Range("/pgthaw/nodes/kept");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->kvs.size(), 1u);
}

TEST_F(NodeLeaseTest, StopsServingBeforeTheLeaseCanExpireWhenEtcdIsSilent) {
  std::atomic<int> fenced_reports{0};
  std::atomic<int> unfenced_reports{0};
  NodeLease::Options options = NodeOptions("silent", seconds(4));
  options.safety_margin = seconds(2);
  options.on_serving_changed = [&](bool serving) {
    (serving ? unfenced_reports : fenced_reports)++;
  };
  Result<std::unique_ptr<NodeLease>> node = NodeLease::Start(client_, options);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  NodeLease& lease = *node.value();
  const int64_t lease_id = lease.lease_id();

  etcd_->Pause();
  const auto paused_at = steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return !lease.serving(); }, seconds(4)));
  const auto fenced_at = steady_clock::now();
  const auto since_renewal = fenced_at - lease.last_renewal_sent();
  EXPECT_GE(since_renewal, seconds(2));  // TTL - margin
  EXPECT_LT(since_renewal, milliseconds(2500));
  EXPECT_LT(fenced_at - paused_at, milliseconds(2500));
  // The renewal thread reports the fence at its deadline, not at its next
  // renewal attempt.
  EXPECT_TRUE(WaitFor([&] { return fenced_reports.load() == 1; }, milliseconds(400)));

  // The lease is still alive in etcd: the node stopped before anyone else
  // could have been handed its tenants.
  etcd_->Resume();
  Result<int64_t> left = client_->LeaseTimeToLive(lease_id);
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_GT(left.value(), 0);
  // Renewals work again and the same lease is still valid: serving again.
  EXPECT_TRUE(WaitFor([&] { return lease.serving(); }, seconds(3)));
  EXPECT_EQ(lease.lease_id(), lease_id);
  EXPECT_TRUE(WaitFor([&] { return unfenced_reports.load() == 1; }, milliseconds(400)));
}

TEST_F(NodeLeaseTest, RegistersAgainWhenItsLeaseIsGone) {
  std::atomic<int64_t> replaced_by{0};
  NodeLease::Options options = NodeOptions("reborn", seconds(3));
  options.on_lease_replaced = [&](int64_t, int64_t new_lease) { replaced_by = new_lease; };
  Result<std::unique_ptr<NodeLease>> node = NodeLease::Start(client_, options);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  const int64_t old_lease = node.value()->lease_id();
  ASSERT_TRUE(client_->LeaseRevoke(old_lease).ok());
  ASSERT_TRUE(WaitFor([&] { return replaced_by.load() != 0; }, seconds(3)));
  EXPECT_NE(replaced_by.load(), old_lease);
  EXPECT_EQ(node.value()->lease_id(), replaced_by.load());
  EXPECT_TRUE(node.value()->serving());
  Result<RangeResult> key = client_->Range("/pgthaw/nodes/reborn");
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(key->kvs.size(), 1u);
  EXPECT_EQ(key->kvs[0].lease, replaced_by.load());
}

}  // namespace
}  // namespace pgthaw::fleet
