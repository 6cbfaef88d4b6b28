// S3ObjectStore against a scripted HTTP server on loopback: answers that
// s3rver never gives (412 for If-None-Match, 5xx, broken pages, announced
// sizes over the limit, dropped connections), to check the client's
// handling of each. The server is real TCP and HTTP/1.1; only its answers
// are fixed in advance.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <thread>

#include "objstore/s3_object_store.h"

namespace pgthaw::objstore {
namespace {

// One scripted answer: the raw bytes to send, then whether to close.
struct Answer {
  std::string raw;
  bool close_after = false;
};

Answer answer(int status, const std::string& reason, const std::string& body = "",
              const std::string& extra_headers = "") {
  return {"HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n" + extra_headers +
              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
          false};
}

Answer s3_error(int status, const std::string& reason, const std::string& code) {
  return answer(status, reason,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code +
                    "</Code><Message>scripted " + code + "</Message></Error>");
}

// Accepts connections on a loopback port and answers each request it reads
// with the next scripted answer; records the requests' heads.
class ScriptedHttpServer {
 public:
  explicit ScriptedHttpServer(std::vector<Answer> answers) : answers_(std::move(answers)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~ScriptedHttpServer() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  void Serve() {
    size_t next = 0;
    while (next < answers_.size()) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::string pending;
      bool open = true;
      while (open && next < answers_.size()) {
        std::string head;
        if (!ReadRequest(fd, pending, head)) break;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          requests_.push_back(head);
        }
        const Answer& a = answers_[next++];
        if (!a.raw.empty()) (void)!::write(fd, a.raw.data(), a.raw.size());
        open = !a.close_after;
      }
      ::close(fd);
    }
  }

  // Reads one request (head and Content-Length body) from FD; its head,
  // names lowercased, into HEAD.
  static bool ReadRequest(int fd, std::string& pending, std::string& head) {
    char buf[65536];
    size_t end;
    while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) return false;
      pending.append(buf, static_cast<size_t>(n));
    }
    head = pending.substr(0, end);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t body = 0;
    if (size_t at = lower.find("content-length:"); at != std::string::npos) {
      body = std::stoul(lower.substr(at + 15));
    }
    head = lower;
    while (pending.size() < end + 4 + body) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) return false;
      pending.append(buf, static_cast<size_t>(n));
    }
    pending.erase(0, end + 4 + body);
    return true;
  }

  std::vector<Answer> answers_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
};

std::unique_ptr<S3ObjectStore> open_store(const ScriptedHttpServer& server, int max_attempts = 4) {
  S3Options options;
  options.endpoint = "127.0.0.1:" + std::to_string(server.port());
  options.bucket = "scripted";
  options.prefix = "p";
  options.credentials = {"AKID", "secret", "session-token"};
  options.timeout = std::chrono::seconds(5);
  options.max_attempts = max_attempts;
  options.first_backoff = std::chrono::milliseconds(5);
  options.max_object_bytes = 1 << 20;
  auto store = S3ObjectStore::Open(std::move(options));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store.value());
}

TEST(S3ObjectStoreErrorsTest, PutIfAbsentSendsIfNoneMatchAndMaps412ToAlreadyExists) {
  ScriptedHttpServer server({s3_error(412, "Precondition Failed", "PreconditionFailed")});
  auto store = open_store(server);
  Status st = store->PutIfAbsent("lease", "me");
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st.ToString();
  EXPECT_NE(st.message().find("PreconditionFailed"), std::string::npos) << st.message();
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(requests[0].starts_with("put /scripted/p/lease http/1.1")) << requests[0];
  EXPECT_NE(requests[0].find("if-none-match: *"), std::string::npos) << requests[0];
  EXPECT_NE(requests[0].find("x-amz-security-token: session-token"), std::string::npos);
  EXPECT_NE(requests[0].find("signedheaders=host;if-none-match;x-amz-content-sha256;x-amz-date;"
                             "x-amz-security-token,"),
            std::string::npos)
      << requests[0];
}

TEST(S3ObjectStoreErrorsTest, PlainPutSendsNoCondition) {
  ScriptedHttpServer server({answer(200, "OK")});
  auto store = open_store(server);
  ASSERT_TRUE(store->Put("k", "v").ok());
  EXPECT_EQ(server.requests().at(0).find("if-none-match"), std::string::npos);
}

