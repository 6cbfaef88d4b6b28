#include "server/pg_connection.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <exception>
#include <utility>

#include "pgwire/backend.h"
#include "pgwire/backend_encode.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"
#include "pgwire/wire_format.h"
#include "runtime/admission.h"
#include "server/pg_backend_key.h"
#include "server/reply_stream.h"

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
constexpr char kCopyExtended[] =
    "pgthaw runs COPY FROM STDIN only through the simple query protocol";
constexpr char kCopyAfterExchange[] =
    "pgthaw runs COPY FROM STDIN only outside an extended-protocol exchange (send Sync first)";

// Raises what a cancelled statement raises in Postgres; run instead of a
// batch a CancelRequest hit, so the transaction state follows suit.
constexpr char kCancelSql[] =
    "DO $pgthaw$BEGIN RAISE EXCEPTION USING ERRCODE = 'query_canceled', "
    "MESSAGE = 'canceling statement due to user request'; END$pgthaw$";
// Ends an extended exchange left open by Flush as an error in it would
// (the implicit transaction aborts; skipped if the engine already skips to
// Sync); a Sync follows it.
constexpr char kAbortExchangeSql[] =
    "DO $pgthaw$BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', "
    "MESSAGE = 'pgthaw: extended-protocol exchange refused'; END$pgthaw$";

// The parameters a real server reports at startup.
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
      return "3D000";  // invalid_catalog_name
    default:
      return "XX000";  // internal_error
  }
}

// What a client is told of that failure. Engine failures name host paths
// (the log has them): the client gets a fixed text instead.
std::string failure_message(const std::string& tenant, const Status& status) {
  switch (status.code()) {
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
  bool reported = false;         // `parameters` holds the reported parameters after the batch
  std::vector<std::pair<std::string, std::string>> parameters;
};

namespace {

// Notes what the connection must know of a chunk that went to the client
// without passing RunBatch (`meta`, `error`: null to skip), and whether it
// completed a command that drops every prepared statement of the session.
void note_streamed(std::string_view messages, std::string* meta, bool* error, bool* drops) {
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
    }
  }
}

}  // namespace

void PgConnection::Launch(std::shared_ptr<PgListenerShared> shared, tcp::socket socket) {
  std::shared_ptr<PgConnection> connection;
  {
    std::lock_guard lock(shared->mutex);
    if (shared->stopped) return;  // the socket closes as it goes out of scope
    auto key = new_backend_key([&](int32_t pid) { return shared->connections.count(pid) > 0; });
    if (!key.ok()) {
      spdlog::error("pg listener: refusing a connection: {}", key.status().ToString());
      return;
    }
    uint64_t id = shared->next_id++;
    connection =
        std::make_shared<PgConnection>(shared, std::move(socket), key->pid, key->secret, id);
    shared->connections[key->pid] = connection;
  }
  auto executor = connection->socket_.get_executor();
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
      socket_(std::move(socket)),
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
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->socket_.shutdown(tcp::socket::shutdown_both, ec);
    self->socket_.close(ec);
  });
}

bool PgConnection::Cancel(uint32_t secret) {
  if (secret != secret_) return false;
  std::string tenant;
  {
    std::lock_guard lock(cancel_mutex_);
    if (queued_seq_ != 0) cancelled_seq_ = queued_seq_;
    tenant = cancel_tenant_;
  }
  // A batch already running is interrupted inside the engine.
  if (!tenant.empty()) shared_->runtime.Cancel(tenant, id_);
  return true;
}

void PgConnection::EndIdleTransaction() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    // The coroutine is idle, waiting for the client: write the FATAL here.
    // The runtime has rolled back and refuses this holder from now on, so
    // the rollback Cleanup() submits only releases.
    std::string reply;
    if (pgwire::backend::error_response(reply, "FATAL", "25P03",
                                        "terminating connection due to idle-in-transaction timeout")
            .ok()) {
      boost::system::error_code ec;
      asio::write(self->socket_, asio::buffer(reply), ec);
    }
    boost::system::error_code ec;
    self->socket_.shutdown(tcp::socket::shutdown_both, ec);
    self->socket_.close(ec);
  });
}

// ---- The coroutine -------------------------------------------------------------

