#include "server/pg_connection.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <exception>
#include <utility>

#include "pgwire/backend.h"
#include "pgwire/backend_encode.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"
#include "pgwire/wire_format.h"
#include "runtime/admission.h"
#include "server/copy_in_relay.h"
#include "server/fleet_membership.h"
#include "server/pg_backend_key.h"
#include "server/pg_owner_proxy.h"
#include "server/reply_stream.h"
#include "server/scram.h"
#include "server/sql_quote.h"

// GCC 12 reports -Wmismatched-new-delete inside Asio's coroutine frames
// (awaitable_frame_base has its own operator new/delete): a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace pgthaw::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

namespace {

constexpr char kQueryCanceled[] = "57014";
constexpr char kProtocolViolation[] = "08P01";
constexpr char kFeatureNotSupported[] = "0A000";

// Raises what a cancelled statement raises in Postgres; run instead of a
// batch a CancelRequest hit, so the transaction state follows suit.
constexpr char kCancelSql[] =
    "DO $pgthaw$BEGIN RAISE EXCEPTION USING ERRCODE = 'query_canceled', "
    "MESSAGE = 'canceling statement due to user request'; END$pgthaw$";

// The parameters Postgres reports (GUC_REPORT), at startup and when they
// change.
const std::vector<std::string>& reported_names() {
  static const std::vector<std::string> names = {"application_name",
                                                 "client_encoding",
                                                 "DateStyle",
                                                 "default_transaction_read_only",
                                                 "in_hot_standby",
                                                 "integer_datetimes",
                                                 "IntervalStyle",
                                                 "is_superuser",
                                                 "scram_iterations",
                                                 "search_path",
                                                 "server_encoding",
                                                 "server_version",
                                                 "session_authorization",
                                                 "standard_conforming_strings",
                                                 "TimeZone"};
  return names;
}

// The same, as a query: what a startup runs.
constexpr char kReportSql[] =
    "SELECT n, pg_catalog.current_setting(n, true) FROM pg_catalog.unnest(ARRAY["
    "'application_name', 'client_encoding', 'DateStyle', 'default_transaction_read_only', "
    "'in_hot_standby', 'integer_datetimes', 'IntervalStyle', 'is_superuser', "
    "'scram_iterations', 'search_path', 'server_encoding', 'server_version', "
    "'session_authorization', 'standard_conforming_strings', 'TimeZone']) AS n";

// Postgres reads these message types only up to PQ_SMALL_MESSAGE_LIMIT
// bytes (length word included) and closes the connection past it ("invalid
// message length"): the engine must never see such a message, since on the
// shared session that would end the session of every user.
constexpr size_t kSmallMessageLimit = 10000;

bool over_small_message_limit(const pgwire::FrontendMessage& m) {
  switch (m.type) {
    case 'C':
    case 'D':
    case 'E':
    case 'H':
    case 'S':
    case 'X':
    case 'c':
    case 'f':
      return m.payload.size() + 4 > kSmallMessageLimit;
    default:
      return false;
  }
}

std::string query_message(std::string_view sql) {
  std::string out;
  Status st = pgwire::frontend::query(out, sql);
  if (!st.ok()) spdlog::error("pg listener: encoding an internal query: {}", st.ToString());
  return out;
}

std::string sync_message() {
  std::string out;
  pgwire::frontend::sync(out);
  return out;
}

// The status of the last ReadyForQuery in `reply`; 0 if there is none.
char last_ready_status(std::string_view reply) {
  auto messages = pgwire::split_messages(reply);
  if (!messages.ok()) return 0;
  char status = 0;
  for (const pgwire::MessageView& m : *messages) {
    if (m.type == pgwire::backend_type::kReadyForQuery && m.payload.size() == 1) {
      status = m.payload[0];
    }
  }
  return status;
}

// `messages` (whole frontend messages) cut after each Execute.
std::deque<std::string> split_after_executes(std::string_view messages) {
  std::deque<std::string> out;
  auto split = pgwire::split_messages(messages);
  if (!split.ok()) {
    out.emplace_back(messages);
    return out;
  }
  std::string segment;
  for (const pgwire::MessageView& m : *split) {
    pgwire::append_message(segment, m.type, m.payload);
    if (m.type == 'E') out.push_back(std::exchange(segment, std::string()));
  }
  if (!segment.empty()) out.push_back(std::move(segment));
  return out;
}

// The statement a Bind names ("": the unnamed one, or a malformed Bind,
// which StatementNames refuses).
std::string_view bound_statement(std::string_view bind) {
  const size_t portal_end = bind.find('\0');
  if (portal_end == std::string_view::npos) return {};
  const size_t end = bind.find('\0', portal_end + 1);
  if (end == std::string_view::npos) return {};
  return bind.substr(portal_end + 1, end - portal_end - 1);
}

// True if `messages` (whole backend messages) hold one of `type`.
bool has_message(std::string_view messages, char type) {
  size_t at = 0;
  while (at + 5 <= messages.size()) {
    if (messages[at] == type) return true;
    uint32_t len = (uint32_t{static_cast<uint8_t>(messages[at + 1])} << 24) |
                   (uint32_t{static_cast<uint8_t>(messages[at + 2])} << 16) |
                   (uint32_t{static_cast<uint8_t>(messages[at + 3])} << 8) |
                   uint32_t{static_cast<uint8_t>(messages[at + 4])};
    if (len < 4) return false;
    at += 1 + len;
  }
  return false;
}

// True if `reply` holds an ErrorResponse.
bool has_error(std::string_view reply) {
  auto messages = pgwire::split_messages(reply);
  if (!messages.ok()) return false;
  for (const pgwire::MessageView& m : *messages) {
    if (m.type == pgwire::backend_type::kErrorResponse) return true;
  }
  return false;
}

// (name, value) rows of kReportSql's reply; false if it failed.
bool read_report(std::string_view reply, std::vector<std::pair<std::string, std::string>>* out) {
  auto results = pgwire::collect_results(reply);
  if (!results.ok() || results->empty() || results->back().error) return false;
  for (const pgwire::Row& row : results->back().rows) {
    if (row.size() == 2 && row[0] && row[1]) out->emplace_back(*row[0], *row[1]);
  }
  return true;
}

// SQLSTATE for a failure of the runtime or the engine.
std::string_view sqlstate_for(const Status& status) {
  if (runtime::IsQueueFull(status) || runtime::IsTooManyTenants(status)) {
    return "53300";  // too_many_connections
  }
  switch (status.code()) {
    case StatusCode::kUnavailable:
      return "57P01";  // admin_shutdown
    case StatusCode::kResourceExhausted:
      return "53000";  // insufficient_resources
    case StatusCode::kAborted:
      return "25P03";  // idle_in_transaction_session_timeout
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
      return "3D000";  // invalid_catalog_name
    default:
      return "XX000";  // internal_error
  }
}

// What a client is told of that failure. Engine failures name host paths
// (the log has them): the client gets a fixed text instead.
std::string failure_message(const std::string& tenant, const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound:  // auto-create is off
      return "database \"" + tenant + "\" does not exist";
    case StatusCode::kInvalidArgument:
    case StatusCode::kResourceExhausted:
      return "tenant " + tenant + ": " + status.message();
    case StatusCode::kUnavailable:
      return "tenant " + tenant + " is not available (shutting down or restarting)";
    case StatusCode::kAborted:  // a hold the runtime ended: Postgres' own words
      return status.message();
    default:
      spdlog::warn("tenant {}: {}", tenant, status.ToString());
      return "tenant " + tenant + ": internal error in the engine; it starts again from its files";
  }
}

}  // namespace

struct PgConnection::Outcome {
  Status status;      // the runtime or engine failed: the connection closes
  std::string reply;  // what is left to write (a long reply streamed before it)
  // Of what streamed (ReplyStream): its ParameterStatus and ReadyForQuery
  // messages, for the connection to observe, and whether it held an error.
  std::string streamed_meta;
  bool streamed_error = false;
  bool statements_dropped = false;                    // DEALLOCATE ALL or DISCARD ALL ran
  bool discarded = false;                             // DISCARD ALL ran
  std::optional<pgwire::ErrorFields> settings_error;  // applying SessionSettings failed
  bool ran = false;      // Work ran (false: the runtime refused the item)
  bool holding = false;  // the work kept the hold
  // The client's exchange failed and the engine is at ReadyForQuery again
  // (our own Sync, or a cancel replacing a Flush batch): the connection
  // drops the client's messages up to its Sync and answers that Sync with
  // ReadyForQuery(`status_after`).
  bool skip_to_sync = false;
  char status_after = 'I';
  bool reply_has_error = false;  // an ErrorResponse in `reply`
  // An extended-protocol COPY ran: the engine waits for the client's Sync.
  bool exchange_left_open = false;
  bool copy_timed_out = false;  // a COPY waited too long for the client's data
  // Beside a hold it could not run (the holder's block had failed): submit
  // it again, to wait for the hold's end.
  bool retry_held = false;
  bool reported = false;  // `parameters` holds the reported parameters after the batch
  std::vector<std::pair<std::string, std::string>> parameters;
};