TEST(S3ObjectStoreErrorsTest, RetriesServerErrorsThenSucceeds) {
  ScriptedHttpServer server({s3_error(503, "Slow Down", "SlowDown"),
                             s3_error(500, "Internal Server Error", "InternalError"),
                             answer(200, "OK", "payload")});
  auto store = open_store(server);
  auto got = store->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got.value(), "payload");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(S3ObjectStoreErrorsTest, GivesUpAfterMaxAttempts) {
  ScriptedHttpServer server({s3_error(500, "Internal Server Error", "InternalError"),
                             s3_error(500, "Internal Server Error", "InternalError"),
                             answer(200, "OK", "never asked for")});
  auto store = open_store(server, /*max_attempts=*/2);
  auto got = store->Get("k");
  EXPECT_EQ(got.status().code(), StatusCode::kIoError) << got.status().ToString();
  EXPECT_NE(got.status().message().find("InternalError"), std::string::npos);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(S3ObjectStoreErrorsTest, ClientErrorsAreNotRetried) {
  ScriptedHttpServer server(
      {s3_error(403, "Forbidden", "SignatureDoesNotMatch"), answer(200, "OK")});
  auto store = open_store(server);
  Status st = store->Put("k", "v");
  EXPECT_EQ(st.code(), StatusCode::kUnauthenticated) << st.ToString();
  EXPECT_NE(st.message().find("SignatureDoesNotMatch"), std::string::npos) << st.message();
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(S3ObjectStoreErrorsTest, ADroppedConnectionIsRetriedOnANewOne) {
  ScriptedHttpServer server({{"", /*close_after=*/true}, answer(200, "OK", "second")});
  auto store = open_store(server);
  auto got = store->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got.value(), "second");
}

TEST(S3ObjectStoreErrorsTest, AnnouncedBodyOverTheLimitIsRefused) {
  ScriptedHttpServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", true}});
  auto store = open_store(server);
  auto got = store->Get("k");
  EXPECT_EQ(got.status().code(), StatusCode::kResourceExhausted) << got.status().ToString();
}

TEST(S3ObjectStoreErrorsTest, ATruncatedPageWithoutATokenIsCorruption) {
  ScriptedHttpServer server({answer(200, "OK",
                                    "<ListBucketResult><IsTruncated>true</IsTruncated>"
                                    "<Contents><Key>p/a</Key></Contents></ListBucketResult>")});
  auto store = open_store(server);
  EXPECT_EQ(store->List("").status().code(), StatusCode::kCorruption);
}

TEST(S3ObjectStoreErrorsTest, ListedKeysOutsideThePrefixAreCorruption) {
  ScriptedHttpServer server({answer(200, "OK",
                                    "<ListBucketResult><IsTruncated>false</IsTruncated>"
                                    "<Contents><Key>elsewhere/a</Key></Contents>"
                                    "</ListBucketResult>")});
  auto store = open_store(server);
  EXPECT_EQ(store->List("").status().code(), StatusCode::kCorruption);
}

TEST(S3ObjectStoreErrorsTest, ListSendsTheTokenOfThePreviousPage) {
  ScriptedHttpServer server(
      {answer(200, "OK",
              "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>p/b</Key>"
              "</Contents><NextContinuationToken>tok+/=</NextContinuationToken>"
              "</ListBucketResult>"),
       answer(200, "OK",
              "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>p/a</Key>"
              "</Contents><Contents><Key>p/bad//key</Key></Contents></ListBucketResult>")});
  auto store = open_store(server);
  auto keys = store->List("");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  // Sorted; a key no store key can be ("bad//key") is left out.
  EXPECT_EQ(*keys, (std::vector<std::string>{"a", "b"}));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_TRUE(requests[0].starts_with("get /scripted?list-type=2&max-keys=1000&prefix=p%2f "))
      << requests[0];
  EXPECT_NE(requests[1].find("continuation-token=tok%2b%2f%3d&"), std::string::npos) << requests[1];
}

TEST(S3ObjectStoreErrorsTest, DeleteOfAMissingKeyIsOk) {
  ScriptedHttpServer server({s3_error(404, "Not Found", "NoSuchKey"), answer(204, "No Content")});
  auto store = open_store(server);
  EXPECT_TRUE(store->Delete("gone").ok());
  EXPECT_TRUE(store->Delete("gone").ok());
}

}  // namespace
}  // namespace pgthaw::objstore