awaitable<void> PgConnection::Run() {
  // Postgres' authentication_timeout: a client that never finishes its
  // startup packet does not keep a connection forever.
  asio::steady_timer startup_timer(socket_.get_executor());
  startup_timer.expires_after(std::chrono::milliseconds(shared_->options.startup_timeout_ms));
  startup_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: startup finished
    boost::system::error_code ignored;
    self->socket_.close(ignored);
  });
  bool ready = co_await Startup();
  startup_timer.cancel();
  while (ready) {
    auto next = parser_.next();
    if (!next.ok()) {
      co_await Fatal(kProtocolViolation, next.status().message());
      break;
    }
    if (!next->has_value()) {
      boost::system::error_code ec;
      size_t n = co_await socket_.async_read_some(asio::buffer(read_buffer_),
                                                  asio::redirect_error(use_awaitable, ec));
      if (ec) break;  // EOF, reset or Close()
      parser_.feed(std::string_view(read_buffer_.data(), n));
      continue;
    }
    pgwire::FrontendMessage message = std::move(**next);
    if (over_small_message_limit(message)) {
      co_await Fatal(kProtocolViolation, "invalid message length");
      break;
    }
    ready = copy_in_ ? co_await HandleCopyMessage(std::move(message))
                     : co_await Handle(std::move(message));
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
      size_t n = co_await socket_.async_read_some(asio::buffer(read_buffer_),
                                                  asio::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
      parser_.feed(std::string_view(read_buffer_.data(), n));
      continue;
    }
    pgwire::FrontendMessage& m = **next;
    if (m.startup_kind == pgwire::StartupPacketKind::kSslRequest ||
        m.startup_kind == pgwire::StartupPacketKind::kGssEncRequest) {
      // No TLS, no GSS encryption: 'N', and the client goes on in the clear.
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
          std::lock_guard lock(shared_->mutex);
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
    std::lock_guard lock(cancel_mutex_);
    cancel_tenant_ = tenant_;
  }
  if (!runtime::Runtime::ValidateTenantId(tenant_).ok()) {
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

  // Thaws the tenant if cold, puts this connection's settings in force
  // (refusing the connection if one is invalid, as Postgres does) and reads
  // the values to report.
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
  std::vector<std::pair<std::string, std::string>> parameters;
  if (!read_report(out.reply, &parameters)) {
    co_await Fatal("XX000", "tenant " + tenant_ + ": reading the session parameters failed");
    co_return false;
  }
  {
    std::lock_guard lock(shared_->mutex);
    ++shared_->tenant_connections[tenant_];
    counted_ = true;
  }
  std::string reply = std::move(negotiate);
  pgwire::backend::authentication_ok(reply);
  for (const auto& [name, value] : parameters) {
    Status st = pgwire::backend::parameter_status(reply, name, value);
    if (!st.ok()) spdlog::warn("pg listener: ParameterStatus {}: {}", name, st.ToString());
    reported_[name] = value;
  }
  pgwire::backend::backend_key_data(reply, pid_, secret_);
  pgwire::backend::ready_for_query(reply, pgwire::TransactionStatus::kIdle);
  spdlog::debug("pg connection {}: user {} tenant {}", pid_, user, tenant_);
  co_return co_await Write(std::move(reply));
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
        if (!find_copy_from_stdin(parse->query).empty()) batch_refused_ = true;
        SettingsEffect effect = settings_effect(parse->query);
        batch_effect_.sets |= effect.sets;
        batch_effect_.ends_transaction |= effect.ends_transaction;
      }
      [[fallthrough]];
    case 'B':
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
      if (batch_refused_) co_return co_await RefuseGathered(kCopyExtended, /*at_sync=*/type == 'S');
      // A Flush with nothing gathered and no exchange open has nothing to
      // flush: it must not reserve the tenant.
      if (type == 'H' && batch_.empty() && !holding_) co_return true;
      Batch batch;
      pgwire::append_message(batch_, type, message.payload);
      batch.messages = std::move(batch_);
      batch_.clear();
      batch.ends_with_flush = type == 'H';
      batch.exchange_failed = exchange_failed_;
      if (type == 'S') std::swap(batch.effect, batch_effect_);
      co_return co_await RunBatch(std::move(batch));
    }
    case 'X':
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
  std::vector<CopyFromStdin> copies = find_copy_from_stdin(*sql);
  std::string raw;
  pgwire::append_message(raw, 'Q', message.payload);
  if (copies.empty() || (status_ == 'E' && copies[0].statement_index == 0)) {
    // No COPY FROM STDIN, or one the aborted transaction block refuses
    // before it asks for data.
    co_return co_await RunAfterExchange(std::move(raw), settings_effect(*sql));
  }
  if (!batch_.empty() || exchange_open_) {
    // After extended messages with no Sync: the exchange fails with it, and
    // the refusal's ReadyForQuery ends it.
    co_return co_await RefuseGathered(kCopyAfterExchange, /*at_sync=*/true);
  }
  if (copies.size() > 1 || copies[0].statement_index != 0) {
    co_return co_await Refuse(kFeatureNotSupported,
                              "pgthaw runs COPY FROM STDIN only as the first statement of a "
                              "query, and one per query");
  }
  // Our own CopyInResponse; the data then goes with the query in one batch.
  pgwire::CopyResponse response;
  response.format = copies[0].binary ? 1 : 0;
  response.column_formats.assign(std::max(copies[0].columns, 0), response.format);
  std::string reply;
  Status st = pgwire::backend::copy_in_response(reply, response);
  if (!st.ok()) {
    co_await Fatal("XX000", st.message());
    co_return false;
  }
  copy_in_ = true;
  copy_overflow_ = false;
  copy_query_ = std::move(raw);
  copy_data_.clear();
  co_return co_await Write(std::move(reply));
}

