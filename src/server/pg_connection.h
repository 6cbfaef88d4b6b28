// PgConnection: one client of the Postgres listener, from its first packet
// to its close. A coroutine on the connection's own strand reads, frames
// (pgwire::FrontendParser), batches and writes; the tenant's engine work
// runs on the runtime's threads and hands its reply back to the strand.
//
// Batching (the engine needs whole messages and runs a batch to completion):
//   'Q' simple Query, 'F' FunctionCall    -> one batch, run at once
//   'P' 'B' 'D' 'E' 'C' extended messages -> gathered until 'S' Sync or
//                                            'H' Flush, then one batch
//   'X' Terminate                         -> close (never sent to the engine)
//   COPY FROM STDIN in a 'Q'              -> the listener answers
//       CopyInResponse itself, gathers 'd' CopyData up to 'c' CopyDone or
//       'f' CopyFail, then runs Query + data as one batch and drops the
//       engine's own CopyInResponse from the reply (the engine cannot pause
//       mid-COPY; see pg_sql_scan.h).
//
// Sharing the instance: every batch goes through Runtime::SubmitHeld with
// this connection's id as holder. The work item first re-applies this
// connection's SessionSettings if another connection (or a fresh instance)
// was the session's last user, runs the batch, and releases the hold unless
// the reply ends inside a transaction block ('T' or 'E') or the batch ended
// with Flush (an extended-protocol exchange still open). So another
// connection's statements never land inside this one's transaction.
//
// Cancel: a CancelRequest marks the batch this connection has queued but not
// yet started; when it starts it runs a statement raising 57014
// ("canceling statement due to user request") instead. A running batch is
// interrupted through Runtime::Cancel: the engine stops at its next
// CHECK_FOR_INTERRUPTS() with the same error.
//
// Idle in a transaction: the runtime ends a hold left idle past
// --idle-in-transaction-timeout (rolls back, frees the tenant) and the
// connection gets Postgres' FATAL 25P03 and is closed.
//
// Close: on Terminate, EOF, a socket error or Stop(), a connection still
// holding its tenant rolls the transaction back through the runtime and
// releases the hold.
#pragma once

// clang-format off
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "engine/instance.h"
#include "pgwire/frontend_parser.h"
#include "runtime/runtime.h"
#include "server/pg_session_settings.h"
#include "server/pg_sql_scan.h"

namespace pgthaw::server {

struct PgListenerOptions {
  // A batch (extended messages up to Sync, or a COPY's data) over this many
  // bytes is refused: 54000 for COPY data, 08P01 and close otherwise.
  uint64_t max_batch_bytes = uint64_t{256} << 20;
  // First packets over this size are refused (Postgres' own limit).
  uint32_t max_startup_packet_bytes = pgwire::kDefaultMaxStartupPacketBytes;
  // A client that has not finished its startup by then is disconnected
  // (Postgres' authentication_timeout).
  int64_t startup_timeout_ms = 60'000;
};

class PgConnection;

// Which connection's settings a tenant's engine session holds now.
struct SessionUser {
  const engine::Instance* instance = nullptr;
  uint64_t connection = 0;
};

// State shared by a PgListener and its connections. Connections hold it by
// shared_ptr, so a reply arriving after the listener is gone is harmless;
// the Runtime must outlive every connection (stop the io_context first).
struct PgListenerShared {
  PgListenerShared(runtime::Runtime& r, PgListenerOptions o) : runtime(r), options(o) {}

  runtime::Runtime& runtime;
  const PgListenerOptions options;

  // Mutex rules: `mutex` guards the fields below it and is never held while
  // calling the runtime or an engine instance.
  std::mutex mutex;
  std::map<int32_t, std::weak_ptr<PgConnection>> connections;  // by BackendKeyData pid
  std::map<std::string, SessionUser> session_users;            // by tenant id
  uint64_t next_id = 1;  // runtime holder ids; pids and keys: pg_backend_key.h
  bool stopped = false;
};

class PgConnection : public std::enable_shared_from_this<PgConnection> {
 public:
  // Registers the connection (for CancelRequest and Stop) and starts its
  // coroutine on `socket`'s strand.
  static void Launch(std::shared_ptr<PgListenerShared> shared, boost::asio::ip::tcp::socket socket);

