// ReplyStream: a long engine reply on its way to a Postgres client while
// the engine still makes it (engine::Instance::ExecOptions::sink).
//
// The engine runs on a runtime worker; the socket belongs to the
// connection's strand. Send() hands a chunk to the strand, which writes it
// while the engine makes the next one; before handing over the next, the
// worker waits for the previous write (backpressure: a slow client slows
// its statement, nothing piles up in memory; at most two chunks per
// connection exist). A client that takes nothing for `stall_timeout` is
// disconnected and Send() fails, so the engine drops the rest and cancels
// the statement: a client that stops reading cannot hold its tenant's
// session (and a worker) for longer than that.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string_view>

#include "common/thread_annotations.h"
#include "server/pg_stream.h"

namespace pgthaw::server {

class ReplyStream {
 public:
  // `client` must outlive the stream and every write it starts (the
  // connection owning it is kept alive by the work item using the stream).
  ReplyStream(PgStream& client, std::chrono::milliseconds stall_timeout);
  ~ReplyStream();  // Finish()es

  // Worker thread: queues `messages` for the client after the previous
  // chunk; false once the client is gone or stalled.
  bool Send(std::string_view messages);
  // Worker thread: waits for the last write (at most the stall timeout);
  // false if any write failed. After it the strand may write again.
  bool Finish();
  bool sent_any() const { return sent_any_; }

 private:
  struct Shared {
    Mutex mutex;
    std::condition_variable done;
    bool writing GUARDED_BY(mutex) = false;
    bool failed GUARDED_BY(mutex) = false;
  };
  // Waits until no write is in flight; false if one failed or stalled.
  bool WaitForWrite();

  PgStream& client_;
  const std::chrono::milliseconds stall_timeout_;
  const std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  bool sent_any_ = false;
};

}  // namespace pgthaw::server
