// PgConnection: one client of the Postgres listener, from its first packet
// to its close. A coroutine on the connection's own strand reads, frames
// (pgwire::FrontendParser), batches and writes; the tenant's engine work
// runs on the runtime's threads and hands its reply back to the strand.
//
// Batching (the engine needs whole messages and runs a batch to completion):
//   'Q' simple Query, 'F' FunctionCall    -> one batch, run at once (with
//                                            extended messages gathered before)
//   'P' 'B' 'D' 'E' 'C' extended messages -> gathered until 'S' Sync or
//                                            'H' Flush, then one batch
//   'X' Terminate                         -> close (never sent to the engine)
//   COPY FROM STDIN, wherever the backend runs one -> while the batch runs,
//       the backend's CopyInResponse goes to the client and the client's
//       CopyData, up to CopyDone or CopyFail, comes to the backend as it
//       reads (copy_in_relay.h): the coroutine reads them for the work item.
//
// The shared session's invariant. Between the work items of two users (two
// connections, a connection and an HTTP query, a work item and a
// hibernation snapshot) the engine session is at ReadyForQuery: not
// skipping to Sync after a failed extended message, not inside an extended
// exchange, not in COPY, not in a transaction block. Only a hold (below)
// lets one connection keep the session in one of those states between its
// own items, and no one else's item runs while it does. Each path keeps it:
//   - Messages reach the engine only as whole batches: extended messages
//     wait in the connection until Sync, Flush, Query or FunctionCall, so a
//     Bind or Execute without one never reaches the engine (a disconnect
//     drops them); CopyData outside COPY is dropped; COPY data reaches the
//     backend only while its COPY runs, inside the batch that started it.
//   - Query before Sync. A Query or FunctionCall that comes while extended
//     messages are gathered, or while an exchange left open by Flush is
//     held, ends that exchange first: Work runs the extended messages with
//     a Sync of its own, drops that ReadyForQuery (the client sent no
//     Sync), then runs the Query in a transaction of its own. If the
//     exchange failed, Postgres discards the Query (it skips everything
//     but Sync after an error), and so does Work: the client gets the
//     error, the connection drops its messages up to its own Sync and
//     answers that one with ReadyForQuery. Postgres up to 16 also commits
//     the exchange at such a Query; 17 and 18 leave it open in an implicit
//     block, after which the next command of whoever comes next fails
//     (XX000 "StartTransactionCommand: unexpected state STARTED") and the
//     exchange's writes are lost: not acceptable on a shared session.
//   - Every item not ending with Flush must end at ReadyForQuery: Work
//     checks the reply's last message and, failing that, sends the engine
//     a Sync of its own, drops its reply, and the
//     connection skips to the client's Sync as above. (With the rule above
//     this no longer happens; it is the invariant's last guard.)
//   - An item ending with Flush keeps the hold: the engine may be inside the
//     exchange or skipping, but only this connection's items run until the
//     hold ends at a ReadyForQuery outside a transaction block. A Flush with
//     nothing gathered and no hold is answered without the engine.
//   - A connection closing (Terminate, EOF, a socket error, Stop(), a
//     failed item) tells the runtime it is gone (Runtime::Release) before it
//     unregisters; if it held the tenant, the runtime ends its exchange and
//     transaction (runtime::Session::Reset: an error, which aborts an
//     implicit transaction and is discarded if skipping; Sync; ROLLBACK)
//     before anyone else's item runs. So does a hold idle too long.
//   - HTTP queries (http_query_exec.h) are a simple Query or Parse/Bind/
//     Describe/Execute/Sync (a COPY FROM STDIN in them fails: no data comes),
//     and reset the session if they left it short of idle.
//
// Sharing the instance: every batch goes through Runtime::SubmitHeld with
// this connection's id as holder. The work item first re-applies this
// connection's SessionSettings if another connection (or a fresh instance)
// was the session's last user, then runs the batch. The runtime keeps the
// tenant for this connection while the session is inside its transaction
// block or its extended exchange (runtime/session.h), and lets others in
// once it is idle. So another connection's statements never land inside
// this one's transaction.
//
// Streaming: a batch's reply goes to the client as the engine makes it
// (reply_stream.h), in chunks of whole messages; the worker waits while the
// client is slow (backpressure), and a client that takes nothing for
// --client-write-timeout is disconnected, its statement cancelled. What
// this connection must see of a reply (ReadyForQuery, ParameterStatus,
// errors) is noted from the chunks; the reply's last message never streams
// (but for a COPY's CopyInResponse, sent before the backend waits for data).

