// CopyInRelay: a COPY FROM STDIN's data, from the client's socket to the
// work item that runs the COPY (engine::ExecOptions::source).
//
// The COPY runs inside the engine on a runtime worker; the socket belongs
// to the connection's strand. When the backend wants data, the worker calls
// Take(): it asks the strand (through `ask`) to read the client's next
// messages and waits; the strand reads them (PgConnection::ReadCopyInput)
// and hands them over with Give(). So COPY works wherever the backend runs
// one (a multi-statement query, the extended protocol, a function), errors
// the backend raises before it asks for data come before the client sends
// any, and nothing buffers more than one read of the client's bytes.
//
// A client that sends nothing for `timeout` while a COPY waits, a cancel
// (Interrupt) and a lost connection end the wait with a CopyFail, so the
// backend fails the COPY as Postgres does when its client gives up; the
// session stays usable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "common/thread_annotations.h"

namespace pgthaw::server {

// A CopyFail message ('f') with `why`.
std::string copy_fail_message(std::string_view why);

class CopyInRelay {
 public:
  explicit CopyInRelay(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  // Worker thread: calls `ask` (which must lead to a Give() on the strand),
  // then waits for the client's messages. Returns them, or a CopyFail
  // saying why none came.
  std::string Take(const std::function<void()>& ask);

  // Strand: the messages the client sent for the waiting Take (moved from
  // `messages`). False if no Take waits for them any more (it was
  // interrupted or timed out): `messages` stays with the caller, which
  // keeps what is not COPY data for the connection.
  bool Give(std::string& messages);

  // Any thread: the waiting Take, and every later one, ends with a
  // CopyFail saying `why`.
  void Interrupt(std::string why);

  bool used() const;       // a Take ran
  bool timed_out() const;  // a Take gave up waiting for the client

 private:
  const std::chrono::milliseconds timeout_;
  mutable Mutex mutex_;
  std::condition_variable given_;
  bool waiting_ GUARDED_BY(mutex_) = false;
  bool has_messages_ GUARDED_BY(mutex_) = false;
  std::string messages_ GUARDED_BY(mutex_);
  std::string interrupted_ GUARDED_BY(mutex_);  // non-empty: why no more data comes
  bool used_ GUARDED_BY(mutex_) = false;
  bool timed_out_ GUARDED_BY(mutex_) = false;
};

}  // namespace pgthaw::server
