// runtime::Runtime: tenants as actors, with Durable Object semantics.
//
// - At most one live engine::Instance per tenant id.
// - A tenant's work items run one at a time, in arrival order, on a thread
//   pool shared by all tenants (different tenants run in parallel).
// - States: cold (on disk) -> thawing -> warm -> hibernating -> cold.
//   A tenant idle for `idle_timeout_ms` hibernates (snapshot, memory
//   released); when warm tenants' memory passes `memory_budget_bytes`, the
//   least recently used idle ones hibernate first.
// - Eager start: Submit() starts a cold tenant's thaw at once, before the
//   work item's turn comes.
// - A pool of pre-made blank instances (restored from the template) serves
//   tenants that have no data yet.
// - Limits (admission.h): at most `max_queued_per_tenant` items wait per
//   tenant, at most `max_tenants` tenants exist; beyond them Submit or the
//   item's open fails with kResourceExhausted and nothing is created.
// - Fairness: at most threads-1 workers open instances (pool, thaw, boot,
//   create) at once, so a storm of cold starts always leaves one worker for
//   warm tenants. The pool is refilled on its own thread, never a worker.
//   A long, CPU-bound work item (20-30 ms) runs at SCHED_IDLE for the rest
//   of it, so other tenants' short statements preempt it (cpu_priority.h).
// - An exception escaping a work item is caught: the tenant's instance is
//   dropped (booted again from its files) and the work is called once more
//   with an Internal error, so its caller still gets a reply.
// - Shutdown is bounded by `shutdown_timeout_ms`: after it, tenants still
//   busy and warm tenants not yet hibernated are abandoned (they recover
//   from their files at the next start, as after a crash) and the threads
//   still running guest code are detached.
//
// Thread-safe: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/instance.h"
#include "runtime/clock.h"
#include "objstore/object_store.h"
#include "runtime/session.h"
#include "runtime/tenant_dump.h"
#include "runtime/tenant_restore.h"
#include "runtime/tenant_replica.h"
#include "runtime/tenant_settings.h"

namespace pgthaw::runtime {

struct RuntimeOptions {
  std::string data_root;  // tenants in data_root/tenants/<id>/, template in data_root/
  unsigned threads = 0;   // 0: max(4, 2 x cores)
  int64_t idle_timeout_ms = 60'000;
  uint64_t memory_budget_bytes = uint64_t{4} << 30;  // private memory of warm tenants
  unsigned warm_pool_size = 2;                       // blank instances kept ready for new tenants
  // Private memory charged per warm tenant against memory_budget_bytes: 0
  // charges each tenant's measured private memory
  // (engine::Instance::PrivateMemoryBytes, after its thaw and after each of
  // its work items); a value is a fixed charge per warm tenant instead.
  uint64_t tenant_memory_bytes = 0;
  // The server's limit on one work item's Exec (0: none): the statement is
  // cancelled with Postgres' 57014, whatever the session's statement_timeout.
  // A tenant's settings (tenant_settings.h) may override it.
  int64_t statement_timeout_ms = 0;
  // A hold (a connection inside a transaction block) with no work for this
  // long is ended: its transaction is rolled back, the tenant is free again
  // and the holder is told (SetHoldExpiredHandler). 0: never.
  int64_t idle_in_transaction_timeout_ms = 60'000;

  // Admission and shutdown limits (see the class comment and admission.h).
  uint64_t max_queued_per_tenant = 64;   // 0: unlimited
  uint64_t max_tenants = 0;              // tenant directories; 0: unlimited
  int64_t shutdown_timeout_ms = 30'000;  // 0: wait for every turn to end

  // A tenant's first Submit creates it (from the pool or the template).
  // Off: Submit and SubmitHeld for a tenant with no directory fail NotFound
  // ("database \"x\" does not exist", SQLSTATE 3D000 to a Postgres client),
  // and tenants come into being only through CreateTenant.
  bool create_on_first_use = true;

