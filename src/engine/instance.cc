// engine::Instance: boot, per-request exec loop and shutdown, following the
// order PGlite's glue uses (pglite-host-abi.md §2.3, §2.4, §2.6).
#include "engine/instance.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>

#include "engine/buffer_eviction.h"
#include "engine/export_recovery.h"
#include "engine/initdb.h"
#include "engine/process_env.h"
#include "engine/snapshot.h"
#include "host/guest_files.h"
#include "host/guest_identity.h"
#include "host/host.h"
#include "pgwire/backend.h"
#include "pgwire/frontend.h"
#include "pgwire/wire_format.h"

namespace pgthaw::engine {

// The exit status PGlite's C side uses to leave main() early (with
// kExitMainLongjmp, export_recovery.h).
constexpr int kExitAlive = 99;  // single-user main() is initialised

namespace {

// The server's own statement limit stops a statement the way a cancel does
// (QueryCancelPending with no timeout indicator set), so Postgres words it
// "due to user request"; say what happened, in Postgres' words for a
// statement_timeout.
void name_statement_timeout(std::string& reply) {
  constexpr std::string_view kUser = "canceling statement due to user request";
  constexpr std::string_view kTimeout = "canceling statement due to statement timeout";
  auto messages = pgwire::split_messages(reply);
  if (!messages.ok()) return;
  for (const pgwire::MessageView& m : *messages) {
    if (m.type != 'E' || m.payload.find("C57014") == std::string_view::npos) continue;
    size_t text = m.payload.find(std::string("M") + std::string(kUser) + '\0');
    if (text == std::string_view::npos) continue;
    size_t payload_at = static_cast<size_t>(m.payload.data() - reply.data());
    uint32_t length = static_cast<uint32_t>(4 + m.payload.size() + kTimeout.size() - kUser.size());
    reply.replace(payload_at + text + 1, kUser.size(), kTimeout);
    for (int i = 0; i < 4; ++i) {
      reply[payload_at - 4 + i] = static_cast<char>(length >> (24 - 8 * i));
    }
    return;
  }
}

}  // namespace

class Instance::Impl {
 public:
  Status Boot(const Engine& engine, const std::string& data_dir,
              const std::vector<std::string>& lower_dirs);
  Status Restore(const Engine& engine, const std::string& snapshot_dir, const std::string& data_dir,
                 bool consume, const std::vector<std::string>& lower_dirs);
  Status Snapshot(const std::string& dir);
  void Abandon() {
    closed_ = true;
    std::unique_ptr<host::Host> host;
    {
      std::lock_guard lock(interrupt_mutex_);
      host = std::move(host_);
    }
    host.reset();
    fs_.reset();
  }
  Result<std::string> Exec(std::string_view messages, const ExecOptions& options);
  void OweHostSync(const std::string& path) {
    if (fs_ != nullptr) fs_->owe_host_sync(path);
  }
  uint64_t PrivateMemoryBytes();
  void Interrupt() {
    std::lock_guard lock(interrupt_mutex_);
    if (host_ != nullptr) host_->RequestCancel(host::CancelReason::kUser);
  }
  void set_statement_timeout_ms(int64_t ms) { statement_timeout_ms_ = ms; }
  Status Close();
  Result<std::vector<std::optional<std::string>>> ReadSettings(
      const std::vector<std::string>& names);
  Result<std::vector<pgwire::ErrorFields>> SetSessionDefaults(const SettingValues& settings);
  // What SessionSettings does after an ERROR left an export call.
  SessionSettings::Recovery SettingsRecovery();
  bool InTransaction() const { return alive() && in_transaction_; }
  bool alive() const { return !closed_ && host_ != nullptr && !host_->dead(); }
  bool at_ready() const { return at_ready_; }

 private:
  Status Fail(const host::CallOutcome& out, const std::string& what);
  // Runs an export taking no arguments; kExitMainLongjmp is reported as such.
  host::CallOutcome Run(wasm_rt_function_ptr_t fn) {
    return host_->Call([&] { host_->Invoke<void>(fn); });
  }

  void ResolveExports();
  Result<std::string> RunMessages(std::string_view messages);
  // Before a delta snapshot: the shared buffers this memory wrote are
  // evicted and their pages given back to the base image, so the delta holds
  // none of them (buffer_eviction.h).
  Status DropSharedBuffers();