PgConnection::Batch PgConnection::copy_batch(std::string messages) {
  Batch batch;
  batch.messages = std::move(messages);
  batch.strip_copy_in = true;
  return batch;
}

awaitable<bool> PgConnection::HandleCopyMessage(pgwire::FrontendMessage message) {
  const char type = message.type;
  switch (type) {
    case 'd':
      if (copy_overflow_) co_return true;
      if (copy_data_.size() + message.payload.size() + 5 > shared_->options.max_batch_bytes) {
        // Dropped now; the engine fails the COPY when the client is done.
        copy_overflow_ = true;
        std::string().swap(copy_data_);
        co_return true;
      }
      pgwire::append_message(copy_data_, type, message.payload);
      co_return true;
    case 'H':
    case 'S':
      co_return true;  // ignored during COPY IN, as in Postgres
    case 'c':
    case 'f': {
      std::string batch = std::move(copy_query_);
      if (copy_overflow_) {
        Status st = pgwire::frontend::copy_fail(
            batch, "COPY data exceeds pgthaw's limit of " +
                       std::to_string(shared_->options.max_batch_bytes) + " bytes");
        if (!st.ok()) spdlog::error("pg listener: {}", st.ToString());
      } else {
        batch += copy_data_;
        pgwire::append_message(batch, type, message.payload);
      }
      copy_in_ = false;
      std::string().swap(copy_data_);
      co_return co_await RunBatch(copy_batch(std::move(batch)));
    }
    default: {
      // A protocol violation: fail the COPY, tell the client, close.
      std::string batch = std::move(copy_query_);
      Status st = pgwire::frontend::copy_fail(
          batch,
          "unexpected message type " + pgwire::describe_type(type) + " during COPY from stdin");
      if (!st.ok()) spdlog::error("pg listener: {}", st.ToString());
      copy_in_ = false;
      std::string().swap(copy_data_);
      if (co_await RunBatch(copy_batch(std::move(batch)))) {
        co_await Fatal(
            kProtocolViolation,
            "unexpected message type " + pgwire::describe_type(type) + " during COPY from stdin");
      }
      co_return false;
    }
  }
}

// ---- Running batches -------------------------------------------------------------

