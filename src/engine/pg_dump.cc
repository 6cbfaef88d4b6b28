// See pg_dump.h.
#include "engine/pg_dump.h"

#include "host/guest_files.h"
#include "host/host.h"
#include "pgwire/backend_encode.h"
#include "pgwire/frontend_parser.h"

namespace pgthaw::engine {
namespace {

// The server end of pg_dump's one connection.
class DumpConnection {
 public:
  explicit DumpConnection(const PgDumpRequest& request) : request_(request), framer_(true) {}

  // One write of pg_dump's libpq; appends what the server says to `reply`.
  void Receive(std::string_view bytes, std::string& reply) {
    if (!error_.ok()) return Lost(reply);
    framer_.feed(bytes);
    std::string batch;
    for (;;) {
      auto next = framer_.next();
      if (!next.ok()) {
        error_ = next.status();
        return Lost(reply);
      }
      if (!next->has_value()) break;
      const pgwire::FrontendMessage& m = **next;
      switch (m.startup_kind) {
        case pgwire::StartupPacketKind::kSslRequest:
        case pgwire::StartupPacketKind::kGssEncRequest:
          reply.push_back('N');  // in the clear: it never leaves the process
          continue;
        case pgwire::StartupPacketKind::kStartup:
          Welcome(reply);
          continue;
        case pgwire::StartupPacketKind::kCancelRequest:
          continue;
        case pgwire::StartupPacketKind::kNone:
          break;
      }
      if (m.type == 'X') continue;  // Terminate: the session is not pg_dump's
      batch.push_back(m.type);
      const uint32_t len = static_cast<uint32_t>(m.payload.size() + 4);
      for (int shift = 24; shift >= 0; shift -= 8) batch.push_back(static_cast<char>(len >> shift));
      batch += m.payload;
    }
    if (batch.empty()) return;
    Result<std::string> answer = request_.exchange(batch);
    if (!answer.ok()) {
      error_ = answer.status();
      return Lost(reply);
    }
    // A COPY TO's whole output can be in it: moved, not copied, when
    // pg_dump has read everything before (it always has, it reads to the end
    // of each reply before it writes again).
    if (reply.empty()) {
      reply = std::move(*answer);
    } else {
      reply += *answer;
    }
  }

  const Status& error() const { return error_; }

 private:
  void Welcome(std::string& reply) {
    pgwire::backend::authentication_ok(reply);
    for (const auto& [name, value] : request_.parameters) {
      if (Status st = pgwire::backend::parameter_status(reply, name, value); !st.ok()) error_ = st;
    }
    pgwire::backend::backend_key_data(reply, 1, 0);
    pgwire::backend::ready_for_query(reply, pgwire::TransactionStatus::kIdle);
  }

  // A FATAL error: libpq reports it and pg_dump exits.
  void Lost(std::string& reply) {
    (void)pgwire::backend::error_response(reply, "FATAL", "08006", error_.message());
  }

  const PgDumpRequest& request_;
  pgwire::FrontendParser framer_;
  Status error_;
};

// pg_dump's error lines, for the Status of a failed run.
constexpr size_t kKeptMessageBytes = 4096;

}  // namespace

Status run_pg_dump(const Engine& engine, const PgDumpRequest& request) {
  std::string messages;
  auto fs = host::pg_dump_files(engine.guest_files(), request.output_dir,
                                [&messages](std::string_view line) {
                                  host::Host::Log(line);
                                  if (messages.size() + line.size() < kKeptMessageBytes) {
                                    if (!messages.empty()) messages += '\n';
                                    messages += line;
                                  }
                                });
  if (!fs.ok()) return fs.status();

  DumpConnection connection(request);
  host::HostOptions options;
  options.module = "pg_dump";
  options.program = "/pglite/bin/pg_dump";
  options.environment = {"HOME=/home/postgres", "USER=postgres", "LOGNAME=postgres", "PGTZ=UTC"};
  options.initial_pages = 1024;  // pg_dump.wasm's own minimum, 64 MiB
  options.max_pages = static_cast<uint32_t>(
      std::max<uint64_t>(engine.options().tenant_memory_max_bytes >> 16, 1024));
  options.wire_peer = [&connection](std::string_view bytes, std::string& reply) {
    connection.Receive(bytes, reply);
  };
  auto dump = host::Host::Create(std::move(options), fs->get());
  if (!dump.ok()) return dump.status();
  std::vector<std::string> args = {"-U", "postgres",
                                   "-d", "postgres",
                                   "-f", std::string(host::kPgDumpOutDir) + "/" + kPgDumpFile};
  args.insert(args.end(), request.arguments.begin(), request.arguments.end());
  host::CallOutcome out = (*dump)->CallMain(args);
  if (out.kind == host::CallOutcome::kTrapped) {
    return Status::EngineTrap("pg_dump trapped: " + out.trap);
  }
  if (!connection.error().ok()) return connection.error();
  if (out.exit_status != 0) {
    return Status::EngineError(messages.empty()
                                   ? "pg_dump exited with status " + std::to_string(out.exit_status)
                                   : messages);
  }
  return Status::Ok();
}

}  // namespace pgthaw::engine