  PgConnection(std::shared_ptr<PgListenerShared> shared, boost::asio::ip::tcp::socket socket,
               int32_t pid, uint32_t secret, uint64_t id);

  // Any thread: closes the socket; the coroutine then cleans up.
  void Close();
  // Any thread: a CancelRequest with this connection's key: its queued batch
  // is not run, its running batch is interrupted. False if the key is wrong.
  bool Cancel(uint32_t secret);
  // Any thread: the runtime ended this connection's hold (idle in a
  // transaction too long): FATAL 25P03, then close.
  void EndIdleTransaction();
  uint64_t id() const { return id_; }

 private:
  struct Outcome;

  boost::asio::awaitable<void> Run();
  boost::asio::awaitable<bool> Startup();
  // Handles one framed message in the ready state; false closes.
  boost::asio::awaitable<bool> Handle(pgwire::FrontendMessage message);
  boost::asio::awaitable<bool> HandleQuery(pgwire::FrontendMessage message);
  boost::asio::awaitable<bool> HandleCopyMessage(pgwire::FrontendMessage message);
  // Runs `batch` on the tenant and writes the reply; false closes.
  // `ends_with_flush`: keep the hold though the reply has no ReadyForQuery.
  // `strip_copy_in`: drop the engine's CopyInResponse (already sent).
  // `effect`: what the batch may do to session parameters; if needed they
  // are re-read and ParameterStatus sent for those that changed (the engine
  // sends none).
  boost::asio::awaitable<bool> RunBatch(std::string batch, bool ends_with_flush, bool strip_copy_in,
                                        SettingsEffect effect = {});
  boost::asio::awaitable<Outcome> Submit(std::string batch, bool ends_with_flush,
                                         bool force_settings, bool report_after);
  // Runs on a runtime thread.
  Outcome Work(Result<engine::Instance*> instance, const runtime::Timings& timings,
               const std::string& batch, const std::string& settings_sql, bool ends_with_flush,
               bool force_settings, bool report_after, uint64_t seq);
  boost::asio::awaitable<bool> Write(std::string bytes);
  // ErrorResponse (and ReadyForQuery with the current status) for a batch
  // refused without running it.
  boost::asio::awaitable<bool> Refuse(std::string_view sqlstate, std::string_view message);
  // FATAL ErrorResponse, best effort; the caller then closes.
  boost::asio::awaitable<void> Fatal(std::string_view sqlstate, std::string_view message);
  void Cleanup();

  const std::shared_ptr<PgListenerShared> shared_;
  boost::asio::ip::tcp::socket socket_;
  const int32_t pid_;
  const uint32_t secret_;
  const uint64_t id_;  // the runtime holder id

  // Strand-only state.
  pgwire::FrontendParser parser_;
  std::string tenant_;
  SessionSettings settings_;
  char status_ = 'I';     // the last ReadyForQuery status
  bool holding_ = false;  // the tenant is reserved for this connection
  std::array<char, 64 * 1024> read_buffer_;
  std::string batch_;                // extended messages waiting for Sync or Flush
  bool batch_refused_ = false;       // the batch holds a COPY FROM STDIN Parse
  SettingsEffect batch_effect_;      // of the Parse messages in batch_
  bool set_in_transaction_ = false;  // a parameter was set in the open transaction block
  std::map<std::string, std::string> reported_;  // ParameterStatus values the client has
  bool refused_until_sync_ = false;              // a refused batch was flushed; skip to Sync
  bool copy_in_ = false;                         // gathering COPY data after our CopyInResponse
  bool copy_overflow_ = false;                   // the data passed max_batch_bytes and was dropped
  std::string copy_query_;                       // the Query message that started the COPY
  std::string copy_data_;                        // its CopyData messages so far
  bool cleaned_up_ = false;

  // Cancel state, shared with Cancel() and the runtime thread.
  std::mutex cancel_mutex_;
  uint64_t queued_seq_ = 0;     // the batch submitted and not started; 0: none
  uint64_t cancelled_seq_ = 0;  // the batch a CancelRequest hit
  uint64_t next_seq_ = 1;       // strand-only
  std::string cancel_tenant_;   // tenant_, once the startup chose it
};

}  // namespace pgthaw::server
