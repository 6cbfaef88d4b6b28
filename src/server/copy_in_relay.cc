#include "server/copy_in_relay.h"

#include "pgwire/frontend.h"

namespace pgthaw::server {

std::string copy_fail_message(std::string_view why) {
  std::string out;
  (void)pgwire::frontend::copy_fail(out, why);
  return out;
}

std::string CopyInRelay::Take(const std::function<void()>& ask) {
  MutexLock lock(mutex_);
  used_ = true;
  if (!interrupted_.empty()) return copy_fail_message(interrupted_);
  waiting_ = true;
  has_messages_ = false;
  lock.unlock();
  ask();
  lock.lock();
  bool arrived = given_.wait_for(
      lock, timeout_, [&]() REQUIRES(mutex_) { return has_messages_ || !interrupted_.empty(); });
  waiting_ = false;
  if (has_messages_) {
    has_messages_ = false;
    return std::move(messages_);
  }
  if (!arrived) {
    timed_out_ = true;
    interrupted_ = "the client sent no COPY data for " + std::to_string(timeout_.count()) + " ms";
  }
  return copy_fail_message(interrupted_);
}

bool CopyInRelay::Give(std::string& messages) {
  MutexLock lock(mutex_);
  if (!waiting_ || !interrupted_.empty()) return false;
  messages_ = std::move(messages);
  has_messages_ = true;
  given_.notify_all();
  return true;
}

void CopyInRelay::Interrupt(std::string why) {
  MutexLock lock(mutex_);
  if (interrupted_.empty()) interrupted_ = std::move(why);
  given_.notify_all();
}

bool CopyInRelay::used() const {
  MutexLock lock(mutex_);
  return used_;
}

bool CopyInRelay::timed_out() const {
  MutexLock lock(mutex_);
  return timed_out_;
}

}  // namespace pgthaw::server
