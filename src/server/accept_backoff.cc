#include "server/accept_backoff.h"

#include <spdlog/spdlog.h>

#include <boost/asio/error.hpp>
#include <cerrno>

namespace pgthaw::server {

namespace {

bool out_of_resources(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

}  // namespace

std::chrono::milliseconds AcceptBackoff::Failed(const boost::system::error_code& ec) {
  using Clock = std::chrono::steady_clock;
  if (!out_of_resources(ec)) {
    // ECONNABORTED and the like: that client is gone, the next one may wait.
    spdlog::debug("{}: accept: {}", who_, ec.message());
    return std::chrono::milliseconds(0);
  }
  ++failures_;
  Clock::time_point now = Clock::now();
  if (!backing_off_ || now - last_log_ >= kLogEvery) {
    spdlog::warn("{}: accept: {}; pausing {} ms between tries ({} failed since the last report)",
                 who_, ec.message(), kDelay.count(), failures_);
    failures_ = 0;
    last_log_ = now;
  }
  backing_off_ = true;
  return kDelay;
}

void AcceptBackoff::Succeeded() {
  if (!backing_off_) return;
  spdlog::info("{}: accepting connections again ({} failed tries since the last report)", who_,
               failures_);
  backing_off_ = false;
  failures_ = 0;
}

}  // namespace pgthaw::server