// Where a work item meets the connection's coroutine: its outcome and,
// while a COPY in it waits, its requests for the client's input. The
// coroutine sleeps on `wake` (a timer that never expires; cancelling it is
// the signal), which only the strand touches.
struct PgConnection::WorkEvents {
  explicit WorkEvents(const asio::any_io_executor& executor) : wake(executor) {
    wake.expires_at(asio::steady_timer::time_point::max());
  }
  Mutex mutex;
  std::optional<Outcome> outcome GUARDED_BY(mutex);
  bool input_wanted GUARDED_BY(mutex) = false;
  asio::steady_timer wake;
};

namespace {

// Notes what the connection must know of a chunk that went to the client
// without passing RunBatch (`meta`, `error`: null to skip), and whether it
// completed a command that drops every prepared statement of the session.
void note_streamed(std::string_view messages, std::string* meta, bool* error, bool* drops,
                   bool* discarded) {
  auto split = pgwire::split_messages(messages);
  if (!split.ok()) return;
  for (const pgwire::MessageView& m : *split) {
    if (m.type == pgwire::backend_type::kErrorResponse && error != nullptr) *error = true;
    if (meta != nullptr && (m.type == pgwire::backend_type::kParameterStatus ||
                            m.type == pgwire::backend_type::kReadyForQuery)) {
      pgwire::append_message(*meta, m.type, m.payload);
    }
    if (m.type == pgwire::backend_type::kCommandComplete &&
        (m.payload == std::string_view("DEALLOCATE ALL\0", 15) ||
         m.payload == std::string_view("DISCARD ALL\0", 12))) {
      *drops = true;
      if (m.payload[1] == 'I') *discarded = true;
    }
  }
}

}  // namespace

void PgConnection::Launch(std::shared_ptr<PgListenerShared> shared, tcp::socket socket) {
  std::shared_ptr<PgConnection> connection;
  {
    MutexLock lock(shared->mutex);
    if (shared->stopped) return;  // the socket closes as it goes out of scope
    auto key = new_backend_key(
        [&](int32_t pid) REQUIRES(shared->mutex) { return shared->connections.count(pid) > 0; });
    if (!key.ok()) {
      spdlog::error("pg listener: refusing a connection: {}", key.status().ToString());
      return;
    }
    uint64_t id = shared->next_id++;
    connection =
        std::make_shared<PgConnection>(shared, std::move(socket), key->pid, key->secret, id);
    shared->connections[key->pid] = connection;
  }
  auto executor = connection->stream_.get_executor();
  asio::co_spawn(executor, connection->Run(), [connection](std::exception_ptr e) {
    if (!e) return;
    // Asio's operations here report errors through error_code; what reaches
    // this edge is an allocation failure or a bug. Log, then clean up.
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::error("pg connection {}: {}", connection->pid_, x.what());
    } catch (...) {
      spdlog::error("pg connection {}: unknown exception", connection->pid_);
    }
    connection->Cleanup();
  });
}

PgConnection::PgConnection(std::shared_ptr<PgListenerShared> shared, tcp::socket socket,
                           int32_t pid, uint32_t secret, uint64_t id)
    : shared_(std::move(shared)),
      stream_(std::move(socket)),
      pid_(pid),
      secret_(secret),
      id_(id),
      parser_(/*at_connection_start=*/true,
              pgwire::FrontendParserOptions{
                  .max_message_bytes = static_cast<uint32_t>(
                      std::min<uint64_t>(shared_->options.max_batch_bytes, pgwire::kMaxWireLength)),
                  .max_startup_packet_bytes = shared_->options.max_startup_packet_bytes}),
      names_(id) {}

void PgConnection::Close() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    self->end_ = ConnectionActivity::End::kKilled;
    self->stream_.close();
  });
}

bool PgConnection::Cancel(uint32_t secret) {
  if (secret != secret_) return false;
  std::string tenant;
  std::shared_ptr<CopyInRelay> relay;
  std::shared_ptr<WorkEvents> answer_now;
  {
    MutexLock lock(cancel_mutex_);
    if (queued_seq_ != 0) {
      cancelled_seq_ = queued_seq_;
      // Waiting for its turn, outside any transaction or exchange: the
      // client hears 57014 at once and the batch never runs (Work skips it).
      if (queued_answerable_) {
        answered_seq_ = queued_seq_;
        answer_now = queued_events_;
      }
    }
    tenant = cancel_tenant_;
    relay = copy_relay_;
  }
  if (answer_now != nullptr) {
    Outcome out;
    (void)pgwire::backend::error_response(out.reply, "ERROR", kQueryCanceled,
                                          "canceling statement due to user request");
    pgwire::backend::ready_for_query(out.reply, pgwire::TransactionStatus::kIdle);
    {
      MutexLock lock(answer_now->mutex);
      if (!answer_now->outcome) answer_now->outcome = std::move(out);
    }
    asio::post(stream_.get_executor(), [answer_now] { answer_now->wake.cancel(); });
    return true;
  }
  // A COPY waiting for this client's data fails as a cancelled one does.
  if (relay != nullptr) relay->Interrupt("canceling statement due to user request");
  // A batch already running is interrupted inside the engine.
  if (!tenant.empty()) shared_->runtime.Cancel(tenant, id_);
  return true;
}

void PgConnection::EndIdleTransaction() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    // The coroutine is idle, waiting for the client: write the FATAL here.
    // The runtime has rolled back and refuses this holder from now on, so
    // the rollback Cleanup() submits only releases.
    self->end_ = ConnectionActivity::End::kFatal;
    auto reply = std::make_shared<std::string>();
    if (!pgwire::backend::error_response(
             *reply, "FATAL", "25P03", "terminating connection due to idle-in-transaction timeout")
             .ok()) {
      self->stream_.close();
      return;
    }
    asio::async_write(
        self->stream_, asio::buffer(*reply),
        [self, reply](const boost::system::error_code&, size_t) { self->stream_.close(); });
  });
}

void PgConnection::EndOwnershipLost(std::string why) {
  asio::post(stream_.get_executor(), [self = shared_from_this(), why = std::move(why)] {
    if (self->relaying_ || self->cleaned_up_) return;  // another node's tenant
    self->end_ = ConnectionActivity::End::kFatal;
    auto reply = std::make_shared<std::string>();
    // Only between messages may a FATAL go out whole; else the socket just closes.
    if (!self->reading_idle_ ||
        !pgwire::backend::error_response(*reply, "FATAL", "57P01", "terminating connection: " + why)
             .ok()) {
      self->stream_.close();
      return;
    }
    asio::async_write(
        self->stream_, asio::buffer(*reply),
        [self, reply](const boost::system::error_code&, size_t) { self->stream_.close(); });
  });
}

// ---- The coroutine -------------------------------------------------------------

awaitable<void> PgConnection::Run() {
  // Postgres' authentication_timeout: a client that never finishes its
  // startup packet does not keep a connection forever.
  asio::steady_timer startup_timer(stream_.get_executor());
  startup_timer.expires_after(std::chrono::milliseconds(shared_->options.startup_timeout_ms));
  startup_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: startup finished
    boost::system::error_code ignored;
    self->stream_.close();
  });
  bool ready = co_await Startup();
  startup_timer.cancel();
  if (relaying_) co_await RelayToTenantOwner();
  while (ready) {
    if (!pending_.empty()) {  // read while a COPY ran, after its data
      pgwire::FrontendMessage message = std::move(pending_.front());
      pending_.pop_front();
      ready = co_await Handle(std::move(message));
      continue;
    }
    auto next = parser_.next();
    if (!next.ok()) {
      co_await Fatal(kProtocolViolation, next.status().message());
      break;
    }
    if (!next->has_value()) {
      if (!co_await WriteNotifications()) break;
      boost::system::error_code ec;
      reading_idle_ = true;
      size_t n = co_await stream_.async_read_some(asio::buffer(read_buffer_),
                                                  asio::redirect_error(use_awaitable, ec));
      reading_idle_ = false;
      if (ec == asio::error::operation_aborted && stream_.is_open()) continue;  // Deliver()
      if (ec) break;  // EOF, reset or Close()
      parser_.feed(std::string_view(read_buffer_.data(), n));
      continue;
    }
    pgwire::FrontendMessage message = std::move(**next);
    if (over_small_message_limit(message)) {
      co_await Fatal(kProtocolViolation, "invalid message length");
      break;
    }
    ready = co_await Handle(std::move(message));
  }
  Cleanup();
}

