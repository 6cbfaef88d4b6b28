#include "server/socket_tuning.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace pgthaw::server {

void tune_accepted_socket(boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  if (ec) spdlog::debug("TCP_NODELAY: {}", ec.message());
  socket.set_option(boost::asio::socket_base::keep_alive(true), ec);
  if (ec) spdlog::debug("SO_KEEPALIVE: {}", ec.message());
  // Linux's own defaults (2 h idle) would keep a dead peer's descriptor for hours.
  const int fd = socket.native_handle();
  const int idle = static_cast<int>(kKeepaliveIdle.count());
  const int interval = static_cast<int>(kKeepaliveInterval.count());
  const int probes = kKeepaliveProbes;
  struct {
    int name;
    const int* value;
    const char* label;
  } options[] = {{TCP_KEEPIDLE, &idle, "TCP_KEEPIDLE"},
                 {TCP_KEEPINTVL, &interval, "TCP_KEEPINTVL"},
                 {TCP_KEEPCNT, &probes, "TCP_KEEPCNT"}};
  for (const auto& o : options) {
    if (setsockopt(fd, IPPROTO_TCP, o.name, o.value, sizeof(int)) != 0) {
      spdlog::debug("{}: {}", o.label, std::strerror(errno));
    }
  }
}

}  // namespace pgthaw::server