// Cancel: a CancelRequest marks the batch this connection has queued but not
// yet started; when it starts it runs a statement raising 57014
// ("canceling statement due to user request") instead (for a batch ending
// with Flush: the error, then nothing until the client's Sync, as Postgres
// skips to Sync after it). A running batch is interrupted through
// Runtime::Cancel: the engine stops at its next CHECK_FOR_INTERRUPTS() with
// the same error.
//
// Idle in a transaction: the runtime ends a hold left idle past
// --idle-in-transaction-timeout (rolls back, frees the tenant) and the
// connection gets Postgres' FATAL 25P03 and is closed.
//
// Close: on Terminate, EOF, a socket error or Stop(), the connection tells
// the runtime it is gone (above).
#pragma once

// clang-format off
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "pgwire/frontend_parser.h"
#include "runtime/runtime.h"
#include "server/connection_activity.h"
#include "server/copy_in_relay.h"
#include "server/credential_store.h"
#include "server/notification_router.h"
#include "server/pg_session_settings.h"
#include "server/pg_sql_scan.h"
#include "server/pg_stream.h"
#include "server/session_handover.h"
#include "server/statement_names.h"
#include "server/tls_credentials.h"

namespace pgthaw::server {

class FleetMembership;
struct TenantRoute;

struct PgListenerOptions {
  // A batch (extended messages up to Sync) or one message over this many
  // bytes is refused: 54000, and the connection closes. COPY data streams
  // to the backend, so a COPY's size is bounded only by the tenant's disk.
  uint64_t max_batch_bytes = uint64_t{256} << 20;
  // First packets over this size are refused (Postgres' own limit).
  uint32_t max_startup_packet_bytes = pgwire::kDefaultMaxStartupPacketBytes;
  // A client that has not finished its startup by then is disconnected
  // (Postgres' authentication_timeout).
  int64_t startup_timeout_ms = 60'000;
  // A client that takes none of a streaming result for this long, or sends
  // nothing for this long while a COPY FROM STDIN waits for its data, is
  // disconnected and its statement cancelled (reply_stream.h,
  // copy_in_relay.h).
  int64_t client_write_timeout_ms = 60'000;
  // Shared with the HTTP queries on the same runtime
  // (HttpServices::tenant_handover); null: the listener's own.
  std::shared_ptr<SessionHandover> handover;
  // What pg_stat_activity shows of the tenants' connections; shared with
  // the HTTP queries on the same runtime (HttpServices::tenant_activity).
  // Null: the listener's own.
  std::shared_ptr<ConnectionActivity> activity;
  // Who may connect (credential_store.h): SCRAM-SHA-256 against the
  // tenant's roles. Null: trust mode (any user, no password).
  std::shared_ptr<CredentialStore> credentials;
  // A startup naming an unknown tenant creates it (trust mode's default);
  // off, it is FATAL 3D000.
  bool auto_create_tenants = true;
  // TLS: SSLRequest is answered 'S' and the handshake uses these
  // (reloadable) credentials; null: 'N'. With tls_required, a client that
  // stays in the clear is refused (FATAL 28000), as a hostssl-only
  // pg_hba.conf does.
  std::shared_ptr<TlsCredentials> tls;
  bool tls_required = false;
  // Told of every failed authentication (metrics): the tenant named and
  // why: password, unknown_role, unknown_tenant, protocol, tls_required.
  std::function<void(const std::string& tenant, const char* reason)> auth_failed;
  // At most this many connections at once run their tenant's exchange on
  // the io thread that read it, when the tenant is warm and free
  // (Runtime::RunHeldNow), instead of handing it to a runtime worker and
  // back. Keep it below the io_context's thread count: a long statement
  // keeps its io thread, and the others must go on serving every socket
  // (a streaming reply or a COPY is written and read by them). 0: never.
  unsigned inline_exchanges = 0;
  // One node of a fleet (fleet_membership.h): after the startup packet,
  // the tenant's owner is looked up (claimed if free) before anything
  // else; another node's tenant is relayed to it (pg_owner_proxy.h). Null:
  // a single server, every tenant served here.
  std::shared_ptr<FleetMembership> fleet;
};

class PgConnection;

// State shared by a PgListener and its connections. Connections hold it by
// shared_ptr, so a reply arriving after the listener is gone is harmless;
// the Runtime must outlive every connection (stop the io_context first).
struct PgListenerShared {
  PgListenerShared(runtime::Runtime& r, PgListenerOptions o)
      : runtime(r),
        options(o),
        handover(o.handover != nullptr ? o.handover : std::make_shared<SessionHandover>()),
        activity(o.activity != nullptr ? o.activity : std::make_shared<ConnectionActivity>()) {}