  // The time idle hibernation, hold expiry (idle_in_transaction_timeout_ms)
  // and the least-recently-used order go by (clock.h). Null: SystemClock.
  // Tests pass a ManualClock and advance it instead of sleeping.
  std::shared_ptr<Clock> clock;
  // Where hibernated tenants and the template also live (tenant_replica.h):
  // a tenant is pushed there at each hibernation, and one this data root
  // does not have is pulled from there before it opens. Null: this disk
  // only. `store_key` is the fleet key that signs what is put there.
  std::shared_ptr<objstore::ObjectStore> store;
  std::string store_key;
  // Asked (on a worker, no lock held) before a tenant that is not warm here
  // is opened, whatever asked for it (Postgres, HTTP, admin): in a fleet,
  // whether this node owns the tenant. A refusal (Unavailable, naming the
  // owner) is the work item's error, so that no two nodes ever open one
  // tenant. Null: every tenant may be opened.
  std::function<Status(const std::string& tenant)> may_open_tenant;
};

// Per-request phase timings, microseconds (steady_clock).
// How a work item's tenant came to be warm.
enum class ColdKind {
  kWarm,     // it was
  kCreated,  // a new tenant, restored from the template
  kPool,     // a new tenant, a warm pool slot
  kThawed,   // from its snapshot
  kBooted,   // from its files (no usable snapshot)
};
// The name replies and metrics use: "" for kWarm, else "created", "pool",
// "thawed", "booted".
const char* cold_kind_name(ColdKind kind);

struct Timings {
  int64_t queue_us = 0;  // waiting for the tenant's turn
  int64_t thaw_us = 0;   // thaw, boot or creation (0 when warm)
  int64_t exec_us = 0;   // filled in by the caller around Instance::Exec
  bool cold = false;
  ColdKind cold_kind = ColdKind::kWarm;
};

enum class TenantState { kCold, kThawing, kWarm, kHibernating };

// What Describe tells of one tenant.
struct TenantInfo {
  TenantState state = TenantState::kCold;  // in memory now
  bool hibernated = false;                 // a snapshot on disk: its next thaw is fast
  uint64_t disk_bytes = 0;                 // blocks its directory's files take
  // When its last work item ended in this process; before that, its
  // files' newest modification (a hibernation, a checkpoint). 0: unknown.
  int64_t last_used_unix_s = 0;
};

struct RuntimeStats {
  size_t warm_tenants = 0;
  size_t hibernated_tenants = 0;  // on disk with a snapshot
  size_t pool_ready = 0;
  uint64_t warm_memory_bytes = 0;  // measured private memory of warm tenants
  uint64_t cold_starts_created = 0, cold_starts_thawed = 0, cold_starts_booted = 0;
  uint64_t cold_starts_pool = 0;  // new tenants served from the warm pool
  uint64_t hibernations = 0;
  uint64_t tenants = 0;          // tenant directories (max_tenants counts these)
  uint64_t tenants_created = 0;  // new tenant directories made by this runtime
  uint64_t queued = 0;           // work items waiting for their tenant's turn
  ReplicaStats replica;          // zeros without RuntimeOptions::store
};

// The process-wide engine a runtime runs its tenants on (server/ passes it
// through without touching it).
using Engine = engine::Engine;

class Runtime {
 public:
  static Result<std::unique_ptr<Runtime>> Start(const engine::Engine& engine,
                                                RuntimeOptions options);
  ~Runtime();  // Shutdown() if not done

  // [A-Za-z0-9_-], 1..63 characters: never a path.
  static Status ValidateTenantId(std::string_view id);

  // Runs `work` on `tenant`'s actor after earlier work for that tenant.
  // The instance is thawed/created first if needed; if that fails, `work`
  // gets the error instead. `work` must not block on other tenants.
  // QueueFull (admission.h) when `max_queued_per_tenant` items already wait;
  // the holder's own items (SubmitHeld while it holds) are never refused.
  // If `work` throws, it is called once more with an Internal error (see the
  // class comment): a work item must reply at most once across both calls.
  using Work = std::function<void(Result<Session*> session, const Timings& timings)>;
  Status Submit(const std::string& tenant, Work work);

