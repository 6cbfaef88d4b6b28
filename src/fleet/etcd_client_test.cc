#include "fleet/etcd_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fleet/base64.h"
#include "fleet/test_support.h"

namespace pgthaw::fleet {
namespace {

using testing::EtcdProcess;
using testing::FreeLoopbackPort;
using testing::MakeClient;

// Every byte value, NUL and 0xff included.
std::string AllBytes() {
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  return bytes;
}

class EtcdClientTest : public ::testing::Test {
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
    client_ = MakeClient({etcd_->endpoint()});
  }

  static EtcdProcess* etcd_;
  std::shared_ptr<EtcdClient> client_;
};
EtcdProcess* EtcdClientTest::etcd_ = nullptr;

TEST(Base64Test, RoundTripsEveryLength) {
  const std::string bytes = AllBytes();
  for (size_t length = 0; length <= 9; ++length) {
    const std::string original = bytes.substr(250 - length, length);
    Result<std::string> decoded = Base64Decode(Base64Encode(original));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded.value(), original) << "length " << length;
  }
  Result<std::string> all = Base64Decode(Base64Encode(bytes));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all.value(), bytes);
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
  EXPECT_FALSE(Base64Decode("YWI").ok());
  EXPECT_FALSE(Base64Decode("Y*I=").ok());
}

TEST(EtcdEndpointTest, ParsesUrls) {
  Result<std::vector<EtcdEndpoint>> endpoints =
      ParseEtcdEndpoints("http://10.0.0.1:2379,http://etcd-b,http://[::1]:12379/");
  ASSERT_TRUE(endpoints.ok()) << endpoints.status().ToString();
  ASSERT_EQ(endpoints->size(), 3u);
  EXPECT_EQ(endpoints.value()[0].host, "10.0.0.1");
  EXPECT_EQ(endpoints.value()[0].port, 2379);
  EXPECT_EQ(endpoints.value()[1].host, "etcd-b");
  EXPECT_EQ(endpoints.value()[1].port, 2379);
  EXPECT_EQ(endpoints.value()[2].host, "::1");
  EXPECT_EQ(endpoints.value()[2].port, 12379);
  EXPECT_FALSE(ParseEtcdEndpoints("").ok());
  EXPECT_FALSE(ParseEtcdEndpoint("https://a:1").ok());
  EXPECT_FALSE(ParseEtcdEndpoint("http://a:99999").ok());
  EXPECT_FALSE(ParseEtcdEndpoint("http://a:x").ok());
}

TEST(PrefixRangeEndTest, BumpsTheLastByte) {
  EXPECT_EQ(PrefixRangeEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixRangeEnd(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(PrefixRangeEnd(""), std::string(1, '\0'));
}

TEST_F(EtcdClientTest, PutRangeDeleteRoundTripBinaryKeysAndValues) {
  const std::string key = std::string("/bin\0key\xff\n", 10);
  const std::string value = AllBytes();
  Result<int64_t> put = client_->Put(key, value);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_GT(put.value(), 0);

  Result<RangeResult> range = client_->Range(key);
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].key, key);
  EXPECT_EQ(range->kvs[0].value, value);
  EXPECT_EQ(range->kvs[0].mod_revision, put.value());
  EXPECT_EQ(range->kvs[0].create_revision, put.value());
  EXPECT_EQ(range->kvs[0].version, 1);
  EXPECT_EQ(range->kvs[0].lease, 0);
  EXPECT_EQ(range->count, 1);

  // An empty value comes back empty (the gateway leaves the field out).
  ASSERT_TRUE(client_->Put(key, "").ok());
  range = client_->Range(key);
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].value, "");
  EXPECT_EQ(range->kvs[0].version, 2);

  Result<int64_t> deleted = client_->DeleteRange(key);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(deleted.value(), 1);
  range = client_->Range(key);
  ASSERT_TRUE(range.ok());
  EXPECT_TRUE(range->kvs.empty());
  EXPECT_EQ(range->count, 0);
  deleted = client_->DeleteRange(key);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted.value(), 0);
}

TEST_F(EtcdClientTest, PrefixRangeAndLimit) {
  for (const char* suffix : {"a", "b", "c"}) {
    ASSERT_TRUE(client_->Put(std::string("/prefix/") + suffix, suffix).ok());
  }
  ASSERT_TRUE(client_->Put("/prefiy", "outside").ok());
  Result<RangeResult> all = client_->RangePrefix("/prefix/");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->kvs.size(), 3u);
  EXPECT_EQ(all->kvs[0].key, "/prefix/a");
  EXPECT_EQ(all->kvs[2].value, "c");
  Result<RangeResult> limited = client_->Range("/prefix/", PrefixRangeEnd("/prefix/"), 2);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->kvs.size(), 2u);
  EXPECT_EQ(limited->count, 3);
  EXPECT_TRUE(limited->more);
  Result<int64_t> deleted = client_->DeleteRange("/prefix/", PrefixRangeEnd("/prefix/"));
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted.value(), 3);
}