awaitable<bool> PgConnection::Startup() {
  pgwire::StartupMessage startup;
  for (;;) {
    auto next = parser_.next();
    if (!next.ok()) {
      co_await Fatal(kProtocolViolation, "invalid startup packet: " + next.status().message());
      co_return false;
    }
    if (!next->has_value()) {
      boost::system::error_code ec;
      size_t n = co_await stream_.async_read_some(asio::buffer(read_buffer_),
                                                  asio::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
      parser_.feed(std::string_view(read_buffer_.data(), n));
      continue;
    }
    pgwire::FrontendMessage& m = **next;
    if (m.startup_kind == pgwire::StartupPacketKind::kSslRequest &&
        shared_->options.tls != nullptr && !stream_.tls()) {
      // Bytes sent after the request and before the handshake would be
      // taken as if they came through TLS (CVE-2021-23214).
      if (parser_.buffered_bytes() != 0) {
        co_await Fatal(kProtocolViolation, "received unencrypted data after SSL request");
        co_return false;
      }
      if (!co_await Write("S")) co_return false;
      // (Arguments of the coroutines called here are named locals: GCC 12
      // mishandles prvalue arguments of a coroutine inside co_await.)
      std::shared_ptr<asio::ssl::context> context = shared_->options.tls->context();
      Status handshake = co_await stream_.StartTls(context);
      if (!handshake.ok()) {
        spdlog::info("pg connection {}: {}", pid_, handshake.message());
        co_return false;
      }
      continue;
    }
    if (m.startup_kind == pgwire::StartupPacketKind::kSslRequest ||
        m.startup_kind == pgwire::StartupPacketKind::kGssEncRequest) {
      // No TLS (or already on), no GSS encryption: 'N', and the client
      // goes on as it is.
      if (!co_await Write("N")) co_return false;
      continue;
    }
    if (m.startup_kind == pgwire::StartupPacketKind::kCancelRequest) {
      auto cancel = pgwire::decode_cancel_request(m.payload);
      if (cancel.ok() && cancel->secret_key.size() == 4) {
        uint32_t key = (uint32_t{static_cast<uint8_t>(cancel->secret_key[0])} << 24) |
                       (uint32_t{static_cast<uint8_t>(cancel->secret_key[1])} << 16) |
                       (uint32_t{static_cast<uint8_t>(cancel->secret_key[2])} << 8) |
                       uint32_t{static_cast<uint8_t>(cancel->secret_key[3])};
        std::shared_ptr<PgConnection> target;
        {
          MutexLock lock(shared_->mutex);
          auto found = shared_->connections.find(cancel->pid);
          if (found != shared_->connections.end()) target = found->second.lock();
        }
        if (target != nullptr && !target->Cancel(key)) {
          spdlog::debug("pg listener: CancelRequest for pid {} with a wrong key", cancel->pid);
        }
      }
      co_return false;  // a cancel connection gets no reply, as in Postgres
    }
    if (m.startup_kind != pgwire::StartupPacketKind::kStartup) {
      co_await Fatal(kProtocolViolation, "expected a startup packet");
      co_return false;
    }
    auto decoded = pgwire::decode_startup_message(m.payload);
    if (!decoded.ok()) {
      co_await Fatal(kProtocolViolation, "invalid startup packet: " + decoded.status().message());
      co_return false;
    }
    startup = std::move(decoded).value();
    // As received, for the tenant's owner if another node has it.
    pgwire::put_int32(startup_bytes_, static_cast<uint32_t>(m.payload.size() + 4));
    startup_bytes_ += m.payload;
    break;
  }

  if (startup.major() != 3) {
    co_await Fatal(kFeatureNotSupported,
                   "unsupported frontend protocol " + std::to_string(startup.major()) + "." +
                       std::to_string(startup.minor()) + ": server supports 3.0");
    co_return false;
  }
  std::string negotiate;
  std::vector<std::string> unknown_options;
  for (const auto& [name, value] : startup.params) {
    if (name.rfind("_pq_.", 0) == 0) unknown_options.push_back(name);
  }
  if (startup.minor() > 0 || !unknown_options.empty()) {
    // NegotiateProtocolVersion: we speak 3.0 and no protocol extensions.
    pgwire::MessageBuilder builder(negotiate, pgwire::backend_type::kNegotiateProtocolVersion);
    pgwire::put_int32(negotiate, static_cast<uint32_t>(pgwire::kProtocolVersion30));
    pgwire::put_int32(negotiate, static_cast<uint32_t>(unknown_options.size()));
    for (const std::string& o : unknown_options) pgwire::put_cstring(negotiate, o);
    if (!builder.finish().ok()) negotiate.clear();
  }
  auto param = [&](const std::string& name) -> std::string {
    auto found = startup.params.find(name);
    return found == startup.params.end() ? std::string() : found->second;
  };
  if (!param("replication").empty() && param("replication") != "false" &&
      param("replication") != "off" && param("replication") != "0") {
    co_await Fatal(kFeatureNotSupported, "pgthaw does not support replication connections");
    co_return false;
  }
  std::string user = param("user");
  tenant_ = param("database").empty() ? user : param("database");
  {
    MutexLock lock(cancel_mutex_);
    cancel_tenant_ = tenant_;
  }
  if (shared_->options.tls_required && !stream_.tls()) {
    boost::system::error_code ec;
    tcp::endpoint peer = stream_.lowest().remote_endpoint(ec);
    RecordAuthFailure("tls_required");
    const std::string host = ec ? std::string("?") : peer.address().to_string();
    const std::string message = "no pg_hba.conf entry for host \"" + host + "\", user \"" + user +
                                "\", database \"" + tenant_ + "\", no encryption";
    co_await Fatal("28000", message);
    co_return false;
  }
  if (shared_->options.fleet != nullptr) {
    // Before authentication: the owner authenticates its tenant's clients.
    if (!runtime::Runtime::ValidateTenantId(tenant_).ok()) {
      co_await Fatal("3D000", "database \"" + tenant_ +
                                  "\" does not exist (a tenant id is 1 to 63 of [A-Za-z0-9_-])");
      co_return false;
    }
    Result<TenantRoute> route = co_await RouteTenant();
    if (!route.ok()) {
      co_await Fatal(
          "57P03", "the database system is not accepting connections: " + route.status().message());
      co_return false;
    }
    if (!route->local) {
      spdlog::debug("pg connection {}: tenant {} is node {}'s: relaying to {}:{}", pid_, tenant_,
                    route->owner, route->owner_host, route->owner_port);
      owner_host_ = route->owner_host;
      owner_port_ = route->owner_port;
      relaying_ = true;
      // Served elsewhere: nothing of this tenant runs here.
      tenant_.clear();
      MutexLock lock(cancel_mutex_);
      cancel_tenant_.clear();
      co_return false;
    }
  }
  if (shared_->options.credentials != nullptr) {
    const bool authenticated = co_await Authenticate(user, negotiate);
    if (!authenticated) co_return false;
    negotiate.clear();
    role_ = user;
  } else if (!runtime::Runtime::ValidateTenantId(tenant_).ok()) {
    co_await Fatal("3D000", "database \"" + tenant_ +
                                "\" does not exist (a tenant id is 1 to 63 of [A-Za-z0-9_-])");
    co_return false;
  }
  auto settings = SessionSettings::FromStartup(startup.params);
  if (!settings.ok()) {
    co_await Fatal("42601", settings.status().message());
    co_return false;
  }
  settings_ = std::move(settings).value();

  // The parameters to report. A tenant's first startup with these settings
  // thaws it if cold, puts them in force (refusing the connection if one is
  // invalid, as Postgres does) and reads the values; later ones find the
  // values in startup_reports and apply the settings with their first
  // statement, without waiting for the session.
  const std::string report_key = tenant_ + '\0' + role_ + '\0' + settings_.ApplySql();
  std::vector<std::pair<std::string, std::string>> parameters;
  {
    MutexLock lock(shared_->mutex);
    auto known = shared_->startup_reports.find(report_key);
    if (known != shared_->startup_reports.end()) parameters = known->second;
  }
  if (parameters.empty()) {
    Batch report;
    report.messages = query_message(kReportSql);
    Outcome out = co_await Submit(std::move(report), /*force_settings=*/true, false);
    if (!out.status.ok()) {
      co_await Fatal(sqlstate_for(out.status), failure_message(tenant_, out.status));
      co_return false;
    }
    if (out.settings_error) {
      pgwire::ErrorFields fields = *out.settings_error;
      fields.fields['S'] = fields.fields['V'] = "FATAL";
      std::string reply;
      if (pgwire::backend::error_response(reply, fields).ok()) co_await Write(std::move(reply));
      co_return false;
    }
    if (!read_report(out.reply, &parameters) || parameters.empty()) {
      co_await Fatal("XX000", "tenant " + tenant_ + ": reading the session parameters failed");
      co_return false;
    }
    constexpr size_t kMaxStartupReports = 4096;
    MutexLock lock(shared_->mutex);
    if (shared_->startup_reports.size() >= kMaxStartupReports) shared_->startup_reports.clear();
    shared_->startup_reports[report_key] = parameters;
  }
  {
    MutexLock lock(shared_->mutex);
    ++shared_->tenant_connections[tenant_];
    counted_ = true;
  }
  std::string reply = std::move(negotiate);
  if (shared_->options.credentials == nullptr) pgwire::backend::authentication_ok(reply);
  for (const auto& [name, value] : parameters) {
    Status st = pgwire::backend::parameter_status(reply, name, value);
    if (!st.ok()) spdlog::warn("pg listener: ParameterStatus {}: {}", name, st.ToString());
    reported_[name] = value;
  }
  pgwire::backend::backend_key_data(reply, pid_, secret_);
  pgwire::backend::ready_for_query(reply, pgwire::TransactionStatus::kIdle);
  {
    boost::system::error_code ec;
    tcp::endpoint peer = stream_.lowest().remote_endpoint(ec);
    shared_->activity->Opened(tenant_, pid_, user, reported_["application_name"],
                              ec ? std::string() : peer.address().to_string(),
                              ec ? -1 : peer.port());
    in_activity_ = true;
  }
  spdlog::debug("pg connection {}: user {} tenant {}", pid_, user, tenant_);
  co_return co_await Write(std::move(reply));
}

awaitable<Result<TenantRoute>> PgConnection::RouteTenant() {
  // The answer comes on the membership's thread; `wake` brings it to the strand.
  struct Pending {
    explicit Pending(PgStream::executor_type executor) : wake(executor) {}
    Mutex mutex;
    std::optional<Result<TenantRoute>> result GUARDED_BY(mutex);
    asio::steady_timer wake;
  };
  auto pending = std::make_shared<Pending>(stream_.get_executor());
  pending->wake.expires_at(asio::steady_timer::time_point::max());
  shared_->options.fleet->RouteAsync(tenant_, [pending](Result<TenantRoute> route) {
    {
      MutexLock lock(pending->mutex);
      pending->result = std::move(route);
    }
    asio::post(pending->wake.get_executor(), [pending] { pending->wake.cancel(); });
  });
  for (;;) {
    std::optional<Result<TenantRoute>> result;
    {
      MutexLock lock(pending->mutex);
      result = std::move(pending->result);
    }
    if (result) co_return std::move(*result);
    boost::system::error_code ec;
    co_await pending->wake.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

awaitable<void> PgConnection::RelayToTenantOwner() {
  std::string first = std::move(startup_bytes_);
  first += parser_.take_buffered();
  OwnerProxyOptions options;
  options.connect_timeout = std::chrono::milliseconds(shared_->options.startup_timeout_ms);
  options.write_timeout = std::chrono::milliseconds(shared_->options.client_write_timeout_ms);
  std::string host = owner_host_;
  Status st =
      co_await RelayToOwner(stream_, std::move(first), std::move(host), owner_port_, options);
  if (!st.ok()) {
    spdlog::warn("pg connection {}: {}", pid_, st.message());
    co_await Fatal("57P03", "the database system is not accepting connections: " + st.message());
  }
}

awaitable<std::optional<pgwire::FrontendMessage>> PgConnection::ReadMessage() {
  for (;;) {
    auto next = parser_.next();
    if (!next.ok()) {
      co_await Fatal(kProtocolViolation, next.status().message());
      co_return std::nullopt;
    }
    if (next->has_value()) co_return std::move(**next);
    boost::system::error_code ec;
    size_t n = co_await stream_.async_read_some(asio::buffer(read_buffer_),
                                                asio::redirect_error(use_awaitable, ec));
    if (ec) co_return std::nullopt;
    parser_.feed(std::string_view(read_buffer_.data(), n));
  }
}

void PgConnection::RecordAuthFailure(const char* reason) {
  if (shared_->options.auth_failed) shared_->options.auth_failed(tenant_, reason);
}

awaitable<std::optional<std::string>> PgConnection::ReadSaslResponse() {
  auto message = co_await ReadMessage();
  if (!message) co_return std::nullopt;  // the client went away (libpq without a password)
  if (message->type != 'p') {
    RecordAuthFailure("protocol");
    const std::string text = "expected SASL response, got message type " +
                             std::to_string(static_cast<int>(message->type));
    co_await Fatal(kProtocolViolation, text);
    co_return std::nullopt;
  }
  co_return std::move(message->payload);
}

awaitable<bool> PgConnection::AuthFailed(bool tenant_known, bool role_known,
                                         const std::string& user, const Status& status) {
  // Postgres' words for each way the exchange can end.
  if (scram::is_protocol_violation(status)) {
    RecordAuthFailure("protocol");
    co_await Fatal(kProtocolViolation, status.message());
  } else if (!tenant_known) {
    RecordAuthFailure("unknown_tenant");
    const std::string message = "database \"" + tenant_ + "\" does not exist";
    co_await Fatal("3D000", message);
  } else if (!role_known) {
    RecordAuthFailure("unknown_role");
    const std::string message = "role \"" + user + "\" does not exist";
    co_await Fatal("28000", message);
  } else {
    spdlog::info("pg connection {}: tenant {} role {}: authentication failed: {}", pid_, tenant_,
                 user, status.message());
    RecordAuthFailure(scram::is_authentication_failure(status) ? "password" : "internal");
    const std::string message = "password authentication failed for user \"" + user + "\"";
    co_await Fatal("28P01", message);
  }
  co_return false;
}

awaitable<bool> PgConnection::Authenticate(const std::string& user, const std::string& negotiate) {
  CredentialStore& credentials = *shared_->options.credentials;
  // Whatever is unknown (tenant, role), the client sees the same exchange
  // against a mock verifier and learns it only at its end.
  const bool tenant_known =
      runtime::Runtime::ValidateTenantId(tenant_).ok() && credentials.HasTenant(tenant_);
  std::optional<scram::Verifier> verifier;
  if (tenant_known) verifier = credentials.FindRole(tenant_, user);
  const bool role_known = verifier.has_value();
  scram::ChannelBinding binding = scram::ChannelBinding::None();
  if (X509* certificate = stream_.server_certificate()) {
    auto hash = scram::tls_server_end_point(certificate);
    if (hash.ok()) binding = scram::ChannelBinding::TlsServerEndPoint(std::move(hash).value());
  }
  scram::ServerExchange exchange(verifier, user, shared_->mock_secret, std::move(binding));
  // (GCC 12 miscompiles co_await inside a condition with || here: each
  // step is a statement of its own.)
  Status step = Status::Ok();
  std::string out = negotiate;
  if (!pgwire::backend::authentication_sasl(out, exchange.Mechanisms()).ok()) co_return false;
  bool wrote = co_await Write(std::move(out));
  if (!wrote) co_return false;

  std::optional<std::string> payload = co_await ReadSaslResponse();
  if (!payload) co_return false;
  std::string reply;
  if (auto initial = pgwire::decode_sasl_initial_response(*payload); !initial.ok()) {
    step = Status::InvalidArgument(initial.status().message());
  } else if (auto first = exchange.HandleInitial(initial->mechanism, initial->data.value_or(""));
             !first.ok()) {
    step = first.status();
  } else if (!pgwire::backend::authentication_sasl_continue(reply, *first).ok()) {
    co_return false;
  }
  if (!step.ok()) {
    bool result = co_await AuthFailed(tenant_known, role_known, user, step);
    co_return result;
  }
  wrote = co_await Write(std::move(reply));
  if (!wrote) co_return false;

  payload = co_await ReadSaslResponse();
  if (!payload) co_return false;
  reply.clear();
  if (auto last = exchange.HandleFinal(*payload); !last.ok()) {
    step = last.status();
  } else if (!tenant_known || !role_known) {
    step = Status::Unauthenticated("no such tenant or role");
  } else if (!pgwire::backend::authentication_sasl_final(reply, *last).ok()) {
    co_return false;
  }
  if (!step.ok()) {
    bool result = co_await AuthFailed(tenant_known, role_known, user, step);
    co_return result;
  }
  pgwire::backend::authentication_ok(reply);
  wrote = co_await Write(std::move(reply));
  co_return wrote;
}

awaitable<bool> PgConnection::Handle(pgwire::FrontendMessage message) {
  const char type = message.type;
  if (refused_until_sync_ && type != 'S') co_return true;  // skipping to Sync
  switch (type) {
    case 'Q':
      co_return co_await HandleQuery(std::move(message));
    case 'F': {  // FunctionCall: answered with its own ReadyForQuery
      std::string call;
      pgwire::append_message(call, type, message.payload);
      co_return co_await RunAfterExchange(std::move(call), {});
    }
    case 'P':
      if (auto parse = pgwire::decode_parse(message.payload); parse.ok()) {
        for (ListenChange& change : listen_changes(parse->query)) {
          batch_listens_.push_back(std::move(change));
        }
        current_query_ = parse->query;
        if (parse->statement.empty()) unnamed_query_ = current_query_;
      }
      [[fallthrough]];
    case 'B':
      if (type == 'B') {
        std::string_view statement = bound_statement(message.payload);
        current_query_ = statement.empty() ? unnamed_query_ : names_.QueryText(statement);
      }
      [[fallthrough]];
    case 'D':
    case 'E':
    case 'C':
      if (Status st = names_.AppendForSession(type, message.payload, batch_); !st.ok()) {
        co_await Fatal(kProtocolViolation, st.message());
        co_return false;
      }
      if (batch_.size() > shared_->options.max_batch_bytes) {
        co_await Fatal("54000", "extended-protocol messages without Sync exceed " +
                                    std::to_string(shared_->options.max_batch_bytes) + " bytes");
        co_return false;
      }
      co_return true;
    case 'H':
    case 'S': {
      if (refused_until_sync_) {  // (only a Sync gets here then) the skip ends
        refused_until_sync_ = false;
        std::string reply;
        pgwire::backend::ready_for_query(reply, static_cast<pgwire::TransactionStatus>(status_));
        co_return co_await Write(std::move(reply));
      }
      // A Flush with nothing gathered and no exchange open has nothing to
      // flush: it must not reserve the tenant.
      if (type == 'H' && batch_.empty() && !holding_) co_return true;
      Batch batch;
      pgwire::append_message(batch_, type, message.payload);
      batch.messages = std::move(batch_);
      batch_.clear();
      batch.ends_with_flush = type == 'H';
      batch.exchange_failed = exchange_failed_;
      batch.listens = std::move(batch_listens_);
      batch_listens_.clear();
      co_return co_await RunBatch(std::move(batch));
    }
    case 'X':
      end_ = ConnectionActivity::End::kNormal;
      co_return false;
    case 'd':
    case 'c':
    case 'f':
      // Outside COPY, as Postgres does: most likely a COPY failed and the
      // client is still sending its data.
      co_return true;
    default:
      co_await Fatal(kProtocolViolation,
                     "invalid frontend message type " + pgwire::describe_type(type));
      co_return false;
  }
}

awaitable<bool> PgConnection::HandleQuery(pgwire::FrontendMessage message) {
  auto sql = pgwire::decode_query(message.payload);
  if (!sql.ok()) {
    co_await Fatal(kProtocolViolation, sql.status().message());
    co_return false;
  }
  current_query_ = *sql;
  // This connection's statement names (statement_names.h).
  std::string mapped = names_.MapSql(*sql);
  std::string raw;
  if (mapped == *sql) {
    pgwire::append_message(raw, 'Q', message.payload);
  } else if (Status st = pgwire::frontend::query(raw, mapped); !st.ok()) {
    co_await Fatal(kProtocolViolation, st.message());
    co_return false;
  }
  co_return co_await RunAfterExchange(std::move(raw), listen_changes(*sql));
}

awaitable<std::string> PgConnection::ReadCopyInput() {
  // Whole messages, as many as one read brought (at least one), up to the
  // COPY's end: CopyDone, CopyFail, or a message that has no place in COPY
  // (the backend fails the COPY on it, as Postgres does, and drops it).
  constexpr size_t kChunkBytes = 256 * 1024;
  std::string out;
  for (;;) {
    auto next = parser_.next();
    if (!next.ok()) {
      copy_protocol_error_ = next.status().message();
      co_return out + copy_fail_message(copy_protocol_error_);
    }
    if (!next->has_value()) {
      if (!out.empty()) co_return out;
      boost::system::error_code ec;
      reading_copy_input_ = true;
      size_t n = co_await stream_.async_read_some(asio::buffer(read_buffer_),
                                                  asio::redirect_error(use_awaitable, ec));
      reading_copy_input_ = false;
      if (ec == asio::error::operation_aborted && stream_.is_open()) {
        co_return out;  // the work item is done: no one waits for this input
      }
      if (ec) {
        copy_client_gone_ = true;
        co_return copy_fail_message("the client's connection was lost during COPY");
      }
      parser_.feed(std::string_view(read_buffer_.data(), n));
      continue;
    }
    pgwire::FrontendMessage& m = **next;
    if (over_small_message_limit(m)) {
      copy_protocol_error_ = "invalid message length";
      co_return out + copy_fail_message(copy_protocol_error_);
    }
    switch (m.type) {
      case 'd':
        pgwire::append_message(out, m.type, m.payload);
        if (out.size() >= kChunkBytes) co_return out;
        continue;
      case 'H':
      case 'S':  // ignored during COPY, by the backend as by Postgres
        pgwire::append_message(out, m.type, m.payload);
        continue;
      case 'c':
      case 'f':
        pgwire::append_message(out, m.type, m.payload);
        co_return out;
      case 'X':  // the client leaves: the COPY fails, then the connection closes
        copy_client_gone_ = true;
        co_return out + copy_fail_message("the client terminated the connection during COPY");
      default: {
        // Postgres ends such a connection ("protocol synchronization was
        // lost", after reading the message's type only). The backend must
        // never see it, since it would end the session of every client:
        // the COPY fails, and this connection closes as Postgres' would.
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(m.type));
        copy_protocol_error_ = std::string("unexpected message type ") + hex +
                               " during COPY from stdin; terminating connection because "
                               "protocol synchronization was lost";
        co_return out + copy_fail_message(copy_protocol_error_);
      }
    }
  }
}

// ---- Running batches -------------------------------------------------------------

awaitable<bool> PgConnection::RunAfterExchange(std::string message,
                                               std::vector<ListenChange> listens) {
  Batch batch;
  batch.listens = std::move(batch_listens_);
  batch_listens_.clear();
  batch.listens.insert(batch.listens.end(), listens.begin(), listens.end());
  if (batch_.empty() && !exchange_open_) {
    batch.messages = std::move(message);
  } else {
    batch.messages = std::move(batch_);
    pgwire::frontend::sync(batch.messages);
    batch.then = std::move(message);
    batch.exchange_failed = exchange_failed_;
  }
  batch_.clear();
  co_return co_await RunBatch(std::move(batch));
}

awaitable<bool> PgConnection::RunBatch(Batch batch) {
  // Active (pg_stat_activity) until the reply is written, whatever path
  // ends the batch.
  struct Finish {
    PgConnection* c;
    ~Finish() {
      c->shared_->activity->Finished(c->tenant_, c->pid_, c->status_,
                                     c->reported_["application_name"]);
    }
  } finish{this};
  const bool ends_with_flush = batch.ends_with_flush;
  // A batch that only prepares need not wait for another connection's
  // transaction (WorkBeside).
  const bool beside = RunsBeside(batch);
  Batch again = beside ? batch : Batch{};
  Outcome out = co_await Submit(std::move(batch), false, beside);
  if (out.retry_held) out = co_await Submit(std::move(again), false, false);
  if (!out.ran) names_.DropPending();  // refused before it reached the session
  if (runtime::IsQueueFull(out.status)) {
    // Nothing ran (runtime/admission.h): an ERROR, the connection stays.
    // After a Flush the ReadyForQuery waits for the Sync, as in Postgres.
    if (!ends_with_flush) co_return co_await Refuse(sqlstate_for(out.status), out.status.message());
    std::string reply;
    (void)pgwire::backend::error_response(reply, "ERROR", sqlstate_for(out.status),
                                          out.status.message());
    refused_until_sync_ = true;
    co_return co_await Write(std::move(reply));
  }
  // A refused item changed nothing: a hold this connection had, it still has.
  if (out.ran) holding_ = out.holding;
  if (out.ran && out.status.ok()) {
    // The exchange stays open only after a Flush that the engine kept, or
    // an extended-protocol COPY (which read the client's Sync as COPY input;
    // the client sends another after CopyDone).
    exchange_open_ = (ends_with_flush || out.exchange_left_open) && !out.skip_to_sync;
    exchange_failed_ = exchange_open_ && (exchange_failed_ || out.reply_has_error);
  }
  if (!out.status.ok()) {
    co_await Fatal(sqlstate_for(out.status), failure_message(tenant_, out.status));
    co_return false;
  }
  if (!copy_protocol_error_.empty() || copy_client_gone_ || out.copy_timed_out) {
    // The COPY failed on the client's input (the backend went on): the
    // client hears why, then the connection closes.
    if (copy_client_gone_) co_return false;
    if (out.copy_timed_out) {
      co_await Write(out.reply);
      co_await Fatal("08006", "terminating connection: the client sent no COPY data for " +
                                  std::to_string(shared_->options.client_write_timeout_ms) + " ms");
    } else {
      co_await Fatal(kProtocolViolation, copy_protocol_error_);
    }
    co_return false;
  }
  auto messages = pgwire::split_messages(out.reply);
  auto streamed = pgwire::split_messages(out.streamed_meta);
  if (!messages.ok() || !streamed.ok()) {
    co_await Fatal("XX000", "tenant " + tenant_ + ": malformed engine reply: " +
                                (messages.ok() ? streamed : messages).status().message());
    co_return false;
  }
  // What streamed came first, in order.
  messages->insert(messages->begin(), streamed->begin(), streamed->end());
  for (const pgwire::MessageView& m : *messages) {
    if (m.type == pgwire::backend_type::kReadyForQuery && m.payload.size() == 1) {
      status_ = m.payload[0];
    }
  }
  if (out.skip_to_sync) {
    status_ = out.status_after;
    refused_until_sync_ = true;
  }
  if (out.reported) {
    // ParameterStatus for what the batch changed, before its ReadyForQuery.
    std::string changes;
    for (const auto& [name, value] : out.parameters) {
      auto known = reported_.find(name);
      if (known != reported_.end() && known->second == value) continue;
      reported_[name] = value;
      if (!pgwire::backend::parameter_status(changes, name, value).ok()) continue;
    }
    size_t at = out.reply.size();
    if (at >= 6 && out.reply.compare(at - 6, 5, std::string_view("Z\0\0\0\5", 5)) == 0) at -= 6;
    out.reply.insert(at, changes);
  }
  co_return co_await Write(std::move(out.reply));
}

bool PgListenerShared::TakeInlineSlot() {
  unsigned running = inline_running.load(std::memory_order_relaxed);
  while (running < options.inline_exchanges) {
    if (inline_running.compare_exchange_weak(running, running + 1, std::memory_order_acquire)) {
      return true;
    }
  }
  return false;
}

awaitable<PgConnection::Outcome> PgConnection::Submit(Batch batch, bool force_settings,
                                                      bool beside) {
  uint64_t seq = next_seq_++;
  auto relay = std::make_shared<CopyInRelay>(
      std::chrono::milliseconds(shared_->options.client_write_timeout_ms));
  auto events = std::make_shared<WorkEvents>(stream_.get_executor());
  {
    MutexLock lock(cancel_mutex_);
    queued_seq_ = seq;
    copy_relay_ = relay;
    queued_events_ = events;
    queued_answerable_ = status_ == 'I' && !holding_ && !exchange_open_ && !force_settings &&
                         !batch.ends_with_flush && batch.then.empty();
  }
  copy_protocol_error_.clear();
  copy_client_gone_ = false;
  const std::string& call = batch.then.empty() ? batch.messages : batch.then;
  shared_->activity->Submitted(tenant_, pid_, current_query_, !call.empty() && call[0] == 'F');
  auto self = shared_from_this();
  auto wake = [self, events](bool done) {
    auto woken = [self, events, done] {
      events->wake.cancel();
      // The outcome ends a COPY's wait for client input that no one needs
      // any more (no write is in flight once the work item is done).
      if (done && self->reading_copy_input_) {
        self->stream_.cancel();
      }
    };
    // The outcome of work run inline is taken up by this io thread once the
    // work returns (defer); a COPY's call for input must reach another io
    // thread at once, as the work waits for it (post).
    if (done) {
      asio::defer(self->stream_.get_executor(), std::move(woken));
    } else {
      asio::post(self->stream_.get_executor(), std::move(woken));
    }
  };
  auto deliver = [events, wake](Outcome out) {
    {
      MutexLock lock(events->mutex);
      events->outcome = std::move(out);
    }
    wake(true);
  };
  auto ask = [events, wake] {
    {
      MutexLock lock(events->mutex);
      events->input_wanted = true;
    }
    wake(false);
  };
  runtime::Runtime::Work work =
      [self, seq, force_settings, batch = std::move(batch), settings_sql = settings_.ApplySql(),
       deliver, ask, relay](Result<runtime::Session*> instance, const runtime::Timings& timings) {
        self->shared_->activity->Running(self->tenant_, self->pid_);
        deliver(self->Work(std::move(instance), timings, batch, settings_sql, force_settings, seq,
                           *relay, ask));
      };
  // A work item the runtime refused: its status is the outcome.
  auto refused = [deliver](Status st) {
    if (st.ok()) return;
    Outcome out;
    out.status = std::move(st);
    deliver(std::move(out));
  };
  if (!beside && shared_->TakeInlineSlot()) {
    // Off the strand (the work's reply stream and COPY relay use it), on
    // this thread once the coroutine waits: a warm, free tenant runs it
    // here; else it goes to a worker as any other.
    auto& io = static_cast<asio::io_context&>(
        asio::query(stream_.get_executor(), asio::execution::context));
    asio::defer(io.get_executor(), [self, work = std::move(work), refused]() mutable {
      const bool ran = self->shared_->runtime.RunHeldNow(self->tenant_, self->id_, work);
      self->shared_->ReturnInlineSlot();
      if (!ran)
        refused(self->shared_->runtime.SubmitHeld(self->tenant_, self->id_, std::move(work)));
    });
  } else {
    refused(beside ? shared_->runtime.SubmitBeside(tenant_, id_, std::move(work))
                   : shared_->runtime.SubmitHeld(tenant_, id_, std::move(work)));
  }
  Outcome result;
  for (;;) {
    bool read_input = false;
    {
      MutexLock lock(events->mutex);
      if (events->outcome) {
        result = std::move(*events->outcome);
        break;
      }
      read_input = std::exchange(events->input_wanted, false);
    }
    if (read_input) {
      std::string more = co_await ReadCopyInput();
      if (!relay->Give(more)) KeepAfterCopy(more);
      continue;
    }
    boost::system::error_code ec;
    co_await events->wake.async_wait(asio::redirect_error(use_awaitable, ec));
    events->wake.expires_at(asio::steady_timer::time_point::max());
  }
  {
    MutexLock lock(cancel_mutex_);
    copy_relay_.reset();
    queued_events_.reset();
    if (queued_seq_ == seq) queued_seq_ = 0;  // answered by Cancel()
  }
  co_return result;
}

void PgConnection::KeepAfterCopy(std::string_view messages) {
  // Read for a COPY that had ended (cancelled, timed out): its data is
  // dropped, as Postgres drops CopyData outside COPY; anything else is
  // the client's next request.
  auto split = pgwire::split_messages(messages);
  if (!split.ok()) return;
  for (const pgwire::MessageView& m : *split) {
    if (m.type == 'd' || m.type == 'c' || m.type == 'f' || m.type == 'H' || m.type == 'S') continue;
    pgwire::FrontendMessage kept;
    kept.type = m.type;
    kept.payload = std::string(m.payload);
    pending_.push_back(std::move(kept));
  }
}

bool PgConnection::RunsBeside(const Batch& batch) const {
  if (holding_ || exchange_open_ || batch.ends_with_flush || !batch.then.empty()) return false;
  auto messages = pgwire::split_messages(batch.messages);
  if (!messages.ok() || messages->empty() || messages->back().type != 'S') return false;
  for (const pgwire::MessageView& m : *messages) {
    // Parse, Describe of a statement, Close, Sync: nothing that executes.
    const bool describes_statement = m.type == 'D' && !m.payload.empty() && m.payload[0] == 'S';
    if (m.type != 'P' && m.type != 'C' && m.type != 'S' && !describes_statement) return false;
  }
  return true;
}

PgConnection::Outcome PgConnection::WorkBeside(runtime::Session& db, const Batch& batch,
                                               const std::string& settings_sql, bool cancelled) {
  // Another connection holds the session inside its transaction block, at
  // ReadyForQuery. This batch only prepares (RunsBeside), so it runs in a
  // savepoint, under this connection's settings, and everything it changed
  // but its prepared statements is rolled back: the holder's transaction
  // goes on as it was. (It sees the holder's uncommitted catalog changes,
  // which Postgres would not show it: a Parse only reads names.)
  Outcome out;
  out.ran = true;
  if (cancelled) {
    (void)pgwire::backend::error_response(out.reply, "ERROR", kQueryCanceled,
                                          "canceling statement due to user request");
    pgwire::backend::ready_for_query(out.reply, static_cast<pgwire::TransactionStatus>(status_));
    names_.DropPending();
    return out;
  }
  auto savepoint = db.Exec(query_message("SAVEPOINT pgthaw_beside"));
  if (!savepoint.ok()) {
    out.status = savepoint.status();
    return out;
  }
  if (has_error(savepoint->bytes)) {
    // A failed transaction block takes no savepoint: wait for its end.
    out.ran = false;
    out.retry_held = true;
    return out;
  }
  (void)db.Exec(query_message(settings_sql));
  SessionGeneration generation;
  {
    MutexLock lock(shared_->mutex);
    generation = {db.identity(), shared_->statement_drops[tenant_]};
  }
  std::string again = names_.TakeReprepare(generation);
  if (!again.empty()) (void)db.Exec(again);
  runtime::Session::ExecOptions as_client;
  as_client.as_session_user = !role_.empty();
  auto reply = db.Exec(batch.messages, as_client);
  auto back = db.Exec(
      query_message("ROLLBACK TO SAVEPOINT pgthaw_beside; RELEASE SAVEPOINT pgthaw_beside"));
  if (!reply.ok() || !back.ok()) {
    out.status = !reply.ok() ? reply.status() : back.status();
    names_.DropPending();
    return out;
  }
  out.reply = std::move(reply->bytes);
  // The client is in no transaction block: its ReadyForQuery says so.
  if (pgwire::ends_at_ready(out.reply)) out.reply.back() = status_;
  names_.RestoreNames(out.reply);
  names_.Prepared(generation);
  out.reply_has_error = has_error(out.reply);
  return out;
}

PgConnection::Outcome PgConnection::Work(Result<runtime::Session*> instance,
                                         const runtime::Timings& /*timings*/, const Batch& batch,
                                         const std::string& settings_sql, bool force_settings,
                                         uint64_t seq, CopyInRelay& relay,
                                         const std::function<void()>& ask) {
  const bool ends_with_flush = batch.ends_with_flush;
  Outcome out;
  out.ran = true;
  bool cancelled = false;
  {
    MutexLock lock(cancel_mutex_);
    // Cancel() answered it already, and the connection went on: touch
    // nothing of its state (the outcome is dropped).
    if (answered_seq_ == seq) return Outcome{};
    cancelled = cancelled_seq_ == seq;
    queued_seq_ = 0;  // started: a cancel from now on is too late
  }
  if (!instance.ok()) {
    out.status = instance.status();
    return out;
  }
  runtime::Session* db = instance.value();
  // Inside another connection's transaction block: only a batch that may
  // run beside it gets here (SubmitBeside).
  if (!holding_ && db->InTransaction()) return WorkBeside(*db, batch, settings_sql, cancelled);
  // Switch the session to this connection's settings if someone else (or a
  // brand-new instance) had it last (session_handover.h). Never inside a
  // transaction block: the runtime lets another user in only when the
  // session is idle.
  {
    runtime::Session::SettingValues startup(settings_.values().begin(), settings_.values().end());
    auto refused = shared_->handover->TakeOver(*db, tenant_, id_, startup, force_settings, role_);
    if (!refused.ok()) {
      out.status = refused.status();
    } else if (!refused->empty()) {
      if (force_settings) {
        out.settings_error = refused->front();  // the startup fails, as in Postgres
      } else {
        // Rare (a -c setting that became invalid): the statements run, with
        // the settings that did apply.
        spdlog::warn("pg connection {} tenant {}: applying settings: {}", pid_, tenant_,
                     refused->front().summary());
      }
    }
  }
  // This connection's statements the session lost since they were
  // prepared (statement_names.h) are prepared again first, in an exchange
  // of their own whose reply is dropped.
  SessionGeneration generation;
  {
    MutexLock lock(shared_->mutex);
    generation = {db->identity(), shared_->statement_drops[tenant_]};
  }
  if (out.status.ok() && !out.settings_error && !cancelled && db->AtReady()) {
    std::string again = names_.TakeReprepare(generation);
    if (!again.empty()) {
      auto reply = db->Exec(again);
      if (!reply.ok()) out.status = reply.status();
    }
  }
  // A long result goes to the client as the engine makes it, and a COPY
  // FROM STDIN takes its data from the client as the backend reads it.
  ReplyStream stream(stream_, std::chrono::milliseconds(shared_->options.client_write_timeout_ms));
  runtime::Session::ExecOptions streamed;
  streamed.as_session_user = !role_.empty();
  streamed.connections_report = [this] { return shared_->activity->Report(tenant_, pid_); };
  streamed.sink = [&](std::string_view messages) {
    note_streamed(messages, &out.streamed_meta, &out.streamed_error, &out.statements_dropped,
                  &out.discarded);
    const bool notifies = has_message(messages, pgwire::backend_type::kNotificationResponse);
    if (!notifies && !names_.Mentions(messages)) return stream.Send(messages);
    std::string restored(messages);
    if (notifies) RouteNotifications(restored);
    names_.RestoreNames(restored);
    return stream.Send(restored);
  };
  // The batch goes to the engine one Execute at a time: Postgres reads a
  // client's messages after a COPY's Execute as COPY input, and the engine
  // must never read one that has no place in COPY (it would end the
  // session of every client). So the batch's rest is what the client sent
  // next: Flush and Sync pass (COPY ignores them), anything else ends this
  // connection as it would end a Postgres one.
  std::deque<std::string> rest = split_after_executes(batch.messages);
  streamed.source = [&](std::string& more) {
    while (!rest.empty()) {
      auto messages = pgwire::split_messages(rest.front());
      std::string segment = std::move(rest.front());
      rest.pop_front();
      if (!messages.ok()) continue;
      for (const pgwire::MessageView& m : *messages) {
        if (m.type == 'S' || m.type == 'H') {
          pgwire::append_message(more, m.type, m.payload);
          continue;
        }
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(m.type));
        copy_protocol_error_ = std::string("unexpected message type ") + hex +
                               " during COPY from stdin; terminating connection because "
                               "protocol synchronization was lost";
        more += copy_fail_message(copy_protocol_error_);
        rest.clear();
        return;
      }
    }
    if (!more.empty()) return;
    more = relay.Take(ask);
  };
  bool at_ready = db->AtReady();
  auto run = [&](std::string_view messages, const runtime::Session::ExecOptions& options) {
    auto reply = db->Exec(messages, options);
    if (!reply.ok()) {
      out.status = reply.status();
      return;
    }
    out.reply += reply->bytes;
    at_ready = reply->at_ready;
  };
  if (out.status.ok() && !out.settings_error) {
    if (cancelled) {
      run(query_message(kCancelSql), {});
    } else {
      while (!rest.empty() && out.status.ok() && copy_protocol_error_.empty()) {
        std::string segment = std::move(rest.front());
        rest.pop_front();
        run(segment, streamed);
      }
    }
  }
  if (out.status.ok() && !out.settings_error && !cancelled && !batch.then.empty()) {
    // Query before Sync: the extended messages ended with our Sync. Drop
    // its ReadyForQuery (the client sent no Sync); unless they failed,
    // which makes Postgres discard the Query up to the client's Sync, the
    // Query runs now, in a transaction of its own.
    char status = last_ready_status(out.reply);
    if (pgwire::ends_at_ready(out.reply)) out.reply.resize(out.reply.size() - 6);
    if (batch.exchange_failed || out.streamed_error || has_error(out.reply)) {
      out.skip_to_sync = true;
      out.status_after = status;
    } else {
      // What the exchange answered goes first if the Query's reply streams.
      if (streamed.sink && !out.reply.empty()) {
        streamed.sink(out.reply);
        out.reply.clear();
      }
      run(batch.then, streamed);
    }
  }
  if (!stream.Finish() && out.status.ok()) {
    out.status = Status::Aborted("the client stopped taking the reply");
  }
  // The client sees its own statement and portal names.
  names_.RestoreNames(out.reply);
  note_streamed(out.reply, nullptr, nullptr, &out.statements_dropped, &out.discarded);
  if (has_message(out.reply, pgwire::backend_type::kNotificationResponse)) {
    RouteNotifications(out.reply);
  }
  if (out.status.ok() && (out.discarded || !batch.listens.empty() || !unsettled_listens_.empty())) {
    unsettled_listens_.insert(unsettled_listens_.end(), batch.listens.begin(), batch.listens.end());
    SettleListens(*db, out.discarded);
  }
  if (out.status.ok() && !out.settings_error && !cancelled) {
    names_.Prepared(generation);
  } else {
    names_.DropPending();  // the client's messages never reached the session
  }
  if (out.statements_dropped) {
    // Its own DEALLOCATE ALL or DISCARD ALL: its statements are gone, and
    // every other connection's must be prepared again.
    names_.ForgetAll();
    MutexLock lock(shared_->mutex);
    ++shared_->statement_drops[tenant_];
  }
  out.reply_has_error = out.streamed_error || has_error(out.reply);
  // The invariant (pg_connection.h): unless a Flush keeps the session for
  // this connection, the engine must end this item at ReadyForQuery.
  // An extended-protocol COPY read the client's Sync as COPY input (the
  // backend ignores it there, as Postgres does): the exchange goes on until
  // the Sync the client sends after CopyDone.
  if (out.status.ok() && relay.used() && !at_ready && !ends_with_flush) {
    out.exchange_left_open = true;
  }
  if (relay.timed_out()) out.copy_timed_out = true;
  const bool keeps_exchange = (ends_with_flush || out.exchange_left_open) && !cancelled;
  if (out.status.ok() && !out.settings_error && !keeps_exchange && !out.skip_to_sync && !at_ready) {
    // The last guard: nothing above leaves the engine short of
    // ReadyForQuery (e.g. skipping to Sync after a cancel statement it
    // discarded), but if something did, our Sync ends it now and the
    // client gets what Postgres would send it: nothing until its own Sync.
    spdlog::warn(
        "pg connection {} tenant {}: the engine's reply does not end with "
        "ReadyForQuery; syncing",
        pid_, tenant_);
    auto synced = db->Exec(sync_message());
    if (synced.ok() && synced->at_ready) {
      out.skip_to_sync = true;
      out.status_after = last_ready_status(synced->bytes);
    } else {
      out.status =
          synced.ok() ? Status::EngineError("the engine did not answer Sync") : synced.status();
    }
  } else if (out.status.ok() && cancelled && ends_with_flush) {
    // The cancel ran as a Query, which ended the exchange: drop its
    // ReadyForQuery, since the client expects none before its Sync.
    out.status_after = last_ready_status(out.reply);
    if (pgwire::ends_at_ready(out.reply)) out.reply.resize(out.reply.size() - 6);
    out.skip_to_sync = true;
  }
  // What the client must hear of the parameters Postgres reports
  // (GUC_REPORT): read from the engine after every batch, whatever set
  // them (SET, set_config(), a function, RESET, ROLLBACK, COMMIT of a SET
  // LOCAL). No SQL, no snapshot: fine inside a transaction block.
  if (out.status.ok()) {
    auto values = db->ReadSettings(reported_names());
    if (values.ok()) {
      for (size_t i = 0; i < values->size(); ++i) {
        if ((*values)[i]) out.parameters.emplace_back(reported_names()[i], *(*values)[i]);
      }
      out.reported = true;
    }
  }
  // The runtime keeps the tenant for this connection while the session is
  // inside its transaction block or its exchange (runtime/session.h).
  out.holding = out.status.ok() && !db->Idle();
  return out;
}

// ---- LISTEN / NOTIFY ------------------------------------------------------------

void PgConnection::RouteNotifications(std::string& reply) {
  auto messages = pgwire::split_messages(reply);
  if (!messages.ok()) return;
  std::string kept;
  kept.reserve(reply.size());
  for (const pgwire::MessageView& m : *messages) {
    if (m.type != pgwire::backend_type::kNotificationResponse) {
      pgwire::append_message(kept, m.type, m.payload);
      continue;
    }
    auto notification = pgwire::decode_notification(m.payload);
    if (!notification.ok()) continue;
    notification->pid = pid_;  // the session's one backend stands for this connection
    std::string message;
    if (!pgwire::backend::notification_response(message, *notification).ok()) continue;
    std::set<uint64_t> listeners = shared_->notifications.Listeners(tenant_, notification->channel);
    if (listeners.erase(id_) != 0) kept += message;
    if (listeners.empty()) continue;
    std::vector<std::shared_ptr<PgConnection>> targets;
    {
      MutexLock lock(shared_->mutex);
      for (const auto& [pid, weak] : shared_->connections) {
        auto connection = weak.lock();
        if (connection != nullptr && listeners.count(connection->id()) != 0) {
          targets.push_back(std::move(connection));
        }
      }
    }
    for (const auto& target : targets) target->Deliver(message);
  }
  reply = std::move(kept);
}

void PgConnection::SettleListens(runtime::Session& db, bool discarded) {
  // A LISTEN takes effect at COMMIT; and no query may run inside an
  // exchange a Flush (or a COPY) left open.
  if (db.InTransaction() || !db.AtReady()) return;
  std::vector<ListenChange> changes = std::move(unsettled_listens_);
  unsettled_listens_.clear();
  NotificationRouter& router = shared_->notifications;
  std::set<std::string> now;
  auto reply = db.Exec(query_message("SELECT pg_catalog.pg_listening_channels()"));
  if (!reply.ok()) return;
  if (auto results = pgwire::collect_results(reply->bytes);
      results.ok() && !results->empty() && !results->back().error) {
    for (const pgwire::Row& row : results->back().rows) {
      if (row.size() == 1 && row[0]) now.insert(*row[0]);
    }
  }
  // What this connection asked for and the session shows now is its own;
  // an UNLISTEN the session shows gone is too. A channel the session lost
  // that another connection still wants is listened to again.
  std::set<std::string> relisten;
  if (discarded) {
    for (std::string& channel : router.UnlistenAll(tenant_, id_)) now.erase(channel);
  }
  for (const ListenChange& change : changes) {
    if (change.listen && now.count(change.channel) != 0) {
      router.Listen(tenant_, id_, change.channel);
    } else if (!change.listen && change.channel.empty() && now.empty()) {
      router.UnlistenAll(tenant_, id_);
    } else if (!change.listen && now.count(change.channel) == 0) {
      router.Unlisten(tenant_, id_, change.channel);
    }
  }
  // Channels the session listens on that no one claimed (a LISTEN run by a
  // function): this connection's.
  std::set<std::string> known = router.Channels(tenant_);
  for (const std::string& channel : now) {
    if (known.count(channel) == 0) router.Listen(tenant_, id_, channel);
  }
  for (const std::string& channel : router.Channels(tenant_)) {
    if (now.count(channel) == 0) relisten.insert(channel);
  }
  std::string sql;
  for (const std::string& channel : relisten) {
    sql += "LISTEN " + quote_identifier(channel) + ";";
  }
  if (!sql.empty()) (void)db.Exec(query_message(sql));
}

void PgConnection::Deliver(std::string notification) {
  {
    MutexLock lock(notify_mutex_);
    notifications_ += notification;
  }
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    // Idle: wake the coroutine from its read, to write them now.
    if (self->reading_idle_) {
      self->stream_.cancel();
    }
  });
}