  // Like Submit, for a client with a session of its own on the tenant (a
  // Postgres connection; `holder` is its id). When its item leaves the
  // session inside a transaction block or an extended-protocol exchange
  // (Session::Idle() false), the tenant's actor stays reserved for
  // `holder`: its next items pass waiting ones, other holders' and plain
  // items wait, until one of its items leaves the session idle. The
  // runtime takes and ends holds itself; the holder only says when it is
  // gone (Release). A holder whose hold expired
  // (idle_in_transaction_timeout_ms) gets kAborted, with Postgres' message,
  // from every later SubmitHeld.
  Status SubmitHeld(const std::string& tenant, uint64_t holder, Work work);
  // Like SubmitHeld, for an item that may also run while another holder
  // keeps the tenant at ReadyForQuery inside its transaction block, between
  // that holder's items (never inside an exchange it left open). Such an
  // item must leave the session exactly as it found it (the holder's
  // transaction, settings and state: e.g. its statements run inside a
  // savepoint it rolls back), and it neither takes nor ends a hold. For a
  // client that must not wait for another's transaction to end: a Parse,
  // which drivers send with a blocking call (pgbench -M prepared prepares
  // each client's statements so, with several clients in one thread).
  Status SubmitBeside(const std::string& tenant, uint64_t holder, Work work);
  // Runs `work` as SubmitHeld would, but on the calling thread and now, if
  // it would run next anyway: the tenant is warm, nothing of it is queued
  // or running, and no other holder keeps it. True then (holds are taken
  // and ended as for SubmitHeld); false, with `work` untouched, otherwise
  // (the caller submits it). It saves a warm tenant's statement the two
  // thread hand-offs of a worker. The item is not demoted when long
  // (cpu_priority.h): the caller bounds how many of its threads do this
  // at once, as each can be busy for as long as the statement runs.
  bool RunHeldNow(const std::string& tenant, uint64_t holder, Work& work);
  // The holder is gone (its connection closed), after its last item was
  // submitted: if it holds the tenant, its exchange and transaction are
  // ended (Session::Reset: error, Sync, ROLLBACK) before anyone else's
  // item runs, and the tenant is free. May be called from inside the
  // holder's own running item. Does nothing for a holder without a hold.
  void Release(const std::string& tenant, uint64_t holder);

  // Cancels `holder`'s work item if it is running on `tenant` right now: its
  // statement fails with 57014 "canceling statement due to user request"
  // and the instance stays usable. False if none of its items is running.
  bool Cancel(const std::string& tenant, uint64_t holder);

  // Replaces `tenant`'s settings (tenant_settings.h), durably; a warm
  // tenant's next work item runs under them. NotFound if the tenant has no
  // directory.
  Status SetTenantSettings(const std::string& tenant, const TenantSettings& settings);

  // Called on the maintenance thread, with no runtime lock held, after a
  // hold expired and its transaction was rolled back. Set it before the
  // first SubmitHeld.
  using HoldExpired = std::function<void(const std::string& tenant, uint64_t holder)>;
  void SetHoldExpiredHandler(HoldExpired handler);

  // Hibernates `tenant` now if it is warm and idle (tests, admin).
  Status Hibernate(const std::string& tenant);