  runtime::Runtime& runtime;
  const PgListenerOptions options;

  // Mutex rules: `mutex` guards the fields below it and is never held while
  // calling the runtime or an engine instance.
  Mutex mutex;
  std::map<int32_t, std::weak_ptr<PgConnection>> connections
      GUARDED_BY(mutex);  // by BackendKeyData pid
  // Whose settings each tenant's session holds (its own lock).
  const std::shared_ptr<SessionHandover> handover;
  // The connections as pg_stat_activity shows them (its own lock).
  const std::shared_ptr<ConnectionActivity> activity;
  // Times a tenant's session dropped every prepared statement (DEALLOCATE
  // ALL, DISCARD ALL): StatementNames' SessionGeneration.
  std::map<std::string, uint64_t> statement_drops GUARDED_BY(mutex);
  // Open connections per tenant (past their startup): the last one to close
  // ends the session's state (DISCARD ALL).
  std::map<std::string, uint64_t> tenant_connections GUARDED_BY(mutex);
  NotificationRouter notifications;  // its own lock
  // What a startup reported (ParameterStatus), by tenant and settings
  // (SessionSettings::ApplySql): a later startup with the same finds them
  // here and needs no turn on the session, so it is ready at once even
  // while another connection holds the tenant in a transaction.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> startup_reports
      GUARDED_BY(mutex);
  // The secret mock SCRAM verifiers derive from (scram::mock_verifier); set
  // before the first connection, constant after.
  std::string mock_secret;
  uint64_t next_id GUARDED_BY(mutex) = 1;  // runtime holder ids; pids and keys: pg_backend_key.h
  bool stopped GUARDED_BY(mutex) = false;

  // Slots for options.inline_exchanges (lock-free).
  bool TakeInlineSlot();
  void ReturnInlineSlot() { inline_running.fetch_sub(1, std::memory_order_release); }
  std::atomic<unsigned> inline_running{0};
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
  // Any thread: this fleet node no longer owns its tenants (fleet_membership.h):
  // a connection served here gets FATAL 57P01 saying `why` and is closed; one
  // relayed to another node is left alone.
  void EndOwnershipLost(std::string why);
  // Any thread: a NotificationResponse for a channel this connection
  // listens on. Written at once if the connection is idle, else before it
  // next waits for its client.
  void Deliver(std::string notification);
  uint64_t id() const { return id_; }

 private:
  struct Outcome;
  struct WorkEvents;

