#include "server/pg_listener.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <utility>

#include "server/accept_backoff.h"
#include "server/fleet_membership.h"
#include "server/random_secret.h"
#include "server/socket_tuning.h"

// GCC 12 reports -Wmismatched-new-delete inside Asio's coroutine frames
// (awaitable_frame_base has its own operator new/delete): a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace pgthaw::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct PgListener::State {
  State(asio::io_context& io, runtime::Runtime& runtime, PgListenerOptions options)
      : io(io),
        acceptor(asio::make_strand(io)),
        shared(std::make_shared<PgListenerShared>(runtime, options)) {}
  asio::io_context& io;
  tcp::acceptor acceptor;  // used on its strand only
  std::shared_ptr<PgListenerShared> shared;
};

namespace {

asio::awaitable<void> accept_loop(std::shared_ptr<PgListener::State> state) {
  AcceptBackoff backoff("pg listener");
  for (;;) {
    tcp::socket socket(asio::make_strand(state->io));
    boost::system::error_code ec;
    co_await state->acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (!state->acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors: pause instead of spinning (AcceptBackoff).
      std::chrono::milliseconds pause = backoff.Failed(ec);
      if (pause.count() > 0) {
        asio::steady_timer timer(state->acceptor.get_executor(), pause);
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      continue;
    }
    backoff.Succeeded();
    tune_accepted_socket(socket);
    PgConnection::Launch(state->shared, std::move(socket));
  }
}

}  // namespace

Result<std::unique_ptr<PgListener>> PgListener::Start(asio::io_context& io,
                                                      runtime::Runtime& runtime,
                                                      const std::string& host, uint16_t port,
                                                      PgListenerOptions options) {
  boost::system::error_code ec;
  asio::ip::address address =
      asio::ip::make_address(host == "localhost" ? std::string("127.0.0.1") : host, ec);
  if (ec) return Status::InvalidArgument("pg listener: not an IP address: " + host);
  if (options.tls_required && options.tls == nullptr) {
    return Status::InvalidArgument("pg listener: TLS is required but no certificate is configured");
  }
  auto state = std::make_shared<State>(io, runtime, options);
  // Mock SCRAM verifiers for unknown roles derive from it (scram.h).
  auto mock_secret = random_bytes(32);
  if (!mock_secret.ok()) return mock_secret.status();
  state->shared->mock_secret = std::move(mock_secret).value();
  runtime.SetHoldExpiredHandler([weak = std::weak_ptr<PgListenerShared>(state->shared)](
                                    const std::string& /*tenant*/, uint64_t holder) {
    std::shared_ptr<PgListenerShared> shared = weak.lock();
    if (shared == nullptr) return;
    std::shared_ptr<PgConnection> target;
    {
      MutexLock lock(shared->mutex);
      for (auto& [pid, connection] : shared->connections) {
        std::shared_ptr<PgConnection> c = connection.lock();
        if (c != nullptr && c->id() == holder) target = std::move(c);
      }
    }
    if (target != nullptr) target->EndIdleTransaction();
  });
  if (options.fleet != nullptr) {
    // Fenced or lease gone: the connections served here end (57P01); new
    // ones are refused by FleetMembership::Route (57P03).
    options.fleet->SetOwnershipLostHandler(
        [weak = std::weak_ptr<PgListenerShared>(state->shared)](const std::string& why) {
          std::shared_ptr<PgListenerShared> shared = weak.lock();
          if (shared == nullptr) return;
          std::vector<std::shared_ptr<PgConnection>> open;
          {
            MutexLock lock(shared->mutex);
            for (auto& [pid, connection] : shared->connections) {
              if (auto c = connection.lock()) open.push_back(std::move(c));
            }
          }
          for (const auto& c : open) c->EndOwnershipLost(why);
        });
  }
  tcp::endpoint endpoint(address, port);
  std::string where = host + ":" + std::to_string(port);
  state->acceptor.open(endpoint.protocol(), ec);
  if (ec) return Status::IoError("pg listener: socket " + where + ": " + ec.message());
  state->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  state->acceptor.bind(endpoint, ec);
  if (ec) return Status::IoError("pg listener: bind " + where + ": " + ec.message());
  state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IoError("pg listener: listen " + where + ": " + ec.message());
  uint16_t bound = state->acceptor.local_endpoint(ec).port();
  if (ec) return Status::IoError("pg listener: getsockname " + where + ": " + ec.message());
  asio::co_spawn(state->acceptor.get_executor(), accept_loop(state), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::error("pg listener: accept loop ended: {}", x.what());
    }
  });
  spdlog::info("pg listener on {}:{}", host, bound);
  return std::unique_ptr<PgListener>(new PgListener(std::move(state), bound));
}

PgListener::~PgListener() { Stop(); }

void PgListener::Stop() {
  std::vector<std::shared_ptr<PgConnection>> open;
  {
    MutexLock lock(state_->shared->mutex);
    if (state_->shared->stopped) return;
    state_->shared->stopped = true;
    for (auto& [pid, weak] : state_->shared->connections) {
      if (auto c = weak.lock()) open.push_back(std::move(c));
    }
  }
  asio::post(state_->acceptor.get_executor(), [state = state_] {
    boost::system::error_code ec;
    state->acceptor.close(ec);
  });
  for (const auto& c : open) c->Close();
}

size_t PgListener::connection_count() const {
  MutexLock lock(state_->shared->mutex);
  return state_->shared->connections.size();
}

}  // namespace pgthaw::server