  // Tenant life cycle, for the tenant admin API. Neither may be called from
  // a work item (they wait for the tenant's turn).
  //
  // CreateTenant makes the tenant's directory and instance now (from the
  // pool or the template), whatever create_on_first_use says, and returns
  // once it is warm. AlreadyExists if it has a directory; TooManyTenants
  // (admission.h) past max_tenants.
  Status CreateTenant(const std::string& tenant);
  // DeleteTenant drops the tenant's instance without hibernating it and
  // removes its directory durably (renamed out of tenants/, the parent
  // fsynced, then deleted). It runs as the tenant's next turn once no
  // holder keeps it: a connection inside a transaction is waited for until
  // its transaction ends, at most until `deadline` (then Unavailable, and
  // nothing changed). Meanwhile new work is refused NotFound, except the
  // holder's own. With `force` it does not wait: the holder's hold ends (its
  // transaction is lost with the instance; its next SubmitHeld gets
  // NotFound), a running item is interrupted (57014), and items still
  // queued get NotFound. NotFound if the tenant has no directory.
  Status DeleteTenant(const std::string& tenant, bool force,
                      std::chrono::steady_clock::time_point deadline);
  // ImportTenant makes `tenant` from a data-directory archive (a PGlite
  // dumpDataDir() tarball, engine/data_dir_archive.h) and opens it, which
  // recovers a database that was not shut down cleanly; it returns once the
  // tenant is warm. AlreadyExists if it has a directory; InvalidArgument,
  // with nothing left behind, for an archive that is not a data directory
  // of this engine's Postgres or breaks the archive rules (more file data
  // than --tenant-disk-max, for one). It does not count against
  // max_tenants: an operator's import is not a client's first mention.
  Status ImportTenant(const std::string& tenant, const std::string& archive);
  // ExportTenant writes the tenant's data directory as such an archive (to
  // `out`, atomically), in the tenant's turn (thawing it if cold), so no
  // statement writes meanwhile. What is committed is in it (its WAL
  // included); the importer's Postgres recovers it on open.
  Status ExportTenant(const std::string& tenant, const std::string& out, bool gzip);
  // ForkTenant makes `fork` an exact copy of `source` as committed now (not
  // its open transactions), in source's turn, copying no files: source's
  // files become a frozen layer under both (engine::fork_tenant), a warm
  // source is hibernated first so the fork thaws from the same snapshot.
  // Writes to either are invisible to the other; deleting source keeps
  // fork whole. NotFound / AlreadyExists for the ids; ResourceExhausted
  // when source's stack of layers is at its bound.
  Status ForkTenant(const std::string& source, const std::string& fork);
  // Flattens the tenant's frozen layers into one (engine::flatten_layers):
  // the copy runs beside the tenant's work, the switch in its turn. After a
  // fork this runs in the background for a stack deeper than
  // engine::kCompactAbove; callable directly (tests, operators). Ok and
  // nothing done for a stack with fewer than two frozen layers.
  Status CompactTenant(const std::string& tenant);
  // A logical dump: pg_dump (PGlite's, in-process, tenant_dump.h) of the
  // tenant into `out` (atomically), as one work item in the tenant's turn
  // (thawing it if cold): other work on the tenant waits for it. `prepare`
  // (may be empty) runs first on the session, e.g. to hand it over from its
  // last user; pg_dump then runs as the superuser and its changes to the
  // session are undone after it.
  using SessionHook = std::function<Status(Session&)>;
  Status DumpTenant(const std::string& tenant, const DumpOptions& options, const std::string& out,
                    const SessionHook& prepare);
  // Runs a pg_dump output (plain SQL or a custom archive, tenant_restore.h)
  // in the tenant as one transaction, in the tenant's turn: all of it or,
  // at the first error (which the Status quotes with its place in the
  // file), nothing.
  Status RestoreTenant(const std::string& tenant, const std::string& file,
                       const SessionHook& prepare);
  // The tenant has a directory and is not being deleted: what a Postgres
  // connection naming it checks before answering 3D000.
  bool TenantExists(const std::string& tenant) const;
  // Tenant ids with a directory, sorted.
  std::vector<std::string> ListTenants() const;
  // NotFound if the tenant has no directory. Walks its files (not cheap).
  Result<TenantInfo> Describe(const std::string& tenant) const;
  // Fills the pool of blank instances; returns when it holds `warm_pool_size`.
  Status Warmup();

  TenantState state(const std::string& tenant) const;
  RuntimeStats stats() const;
  // Blocks until no tenant has work queued or a turn running (a work item
  // all done, its tenant's last use recorded), or until `deadline` (then
  // false). For tests: new work, or a hibernation the maintenance thread
  // asks for, may start right after.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);

  // Stops accepting work, drains queued work, hibernates warm tenants,
  // within `shutdown_timeout_ms` (Shutdown()) or by `deadline`. Unavailable
  // when the time ran out: the rest was abandoned (abandoned() is then true;
  // the destructor leaks the runtime's state, which detached threads still
  // use, and the process should exit soon).
  Status Shutdown();
  Status Shutdown(std::chrono::steady_clock::time_point deadline);
  bool abandoned() const;

  class Impl;

 private:
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgthaw::runtime