  boost::asio::awaitable<void> Run();
  boost::asio::awaitable<bool> Startup();
  // Fleet: where the tenant lives (FleetMembership::RouteAsync, off the strand).
  boost::asio::awaitable<Result<TenantRoute>> RouteTenant();
  // Fleet: relays the connection to the tenant's owner, until either side closes.
  boost::asio::awaitable<void> RelayToTenantOwner();
  // SCRAM-SHA-256 against the credential store, after the startup packet;
  // `negotiate` (NegotiateProtocolVersion, or empty) goes first. Ends with
  // AuthenticationOk written, or false after the FATAL.
  boost::asio::awaitable<bool> Authenticate(const std::string& user, const std::string& negotiate);
  // The next typed message; nullopt if the client went away or broke the
  // framing (then after the FATAL).
  boost::asio::awaitable<std::optional<pgwire::FrontendMessage>> ReadMessage();
  // A SASLResponse's payload; nullopt after a FATAL or if the client left.
  boost::asio::awaitable<std::optional<std::string>> ReadSaslResponse();
  // The FATAL for a failed exchange, in Postgres' words; returns false.
  boost::asio::awaitable<bool> AuthFailed(bool tenant_known, bool role_known,
                                          const std::string& user, const Status& status);
  void RecordAuthFailure(const char* reason);
  // Handles one framed message in the ready state; false closes.
  boost::asio::awaitable<bool> Handle(pgwire::FrontendMessage message);
  boost::asio::awaitable<bool> HandleQuery(pgwire::FrontendMessage message);
  // While a batch's COPY waits: the client's next messages for it.
  boost::asio::awaitable<std::string> ReadCopyInput();
  // What the client sent for a COPY that had already ended.
  void KeepAfterCopy(std::string_view messages);
  // One work item's messages for the engine.
  struct Batch {
    std::string messages;
    // A Query or FunctionCall that came before the client's Sync: `messages`
    // then end with our own Sync, and `then` runs after them unless they
    // failed (see "Query before Sync" above).
    std::string then;
    bool ends_with_flush = false;       // keep the hold though the reply has no ReadyForQuery
    bool exchange_failed = false;       // the exchange Flush left open already failed
    std::vector<ListenChange> listens;  // the LISTEN and UNLISTEN statements it holds
  };
  // Runs `batch` on the tenant and writes the reply; false closes.
  boost::asio::awaitable<bool> RunBatch(Batch batch);
  // A Query or FunctionCall (`message`): after the extended messages
  // gathered, or an exchange Flush left open, it runs as Batch::then.
  boost::asio::awaitable<bool> RunAfterExchange(std::string message,
                                                std::vector<ListenChange> listens);
  // With `beside`, the batch may run inside another connection's hold
  // (Runtime::SubmitBeside; only for RunsBeside batches).
  boost::asio::awaitable<Outcome> Submit(Batch batch, bool force_settings, bool beside);
  // The batch only prepares statements (Parse, Describe of a statement,
  // Close, Sync), so it may run beside another connection's transaction.
  bool RunsBeside(const Batch& batch) const;
  // Runs on a runtime thread, inside another connection's hold.
  Outcome WorkBeside(runtime::Session& db, const Batch& batch, const std::string& settings_sql,
                     bool cancelled);
  // Runs on a runtime thread.
  Outcome Work(Result<runtime::Session*> instance, const runtime::Timings& timings,
               const Batch& batch, const std::string& settings_sql, bool force_settings,
               uint64_t seq, CopyInRelay& relay, const std::function<void()>& ask);
  boost::asio::awaitable<bool> Write(std::string bytes);
  // ErrorResponse (and ReadyForQuery with the current status) for a batch
  // refused without running it.
  boost::asio::awaitable<bool> Refuse(std::string_view sqlstate, std::string_view message);
  // FATAL ErrorResponse, best effort; the caller then closes.
  boost::asio::awaitable<void> Fatal(std::string_view sqlstate, std::string_view message);
  void Cleanup();
  // On close: this connection's statements leave the session; the tenant's
  // last connection discards the session's state.
  void EndSessionState();
  // Runs on a runtime thread. Takes the NotificationResponses out of
  // `reply` (whole messages) and hands each to the connections listening on
  // its channel; this connection's own stay in place. The notifying pid is
  // this connection's (it ran the exchange that delivered them).
  void RouteNotifications(std::string& reply);
  // Runs on a runtime thread at the end of a batch with LISTEN, UNLISTEN
  // or DISCARD ALL: once no transaction block is open, what this
  // connection listens on is read back from the session and recorded, and
  // the session listens on whatever another connection still needs.
  void SettleListens(runtime::Session& db, bool discarded);
  // Strand: writes the notifications delivered for this connection.
  boost::asio::awaitable<bool> WriteNotifications();

