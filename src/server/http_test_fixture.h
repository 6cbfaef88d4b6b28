// The server the HTTP tests talk to: every role in one process, on loopback
// ports the kernel picks, over a temporary data directory, with the real
// engine. Built once per test binary (templates are the slow part) and shut
// down at exit.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "engine/test_support.h"
#include "server/http_services.h"
#include "server/http_test_client.h"

namespace pgthaw::server::testing {

inline constexpr uint64_t kTestMaxBodyBytes = 64 << 10;

// An io_context with its threads and the services on it.
class ServerUnderTest {
 public:
  explicit ServerUnderTest(HttpServicesOptions options) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
    auto s = HttpServices::Start(io_, engine::testing::test_engine(), std::move(options));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) services_ = std::move(s).value();
  }
  ~ServerUnderTest() {
    if (services_) {
      EXPECT_TRUE(services_->Shutdown(std::chrono::seconds(10)).ok());
    }
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    services_.reset();
  }
  HttpServices& services() { return *services_; }
  bool ok() const { return services_ != nullptr; }
  unsigned short factory() const { return services_->factory_endpoint()->port(); }
  unsigned short consumer() const { return services_->consumer_endpoint()->port(); }
  unsigned short warm_proxy() const { return services_->warm_proxy_endpoint()->port(); }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::vector<std::thread> threads_;
  std::unique_ptr<HttpServices> services_;
};

inline HttpServicesOptions loopback_options(const std::string& data_dir) {
  HttpServicesOptions o;
  o.data_dir = data_dir;
  auto any = boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0);
  o.factory_listen = o.consumer_listen = o.warm_proxy_listen = any;
  o.pool_size = 1;
  o.runtime_threads = 2;
  o.max_body_bytes = kTestMaxBodyBytes;
  return o;
}

// The shared all-roles server (in-process binding).
inline ServerUnderTest& shared_server() {
  struct Holder {
    engine::testing::TempDir dir;  // removed after the server is gone
    ServerUnderTest server{loopback_options(dir.sub("data"))};
  };
  static Holder holder;
  return holder.server;
}

}  // namespace pgthaw::server::testing
