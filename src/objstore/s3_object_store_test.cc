// S3ObjectStore against a real S3-compatible server on loopback: s3rver
// 3.7.1 (tests/s3, installed by the s3rver_install CTest fixture), started
// per test as a child process on a free port with a fresh directory.
//
// What s3rver does not check, and so these tests cannot:
// - SigV4 signatures: it verifies only that the access key id is known
//   (InvalidAccessKeyId otherwise), so a wrong secret goes unnoticed (see
//   S3rverDoesNotCheckV4Signatures). The signer itself is checked against
//   AWS's published example in sigv4_test.cc.
// - If-None-Match on PUT: it replaces the object anyway, so PutIfAbsent's
//   412 -> AlreadyExists is not exercised here; FileObjectStore implements
//   it exactly.
#include "objstore/s3_object_store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "objstore/open_object_store.h"

namespace pgthaw::objstore {
namespace {

constexpr char kBucket[] = "test-bucket";
// s3rver's built-in account.
constexpr char kAccessKey[] = "S3RVER";
constexpr char kSecret[] = "S3RVER";

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool accepts_connections(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

class S3ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(PGTHAW_S3RVER_BIN))
        << PGTHAW_S3RVER_BIN << " is missing: run tests/s3/install.sh (the s3rver_install test)";
    char tmpl[] = "/tmp/pgthaw-s3rver-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    port_ = free_loopback_port();
    ASSERT_GT(port_, 0);
    StartServer();
  }

  void TearDown() override {
    StopServer();
    std::filesystem::remove_all(dir_);
  }

  void StartServer() {
    const std::string data = dir_ + "/data";
    const std::string log = dir_ + "/s3rver.log";
    const std::string port = std::to_string(port_);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      // s3rver makes its continuation tokens with DES, which Node 17+ (OpenSSL
      // 3) keeps in the legacy provider: without it, page 2 is a 500.
      ::execlp("node", "node", "--openssl-legacy-provider", PGTHAW_S3RVER_BIN, "-d", data.c_str(),
               "-a", "127.0.0.1", "-p", port.c_str(), "--silent", "--no-vhost-buckets",
               "--configure-bucket", kBucket, static_cast<char*>(nullptr));
      std::perror("exec node");
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!accepts_connections(port_)) {
      int status;
      ASSERT_EQ(::waitpid(pid_, &status, WNOHANG), 0) << "s3rver exited; see " << log;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "s3rver did not listen; " << log;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  void StopServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  S3Options Options(std::string prefix = "pgthaw") const {
    S3Options options;
    options.endpoint = "127.0.0.1:" + std::to_string(port_);
    options.bucket = kBucket;
    options.prefix = std::move(prefix);
    options.credentials = {kAccessKey, kSecret, ""};
    options.timeout = std::chrono::seconds(20);
    return options;
  }

  std::unique_ptr<S3ObjectStore> Open(S3Options options) {
    auto store = S3ObjectStore::Open(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store.value()) : nullptr;
  }

  std::string dir_;
  int port_ = -1;
  pid_t pid_ = -1;
};

TEST_F(S3ObjectStoreTest, PutGetHeadDelete) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  Status put = store->Put("tenants/acme/snapshot", "hello");
  ASSERT_TRUE(put.ok()) << put.ToString();
  auto got = store->Get("tenants/acme/snapshot");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got.value(), "hello");
  auto head = store->Head("tenants/acme/snapshot");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 5u);
  EXPECT_FALSE(head->etag.empty());

  ASSERT_TRUE(store->Put("tenants/acme/snapshot", "replaced").ok());
  EXPECT_EQ(store->Get("tenants/acme/snapshot").value(), "replaced");
  auto head2 = store->Head("tenants/acme/snapshot");
  ASSERT_TRUE(head2.ok());
  EXPECT_EQ(head2->size, 8u);
  EXPECT_NE(head2->etag, head->etag);

  ASSERT_TRUE(store->Put("empty", "").ok());
  EXPECT_EQ(store->Get("empty").value(), "");
  EXPECT_EQ(store->Head("empty")->size, 0u);

  Status deleted = store->Delete("tenants/acme/snapshot");
  ASSERT_TRUE(deleted.ok()) << deleted.ToString();
  EXPECT_TRUE(store->Delete("tenants/acme/snapshot").ok());
  auto gone = store->Get("tenants/acme/snapshot");
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound) << gone.status().ToString();
  EXPECT_NE(gone.status().message().find("NoSuchKey"), std::string::npos)
      << gone.status().message();
  EXPECT_EQ(store->Head("tenants/acme/snapshot").status().code(), StatusCode::kNotFound);
}