  const std::shared_ptr<PgListenerShared> shared_;
  PgStream stream_;
  const int32_t pid_;
  const uint32_t secret_;
  const uint64_t id_;  // the runtime holder id

  // Strand-only state.
  pgwire::FrontendParser parser_;
  StatementNames names_;      // this connection's statement and portal names
  bool counted_ = false;      // in PgListenerShared::tenant_connections
  bool in_activity_ = false;  // recorded in PgListenerShared::activity
  // How the connection ends, for pg_stat_database (until told otherwise:
  // the client went away).
  ConnectionActivity::End end_ = ConnectionActivity::End::kAbandoned;
  // pg_stat_activity's query: the text of the last Query, or of the
  // statement the last Parse or Bind named.
  std::string current_query_;
  std::string unnamed_query_;  // the unnamed statement's text
  std::string tenant_;
  // The tenant's role this connection authenticated as; empty in trust
  // mode (the superuser).
  std::string role_;
  SessionSettings settings_;
  char status_ = 'I';     // the last ReadyForQuery status
  bool holding_ = false;  // the tenant is reserved for this connection
  // Extended messages ran with Flush and no Sync yet: the engine is inside
  // this connection's exchange (holding_ is set), and skipping to Sync if
  // `exchange_failed_`.
  bool exchange_open_ = false;
  bool exchange_failed_ = false;
  std::array<char, 64 * 1024> read_buffer_;
  std::string batch_;                        // extended messages waiting for Sync or Flush
  std::vector<ListenChange> batch_listens_;  // of the Parse messages in batch_
  // LISTEN/UNLISTEN of batches that ran inside a transaction block still
  // open: settled at its end (SettleListens).
  std::vector<ListenChange> unsettled_listens_;
  bool reading_idle_ = false;  // the coroutine waits for the client's next message
  std::map<std::string, std::string> reported_;  // ParameterStatus values the client has
  // The client's exchange failed (a refused batch was flushed, or the engine
  // skipped to Sync and was synced by Work): drop its messages up to its
  // Sync, answer that with ReadyForQuery(status_).
  bool refused_until_sync_ = false;
  std::deque<pgwire::FrontendMessage> pending_;  // read during a COPY, not for it
  bool reading_copy_input_ = false;              // ReadCopyInput waits for the socket
  std::string copy_protocol_error_;              // the client broke the protocol during COPY
  bool copy_client_gone_ = false;                // the connection was lost during COPY
  bool cleaned_up_ = false;
  // Fleet: the tenant's owner is another node; Run relays to it.
  std::string owner_host_;
  uint16_t owner_port_ = 0;
  bool relaying_ = false;
  // The startup packet as received, and what followed it (the relay sends both).
  std::string startup_bytes_;

  // Cancel state, shared with Cancel() and the runtime thread.
  Mutex cancel_mutex_;
  uint64_t queued_seq_ GUARDED_BY(cancel_mutex_) =
      0;  // the batch submitted and not started; 0: none
  uint64_t cancelled_seq_ GUARDED_BY(cancel_mutex_) = 0;  // the batch a CancelRequest hit
  uint64_t next_seq_ = 1;                                 // strand-only
  std::string cancel_tenant_ GUARDED_BY(cancel_mutex_);   // tenant_, once the startup chose it
  std::shared_ptr<CopyInRelay> copy_relay_ GUARDED_BY(cancel_mutex_);    // the submitted batch's
  std::shared_ptr<WorkEvents> queued_events_ GUARDED_BY(cancel_mutex_);  // the submitted batch's
  bool queued_answerable_ GUARDED_BY(cancel_mutex_) =
      false;                                             // a cancel may answer it before it runs
  uint64_t answered_seq_ GUARDED_BY(cancel_mutex_) = 0;  // the batch Cancel() answered

  Mutex notify_mutex_;
  std::string notifications_ GUARDED_BY(notify_mutex_);  // NotificationResponses for the client
};

}  // namespace pgthaw::server