  const Engine* engine_ = nullptr;
  std::string data_dir_;
  std::vector<std::string> lower_dirs_;
  // The kept snapshot whose full image this memory maps ("" if none): the
  // base a later Snapshot() saves a delta against.
  std::string base_snapshot_;
  std::unique_ptr<vfs::FileSystem> fs_;
  std::unique_ptr<host::Host> host_;
  bool closed_ = false;
  bool at_ready_ = true;  // the last Exec's reply ended with ReadyForQuery
  // IsTransactionBlock() after the last Exec: only an Exec changes it, so it
  // is asked once per Exec, not by every caller.
  bool in_transaction_ = false;
  bool ReadInBlock();
  // Session defaults (SetSessionDefaults) and the server values they hide.
  SessionSettings settings_;
  int64_t statement_timeout_ms_ = 0;
  // Guards host_ against Interrupt() from another thread: host_ is replaced
  // only under it (it is set before any other thread can see the instance).
  std::mutex interrupt_mutex_;
  // PrivateMemoryBytes(): the last measurement, when and at what size.
  uint64_t private_bytes_ = 0;
  std::chrono::steady_clock::time_point measured_at_{};
  uint32_t measured_pages_ = 0;
  struct {
    wasm_rt_function_ptr_t loop_once, long_jmp, send_ready, flush, remaining, in_block;
  } fn_{};
};

namespace {

// The guest's memory limit in wasm pages. At least the initial memory, and
// below 65536 pages: wasm_rt_memory_t::size and emscripten_get_heap_max()'s
// answer are 32 bits.
uint32_t max_memory_pages(const EngineOptions& options) {
  constexpr uint64_t kMaxPages = 65535;
  uint64_t pages = options.tenant_memory_max_bytes / host::GuestMemory::kWasmPageBytes;
  if (pages == 0 || pages > kMaxPages) pages = kMaxPages;
  return static_cast<uint32_t>(std::max<uint64_t>(pages, host::HostOptions{}.initial_pages));
}

host::HostOptions backend_host_options(const Engine& engine) {
  host::HostOptions options;
  options.module = "pglite";
  options.program = kPostgresProgram;
  options.environment = postgres_environment();
  options.max_pages = max_memory_pages(engine.options());
  options.watchdog = engine.watchdog();
  return options;
}

// Reading pagemap for the whole linear memory costs about 0.2 ms: at most
// once a second per instance, unless the memory grew (the runtime asks
// after every work item).
constexpr auto kMeasureInterval = std::chrono::milliseconds(1000);

// WAL is written inside critical sections, so the disk quota never refuses
// it (host/guest_files.cc): keep it well inside the quota instead. A
// quarter of the quota, between the minimum of two 16 MB segments and
// Postgres' default of 1 GB; recycled segments kept down to that minimum.
std::vector<std::string> with_wal_limits(std::vector<std::string> args,
                                         const EngineOptions& options) {
  if (options.tenant_disk_max_bytes == 0) return args;
  uint64_t mb = std::clamp<uint64_t>(options.tenant_disk_max_bytes / 4 >> 20, 32, 1024);
  std::vector<std::string> limits = {"-c", "max_wal_size=" + std::to_string(mb) + "MB", "-c",
                                     "min_wal_size=32MB"};
  // Options go before -D and the database name, which end the command line.
  args.insert(args.begin() + 1, limits.begin(), limits.end());
  return args;
}

// Whether BYTES, the backend's output so far, end with an ErrorResponse of
// severity PANIC: Postgres sends and flushes it, then abort()s.
bool ends_with_panic(std::string_view bytes) {
  auto messages = pgwire::split_messages(bytes);
  if (!messages.ok() || messages->empty() || messages->back().type != 'E') return false;
  auto fields = pgwire::decode_error_fields(messages->back().payload);
  return fields.ok() && fields->severity_nonlocalized() == "PANIC";
}

}  // namespace

Status Instance::Impl::Fail(const host::CallOutcome& out, const std::string& what) {
  if (out.kind == host::CallOutcome::kTrapped) {
    return Status::EngineTrap(what + " trapped in " + data_dir_ + ": " + out.trap);
  }
  return Status::EngineError(what + " exited with status " + std::to_string(out.exit_status));
}

void Instance::Impl::ResolveExports() {
  fn_.loop_once = host_->ExportFunction("PostgresMainLoopOnce");
  fn_.long_jmp = host_->ExportFunction("PostgresMainLongJmp");
  fn_.send_ready = host_->ExportFunction("PostgresSendReadyForQueryIfNecessary");
  fn_.flush = host_->ExportFunction("pgl_pq_flush");
  fn_.remaining = host_->ExportFunction("pq_buffer_remaining_data");
  fn_.in_block = host_->ExportFunction("IsTransactionBlock");
}

Status Instance::Impl::Boot(const Engine& engine, const std::string& data_dir,
                            const std::vector<std::string>& lower_dirs) {
  engine_ = &engine;
  data_dir_ = data_dir;
  lower_dirs_ = lower_dirs;
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Status::FromErrno("mkdir " + data_dir, ec.value());
  bool has_database =
      std::filesystem::exists(data_dir + "/PG_VERSION") ||
      (!lower_dirs.empty() && std::filesystem::exists(lower_dirs[0] + "/PG_VERSION"));
  if (!has_database) {
    // Never initdb over somebody's files.
    if (!std::filesystem::is_empty(data_dir, ec)) {
      return Status::InvalidArgument(data_dir + " is not empty and holds no database");
    }
    PGTHAW_RETURN_IF_ERROR(run_initdb(engine, data_dir));
  }
  auto fs = host::postgres_files(engine.guest_files(), data_dir, lower_dirs);
  if (!fs.ok()) return fs.status();
  fs_ = std::move(fs).value();

  auto host = host::Host::Create(backend_host_options(engine), fs_.get());
  if (!host.ok()) return host.status();
  host_ = std::move(host).value();

  ResolveExports();

  host::CallOutcome out = host_->Call(
      [&] { host_->Invoke<uint32_t>(host_->ExportFunction("pgl_setPGliteActive"), uint32_t{1}); });
  if (out.kind != host::CallOutcome::kReturned) return Fail(out, "pgl_setPGliteActive");
  report_overridden_settings(data_dir, data_dir);
  out = host_->CallMain(
      with_wal_limits(backend_arguments(engine.options().durable), engine.options()));
  if (out.kind != host::CallOutcome::kExited || out.exit_status != kExitAlive) {
    return Fail(out, "postgres --single");
  }
  out = Run(host_->ExportFunction("pgl_startPGlite"));
  if (out.kind != host::CallOutcome::kReturned) return Fail(out, "pgl_startPGlite");
  return Status::Ok();
}

Result<std::string> Instance::Impl::Exec(std::string_view messages, const ExecOptions& options) {
  if (closed_ || host_ == nullptr || host_->dead()) {
    return Status::Unavailable("instance for " + data_dir_ + " is closed or dead");
  }
  // Terminate never reaches Postgres: the session outlives its clients.
  if (!messages.empty() && messages[0] == 'X') return std::string();
  host::WireChannel::OutputSink sink;
  if (options.sink) {
    sink = [this, &options](std::string& chunk) {
      if (host_->statement_deadline_fired()) name_statement_timeout(chunk);
      return options.sink(chunk);
    };
  }
  host_->wire().BeginOutput(options.max_reply_bytes, std::move(sink));
  if (options.source) host_->wire().SetInputSource(options.source);
  fs_->set_connections_report(options.connections_report);
  host::AuthenticatedAsSessionUser as_client(*host_, options.as_session_user);
  Result<std::string> reply = RunMessages(messages);
  if (host_ == nullptr) {  // the backend exited: abandoned (fs_ too)
    as_client.Forget();
    return reply;
  }
  fs_->set_connections_report(nullptr);
  const bool dropped = host_->wire().output_dropped();
  host_->wire().EndOutput();
  in_transaction_ = ReadInBlock();
  at_ready_ = reply.ok() && !dropped && pgwire::ends_at_ready(*reply);
  if (!reply.ok() || !dropped) return reply;
  // The ReadyForQuery was dropped with the rest, so at_ready_ is false and
  // the caller sends a Sync (harmless if the backend is at ReadyForQuery).
  std::string().swap(host_->wire().output());  // give the capped buffer's memory back
  if (options.sink) return Status::Aborted("the client stopped taking the reply");
  return Status::ResourceExhausted("the reply passed " + std::to_string(options.max_reply_bytes) +
                                   " bytes and was dropped");
}

uint64_t Instance::Impl::PrivateMemoryBytes() {
  if (closed_ || host_ == nullptr || host_->dead()) return 0;
  const host::GuestMemory& memory = host_->guest_memory();
  auto now = std::chrono::steady_clock::now();
  if (memory.wasm_pages() == measured_pages_ && now - measured_at_ < kMeasureInterval) {
    return private_bytes_;
  }
  uint64_t bytes = memory.PrivateBytes() + static_cast<uint64_t>(fs_->memdir_bytes());
  private_bytes_ = bytes;
  measured_at_ = now;
  measured_pages_ = memory.wasm_pages();
  return bytes;
}

Result<std::string> Instance::Impl::RunMessages(std::string_view messages) {
  host_->DeliverDueTimers();
  host_->wire().SetInput(messages);
  host_->wire().output().clear();
  double deadline = statement_timeout_ms_ > 0
                        ? host::monotonic_ms() + static_cast<double>(statement_timeout_ms_)
                        : 0;
  host_->BeginWatch(deadline);
  struct EndWatch {
    host::Host* h;
    ~EndWatch() {
      if (h != nullptr) h->EndWatch();
    }
  } end_watch{host_.get()};
  for (;;) {
    uint32_t buffered = 0;
    host_->Call([&] { buffered = host_->Invoke<uint32_t>(fn_.remaining); });
    if (host_->wire().input_remaining() == 0 && static_cast<int32_t>(buffered) <= 0) break;
    uint32_t sp = host_->stack_pointer();
    host::CallOutcome out = Run(fn_.loop_once);
    if (out.kind == host::CallOutcome::kTrapped && !ends_with_panic(host_->wire().output())) {
      return Fail(out, "query");
    }
    if (out.kind == host::CallOutcome::kExited && out.exit_status == kExitMainLongjmp) {
      // The error half of PostgresMain's sigsetjmp block: abort the
      // transaction, send the ErrorResponse, skip to the next Sync.
      host_->set_stack_pointer(sp);
      out = Run(fn_.long_jmp);
      if (out.kind == host::CallOutcome::kTrapped) return Fail(out, "error recovery");
    }
    if (out.kind == host::CallOutcome::kTrapped ||
        (out.kind == host::CallOutcome::kExited && out.exit_status != kExitMainLongjmp)) {
      // proc_exit(): a FATAL error or a terminated backend; or abort()
      // after a PANIC (a failed WAL write or fsync), whose ErrorResponse
      // Postgres flushed first. Either way this session is over: hand back
      // what it said last and let the files be booted again (recovery).
      std::string reply;
      reply.swap(host_->wire().output());
      // What it said last (its FATAL, if any) belongs in the log too.
      std::string said;
      for (char c : reply.substr(reply.size() > 300 ? reply.size() - 300 : 0)) {
        said += (c >= 32 && c < 127) ? c : ' ';
      }
      if (out.kind == host::CallOutcome::kTrapped) {
        spdlog::error("instance for {}: PANIC: {}", data_dir_, said);
      } else {
        spdlog::warn("instance for {}: backend exited with status {}: {}", data_dir_,
                     out.exit_status, said);
      }
      end_watch.h->EndWatch();
      end_watch.h = nullptr;
      Abandon();
      return reply;
    }
  }
  host::CallOutcome out = Run(fn_.send_ready);
  if (out.kind == host::CallOutcome::kTrapped) return Fail(out, "ReadyForQuery");
  out = Run(fn_.flush);
  if (out.kind == host::CallOutcome::kTrapped) return Fail(out, "flush");
  std::string reply;
  reply.swap(host_->wire().output());
  if (host_->statement_deadline_fired()) name_statement_timeout(reply);
  return reply;
}

Status Instance::Impl::Restore(const Engine& engine, const std::string& snapshot_dir,
                               const std::string& data_dir, bool consume,
                               const std::vector<std::string>& lower_dirs) {
  engine_ = &engine;
  data_dir_ = data_dir;
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  Clock::time_point start = Clock::now(), t;
  double read_ms, fs_ms, map_ms = 0, delta_ms = 0, verify_ms = 0;
  std::shared_ptr<const SnapshotFiles> files;
  if (consume) {
    auto read = read_snapshot(snapshot_dir, engine.snapshots());
    if (!read.ok()) return read.status();
    files = std::make_shared<const SnapshotFiles>(std::move(read).value());
  } else {
    auto kept = engine.snapshots().ReadKept(snapshot_dir);
    if (!kept.ok()) return kept.status();
    files = *kept;
  }
  read_ms = since(start);
  t = Clock::now();
  lower_dirs_ = lower_dirs;
  auto fs = host::postgres_files(engine.guest_files(), data_dir, lower_dirs_);
  if (!fs.ok()) return fs.status();
  fs_ = std::move(fs).value();
  PGTHAW_RETURN_IF_ERROR(fs_->restore_state(files->vfs));
  fs_ms = since(t);

  auto host = host::Host::Restore(
      backend_host_options(engine), fs_.get(), files->state,
      [&](host::GuestMemory& memory) -> Status {
        Clock::time_point at = Clock::now();
        PGTHAW_RETURN_IF_ERROR(memory.MapImage(files->memory_path, files->meta.memory_pages));
        map_ms = since(at);
        if (files->delta_path.empty()) return Status::Ok();
        at = Clock::now();
        PGTHAW_RETURN_IF_ERROR(memory.ApplyDelta(files->delta_path, files->delta_pages));
        delta_ms = since(at);
        at = Clock::now();
        if (!engine.snapshots().VerifiedBefore(files->delta_path, files->meta.memory_hash)) {
          if (memory.Hash(files->delta_pages) != files->meta.memory_hash) {
            return Status::Corruption(snapshot_dir + ": delta checksum mismatch");
          }
          engine.snapshots().RememberVerified(files->delta_path, files->meta.memory_hash);
        }
        verify_ms = since(at);
        return Status::Ok();
      });
  if (!host.ok()) return host.status();
  host_ = std::move(host).value();
  ResolveExports();
  PGTHAW_RETURN_IF_ERROR(settings_.Load(files->meta.session_settings));
  if (!files->meta.base.empty()) {
    base_snapshot_ = files->meta.base;
  } else if (!consume) {
    base_snapshot_ = snapshot_dir;  // a template: it stays, and so does its image
  }
  spdlog::debug(
      "restore {}: {:.3f} ms (read {:.3f}, vfs {:.3f}, map {:.3f}, delta {:.3f} for {} pages, "
      "{} mapped, verify {:.3f})",
      data_dir, since(start), read_ms, fs_ms, map_ms, delta_ms, files->delta_pages.size(),
      host_->guest_memory().delta_mapped_pages(), verify_ms);
  if (consume) {
    PGTHAW_RETURN_IF_ERROR(consume_snapshot(snapshot_dir));
    // Durable before the tenant's first durable write, not before it answers.
    fs_->owe_host_sync(snapshot_dir + kConsumedSuffix);
    fs_->owe_host_sync(std::filesystem::path(snapshot_dir).parent_path().string());
    // A thaw's first PrivateMemoryBytes() would read the pagemap of the
    // whole memory (about 0.3 ms) on its path: until the next measurement,
    // what the restore made private is the delta it applied.
    if (!files->delta_pages.empty()) {
      private_bytes_ = files->delta_pages.size() * host::GuestMemory::kPageBytes;
      measured_at_ = std::chrono::steady_clock::now();
      measured_pages_ = host_->guest_memory().wasm_pages();
    }
  }
  return Status::Ok();
}

Status Instance::Impl::Snapshot(const std::string& dir) {
  if (closed_ || host_ == nullptr || host_->dead()) {
    return Status::Unavailable("instance for " + data_dir_ + " is closed or dead");
  }
  if (InTransaction()) return Status::InvalidArgument("cannot snapshot inside a transaction");
  if (!at_ready_) {
    return Status::InvalidArgument("cannot snapshot inside an extended-protocol exchange");
  }
  const host::GuestMemory& memory = host_->guest_memory();
  SnapshotMeta meta;
  meta.memory_pages = memory.wasm_pages();
  meta.base = base_snapshot_;
  meta.session_settings = settings_.Save();
  SnapshotWrite snap;
  if (!base_snapshot_.empty()) {
    PGTHAW_RETURN_IF_ERROR(DropSharedBuffers());
    auto pages = memory.ChangedPages();
    if (!pages.ok()) return pages.status();
    meta.memory_hash = memory.Hash(*pages);
    snap.delta_pages = std::move(pages).value();
  }
  auto vfs_state = fs_->save_state();
  if (!vfs_state.ok()) return vfs_state.status();
  snap.meta = meta;
  snap.state = host_->SaveState();
  snap.vfs = std::move(vfs_state).value();
  snap.write_full_image = [&memory](const std::string& path) { return memory.SaveImage(path); };
  snap.write_delta = [&memory, pages = snap.delta_pages](const std::string& path) {
    return memory.SaveDelta(pages, path);
  };
  return write_snapshot(dir, std::move(snap), engine_->snapshots());
}

Status Instance::Impl::DropSharedBuffers() {
  auto pool = buffer_pool(*host_);
  if (!pool.ok()) return pool.status();
  constexpr uint64_t kPageBytes = host::GuestMemory::kPageBytes;
  constexpr uint32_t kPagesPerBlock = kBufferBlockBytes / kPageBytes;
  if (pool->blocks_at % kPageBytes != 0) return Status::Ok();  // never so in Postgres
  const uint32_t first_page = static_cast<uint32_t>(pool->blocks_at / kPageBytes);
  const uint32_t end_page = first_page + pool->buffers * kPagesPerBlock;
  // The buffers with a page of their own: written since the base image, or
  // mapped from the delta this memory was thawed from.
  host::GuestMemory& memory = host_->guest_memory();
  auto changed = memory.ChangedPages();
  if (!changed.ok()) return changed.status();
  std::vector<uint32_t> buffers;
  for (uint32_t p : *changed) {
    if (p >= first_page && p < end_page) buffers.push_back((p - first_page) / kPagesPerBlock + 1);
  }
  std::sort(buffers.begin(), buffers.end());
  buffers.erase(std::unique(buffers.begin(), buffers.end()), buffers.end());

  auto evicted = evict_buffers(*host_, buffers, SettingsRecovery());
  if (!evicted.ok()) {
    if (!alive()) return evicted.status();
    // Recovered: the buffers keep their pages, and the delta with them.
    spdlog::warn("instance for {}: {}", data_dir_, evicted.status().ToString());
    return Status::Ok();
  }
  // Each run of evicted buffers back to the base image, in one mapping.
  const std::vector<uint32_t>& gone = *evicted;
  for (size_t i = 0; i < gone.size();) {
    size_t j = i + 1;
    while (j < gone.size() && gone[j] == gone[j - 1] + 1) ++j;
    const uint32_t from = first_page + (gone[i] - 1) * kPagesPerBlock;
    const uint32_t count = static_cast<uint32_t>(j - i) * kPagesPerBlock;
    PGTHAW_RETURN_IF_ERROR(memory.Revert(from, count));
    i = j;
  }
  return Status::Ok();
}

Result<std::vector<std::optional<std::string>>> Instance::Impl::ReadSettings(
    const std::vector<std::string>& names) {
  if (!alive()) return Status::Unavailable("instance for " + data_dir_ + " is closed or dead");
  return settings_.Read(*host_, names, SettingsRecovery());
}

SessionSettings::Recovery Instance::Impl::SettingsRecovery() {
  SessionSettings::Recovery recovery;
  recovery.sync = [this]() -> Status {
    // Mid-exchange, the client's own Sync ends the skip the error began.
    if (!at_ready_) return Status::Ok();
    std::string sync;
    pgwire::frontend::sync(sync);
    Result<std::string> reply = Exec(sync, {});
    if (!reply.ok()) return reply.status();
    if (!at_ready_) {
      return Status::EngineError("the engine did not come back to ReadyForQuery after an error");
    }
    return Status::Ok();
  };
  recovery.backend_exited = [this] {
    spdlog::warn("instance for {}: backend exited on a settings call", data_dir_);
    Abandon();
  };
  return recovery;
}

Result<std::vector<pgwire::ErrorFields>> Instance::Impl::SetSessionDefaults(
    const SettingValues& settings) {
  if (!alive()) return Status::Unavailable("instance for " + data_dir_ + " is closed or dead");
  if (in_transaction_ || !at_ready_) {
    return Status::InvalidArgument(
        "session defaults are set only at ReadyForQuery outside a transaction block");
  }
  auto errors = settings_.SetDefaults(*host_, settings, SettingsRecovery());
  in_transaction_ = ReadInBlock();
  return errors;
}

bool Instance::Impl::ReadInBlock() {
  if (host_ == nullptr || host_->dead() || closed_) return false;
  uint32_t in_block = 0;
  host_->Call([&] { in_block = host_->Invoke<uint32_t>(fn_.in_block); });
  return in_block != 0;
}

Status Instance::Impl::Close() {
  if (closed_ || host_ == nullptr) return Status::Ok();
  closed_ = true;
  if (host_->dead()) return Status::Ok();
  host::CallOutcome out = host_->Call([&] {
    host_->Invoke<uint32_t>(host_->ExportFunction("pgl_setPGliteActive"), uint32_t{0});
    // Postgres' exit hooks: the shutdown checkpoint.
    host_->Invoke<void>(host_->ExportFunction("pgl_run_atexit_funcs"));
  });
  if (out.kind == host::CallOutcome::kTrapped) return Fail(out, "shutdown");
  return Status::Ok();
}

Instance::Instance(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Instance::~Instance() {
  if (impl_ != nullptr) {
    Status st = impl_->Close();
    if (!st.ok()) spdlog::warn("closing instance: {}", st.ToString());
  }
}

Result<std::unique_ptr<Instance>> Instance::Boot(const Engine& engine, const std::string& data_dir,
                                                 const std::vector<std::string>& lower_dirs) {
  auto impl = std::make_unique<Impl>();
  PGTHAW_RETURN_IF_ERROR(impl->Boot(engine, data_dir, lower_dirs));
  return std::unique_ptr<Instance>(new Instance(std::move(impl)));
}

Result<std::unique_ptr<Instance>> Instance::Restore(const Engine& engine,
                                                    const std::string& snapshot_dir,
                                                    const std::string& data_dir, bool consume,
                                                    const std::vector<std::string>& lower_dirs) {
  auto impl = std::make_unique<Impl>();
  PGTHAW_RETURN_IF_ERROR(impl->Restore(engine, snapshot_dir, data_dir, consume, lower_dirs));
  return std::unique_ptr<Instance>(new Instance(std::move(impl)));
}

Status Instance::Snapshot(const std::string& dir) { return impl_->Snapshot(dir); }

void Instance::Abandon() { impl_->Abandon(); }

void Instance::OweHostSync(const std::string& path) { impl_->OweHostSync(path); }

void Instance::Interrupt() { impl_->Interrupt(); }

void Instance::set_statement_timeout_ms(int64_t ms) { impl_->set_statement_timeout_ms(ms); }

Result<std::string> Instance::Exec(std::string_view messages, const ExecOptions& options) {
  // One switch to the guest stack for the whole exchange, not one per call.
  Result<std::string> reply = Status::Internal("not run");
  host::run_on_guest_stack([&] { reply = impl_->Exec(messages, options); });
  return reply;
}

uint64_t Instance::PrivateMemoryBytes() { return impl_->PrivateMemoryBytes(); }

Result<std::vector<std::optional<std::string>>> Instance::ReadSettings(
    const std::vector<std::string>& names) {
  return impl_->ReadSettings(names);
}

Result<std::vector<pgwire::ErrorFields>> Instance::SetSessionDefaults(
    const SettingValues& settings) {
  Result<std::vector<pgwire::ErrorFields>> errors = Status::Internal("not run");
  host::run_on_guest_stack([&] { errors = impl_->SetSessionDefaults(settings); });
  return errors;
}

bool Instance::InTransaction() const { return impl_->InTransaction(); }

bool Instance::alive() const { return impl_->alive(); }

bool Instance::AtReady() const { return impl_->at_ready(); }

Status Instance::Close() { return impl_->Close(); }

}  // namespace pgthaw::engine
