// AcceptBackoff: what an accept loop does when accept() fails.
//
// Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM),
// the pending connection stays in the listen backlog and the listening
// socket stays readable: retrying at once spins a core and, logged each time,
// fills the disk. So the loop waits `delay()` before the next accept, and
// the failure is logged once per backoff period (kLogEvery) with the number
// of failures since, plus once when accepting works again.
//
// One per accept loop; not thread-safe (an acceptor's loop runs on its strand).
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <string>

namespace pgthaw::server {

class AcceptBackoff {
 public:
  static constexpr std::chrono::milliseconds kDelay{75};
  static constexpr std::chrono::seconds kLogEvery{10};

  explicit AcceptBackoff(std::string who) : who_(std::move(who)) {}

  // After a failed accept: how long to wait before the next one (0: retry
  // now, the error concerned only that connection). Logs as described above.
  std::chrono::milliseconds Failed(const boost::system::error_code& ec);
  // After an accept that worked: ends a backoff period.
  void Succeeded();

 private:
  const std::string who_;
  bool backing_off_ = false;
  uint64_t failures_ = 0;  // since the last log line
  std::chrono::steady_clock::time_point last_log_{};
};

}  // namespace pgthaw::server
