// engine::Instance: one Postgres (PGlite's engine) in its own linear memory.
//
// Boot() opens a data directory, running initdb first when the directory is
// absent or empty. Exec() takes frontend/backend protocol v3 messages (simple
// or extended query; no StartupMessage needed, the session is already live)
// and returns the backend's reply bytes, ReadyForQuery included. A SQL error
// is an ErrorResponse inside the reply and the instance stays usable.
//
// Threads: an Instance is not thread-safe; one caller at a time (the tenant
// actor that owns it). Different instances run on different threads at once.
// Traps: a trap inside the engine (abort, out-of-bounds, stack exhaustion)
// kills this instance only: the call returns kEngineTrap and every later
// call returns kUnavailable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/session_settings.h"

namespace pgthaw::engine {

// How one Instance::Exec() delivers its reply.
struct ExecOptions {
  // A cap on the whole reply (0: none). A reply that would pass it is
  // dropped as it is produced (nothing buffers it), the running statement
  // is cancelled (it stops at its next CHECK_FOR_INTERRUPTS(), its
  // transaction aborts as after any error; a statement that made all its
  // rows before sending any, as INSERT ... RETURNING does, is done by then)
  // and Exec returns ResourceExhausted; the instance stays usable.
  size_t max_reply_bytes = 0;
  // Streams a long reply: complete messages, in order, in chunks of about
  // 256 KiB, as the backend produces them; Exec then returns the rest
  // (always at least the reply's last message, so a trailing
  // ReadyForQuery is in what it returns). Called on the thread running
  // Exec; it may block (that is the backpressure). Returning false (the
  // client is gone) drops the rest, cancels the statement as the cap
  // does, and Exec returns Aborted.
  std::function<bool(std::string_view messages)> sink;
  // COPY FROM STDIN's data, for a client that sends it after it has seen
  // the CopyInResponse (so COPY runs wherever it appears: in a
  // multi-statement query, through the extended protocol, in a function).
  // When the backend needs more than `messages` hold during a COPY, every
  // earlier reply byte goes to `sink` first (if set), then `source` must
  // put in its argument the client's next frontend messages, whole
  // (CopyData, ending with CopyDone or CopyFail at the latest), or a
  // CopyFail saying why none will come. Called on the thread running Exec;
  // it may block. Without a source such a COPY fails at once (a CopyFail).
  std::function<void(std::string& more)> source;
  // What the guest reads from /dev/pgthaw-connections during this exchange
  // (called at each open, on the thread running Exec): the server's report
  // of the tenant's connections, which the template's pg_stat_activity and
  // pg_stat_database show (connection_views.h). Unset: the file is empty.
  std::function<std::string()> connections_report;
  // The exchange is a client's: for its length Postgres' authenticated
  // user is the session user the server set (SET SESSION AUTHORIZATION), so
  // the client cannot become anyone else (host/guest_identity.h). False:
  // the server's own statements, as the superuser the instance booted as.
  bool as_session_user = false;
};

class Instance {
 public:
  // Boots DATA_DIR (a host directory; created if absent). Runs initdb when it
  // holds no database. With `lower_dirs` (bottom first), DATA_DIR is the
  // upper layer of an overlay on those (never written) directories: files
  // are copied up on their first write.
  static Result<std::unique_ptr<Instance>> Boot(const Engine& engine, const std::string& data_dir,
                                                const std::vector<std::string>& lower_dirs = {});

  // Builds a live instance from the snapshot in SNAPSHOT_DIR over DATA_DIR
  // (mapping its memory copy-on-write; no guest code runs). With `consume`
  // the snapshot is removed once restored, so it can never be restored over
  // data committed after it (tenants); templates are not consumed.
  // `lower_dirs` are the overlay's layers under DATA_DIR (the tenant
  // store's list; a template restored for a new tenant: the template's own
  // data directory; a forked tenant: its frozen layers too), bottom first.
  static Result<std::unique_ptr<Instance>> Restore(const Engine& engine,
                                                   const std::string& snapshot_dir,
                                                   const std::string& data_dir, bool consume,
                                                   const std::vector<std::string>& lower_dirs = {});