TEST_F(S3ObjectStoreTest, ListFollowsContinuationTokens) {
  S3Options options = Options();
  options.list_page_size = 7;  // 60 keys: 9 pages
  auto store = Open(options);
  ASSERT_TRUE(store);
  std::vector<std::string> expected;
  for (int i = 0; i < 60; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "many/%03d", i);
    ASSERT_TRUE(store->Put(key, key).ok()) << key;
    expected.push_back(key);
  }
  ASSERT_TRUE(store->Put("other/x", "x").ok());
  auto listed = store->List("many/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, expected);
  auto all = store->List("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 61u);
  EXPECT_EQ(all->back(), "other/x");
  EXPECT_TRUE(store->List("none/")->empty());
}

TEST_F(S3ObjectStoreTest, ListsMoreThanOneDefaultPage) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  constexpr int kKeys = 1005;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(store->Put("k/" + std::to_string(i), "").ok()) << i;
  }
  auto listed = store->List("k/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), static_cast<size_t>(kKeys));
  EXPECT_TRUE(std::is_sorted(listed->begin(), listed->end()));
}

TEST_F(S3ObjectStoreTest, KeysNeedingEscapesRoundTrip) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  const std::string key = "odd/a b+c&d=e%f~g(h)\xc3\xa9";
  Status put = store->Put(key, "odd");
  ASSERT_TRUE(put.ok()) << put.ToString();
  auto got = store->Get(key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got.value(), "odd");
  auto listed = store->List("odd/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, std::vector<std::string>{key});
}

TEST_F(S3ObjectStoreTest, PrefixesSeparateStores) {
  auto one = Open(Options("one"));
  auto two = Open(Options("two/"));
  ASSERT_TRUE(one && two);
  ASSERT_TRUE(one->Put("k", "1").ok());
  ASSERT_TRUE(two->Put("k", "2").ok());
  EXPECT_EQ(one->Get("k").value(), "1");
  EXPECT_EQ(two->Get("k").value(), "2");
  EXPECT_EQ(one->List("").value(), std::vector<std::string>{"k"});
  auto whole = Open(Options(""));
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->List("").value(), (std::vector<std::string>{"one/k", "two/k"}));
}

TEST_F(S3ObjectStoreTest, LargeObjectRoundTrips) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 9));
  Status put = store->Put("big/object", big);
  ASSERT_TRUE(put.ok()) << put.ToString();
  auto head = store->Head("big/object");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, big.size());
  auto got = store->Get("big/object");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got.value() == big);
}

TEST_F(S3ObjectStoreTest, ObjectsLargerThanTheLimitAreRefused) {
  S3Options options = Options();
  options.max_object_bytes = 1000;
  auto store = Open(options);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("big", std::string(1001, 'x')).ok());
  auto refused = store->Get("big");
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted)
      << (refused.ok() ? std::to_string(refused->size()) : refused.status().ToString());
  ASSERT_TRUE(store->Put("small", std::string(1000, 'x')).ok());
  EXPECT_EQ(store->Get("small")->size(), 1000u);
}

