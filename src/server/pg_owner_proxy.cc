#include "server/pg_owner_proxy.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <exception>
#include <memory>
#include <vector>

// GCC 12 reports -Wmismatched-new-delete inside Asio's coroutine frames
// (awaitable_frame_base has its own operator new/delete): a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace pgthaw::server {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kRelayBufferBytes = 64 * 1024;

// What both directions share. Everything runs on the client's strand.
struct Relay {
  Relay(PgStream& c, OwnerProxyOptions o)
      : client(c), upstream(c.get_executor()), options(o), other_done(c.get_executor()) {}
  PgStream& client;
  tcp::socket upstream;
  const OwnerProxyOptions options;
  bool closed = false;
  bool owner_to_client_done = false;
  asio::steady_timer other_done;  // cancelled when owner_to_client ends

  void CloseBoth() {
    if (closed) return;
    closed = true;
    boost::system::error_code ignored;
    upstream.shutdown(tcp::socket::shutdown_both, ignored);
    upstream.close(ignored);
    client.close();
  }
};

// Copies `from` to `to` until either fails; then closes both.
template <typename From, typename To>
awaitable<void> Pump(std::shared_ptr<Relay> relay, From& from, To& to) {
  std::vector<char> buffer(kRelayBufferBytes);
  asio::steady_timer deadline(relay->client.get_executor());
  for (;;) {
    boost::system::error_code ec;
    size_t n = co_await from.async_read_some(asio::buffer(buffer),
                                             asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    deadline.expires_after(relay->options.write_timeout);
    deadline.async_wait([relay](const boost::system::error_code& timer_ec) {
      if (!timer_ec) relay->CloseBoth();  // the reader took nothing in time
    });
    co_await asio::async_write(to, asio::buffer(buffer.data(), n),
                               asio::redirect_error(use_awaitable, ec));
    deadline.cancel();
    if (ec) break;
  }
  relay->CloseBoth();
}

}  // namespace

awaitable<Status> RelayToOwner(PgStream& client, std::string first_bytes, std::string host,
                               uint16_t port, OwnerProxyOptions options) {
  auto relay = std::make_shared<Relay>(client, options);
  const std::string where = host + ":" + std::to_string(port);
  // The connect, resolving included, within connect_timeout.
  asio::steady_timer connect_deadline(client.get_executor());
  tcp::resolver resolver(client.get_executor());
  bool timed_out = false;
  connect_deadline.expires_after(options.connect_timeout);
  connect_deadline.async_wait([&, relay](const boost::system::error_code& ec) {
    if (ec) return;
    timed_out = true;
    resolver.cancel();
    boost::system::error_code ignored;
    relay->upstream.close(ignored);
  });
  boost::system::error_code ec;
  auto endpoints = co_await resolver.async_resolve(host, std::to_string(port),
                                                   asio::redirect_error(use_awaitable, ec));
  if (!ec && !timed_out) {
    co_await asio::async_connect(relay->upstream, endpoints,
                                 asio::redirect_error(use_awaitable, ec));
  }
  connect_deadline.cancel();
  if (ec || timed_out) {
    boost::system::error_code ignored;
    relay->upstream.close(ignored);
    co_return Status::Unavailable("cannot reach the tenant's owner at " + where + ": " +
                                  (timed_out ? std::string("timed out") : ec.message()));
  }
  relay->upstream.set_option(tcp::no_delay(true), ec);

  // The client's startup bytes first, under the same write bound.
  {
    asio::steady_timer deadline(client.get_executor());
    deadline.expires_after(options.write_timeout);
    deadline.async_wait([relay](const boost::system::error_code& timer_ec) {
      if (!timer_ec) relay->CloseBoth();
    });
    co_await asio::async_write(relay->upstream, asio::buffer(first_bytes),
                               asio::redirect_error(use_awaitable, ec));
    deadline.cancel();
    if (ec) {
      relay->CloseBoth();
      co_return Status::Ok();
    }
  }

  relay->other_done.expires_at(asio::steady_timer::time_point::max());
  asio::co_spawn(client.get_executor(), Pump(relay, relay->upstream, relay->client),
                 [relay](std::exception_ptr) {
                   relay->owner_to_client_done = true;
                   relay->other_done.cancel();
                 });
  co_await Pump(relay, relay->client, relay->upstream);
  // Both sockets are closed: the other direction ends soon.
  while (!relay->owner_to_client_done) {
    co_await relay->other_done.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  co_return Status::Ok();
}

}  // namespace pgthaw::server
