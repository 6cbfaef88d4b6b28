// Clients for the Postgres listener tests: libpq handles that close
// themselves, and a raw socket that speaks protocol bytes (for what libpq
// would never send). Header-only so the server library's source glob does
// not pick it up.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pgwire/backend.h"
#include "pgwire/frontend.h"

namespace pgthaw::server::testing {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// A blocking TCP connection to 127.0.0.1:port. Reads give up after 10 s
// without a byte (a hang fails the test instead of blocking it).
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Sends all of `bytes`; the test fails if the socket refuses them.
  void send(std::string_view bytes) { ASSERT_TRUE(try_send(bytes)); }
  // Sends all of `bytes`; false if the peer has gone (after a FATAL, say).
  bool try_send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  int fd() const { return fd_; }
  // Half-closes: the server reads EOF, its replies still arrive.
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // True once the server closes the connection; false if a read times out
  // (the server kept it open) first. What arrives is dropped.
  bool read_to_eof() {
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;  // a reset also closes
    }
  }
  // Everything until the server closes (or 10 s pass without a byte).
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Reads messages until a ReadyForQuery or an error that closes.
  std::vector<pgwire::Message> read_until_ready() {
    std::vector<pgwire::Message> out;
    read_until(out, [](const pgwire::Message& m) { return m.type == 'Z'; });
    return out;
  }
  // Appends messages to `out` until one satisfies `done` (true), or the
  // server closes, a read times out or the framing breaks (false).
  template <typename Done>
  bool read_until(std::vector<pgwire::Message>& out, Done done) {
    char buf[16384];
    for (;;) {
      for (;;) {
        auto m = parser_.next();
        if (!m.ok()) return false;
        if (!m->has_value()) break;
        out.push_back(std::move(**m));
        if (done(out.back())) return true;
      }
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      parser_.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }

 private:
  int fd_ = -1;
  pgwire::BackendParser parser_;
};

// The SQLSTATE of the first ErrorResponse in `messages`; "" if none.
inline std::string first_sqlstate(const std::vector<pgwire::Message>& messages) {
  for (const auto& m : messages) {
    if (m.type == 'E') {
      auto f = pgwire::decode_error_fields(m.payload);
      if (f.ok()) return f->sqlstate();
    }
  }
  return "";
}

inline std::string startup_packet(const std::map<std::string, std::string>& params) {
  std::string out;
  EXPECT_TRUE(pgwire::frontend::startup_message(out, params).ok());
  return out;
}

}  // namespace pgthaw::server::testing
