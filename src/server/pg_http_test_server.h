// A tenant server as the protocol tests need it: the consumer HTTP role and
// a Postgres listener over one runtime and data directory, in this process,
// on loopback ports the kernel picks, with the real engine. Restart() stops
// both the way SIGTERM does (connections closed, requests drained, every
// warm tenant hibernated to its snapshot) and starts them again over the
// same directory, so a test can show what a tenant's snapshot carries.
// Header-only so the server library's source glob does not pick it up.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>

#include "server/http_test_client.h"
#include "server/http_test_fixture.h"
#include "server/pg_listener.h"
#include "server/pg_test_client.h"

namespace pgthaw::server::testing {

class PgHttpServer {
 public:
  explicit PgHttpServer(std::string data_dir, PgListenerOptions pg_options = {})
      : data_dir_(std::move(data_dir)), pg_options_(pg_options) {
    Start();
  }
  ~PgHttpServer() { Stop(); }
  PgHttpServer(const PgHttpServer&) = delete;
  PgHttpServer& operator=(const PgHttpServer&) = delete;

  void Restart() {
    Stop();
    Start();
  }
  bool ok() const { return http_ != nullptr && http_->ok() && listener_ != nullptr; }
  unsigned short http_port() const { return http_->consumer(); }
  unsigned short pg_port() const { return listener_->port(); }
  std::string conninfo(const std::string& tenant) const {
    return "host=127.0.0.1 port=" + std::to_string(pg_port()) + " dbname=" + tenant +
           " user=tester connect_timeout=30";
  }

  runtime::RuntimeStats runtime_stats() const {
    return http_->services().tenant_runtime()->stats();
  }

  // POST /direct {"sql", "tenant"} on a fresh connection.
  HttpResult Direct(const std::string& tenant, const std::string& sql) const {
    return post_json(http_port(), "/direct", {{"sql", sql}, {"tenant", tenant}});
  }

 private:
  void Start() {
    HttpServicesOptions options = loopback_options(data_dir_);
    options.factory = false;
    options.warm_proxy = false;
    http_ = std::make_unique<ServerUnderTest>(std::move(options));
    if (!http_->ok()) return;
    io_ = std::make_unique<boost::asio::io_context>();
    guard_ = std::make_unique<Guard>(io_->get_executor());
    pg_options_.handover = http_->services().tenant_handover();
    auto listener =
        PgListener::Start(*io_, *http_->services().tenant_runtime(), "127.0.0.1", 0, pg_options_);
    EXPECT_TRUE(listener.ok()) << listener.status().ToString();
    if (listener.ok()) listener_ = std::move(listener).value();
    io_thread_ = std::thread([io = io_.get()] { io->run(); });
  }

  // Listener first (its connections queue their rollbacks on the runtime
  // and finish), then the runtime with the HTTP role (drains, hibernates).
  void Stop() {
    if (listener_) listener_->Stop();
    guard_.reset();
    if (io_thread_.joinable()) io_thread_.join();
    listener_.reset();
    io_.reset();
    http_.reset();
  }

  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::string data_dir_;
  PgListenerOptions pg_options_;
  std::unique_ptr<ServerUnderTest> http_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<Guard> guard_;
  std::unique_ptr<PgListener> listener_;
  std::thread io_thread_;
};

}  // namespace pgthaw::server::testing