TEST_F(S3ObjectStoreTest, PutIfAbsentCreatesAnAbsentObject) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  Status created = store->PutIfAbsent("lease/owner", "host-1");
  ASSERT_TRUE(created.ok()) << created.ToString();
  EXPECT_EQ(store->Get("lease/owner").value(), "host-1");
  // A second PutIfAbsent would be AlreadyExists on AWS S3, R2, MinIO and
  // Ceph RGW; s3rver ignores If-None-Match on PUT (see the top of the file).
}

TEST_F(S3ObjectStoreTest, UnknownAccessKeyIsAClearError) {
  S3Options options = Options();
  options.credentials.access_key_id = "NOT-A-KEY";
  auto store = Open(options);
  ASSERT_TRUE(store);
  Status put = store->Put("k", "v");
  EXPECT_EQ(put.code(), StatusCode::kUnauthenticated) << put.ToString();
  EXPECT_NE(put.message().find("InvalidAccessKeyId"), std::string::npos) << put.message();
  EXPECT_NE(put.message().find("HTTP 403"), std::string::npos) << put.message();
  EXPECT_EQ(store->Get("k").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(store->List("").status().code(), StatusCode::kUnauthenticated);
}

TEST_F(S3ObjectStoreTest, S3rverDoesNotCheckV4Signatures) {
  // Documents the test server, not the client: when this starts failing,
  // s3rver checks signatures and the wrong secret should be Unauthenticated.
  S3Options options = Options();
  options.credentials.secret_access_key = "wrong-secret";
  auto store = Open(options);
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->Put("k", "v").ok());
}

TEST_F(S3ObjectStoreTest, BadKeysNeverReachTheServer) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  StopServer();  // a request would fail as Unavailable, not InvalidArgument
  for (std::string key : {std::string(""), std::string("/a"), std::string("../a"),
                          std::string("a/../../b"), std::string("a//b"), std::string("a\0b", 3)}) {
    EXPECT_EQ(store->Put(key, "x").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store->PutIfAbsent(key, "x").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store->Get(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store->Head(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store->Delete(key).code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_EQ(store->List("../").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(S3ObjectStoreTest, ReconnectsAfterTheServerRestarts) {
  auto store = Open(Options());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("k", "before").ok());
  // The kept-alive connection dies with the server; the next call finds it
  // broken and reconnects.
  StopServer();
  StartServer();
  Status put = store->Put("k", "after");
  ASSERT_TRUE(put.ok()) << put.ToString();
  EXPECT_EQ(store->Get("k").value(), "after");
}

TEST_F(S3ObjectStoreTest, ServerDownIsUnavailableAfterBoundedRetries) {
  S3Options options = Options();
  options.max_attempts = 3;
  options.first_backoff = std::chrono::milliseconds(20);
  auto store = Open(options);
  ASSERT_TRUE(store);
  StopServer();
  const auto start = std::chrono::steady_clock::now();
  auto got = store->Get("k");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status().ToString();
  EXPECT_NE(got.status().message().find("after 3 tries"), std::string::npos)
      << got.status().message();
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(S3ObjectStoreTest, OpenObjectStoreReadsTheEnvironment) {
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(port_);
  ::setenv("AWS_ENDPOINT_URL", endpoint.c_str(), 1);
  ::setenv("AWS_ACCESS_KEY_ID", kAccessKey, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", kSecret, 1);
  ::setenv("AWS_REGION", "us-east-1", 1);
  auto store = open_object_store(std::string("s3://") + kBucket + "/from-env");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Put("k", "v").ok());
  auto direct = Open(Options(""));
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->Get("from-env/k").value(), "v");

  ::setenv("AWS_ENDPOINT_URL", "https://s3.example.com", 1);
  auto https = open_object_store(std::string("s3://") + kBucket);
  EXPECT_EQ(https.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(https.status().message().find("https"), std::string::npos);
  ::unsetenv("AWS_ENDPOINT_URL");
  EXPECT_EQ(open_object_store(std::string("s3://") + kBucket).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pgthaw::objstore