TEST_F(EtcdClientTest, TxnTakesTheBranchItsComparesChoose) {
  const std::string key = std::string("/txn/\x01\x00", 7);
  const std::vector<Compare> absent = {Compare::CreateRevisionIs(key, 0)};
  Result<TxnResult> first =
      client_->Txn(absent, {TxnOp::Put(key, "first"), TxnOp::Get(key)}, {TxnOp::Get(key)});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->succeeded);
  ASSERT_EQ(first->responses.size(), 2u);
  EXPECT_EQ(first->responses[0].kind, TxnOp::Kind::kPut);
  ASSERT_EQ(first->responses[1].kvs.size(), 1u);
  const int64_t revision = first->responses[1].kvs[0].mod_revision;

  Result<TxnResult> second = client_->Txn(absent, {TxnOp::Put(key, "second")}, {TxnOp::Get(key)});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->succeeded);
  ASSERT_EQ(second->responses.size(), 1u);
  ASSERT_EQ(second->responses[0].kvs.size(), 1u);
  EXPECT_EQ(second->responses[0].kvs[0].value, "first");

  // Value and mod_revision compares; a delete in the branch.
  Result<TxnResult> stale =
      client_->Txn({Compare::ModRevisionIs(key, revision + 100)}, {TxnOp::Delete(key)}, {});
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(stale->succeeded);
  Result<TxnResult> current =
      client_->Txn({Compare::ModRevisionIs(key, revision), Compare::ValueIs(key, "first")},
                   {TxnOp::Delete(key)}, {});
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  EXPECT_TRUE(current->succeeded);
  ASSERT_EQ(current->responses.size(), 1u);
  EXPECT_EQ(current->responses[0].deleted, 1);
}

TEST_F(EtcdClientTest, LeaseGrantKeepAliveRevoke) {
  Result<Lease> lease = client_->LeaseGrant(30);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_NE(lease->id, 0);
  EXPECT_EQ(lease->ttl_seconds, 30);
  ASSERT_TRUE(client_->Put("/lease/bound", "v", lease->id).ok());
  Result<RangeResult> bound = client_->Range("/lease/bound");
  ASSERT_TRUE(bound.ok());
  ASSERT_EQ(bound->kvs.size(), 1u);
  EXPECT_EQ(bound->kvs[0].lease, lease->id);

  Result<int64_t> renewed = client_->LeaseKeepAlive(lease->id);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed.value(), 30);
  Result<int64_t> left = client_->LeaseTimeToLive(lease->id);
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_GT(left.value(), 0);
  EXPECT_LE(left.value(), 30);

  ASSERT_TRUE(client_->LeaseRevoke(lease->id).ok());
  bound = client_->Range("/lease/bound");
  ASSERT_TRUE(bound.ok());
  EXPECT_TRUE(bound->kvs.empty()) << "revoking deletes the keys bound to the lease";
  renewed = client_->LeaseKeepAlive(lease->id);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed.value(), 0) << "a revoked lease renews to TTL 0";
  left = client_->LeaseTimeToLive(lease->id);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left.value(), -1);
  EXPECT_EQ(client_->LeaseRevoke(lease->id).code(), StatusCode::kNotFound);
  // A put bound to an unknown lease is etcd's error, not a transport one.
  EXPECT_EQ(client_->Put("/lease/bound", "v", lease->id).status().code(), StatusCode::kNotFound);
}

TEST_F(EtcdClientTest, LeaseExpiresWithoutRenewal) {
  Result<Lease> lease = client_->LeaseGrant(2);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(client_->Put("/lease/short", "v", lease->id).ok());
  // etcd checks for expired leases every 500 ms.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    Result<RangeResult> range = client_->Range("/lease/short");
    ASSERT_TRUE(range.ok());
    gone = range->kvs.empty();
  }
  EXPECT_TRUE(gone) << "the key outlived its 2 s lease";
  Result<int64_t> left = client_->LeaseTimeToLive(lease->id);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left.value(), -1);
  Result<int64_t> renewed = client_->LeaseKeepAlive(lease->id);
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(renewed.value(), 0);
}

TEST_F(EtcdClientTest, ResponsesAreBounded) {
  ASSERT_TRUE(client_->Put("/big", std::string(8192, 'x')).ok());
  EtcdClient::Options options;
  options.endpoints = {etcd_->endpoint()};
  options.max_response_bytes = 4096;
  EtcdClient small(options);
  EXPECT_EQ(small.Range("/big").status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(small.Range("/missing").ok());
}

TEST_F(EtcdClientTest, FailsOverToTheNextEndpoint) {
  const EtcdEndpoint dead{"127.0.0.1", FreeLoopbackPort()};
  std::shared_ptr<EtcdClient> client = MakeClient({dead, etcd_->endpoint()});
  ASSERT_TRUE(client->Put("/failover", "ok").ok());
  Result<RangeResult> range = client->Range("/failover");
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].value, "ok");

  std::shared_ptr<EtcdClient> all_dead = MakeClient({dead, {"127.0.0.1", FreeLoopbackPort()}});
  Result<RangeResult> failed = all_dead->Range("/failover");
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable) << failed.status().ToString();
}

TEST_F(EtcdClientTest, PausedEndpointTimesOutAndFailsOver) {
  Result<std::unique_ptr<EtcdProcess>> paused = EtcdProcess::Start();
  ASSERT_TRUE(paused.ok()) << paused.status().ToString();
  paused.value()->Pause();
  std::shared_ptr<EtcdClient> client = MakeClient({paused.value()->endpoint(), etcd_->endpoint()});
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client->Put("/failover/paused", "ok").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3))
      << "a silent endpoint must cost no more than its request timeout";
  // The endpoint that answered is now tried first: no timeout this time.
  const auto again = std::chrono::steady_clock::now();
  ASSERT_TRUE(client->Range("/failover/paused").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace pgthaw::fleet