  // Captures the idle instance (no open transaction) into DIR. A memory
  // restored from a kept snapshot (a template) is saved as the pages written
  // since; otherwise as a full image. What SetSessionDefaults() keeps (the
  // server's own values of the names it set) goes into the snapshot's
  // meta.json, so a Restore()d instance goes on as this one would: the
  // defaults in force stay in force (they are in guest memory), and a later
  // SetSessionDefaults() still puts the server's values back.
  Status Snapshot(const std::string& dir);

  // Releases the instance without shutting Postgres down: after Snapshot(),
  // this is hibernation (memory and files stay as the snapshot has them).
  void Abandon();

  // A host file or directory whose fsync this instance owes before its first
  // durable write (vfs::FileSystem::owe_host_sync): for what a new tenant's
  // commits depend on but its creation need not wait for. Between calls, by
  // the owner.
  void OweHostSync(const std::string& path);

  ~Instance();  // Close()s if still open.
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // Runs one batch of frontend messages; returns the backend's bytes.
  // Timeouts the session set (statement_timeout, lock_timeout) and the
  // server's own limit (set_statement_timeout_ms) fire while it runs, as does
  // Interrupt(): the statement fails with Postgres' 57014 and the instance
  // stays usable. A FATAL error (the backend exited) returns its reply and
  // leaves the instance dead (alive() false): the session is over.
  Result<std::string> Exec(std::string_view messages, const ExecOptions& options = {});

  // Private memory this instance holds: the resident anonymous pages of its
  // linear memory (what it wrote since it was mapped), pages mapped from the
  // snapshot delta it was thawed from, and its /tmp and /dev/shm files.
  // Measured through /proc/self/pagemap when the memory grew or the last
  // measurement is older than 100 ms, else the last value (so calling it
  // after every request is cheap). Only between calls, by the owner.
  uint64_t PrivateMemoryBytes();

  // Any thread, while another thread is inside Exec(): cancels the running
  // statement as a CancelRequest does ("canceling statement due to user
  // request"). Has no effect on later Exec() calls.
  void Interrupt();

  // The server's limit on one Exec() (0: none). Reported as Postgres'
  // "canceling statement due to statement timeout".
  void set_statement_timeout_ms(int64_t ms);

  // False once closed, abandoned or killed by a trap: then only the files
  // are left (the next Boot recovers from them).
  bool alive() const;

  // The current value of each setting in `names` as SHOW shows it (nullopt:
  // no such setting), read through the engine's GUC functions: no SQL, no
  // snapshot, nothing sent, no effect on a transaction block (open or
  // failed: `SET TRANSACTION READ WRITE` after it still works). Cheap enough
  // for every exchange. Any time between Exec() calls.
  Result<std::vector<std::optional<std::string>>> ReadSettings(
      const std::vector<std::string>& names);

  // Makes `settings` the session's reset values as a connection's startup
  // options are (RESET, RESET ALL and DISCARD ALL return to them), putting
  // the names an earlier call set back to the server's own values first;
  // the current value of every name either call names is then its default.
  // Only at ReadyForQuery outside a transaction block (else
  // InvalidArgument). A refused setting (bad value, unknown name) is not
  // applied and comes back as Postgres reports it for a startup option
  // (FATAL, its SQLSTATE and text); the others are applied and the session
  // stays usable. The engine sends no ParameterStatus for what this
  // changes (nor for a SET, in this build): what a client is told comes
  // from ReadSettings(). session_settings.h has the details.
  Result<std::vector<pgwire::ErrorFields>> SetSessionDefaults(const SettingValues& settings);

  // True while a transaction block is open (between BEGIN and COMMIT).
  bool InTransaction() const;
  // True when the last Exec() ended with ReadyForQuery (or none ran yet):
  // the session then waits for a new exchange. False while an extended
  // exchange is open (a batch ended with Flush), the backend skips to Sync
  // after an error, or a reply was cut short.
  bool AtReady() const;

  // Clean shutdown: runs Postgres' exit hooks (the shutdown checkpoint).
  Status Close();

  class Impl;

 private:
  explicit Instance(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgthaw::engine
