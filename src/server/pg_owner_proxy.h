// The byte relay between a Postgres client and the fleet node that owns its
// tenant (FleetMembership::Route said "not here").
//
// The entry node has read the client's startup packet (and answered its
// SSLRequest itself: TLS ends here, the fleet's internal network is trusted
// and the owner is spoken to in the clear). The relay connects to the
// owner, sends it those startup bytes as received, then copies bytes both
// ways, unparsed, until either side closes: the owner authenticates the
// client and serves it as if it had connected directly.
//
// Bounds: one 64 KiB buffer per direction (a slow reader holds back the
// writer, as TCP does); the connect is bounded by `connect_timeout`, and a
// write that does not finish within `write_timeout` (a peer that takes
// nothing) ends the relay. Runs on the client stream's strand.
#pragma once

// clang-format off
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "server/pg_stream.h"

namespace pgthaw::server {

struct OwnerProxyOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds write_timeout{60'000};
};

// Connects to `host`:`port`; Unavailable (saying why) when that fails, with
// nothing sent to the client. Once connected: writes `first_bytes`, relays
// until either side closes, closes both and returns Ok.
boost::asio::awaitable<Status> RelayToOwner(PgStream& client, std::string first_bytes,
                                            std::string host, uint16_t port,
                                            OwnerProxyOptions options);

}  // namespace pgthaw::server