awaitable<bool> PgConnection::RefuseGathered(std::string_view message, bool at_sync) {
  std::string reply;
  if (!exchange_failed_) {  // else Postgres would be skipping to Sync already
    Status st = pgwire::backend::error_response(reply, "ERROR", kFeatureNotSupported, message);
    if (!st.ok()) spdlog::error("pg listener: {}", st.ToString());
  }
  batch_.clear();
  batch_refused_ = false;
  batch_effect_ = {};
  names_.DropPending();
  if (exchange_open_) {
    // The engine holds the exchange a Flush left open: end it as the error
    // would in Postgres (aborting what it did).
    Batch batch;
    batch.abort_exchange = true;
    batch.answer_sync = at_sync;
    batch.client_prefix = std::move(reply);
    co_return co_await RunBatch(std::move(batch));
  }
  refused_until_sync_ = !at_sync;
  if (at_sync) {
    pgwire::backend::ready_for_query(reply, static_cast<pgwire::TransactionStatus>(status_));
  }
  co_return co_await Write(std::move(reply));
}

awaitable<bool> PgConnection::RunAfterExchange(std::string message, SettingsEffect effect) {
  // A refused batch fails where its COPY Parse is: the Query is discarded.
  if (batch_refused_) co_return co_await RefuseGathered(kCopyExtended, /*at_sync=*/false);
  Batch batch;
  batch.effect = effect;
  batch.effect.sets |= batch_effect_.sets;
  batch.effect.ends_transaction |= batch_effect_.ends_transaction;
  batch_effect_ = {};
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
  const SettingsEffect effect = batch.effect;
  const bool ends_with_flush = batch.ends_with_flush;
  const bool strip_copy_in = batch.strip_copy_in;
  const std::string client_prefix = std::move(batch.client_prefix);
  const bool answer_sync = batch.answer_sync;
  bool report_after = effect.sets || (effect.ends_transaction && set_in_transaction_);
  Outcome out = co_await Submit(std::move(batch), false, report_after);
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
    // The exchange stays open only after a Flush that the engine kept.
    exchange_open_ = ends_with_flush && !out.skip_to_sync;
    exchange_failed_ = exchange_open_ && (exchange_failed_ || out.reply_has_error);
  }
  if (!out.status.ok()) {
    co_await Fatal(sqlstate_for(out.status), failure_message(tenant_, out.status));
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
  size_t strip_at = std::string::npos, strip_size = 0;
  for (const pgwire::MessageView& m : *messages) {
    if (m.type == pgwire::backend_type::kParameterStatus) {
      auto p = pgwire::decode_parameter_status(m.payload);
      if (p.ok()) settings_.Observe(p->name, p->value);
    } else if (m.type == pgwire::backend_type::kReadyForQuery && m.payload.size() == 1) {
      status_ = m.payload[0];
    } else if (m.type == pgwire::backend_type::kCopyInResponse && strip_copy_in &&
               strip_at == std::string::npos) {
      strip_at =
          static_cast<size_t>(m.payload.data() - out.reply.data()) - pgwire::kTypedHeaderBytes;
      strip_size = m.payload.size() + pgwire::kTypedHeaderBytes;
    }
  }
  if (strip_at != std::string::npos) out.reply.erase(strip_at, strip_size);
  if (out.skip_to_sync) {
    status_ = out.status_after;
    refused_until_sync_ = !answer_sync;
    if (answer_sync) {
      pgwire::backend::ready_for_query(out.reply, static_cast<pgwire::TransactionStatus>(status_));
    }
  }
  if (out.reported) {
    // ParameterStatus for what the batch changed, before its ReadyForQuery.
    std::string changes;
    for (const auto& [name, value] : out.parameters) {
      auto known = reported_.find(name);
      if (known != reported_.end() && known->second == value) continue;
      reported_[name] = value;
      settings_.Observe(name, value);
      if (!pgwire::backend::parameter_status(changes, name, value).ok()) continue;
    }
    size_t at = out.reply.size();
    if (at >= 6 && out.reply.compare(at - 6, 5, std::string_view("Z\0\0\0\5", 5)) == 0) at -= 6;
    out.reply.insert(at, changes);
  }
  // A parameter set inside a transaction block may change again when it
  // ends (ROLLBACK undoes SET, COMMIT ends SET LOCAL).
  if (status_ == 'I') {
    set_in_transaction_ = false;
  } else if (effect.sets) {
    set_in_transaction_ = true;
  }
  co_return co_await Write(client_prefix + out.reply);
}

