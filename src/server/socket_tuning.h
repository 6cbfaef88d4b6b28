// Options set on every accepted TCP socket (HTTP roles and Postgres).
//
//   TCP_NODELAY    replies are small and latency-bound: no Nagle delay.
//   SO_KEEPALIVE   a peer that vanished without a FIN or RST (a cable pulled,
//                  a NAT that forgot us) is found: probes start after
//                  kKeepaliveIdle of silence, every kKeepaliveInterval,
//                  and the socket is closed after kKeepaliveProbes unanswered
//                  ones (about 2 minutes in all), freeing its descriptor and
//                  whatever its connection holds (a tenant's transaction).
//
// Failures are logged at debug and otherwise ignored: the connection still
// works without them.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>

namespace pgthaw::server {

inline constexpr std::chrono::seconds kKeepaliveIdle{60};
inline constexpr std::chrono::seconds kKeepaliveInterval{10};
inline constexpr int kKeepaliveProbes = 6;

void tune_accepted_socket(boost::asio::ip::tcp::socket& socket);

}  // namespace pgthaw::server