awaitable<bool> PgConnection::WriteNotifications() {
  std::string out;
  {
    MutexLock lock(notify_mutex_);
    out.swap(notifications_);
  }
  if (out.empty()) co_return true;
  co_return co_await Write(std::move(out));
}

// ---- Writing and closing ------------------------------------------------------------

awaitable<bool> PgConnection::Write(std::string bytes) {
  boost::system::error_code ec;
  co_await asio::async_write(stream_, asio::buffer(bytes), asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

awaitable<bool> PgConnection::Refuse(std::string_view sqlstate, std::string_view message) {
  std::string reply;
  Status st = pgwire::backend::error_response(reply, "ERROR", sqlstate, message);
  if (!st.ok()) spdlog::error("pg listener: {}", st.ToString());
  pgwire::backend::ready_for_query(reply, static_cast<pgwire::TransactionStatus>(status_));
  co_return co_await Write(std::move(reply));
}

awaitable<void> PgConnection::Fatal(std::string_view sqlstate, std::string_view message) {
  spdlog::debug("pg connection {}: FATAL {} {}", pid_, sqlstate, message);
  end_ = ConnectionActivity::End::kFatal;
  std::string reply;
  if (pgwire::backend::error_response(reply, "FATAL", sqlstate, message).ok()) {
    co_await Write(std::move(reply));
  }
}

void PgConnection::EndSessionState() {
  // This connection's statements leave the session with it; the tenant's
  // last connection takes the rest of the session's state along (temp
  // tables, advisory locks, LISTEN, settings: DISCARD ALL), so the next
  // client starts as on a new Postgres session.
  std::string closes = names_.CloseAll();
  shared_->handover->Forget(id_);
  // Its channels no other connection listens on stop being listened to.
  for (const std::string& channel : shared_->notifications.UnlistenAll(tenant_, id_)) {
    (void)pgwire::frontend::query(closes, "UNLISTEN " + quote_identifier(channel));
  }
  bool last = false;
  if (counted_) {
    counted_ = false;
    MutexLock lock(shared_->mutex);
    auto found = shared_->tenant_connections.find(tenant_);
    if (found != shared_->tenant_connections.end() && --found->second == 0) {
      shared_->tenant_connections.erase(found);
      last = true;
    }
  }
  if (closes.empty() && !last) return;
  std::shared_ptr<PgListenerShared> shared = shared_;
  std::string tenant = tenant_;
  Status st = shared->runtime.Submit(
      tenant,
      [shared, tenant, closes, last](Result<runtime::Session*> session, const runtime::Timings&) {
        if (!session.ok()) return;
        runtime::Session& db = **session;
        if (!closes.empty() && db.Idle()) (void)db.Exec(closes);
        if (!last || !db.Idle()) return;
        {
          // Someone connected meanwhile: the session is theirs now.
          MutexLock lock(shared->mutex);
          if (shared->tenant_connections.count(tenant) != 0) return;
        }
        // The server's own defaults again, then everything else.
        (void)db.SetSessionDefaults({});
        std::string discard;
        (void)pgwire::frontend::query(discard, "DISCARD ALL");
        auto reply = db.Exec(discard);
        if (!reply.ok())
          spdlog::warn("tenant {}: DISCARD ALL: {}", tenant, reply.status().ToString());
        shared->notifications.Forget(tenant);
        MutexLock lock(shared->mutex);
        ++shared->statement_drops[tenant];
        shared->handover->ForgetTenant(tenant);  // the next user applies its settings
      });
  if (!st.ok()) spdlog::debug("tenant {}: ending session state: {}", tenant_, st.ToString());
}

void PgConnection::Cleanup() {
  if (cleaned_up_) return;
  cleaned_up_ = true;
  stream_.close();
  // Gone: if this connection holds its tenant (inside a transaction or an
  // exchange), the runtime rolls that back before anyone else's item runs.
  // Said before this connection unregisters, so a shutdown that waits for
  // the listener's connections finds the rollback queued and drains it.
  holding_ = false;
  if (!tenant_.empty()) shared_->runtime.Release(tenant_, id_);
  if (in_activity_) {
    in_activity_ = false;
    shared_->activity->Closed(tenant_, pid_, end_);
  }
  EndSessionState();
  MutexLock lock(shared_->mutex);
  auto found = shared_->connections.find(pid_);
  if (found != shared_->connections.end() && found->second.lock().get() == this) {
    shared_->connections.erase(found);
  }
}

}  // namespace pgthaw::server