awaitable<PgConnection::Outcome> PgConnection::Submit(Batch batch, bool force_settings,
                                                      bool report_after) {
  uint64_t seq = next_seq_++;
  {
    std::lock_guard lock(cancel_mutex_);
    queued_seq_ = seq;
  }
  auto initiate = [self = shared_from_this(), seq, force_settings, report_after,
                   batch = std::move(batch),
                   settings_sql = settings_.ApplySql()](auto handler) mutable {
    // Runtime::Work is a std::function (copyable); the handler is not.
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    auto executor = asio::get_associated_executor(*h, self->socket_.get_executor());
    auto deliver = [h, executor](Outcome out) {
      asio::post(executor, [h, out = std::move(out)]() mutable { (*h)(std::move(out)); });
    };
    Status st = self->shared_->runtime.SubmitHeld(
        self->tenant_, self->id_,
        [self, seq, force_settings, report_after, batch = std::move(batch),
         settings_sql = std::move(settings_sql),
         deliver](Result<runtime::Session*> instance, const runtime::Timings& timings) {
          deliver(self->Work(std::move(instance), timings, batch, settings_sql, force_settings,
                             report_after, seq));
        });
    if (!st.ok()) {
      Outcome out;
      out.status = st;
      deliver(std::move(out));
    }
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(Outcome)>(
      std::move(initiate), use_awaitable);
}

PgConnection::Outcome PgConnection::Work(Result<runtime::Session*> instance,
                                         const runtime::Timings& timings, const Batch& batch,
                                         const std::string& settings_sql, bool force_settings,
                                         bool report_after, uint64_t seq) {
  const bool ends_with_flush = batch.ends_with_flush;
  Outcome out;
  out.ran = true;
  bool cancelled = false;
  {
    std::lock_guard lock(cancel_mutex_);
    cancelled = cancelled_seq_ == seq;
    queued_seq_ = 0;  // started: a cancel from now on is too late
  }
  if (!instance.ok()) {
    out.status = instance.status();
    return out;
  }
  runtime::Session* db = instance.value();
  // Switch the session to this connection's settings if someone else (or a
  // brand-new instance) had it last. Never inside a transaction block: the
  // runtime lets another user in only when the session is idle.
  bool apply = force_settings || timings.cold;
  {
    std::lock_guard lock(shared_->mutex);
    SessionUser& user = shared_->session_users[tenant_];
    if (user.instance != db->identity() || user.connection != id_) apply = true;
    user = SessionUser{db->identity(), id_};
  }
  if (apply) {
    auto reply = db->Exec(query_message(settings_sql));
    if (!reply.ok()) {
      out.status = reply.status();
    } else if (auto results = pgwire::collect_results(reply->bytes); results.ok()) {
      for (const pgwire::StatementResult& r : *results) {
        if (r.error && !out.settings_error) out.settings_error = r.error;
      }
    }
    if (out.settings_error && !force_settings) {
      // Rare (a -c setting that became invalid): the statements run, with
      // the settings that did apply.
      spdlog::warn("pg connection {} tenant {}: applying settings: {}", pid_, tenant_,
                   out.settings_error->summary());
      out.settings_error.reset();
    }
  }
  // This connection's statements the session lost since they were
  // prepared (statement_names.h) are prepared again first, in an exchange
  // of their own whose reply is dropped.
  SessionGeneration generation;
  {
    std::lock_guard lock(shared_->mutex);
    generation = {db->identity(), shared_->statement_drops[tenant_]};
  }
  if (out.status.ok() && !out.settings_error && !batch.abort_exchange && !cancelled &&
      db->AtReady()) {
    std::string again = names_.TakeReprepare(generation);
    if (!again.empty()) {
      auto reply = db->Exec(again + sync_message());
      if (!reply.ok()) out.status = reply.status();
    }
  }
  // A long result goes to the client as the engine makes it. Not for a
  // COPY's batch (its CopyInResponse is removed from the reply) and not
  // before our own messages.
  ReplyStream stream(socket_, std::chrono::milliseconds(shared_->options.client_write_timeout_ms));
  runtime::Session::ExecOptions streamed;
  if (!batch.strip_copy_in && batch.client_prefix.empty()) {
    streamed.sink = [&](std::string_view messages) {
      note_streamed(messages, &out.streamed_meta, &out.streamed_error, &out.statements_dropped);
      if (!names_.Mentions(messages)) return stream.Send(messages);
      std::string restored(messages);
      names_.RestoreNames(restored);
      return stream.Send(restored);
    };
  }
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
  if (out.status.ok() && !out.settings_error && batch.abort_exchange) {
    // Error (skipped if the engine is skipping to Sync) then Sync: back at
    // ReadyForQuery, whatever the exchange did aborted. Nothing for the
    // client but the status.
    auto reply = db->Exec(query_message(kAbortExchangeSql) + sync_message());
    if (reply.ok()) {
      out.skip_to_sync = true;
      out.status_after = last_ready_status(reply->bytes);
      at_ready = reply->at_ready;
    } else {
      out.status = reply.status();
    }
  } else if (out.status.ok() && !out.settings_error) {
    if (cancelled) {
      run(query_message(kCancelSql), {});
    } else {
      run(batch.messages, streamed);
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
  note_streamed(out.reply, nullptr, nullptr, &out.statements_dropped);
  if (out.status.ok() && !out.settings_error && !cancelled && !batch.abort_exchange) {
    names_.Prepared(generation);
  } else {
    names_.DropPending();  // the client's messages never reached the session
  }
  if (out.statements_dropped) {
    // Its own DEALLOCATE ALL or DISCARD ALL: its statements are gone, and
    // every other connection's must be prepared again.
    names_.ForgetAll();
    std::lock_guard lock(shared_->mutex);
    ++shared_->statement_drops[tenant_];
  }
  out.reply_has_error = out.streamed_error || has_error(out.reply);
  // The invariant (pg_connection.h): unless a Flush keeps the session for
  // this connection, the engine must end this item at ReadyForQuery.
  const bool keeps_exchange = ends_with_flush && !cancelled;
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
  // Re-read the reported parameters, unless the transaction block failed
  // (any query would), an extended exchange is still open, or it failed
  // (what it set was rolled back with it).
  if (out.status.ok() && report_after && !cancelled && !ends_with_flush && !out.skip_to_sync &&
      last_ready_status(out.reply) != 'E') {
    auto reply = db->Exec(query_message(kReportSql));
    if (!reply.ok()) {
      out.status = reply.status();
    } else {
      out.reported = read_report(reply->bytes, &out.parameters);
    }
  }
  // The runtime keeps the tenant for this connection while the session is
  // inside its transaction block or its exchange (runtime/session.h).
  out.holding = out.status.ok() && !db->Idle();
  return out;
}

// ---- Writing and closing ------------------------------------------------------------

awaitable<bool> PgConnection::Write(std::string bytes) {
  boost::system::error_code ec;
  co_await asio::async_write(socket_, asio::buffer(bytes), asio::redirect_error(use_awaitable, ec));
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
  bool last = false;
  if (counted_) {
    counted_ = false;
    std::lock_guard lock(shared_->mutex);
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
          std::lock_guard lock(shared->mutex);
          if (shared->tenant_connections.count(tenant) != 0) return;
        }
        std::string discard;
        (void)pgwire::frontend::query(discard, "DISCARD ALL");
        auto reply = db.Exec(discard);
        if (!reply.ok())
          spdlog::warn("tenant {}: DISCARD ALL: {}", tenant, reply.status().ToString());
        std::lock_guard lock(shared->mutex);
        ++shared->statement_drops[tenant];
        shared->session_users.erase(tenant);  // the next user applies its settings
      });
  if (!st.ok()) spdlog::debug("tenant {}: ending session state: {}", tenant_, st.ToString());
}

void PgConnection::Cleanup() {
  if (cleaned_up_) return;
  cleaned_up_ = true;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  // Gone: if this connection holds its tenant (inside a transaction or an
  // exchange), the runtime rolls that back before anyone else's item runs.
  // Said before this connection unregisters, so a shutdown that waits for
  // the listener's connections finds the rollback queued and drains it.
  holding_ = false;
  if (!tenant_.empty()) shared_->runtime.Release(tenant_, id_);
  EndSessionState();
  std::lock_guard lock(shared_->mutex);
  auto found = shared_->connections.find(pid_);
  if (found != shared_->connections.end() && found->second.lock().get() == this) {
    shared_->connections.erase(found);
  }
}

}  // namespace pgthaw::server
