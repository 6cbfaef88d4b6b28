// PgListener: the Postgres wire-protocol (v3) front door of pgthaw.
//
// `psql "host=127.0.0.1 port=6432 dbname=TENANT"` reaches tenant TENANT:
// the database name is the tenant id (the user name when no database is
// given), authentication is trust (any user), TLS and GSS encryption are
// declined with 'N'. Each accepted connection is a PgConnection
// (pg_connection.h: batching, COPY, cancel, holds); how connections share a
// tenant's one engine session is described in server/README.md.
//
// Threads: Start, Stop, port and the destructor may be called from any
// thread; the io_context may be run by one or several threads (every
// connection has its own strand). The Runtime must outlive the io_context's
// work: stop the listener, let the io_context finish, then shut the runtime
// down (connections still holding a tenant submit their rollback to it).
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "runtime/runtime.h"
#include "server/pg_connection.h"

namespace pgthaw::server {

class PgListener {
 public:
  // Binds `host`:`port` (port 0: any free port; host an IP address or
  // "localhost") and starts accepting on `io`. IoError if the address is
  // taken; InvalidArgument if `host` is not an address.
  static Result<std::unique_ptr<PgListener>> Start(boost::asio::io_context& io,
                                                   runtime::Runtime& runtime,
                                                   const std::string& host, uint16_t port,
                                                   PgListenerOptions options = {});
  ~PgListener();  // Stop()s; does not wait.
  PgListener(const PgListener&) = delete;
  PgListener& operator=(const PgListener&) = delete;

  // The bound port (the chosen one when started with port 0).
  uint16_t port() const { return port_; }

  // Stops accepting and closes every connection; connections inside a
  // transaction roll it back through the runtime. Returns at once;
  // idempotent.
  void Stop();

  // Connections open now (tests, status).
  size_t connection_count() const;

  struct State;

 private:
  PgListener(std::shared_ptr<State> state, uint16_t port) : state_(std::move(state)), port_(port) {}
  std::shared_ptr<State> state_;
  uint16_t port_;
};

}  // namespace pgthaw::server
