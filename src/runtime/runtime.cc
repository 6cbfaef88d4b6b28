// runtime::Runtime: the scheduler (ready queue + worker pool), the
// maintenance thread (idle timeout, memory budget) and shutdown. Tenant
// states and the ownership rule are described in tenant.h.
//
// Mutex rules
//   shutdown_mutex_  serialises Shutdown(); taken before mutex_.
//   mutex_           guards tenants_, ready_, every Tenant field (tenant.h),
//                    the counters and the flags below it. Never held while
//                    guest code runs (work items, thaw, hibernation) or while
//                    a thread is joined. Lock order: mutex_ may be held while
//                    calling WarmPool::ready() (WarmPool::mutex_ is a leaf);
//                    WarmPool::TakeInto/Fill are called without mutex_.
//   Work items run with no runtime lock held, so they may call Submit,
//   SubmitHeld and Release; they must not call Hibernate, Warmup or
//   Shutdown (those wait for the calling item's own tenant or thread).
//
// Limits, fairness, exceptions and the bounded shutdown live in their own
// functions (sections "Limits and fairness", "Exceptions", "Bounded
// shutdown" below); the scheduler calls them at one place each.
#include "runtime/runtime.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/build_id.h"
#include "common/durable_file.h"
#include "common/env.h"
#include "common/thread_annotations.h"
#include "engine/connection_views.h"
#include "engine/template.h"
#include "engine/tenant_store.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"
#include "runtime/admission.h"
#include "runtime/cpu_priority.h"
#include "runtime/tenant.h"
#include "runtime/tenant_settings.h"
#include "runtime/warm_pool.h"
#include "runtime/worker_threads.h"

namespace pgthaw::runtime {

namespace fs = std::filesystem;

const char* cold_kind_name(ColdKind kind) {
  switch (kind) {
    case ColdKind::kWarm:
      return "";
    case ColdKind::kCreated:
      return "created";
    case ColdKind::kPool:
      return "pool";
    case ColdKind::kThawed:
      return "thawed";
    case ColdKind::kBooted:
      return "booted";
  }
  return "";
}

namespace {

int64_t micros(SteadyClock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// Eviction passes run at most this often.
constexpr std::chrono::milliseconds kMinPassInterval{5};
constexpr int64_t kMaxIdleMs = int64_t{365} * 24 * 3600 * 1000;

int64_t now_unix_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What a Postgres client is told (3D000) of a tenant that is not there.
Status install_connection_views(Session& session) {
  std::string query;
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(query, engine::kConnectionViewsSql));
  auto reply = session.Exec(query);
  if (!reply.ok()) return reply.status();
  auto results = pgwire::collect_results(reply->bytes);
  if (!results.ok()) return results.status();
  for (const pgwire::StatementResult& result : *results) {
    if (result.error)
      return Status::Internal("installing the connection views: " + result.error->summary());
  }
  return Status::Ok();
}

Status no_such_database(const std::string& id) {
  return Status::NotFound("database \"" + id + "\" does not exist");
}

// Moves `root` to `trash` (in another directory of the same file system)
// and, when `durable`, fsyncs root's parent: from then on the tenant is gone,
// crash or not. The renamed tree is then removed; what a failure leaves of
// it goes at the next start (Init).
Status remove_tenant_dir(const std::string& root, const std::string& trash, bool durable) {
  std::error_code ec;
  const std::string trash_dir = fs::path(trash).parent_path().string();
  fs::create_directories(trash_dir, ec);
  if (ec) return Status::FromErrno("mkdir " + trash_dir, ec.value());
  if (env().Rename(root.c_str(), trash.c_str()) != 0) {
    return Status::FromErrno("rename " + root + " to " + trash, errno);
  }
  if (durable) PGTHAW_RETURN_IF_ERROR(fsync_dir(fs::path(root).parent_path().string()));
  fs::remove_all(trash, ec);
  if (ec) {
    spdlog::warn("removing {}: {} (removed at the next start)", trash, ec.message());
  } else if (durable) {
    Status synced = fsync_dir(trash_dir);
    if (!synced.ok()) spdlog::warn("{}", synced.ToString());
  }
  return Status::Ok();
}

// The blocks the files under `root` take (lstat: links are not followed)
// and their newest modification time. Files that vanish meanwhile (a
// checkpoint, a snapshot being replaced) are skipped.
void walk_usage(const std::string& root, uint64_t* bytes, int64_t* newest_mtime_s) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    *bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    *newest_mtime_s = std::max<int64_t>(*newest_mtime_s, st.st_mtime);
  }
}

}  // namespace

class Runtime::Impl {
 public:
  Impl(const engine::Engine& engine, RuntimeOptions options, engine::Template tmpl)
      : engine_(engine),
        options_(std::move(options)),
        template_(std::move(tmpl)),
        store_(options_.data_root),
        max_openers_(options_.threads > 1 ? options_.threads - 1 : 1),
        clock_(options_.clock != nullptr ? options_.clock : SystemClock::Get()) {}

  Status Init();
  // Before Init(); constant after.
  void SetReplica(std::unique_ptr<TenantReplica> replica) { replica_ = std::move(replica); }
  Status Submit(const std::string& id, std::optional<uint64_t> holder, Work work,
                bool beside = false, bool may_create = false);
  bool RunHeldNow(const std::string& id, uint64_t holder, Work& work);
  void Release(const std::string& id, uint64_t holder);
  bool Cancel(const std::string& id, uint64_t holder);
  Status SetTenantSettings(const std::string& id, const TenantSettings& settings);
  void SetHoldExpiredHandler(HoldExpired handler) {
    MutexLock lock(mutex_);
    hold_expired_ = std::move(handler);
  }
  Status Hibernate(const std::string& id);
  Status CreateTenant(const std::string& id);
  Status ImportTenant(const std::string& id, const std::string& archive);
  Status ExportTenant(const std::string& id, const std::string& out, bool gzip);
  Status ForkTenant(const std::string& source, const std::string& fork);
  Status CompactTenant(const std::string& id);
  Status DumpTenant(const std::string& id, const DumpOptions& options, const std::string& out,
                    const SessionHook& prepare);
  Status RestoreTenant(const std::string& id, const std::string& file, const SessionHook& prepare);
  // Runs `fn` on the tenant's session in its turn (after `prepare`), with a
  // private scratch directory, and returns what it returned.
  Status RunOnSession(const std::string& id, const SessionHook& prepare,
                      const std::function<Status(Session&, const std::string& scratch)>& fn);
  Status DeleteTenant(const std::string& id, bool force, SteadyClock::time_point deadline);
  bool TenantExists(const std::string& id) const;
  std::vector<std::string> ListTenants() const;
  Result<TenantInfo> Describe(const std::string& id) const;
  Status Warmup();
  TenantState state(const std::string& id) const;
  RuntimeStats stats() const;
  Status Shutdown(SteadyClock::time_point deadline);
  bool WaitUntilIdle(SteadyClock::time_point deadline) {
    Lock lock(mutex_);
    return WaitIdle(lock, deadline);
  }
  bool abandoned() const {
    MutexLock lock(mutex_);
    return abandoned_;
  }
  int64_t shutdown_timeout_ms() const { return options_.shutdown_timeout_ms; }

 private:
  using Lock = MutexLock;
  // The lock handed to a helper that runs with mutex_ held (the helper is
  // REQUIRES(mutex_)). The analysis cannot tell which Mutex a lock passed
  // by reference holds, so through this type, a plain std::unique_lock, a
  // helper's unlock() and lock() are invisible to it: it takes mutex_ as
  // held for the whole helper, unlocked windows included. The callers' own
  // unlocks (Lock) are checked.
  using HeldLock = std::unique_lock<std::mutex>;
  using TenantPtr = std::shared_ptr<Tenant>;

  // The item that may run next: the head, or while held the holder's first.
  // REQUIRES mutex_.
  static std::deque<WorkItem>::iterator NextItem(Tenant& t);
  static bool HasTurn(Tenant& t) { return NextItem(t) != t.queue.end() || t.hibernate_wanted; }
  TenantPtr NewTenant(const std::string& id) const {
    return std::make_shared<Tenant>(id, store_.root(id), clock_->now());
  }
  // Puts an idle tenant with something to do on the ready queue.
  void Schedule(HeldLock& lock, const TenantPtr& t) REQUIRES(mutex_);
  void Push(HeldLock& lock, const TenantPtr& t) REQUIRES(mutex_);
  void RequestHibernate(HeldLock& lock, const TenantPtr& t) REQUIRES(mutex_);

  void WorkerLoop();
  // One turn of the tenant that owns this thread: a work item (thawing
  // first if needed) or a hibernation. Unlocks around guest code.
  // `watched`: the item is demoted when long (LongWorkDemoter); not on a
  // caller's own thread (RunHeldNow).
  void RunTurn(HeldLock& lock, const TenantPtr& t, bool watched = true) REQUIRES(mutex_);
  void RunItem(HeldLock& lock, Tenant& t, std::deque<WorkItem>::iterator it, bool watched)
      REQUIRES(mutex_);
  void HibernateNow(HeldLock& lock, Tenant& t) REQUIRES(mutex_);
  // DeleteTenant's turn: `it` is its item. Unlocks around the removal.
  void DeleteNow(HeldLock& lock, Tenant& t, std::deque<WorkItem>::iterator it) REQUIRES(mutex_);
  void RunExclusiveNow(HeldLock& lock, Tenant& t, std::deque<WorkItem>::iterator it)
      REQUIRES(mutex_);
  // Runs `fn` in the tenant's turn with no live instance (a warm one is
  // hibernated first); waits for it.
  Status RunExclusive(const std::string& id, std::function<Status()> fn);
  void EndTurn(HeldLock& lock, const TenantPtr& t) REQUIRES(mutex_);
  // Pool, thaw, boot or create; no lock held (the caller owns `t`).
  // Open admits a new tenant (max_tenants) and turns an exception into an
  // error; OpenInstance does the opening.
  Result<std::unique_ptr<engine::Instance>> Open(Tenant& t, ColdKind* kind);
  // Brings a tenant this disk lacks from the store into its ROOT; false if
  // the store has none either. No lock held.
  Result<bool> PullFromStore(const Tenant& t);
  Result<std::unique_ptr<engine::Instance>> OpenInstance(const Tenant& t, ColdKind* kind);

  // Limits and fairness. REQUIRES mutex_ unless noted.
  Status CheckQueueRoom(const Tenant& t, std::optional<uint64_t> holder) const REQUIRES(mutex_);
  Status ReserveNewTenant() EXCLUDES(mutex_);
  void EndNewTenant(bool created) EXCLUDES(mutex_);
  static bool NeedsOpen(Tenant& t);
  // The first ready tenant this worker may run: one needing an open only
  // while fewer than max_openers_ workers are opening (then counted until
  // EndOpening). Null if none.
  TenantPtr TakeReady(HeldLock& lock) REQUIRES(mutex_);
  void EndOpening(HeldLock& lock, Tenant& t) REQUIRES(mutex_);

  // Exceptions. CallWork runs with no lock held; true if the work threw.
  static bool CallWork(Work& work, Result<engine::Instance*> instance, const Timings& timings,
                       const std::string& tenant);
  void DropInstance(HeldLock& lock, Tenant& t) REQUIRES(mutex_);
  // Brings a session its holder left busy back to Idle (Session::Reset);
  // an empty `why` means no holder was meant to keep it (logged).
  void ResetSession(engine::Instance& instance, const std::string& tenant, std::string_view why);

  // Bounded shutdown. Waits for AllIdle() until `deadline` (max(): forever).
  bool WaitIdle(HeldLock& lock, SteadyClock::time_point deadline) REQUIRES(mutex_);
  // Gives up on what is still running: see RuntimeOptions::shutdown_timeout_ms.
  Status Abandon(HeldLock& lock, const std::string& phase, SteadyClock::time_point started)
      REQUIRES(mutex_);

  void MaintenanceLoop();
  Clock::time_point EvictPass(HeldLock& lock, Clock::time_point now) REQUIRES(mutex_);
  // Ends holds idle past idle_in_transaction_timeout_ms (rolling their
  // transactions back) and returns when the next one would expire.
  Clock::time_point ExpireIdleHolds(HeldLock& lock, Clock::time_point now) REQUIRES(mutex_);
  bool OverBudget() const REQUIRES(mutex_) {
    return warm_memory_bytes_ > options_.memory_budget_bytes;
  }
  // Memory budget: what a warm instance is charged (measured unless
  // tenant_memory_bytes fixes it; no lock: the caller owns the tenant), and
  // recording that charge (REQUIRES mutex_; 0 when the instance goes).
  uint64_t MeasureMemory(engine::Instance* instance) const;
  void ChargeMemory(Tenant& t, uint64_t bytes) REQUIRES(mutex_);
  bool AllIdle() const REQUIRES(mutex_);

  // Constant after construction.
  const engine::Engine& engine_;
  const RuntimeOptions options_;
  const engine::Template template_;
  const engine::TenantStore store_;     // the layout of data_root
  const unsigned max_openers_;          // workers that may open instances at once
  const std::shared_ptr<Clock> clock_;  // what timeouts and LRU go by (clock.h)
  std::unique_ptr<WarmPool> pool_;      // null when warm_pool_size == 0
  // Null without RuntimeOptions::store. Set before Init(), then constant.
  std::unique_ptr<TenantReplica> replica_;

  Mutex shutdown_mutex_ ACQUIRED_BEFORE(mutex_);
  bool shut_down_ GUARDED_BY(shutdown_mutex_) = false;
  Status shutdown_status_ GUARDED_BY(shutdown_mutex_);

  // Also guards every Tenant field (tenant.h), which the analysis cannot
  // be told: a Tenant does not know the runtime that owns it.
  mutable Mutex mutex_;
  std::condition_variable work_cv_;         // ready_ or stop_workers_ changed
  std::condition_variable changed_cv_;      // a turn ended (Hibernate, Shutdown wait)
  std::condition_variable maintenance_cv_;  // budget pressure or stop
  std::map<std::string, TenantPtr> tenants_ GUARDED_BY(mutex_);  // not cold-and-idle
  std::deque<TenantPtr> ready_ GUARDED_BY(mutex_);  // busy tenants waiting for a worker
  bool accepting_ GUARDED_BY(mutex_) = true;
  bool stop_workers_ GUARDED_BY(mutex_) = false;
  bool stop_maintenance_ GUARDED_BY(mutex_) = false;
  uint64_t warm_count_ GUARDED_BY(mutex_) = 0;         // tenants holding an instance
  uint64_t hibernated_count_ GUARDED_BY(mutex_) = 0;   // tenant dirs with snapshot/meta.json
  uint64_t warm_memory_bytes_ GUARDED_BY(mutex_) = 0;  // sum of warm tenants' memory_bytes
  uint64_t created_ GUARDED_BY(mutex_) = 0;
  uint64_t thawed_ GUARDED_BY(mutex_) = 0;
  uint64_t booted_ GUARDED_BY(mutex_) = 0;
  uint64_t pooled_ GUARDED_BY(mutex_) = 0;
  uint64_t hibernations_ GUARDED_BY(mutex_) = 0;
  HoldExpired hold_expired_ GUARDED_BY(mutex_);
  // Holds ExpireIdleHolds ended, told to hold_expired_ outside the lock.
  std::vector<std::pair<std::string, uint64_t>> expired_ GUARDED_BY(mutex_);
  uint64_t tenant_count_ GUARDED_BY(mutex_) = 0;      // tenant directories
  uint64_t tenants_reserved_ GUARDED_BY(mutex_) = 0;  // new tenants being created now
  uint64_t tenants_created_ GUARDED_BY(mutex_) = 0;
  unsigned opening_ GUARDED_BY(mutex_) = 0;  // tenants with opening_counted
  uint64_t trash_seq_ GUARDED_BY(mutex_) =
      0;  // numbers the staging paths and layer roots of store_
  // When each tenant's last work item in this process ended (Describe).
  std::map<std::string, int64_t> last_used_unix_s_ GUARDED_BY(mutex_);
  bool abandoned_ GUARDED_BY(mutex_) = false;  // Shutdown ran out of time (see Abandon)

  // Demotes long work items (cpu_priority.h); outlives the workers.
  LongWorkDemoter demoter_;
  WorkerThreads workers_{[this] { WorkerLoop(); }};
  std::thread maintenance_thread_;

  // Background flattening of deep layer stacks (CompactTenant), one tenant
  // at a time; ids queued under mutex_.
  void CompactLoop();
  void StopCompactor();
  std::deque<std::string> compact_queue_ GUARDED_BY(mutex_);
  Mutex compact_mutex_ ACQUIRED_BEFORE(mutex_);  // held for a whole CompactTenant
  std::condition_variable compact_cv_;
  std::atomic<bool> stop_compactor_{false};
  std::thread compactor_thread_;
};

// ---- Setup -----------------------------------------------------------------

Status Runtime::Impl::Init() {
  std::error_code ec;
  fs::create_directories(store_.tenants_dir(), ec);
  if (ec) return Status::FromErrno("mkdir " + store_.tenants_dir(), ec.value());
  {
    // No other thread runs yet; taken so that the analysis sees the counts
    // written under their mutex, as everywhere else.
    MutexLock lock(mutex_);
    for (const fs::directory_entry& e : fs::directory_iterator(store_.tenants_dir(), ec)) {
      std::error_code type_ec;
      if (e.is_directory(type_ec)) ++tenant_count_;
      if (engine::TenantStore::hibernated(e.path().string())) ++hibernated_count_;
    }
  }
  if (ec) return Status::FromErrno("list " + store_.tenants_dir(), ec.value());
  // Deleted tenants' trees a crash left: those tenants are gone already.
  fs::remove_all(store_.trash_dir(), ec);
  if (ec) spdlog::warn("removing {}: {}", store_.trash_dir(), ec.message());
  if (options_.warm_pool_size > 0) {
    pool_ = std::make_unique<WarmPool>(template_, store_, options_.warm_pool_size,
                                       engine_.options().durable);
    PGTHAW_RETURN_IF_ERROR(pool_->Reset());
    pool_->Start();
  }
  workers_.Start(options_.threads);
  maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
  compactor_thread_ = std::thread([this] { CompactLoop(); });
  return Status::Ok();
}

void Runtime::Impl::CompactLoop() {
  Lock lock(mutex_);
  for (;;) {
    compact_cv_.wait(
        lock, [&]() REQUIRES(mutex_) { return stop_compactor_.load() || !compact_queue_.empty(); });
    if (stop_compactor_.load()) return;
    const std::string id = std::move(compact_queue_.front());
    compact_queue_.pop_front();
    lock.unlock();
    Status st = CompactTenant(id);
    std::error_code ec;
    if (!st.ok() && !store_.exists(id)) {
      // Deleted meanwhile: its layers went with it, and nothing is lost.
      spdlog::debug("tenant {}: deleted while its layers were flattened", id);
    } else if (!st.ok()) {
      spdlog::warn("tenant {}: flattening its layers: {}", id, st.ToString());
    }
    lock.lock();
  }
}

void Runtime::Impl::StopCompactor() {
  {
    MutexLock lock(mutex_);
    stop_compactor_ = true;
  }
  compact_cv_.notify_all();
  if (compactor_thread_.joinable()) compactor_thread_.join();
}

Status Runtime::Impl::CompactTenant(const std::string& id) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  // One flattening at a time: two of one tenant's stack (the background's and
  // a fork's at the bound) would each release the layers the other reads.
  MutexLock flattening(compact_mutex_);
  const std::string root = store_.root(id);
  const std::vector<std::string> layers = engine::tenant_layers(root);
  std::string layer_root;
  {
    MutexLock lock(mutex_);
    layer_root = store_.flat_layer_root(id, ++trash_seq_);
  }
  const bool durable = engine_.options().durable;
  // The copy reads frozen layers only: the tenant goes on meanwhile.
  auto flat = engine::flatten_layers(layers, layer_root, id, stop_compactor_, durable);
  if (!flat.ok()) {
    return flat.status().code() == StatusCode::kInvalidArgument ? Status::Ok() : flat.status();
  }
  bool adopted = false;
  Status st = RunExclusive(id, [&] {
    auto r = engine::adopt_flattened(root, id, layers, *flat, store_.trash_dir(), durable);
    adopted = r.ok() && *r;
    return r.status();
  });
  const std::vector<std::string> now = engine::tenant_layers(root);
  if (std::find(now.begin(), now.end(), flat->back()) == now.end()) {
    std::error_code ec;
    fs::remove_all(layer_root, ec);  // not adopted: the stack changed, or the tenant went
  }
  if (st.ok() && adopted) {
    spdlog::info("tenant {}: {} layers flattened into one", id, layers.size() - 1);
  }
  return st;
}

// ---- Submitting --------------------------------------------------------------

Status Runtime::Impl::Submit(const std::string& id, std::optional<uint64_t> holder, Work work,
                             bool beside, bool may_create) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  if (!work) return Status::InvalidArgument("empty work item for tenant " + id);
  // A stat, outside the lock. A deletion between it and the lock is caught
  // when the item opens the tenant (RunItem).
  std::error_code ec;
  bool may_open = options_.create_on_first_use || may_create || store_.exists(id);
  if (!may_open && replica_ != nullptr) {
    // Not here: a tenant hibernated into the store opens here (one request
    // to the store, made before the lock is taken).
    auto there = replica_->HasTenant(id);
    if (!there.ok()) return there.status();
    may_open = *there;
  }
  Lock lock(mutex_);
  if (!accepting_) return Status::Unavailable("runtime is shutting down");
  if (!may_open && tenants_.find(id) == tenants_.end()) return no_such_database(id);
  TenantPtr& t = tenants_[id];
  if (t == nullptr) t = NewTenant(id);
  // Being deleted: only the holder may go on, to end its transaction.
  if (t->deleting &&
      !(holder && (t->holder == holder || (t->running && t->running_holder == holder)))) {
    return no_such_database(id);
  }
  if (holder && t->expired_holders.count(*holder) != 0) {
    return Status::Aborted("terminating connection due to idle-in-transaction timeout");
  }
  PGTHAW_RETURN_IF_ERROR(CheckQueueRoom(*t, holder));
  WorkItem item{std::move(work), holder, SteadyClock::now(), beside};
  item.may_create = may_create;
  t->queue.push_back(std::move(item));
  // A cold tenant goes to the front of the ready queue: its thaw starts as
  // soon as any worker is free (eager start).
  Schedule(lock, t);
  return Status::Ok();
}

bool Runtime::Impl::RunHeldNow(const std::string& id, uint64_t holder, Work& work) {
  if (!work) return false;
  Lock lock(mutex_);
  if (!accepting_ || abandoned_) return false;
  auto found = tenants_.find(id);
  if (found == tenants_.end()) return false;
  TenantPtr t = found->second;
  // What Submit and a worker's turn would decide otherwise (a thaw, a
  // queue, another holder, a deletion, an expired hold) stays theirs.
  if (t->busy || !t->queue.empty() || t->hibernate_wanted || t->deleting ||
      t->state != TenantState::kWarm || t->instance == nullptr || !t->instance->alive() ||
      (t->holder && *t->holder != holder) || t->expired_holders.count(holder) != 0) {
    return false;
  }
  t->busy = true;  // this thread's turn: Schedule leaves the tenant alone
  t->queue.push_back(WorkItem{std::move(work), holder, SteadyClock::now()});
  RunTurn(lock, t, /*watched=*/false);
  return true;
}

void Runtime::Impl::Release(const std::string& id, uint64_t holder) {
  Lock lock(mutex_);
  auto found = tenants_.find(id);
  if (found == tenants_.end()) return;
  TenantPtr t = found->second;
  t->expired_holders.erase(holder);  // the holder is gone for good
  if (t->running && t->running_holder == holder) {
    t->holder_left = true;  // RunItem resets the session after that item
    return;
  }
  if (t->holder != holder) return;
  t->holder.reset();
  // Its transaction or exchange ends before anyone else's item runs.
  std::string tenant = t->id;
  t->queue.push_front(WorkItem{[this, tenant](Result<Session*> session, const Timings&) {
                                 if (session.ok()) {
                                   ResetSession((*session)->instance(), tenant,
                                                "client disconnected");
                                 }
                               },
                               std::nullopt, SteadyClock::now()});
  Schedule(lock, t);
}

bool Runtime::Impl::Cancel(const std::string& id, uint64_t holder) {
  Lock lock(mutex_);
  auto found = tenants_.find(id);
  if (found == tenants_.end()) return false;
  Tenant& t = *found->second;
  // The instance outlives the item: it is replaced or dropped only by the
  // owning thread, under mutex_, after the item ended.
  if (!t.running || t.running_holder != holder || t.instance == nullptr) return false;
  t.instance->Interrupt();
  return true;
}

Status Runtime::Impl::SetTenantSettings(const std::string& id, const TenantSettings& settings) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  const std::string root = store_.root(id);
  std::error_code ec;
  if (!engine::TenantStore::has_data_dir(root)) return Status::NotFound("no tenant " + id);
  PGTHAW_RETURN_IF_ERROR(write_tenant_settings(root, settings));
  Lock lock(mutex_);
  auto found = tenants_.find(id);
  // Warm: from its next work item on; cold: read at its next open.
  if (found != tenants_.end() && found->second->instance != nullptr) {
    found->second->statement_timeout_ms =
        settings.statement_timeout_ms.value_or(options_.statement_timeout_ms);
  }
  return Status::Ok();
}

std::deque<WorkItem>::iterator Runtime::Impl::NextItem(Tenant& t) {
  if (!t.holder) return t.queue.begin();
  auto own = std::find_if(t.queue.begin(), t.queue.end(),
                          [&](const WorkItem& item) { return item.holder == t.holder; });
  if (own != t.queue.end()) return own;
  // Between the holder's items, at ReadyForQuery: an item that leaves the
  // session as it finds it may run (SubmitBeside).
  if (t.instance == nullptr || !t.instance->alive() || !t.instance->AtReady()) return own;
  return std::find_if(t.queue.begin(), t.queue.end(),
                      [&](const WorkItem& item) { return item.beside; });
}

void Runtime::Impl::Schedule(HeldLock& lock, const TenantPtr& t) {
  if (t->busy || !HasTurn(*t)) return;
  t->busy = true;
  Push(lock, t);
}

void Runtime::Impl::Push(HeldLock& /*lock*/, const TenantPtr& t) {
  if (t->instance == nullptr && NextItem(*t) != t->queue.end()) {
    ready_.push_front(t);
  } else {
    ready_.push_back(t);
  }
  work_cv_.notify_one();
}

void Runtime::Impl::RequestHibernate(HeldLock& lock, const TenantPtr& t) {
  t->hibernate_wanted = true;
  Schedule(lock, t);
}

// ---- Workers -------------------------------------------------------------------

void Runtime::Impl::WorkerLoop() {
  Lock lock(mutex_);
  for (;;) {
    if (abandoned_) return;  // the shutdown gave up; nothing more runs
    TenantPtr t = TakeReady(lock);
    if (t == nullptr) {
      if (stop_workers_ && ready_.empty()) return;  // stopping, and nothing left to run
      work_cv_.wait(lock);
      continue;
    }
    RunTurn(lock, t);
    EndOpening(lock, *t);  // normally done by Open() already
    // A long item left this thread demoted (no privilege to restore it,
    // cpu_priority.h): a fresh worker at normal priority takes its place.
    if (LongWorkDemoter::ThisThreadStaysDemoted() && workers_.ReplaceCurrent()) return;
  }
}

void Runtime::Impl::RunTurn(HeldLock& lock, const TenantPtr& t, bool watched) {
  auto it = NextItem(*t);
  if (it != t->queue.end() && it->deletion != nullptr) {
    DeleteNow(lock, *t, it);
  } else if (it != t->queue.end() && it->exclusive != nullptr) {
    RunExclusiveNow(lock, *t, it);
  } else if (it != t->queue.end()) {
    // Work came in after a hibernation was asked for: the work wins.
    t->hibernate_wanted = false;
    RunItem(lock, *t, it, watched);
  } else if (t->hibernate_wanted) {
    if (t->instance != nullptr && !t->holder && t->queue.empty()) HibernateNow(lock, *t);
    // Cleared only now: Hibernate() waits for this flag, then reads state.
    t->hibernate_wanted = false;
  }
  EndTurn(lock, t);
}

void Runtime::Impl::RunItem(HeldLock& lock, Tenant& t, std::deque<WorkItem>::iterator it,
                            bool watched) {
  WorkItem item = std::move(*it);
  t.queue.erase(it);
  SteadyClock::time_point start = SteadyClock::now();
  Timings timings;
  timings.queue_us = micros(start - item.submitted);
  Result<engine::Instance*> instance = Status::Internal("no instance");
  if (t.instance != nullptr && !t.instance->alive()) {
    // Killed by a trap in an earlier item: drop it (nothing to save) and
    // start again from the files, which hold every committed transaction.
    spdlog::warn("tenant {}: instance died; booting it again from its files", t.id);
    std::unique_ptr<engine::Instance> dead = std::move(t.instance);
    t.holder.reset();
    t.state = TenantState::kCold;
    --warm_count_;
    ChargeMemory(t, 0);
    lock.unlock();
    dead.reset();
    lock.lock();
  }
  if (t.instance == nullptr) {
    t.state = TenantState::kThawing;
    lock.unlock();
    bool had_snapshot = engine::TenantStore::hibernated(t.root);
    ColdKind kind = ColdKind::kWarm;
    std::error_code ec;
    // Not on this disk: the store may have it (hibernated by another node,
    // or by this one before its disk was lost).
    Status pulled = options_.may_open_tenant ? options_.may_open_tenant(t.id) : Status::Ok();
    if (pulled.ok() && replica_ != nullptr && !fs::exists(t.root, ec) && !ec) {
      pulled = PullFromStore(t).status();
    }
    // Deleted after this item was queued, and nothing may create it again.
    const bool gone = !options_.create_on_first_use && !item.may_create && !fs::exists(t.root, ec);
    // The operator's settings for this tenant; a broken file fails the open.
    Result<TenantSettings> settings = !pulled.ok() ? Result<TenantSettings>(pulled)
                                      : gone       ? Result<TenantSettings>(no_such_database(t.id))
                                                   : read_tenant_settings(t.root);
    Result<std::unique_ptr<engine::Instance>> opened =
        settings.ok() ? Open(t, &kind)
                      : Result<std::unique_ptr<engine::Instance>>(settings.status());
    uint64_t memory = opened.ok() ? MeasureMemory(opened->get()) : 0;
    bool snapshot_left = engine::TenantStore::hibernated(t.root);
    SteadyClock::time_point opened_at = SteadyClock::now();
    lock.lock();
    if (had_snapshot && !snapshot_left) --hibernated_count_;
    timings.cold = true;
    timings.thaw_us = micros(opened_at - start);
    if (opened.ok()) {
      t.instance = std::move(opened).value();
      t.statement_timeout_ms =
          settings->statement_timeout_ms.value_or(options_.statement_timeout_ms);
      t.state = TenantState::kWarm;
      ++warm_count_;
      ChargeMemory(t, memory);
      timings.cold_kind = kind;
      switch (kind) {
        case ColdKind::kPool:
          ++pooled_;
          break;
        case ColdKind::kCreated:
          ++created_;
          break;
        case ColdKind::kThawed:
          ++thawed_;
          break;
        case ColdKind::kBooted:
          ++booted_;
          break;
        case ColdKind::kWarm:
          break;
      }
      if (OverBudget()) maintenance_cv_.notify_one();
    } else if (gone) {
      t.state = TenantState::kCold;
      instance = opened.status();
    } else {
      t.state = TenantState::kCold;
      instance = opened.status().Annotate("tenant " + t.id + ": ");
      spdlog::warn("{}", instance.status().ToString());
    }
  }
  engine::Instance* live = t.instance.get();
  if (t.instance != nullptr) {
    instance = t.instance.get();
    t.instance->set_statement_timeout_ms(t.statement_timeout_ms);
  }
  // Beside another holder's hold: the hold stays as it is, whatever the item.
  const bool beside_hold = item.beside && t.holder && t.holder != item.holder;
  t.running = true;
  t.running_holder = item.holder;
  t.holder_left = false;
  lock.unlock();
  std::optional<LongWorkDemoter::Scope> long_item;
  if (watched) long_item.emplace(demoter_.Watch());  // cpu_priority.h
  bool threw = CallWork(item.work, std::move(instance), timings, t.id);
  if (long_item) long_item->End();  // back to normal priority before taking mutex_ again
  item.work = nullptr;              // the work's captures die outside the lock
  // The reply is out: what is left of the snapshot it thawed from goes now.
  if (timings.cold_kind == ColdKind::kThawed) engine::finish_thaw(t.root);
  // Holds. The session's state after the item decides: inside a
  // transaction block or an exchange it stays with the item's holder (not
  // while shutting down, which has dropped every hold for good); else it
  // is free. With no holder to keep it for, it is reset now.
  bool idle = true;
  if (!threw && live != nullptr && live->alive()) idle = live->AtReady() && !live->InTransaction();
  lock.lock();
  const bool keep = !idle && item.holder && accepting_ && !t.holder_left &&
                    t.expired_holders.count(*item.holder) == 0 && !t.delete_forced;
  lock.unlock();
  if (beside_hold) {
    if (live != nullptr && live->alive() && !live->AtReady()) {
      spdlog::error("tenant {}: an item beside a hold left the session inside an exchange", t.id);
    }
  } else if (!idle && !keep) {
    ResetSession(*live, t.id, item.holder ? "client disconnected" : "");
  }
  uint64_t memory = live != nullptr ? MeasureMemory(live) : 0;
  lock.lock();
  t.running = false;
  t.running_holder.reset();
  if (beside_hold) {
    // The holder's hold goes on.
  } else if (keep) {
    t.holder = item.holder;
  } else if (item.holder && t.holder == item.holder) {
    t.holder.reset();
  }
  if (threw) DropInstance(lock, t);
  if (live != nullptr && t.instance.get() == live) ChargeMemory(t, memory);
  t.last_used = clock_->now();
  if (live != nullptr) last_used_unix_s_[t.id] = now_unix_s();
}

void Runtime::Impl::ResetSession(engine::Instance& instance, const std::string& tenant,
                                 std::string_view why) {
  if (why.empty()) {
    // Server code keeps the shared session's invariant itself; this is the
    // last guard, so say that it was needed.
    spdlog::warn("tenant {}: a work item left the session inside a transaction or an exchange",
                 tenant);
    why = "work item ended inside a transaction";
  }
  Status st = Session(instance).Reset(why);
  if (!st.ok()) spdlog::warn("tenant {}: resetting the session: {}", tenant, st.ToString());
}

void Runtime::Impl::HibernateNow(HeldLock& lock, Tenant& t) {
  t.state = TenantState::kHibernating;
  std::unique_ptr<engine::Instance> instance = std::move(t.instance);
  lock.unlock();
  Status st;
  try {
    st = engine::hibernate_tenant(std::move(instance), t.root);
  } catch (const std::exception& e) {
    st = Status::Internal(std::string("hibernation threw: ") + e.what());
  } catch (...) {
    st = Status::Internal("hibernation threw");
  }
  bool snapshot = engine::TenantStore::hibernated(t.root);
  if (st.ok() && snapshot && replica_ != nullptr) {
    // The store is updated at each hibernation: the tenant is complete
    // there, for any node to thaw. A failed push keeps the tenant here
    // (whole on this disk) and says so; the next hibernation pushes again.
    if (Status pushed = replica_->PushTenant(t.id); !pushed.ok()) {
      spdlog::warn("tenant {}: not pushed to the store: {}", t.id, pushed.ToString());
    }
  }
  lock.lock();
  t.state = TenantState::kCold;
  t.last_hibernate = st;
  --warm_count_;
  ChargeMemory(t, 0);
  ++hibernations_;
  if (snapshot) ++hibernated_count_;
  if (!st.ok()) spdlog::warn("tenant {}: hibernation: {}", t.id, st.ToString());
}

void Runtime::Impl::DeleteNow(HeldLock& lock, Tenant& t, std::deque<WorkItem>::iterator it) {
  std::shared_ptr<DeleteRequest> request = std::move(it->deletion);
  t.queue.erase(it);
  t.hibernate_wanted = false;
  // No hibernation: the files go next. The holder's transaction (force)
  // goes with the instance.
  DropInstance(lock, t);
  // What was queued behind the deletion hears that the tenant is gone.
  std::deque<WorkItem> left;
  left.swap(t.queue);
  t.holder.reset();
  t.expired_holders.clear();
  const std::string trash =
      store_.staging_path(engine::TenantStore::Staging::kDeleted, t.id, ++trash_seq_);
  lock.unlock();
  std::error_code ec;
  const bool had_dir = fs::exists(t.root, ec);
  const bool had_snapshot = engine::TenantStore::hibernated(t.root);
  const std::vector<std::string> layers = engine::tenant_layers(t.root);
  // From the store first: a tenant gone here but left there would come back
  // at its next use, here or on another node.
  Status st = replica_ != nullptr ? replica_->ForgetTenant(t.id) : Status::Ok();
  if (st.ok() && had_dir) st = remove_tenant_dir(t.root, trash, engine_.options().durable);
  // Its layers go after it (engine::release_layers).
  if (st.ok() && had_dir) st = engine::release_layers(layers, t.id, store_.trash_dir());
  const bool gone = !fs::exists(t.root, ec);
  for (WorkItem& item : left) {
    if (item.work) CallWork(item.work, no_such_database(t.id), Timings{}, t.id);
  }
  left.clear();  // the work's captures die outside the lock
  lock.lock();
  if (had_dir && gone) {
    if (tenant_count_ > 0) --tenant_count_;
    if (had_snapshot && hibernated_count_ > 0) --hibernated_count_;
  }
  last_used_unix_s_.erase(t.id);
  t.deleting = false;
  t.delete_forced = false;
  request->result = st;
  request->done = true;
  if (st.ok()) {
    spdlog::info("tenant {}: deleted", t.id);
  } else {
    spdlog::warn("tenant {}: deleting: {}", t.id, st.ToString());
  }
}

void Runtime::Impl::RunExclusiveNow(HeldLock& lock, Tenant& t, std::deque<WorkItem>::iterator it) {
  std::shared_ptr<ExclusiveRequest> request = std::move(it->exclusive);
  t.queue.erase(it);
  if (t.instance != nullptr) HibernateNow(lock, t);
  lock.unlock();
  Status st;
  try {
    st = request->run();
  } catch (const std::exception& e) {
    st = Status::Internal(std::string("threw: ") + e.what());
  }
  lock.lock();
  request->result = st;
  request->done = true;
  changed_cv_.notify_all();
}

Status Runtime::Impl::RunExclusive(const std::string& id, std::function<Status()> fn) {
  Lock lock(mutex_);
  if (!accepting_) return Status::Unavailable("runtime is shutting down");
  TenantPtr& slot = tenants_[id];
  if (slot == nullptr) slot = NewTenant(id);
  TenantPtr t = slot;
  if (t->deleting) return Status::NotFound("tenant " + id + " is being deleted");
  auto request = std::make_shared<ExclusiveRequest>();
  request->run = std::move(fn);
  WorkItem item{nullptr, std::nullopt, SteadyClock::now()};
  item.exclusive = request;
  t->queue.push_back(std::move(item));  // after what is queued; a holder's items pass it
  Schedule(lock, t);
  changed_cv_.wait(lock, [&] { return request->done; });
  return request->result;
}

Status Runtime::Impl::ForkTenant(const std::string& source, const std::string& fork) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(source));
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(fork));
  std::error_code ec;
  if (!store_.exists(source)) return no_such_database(source);
  const std::string root = store_.root(fork);
  if (fs::exists(root, ec)) return Status::AlreadyExists("tenant " + fork + " exists");
  engine::ForkPlan plan;
  plan.source_root = store_.root(source);
  plan.source_id = source;
  plan.fork_id = fork;
  {
    MutexLock lock(mutex_);
    const uint64_t seq = ++trash_seq_;
    plan.staging_root = store_.staging_path(engine::TenantStore::Staging::kFork, fork, seq);
    plan.layer_root = store_.fork_layer_root(source, seq);
  }
  PGTHAW_RETURN_IF_ERROR(store_.MakeStagingDirs());
  const bool durable = engine_.options().durable;
  // A stack at its bound is flattened first (slow, but the fork succeeds).
  if (engine::tenant_layers(plan.source_root).size() + 1 > engine::kMaxLowerLayers) {
    PGTHAW_RETURN_IF_ERROR(CompactTenant(source));
  }
  PGTHAW_RETURN_IF_ERROR(RunExclusive(source, [&] { return engine::fork_tenant(plan, durable); }));
  // The staged fork appears whole or not at all.
  if (env().Rename(plan.staging_root.c_str(), root.c_str()) != 0) {
    const int err = errno;
    fs::remove_all(plan.staging_root, ec);
    if (err == EEXIST || err == ENOTEMPTY)
      return Status::AlreadyExists("tenant " + fork + " exists");
    return Status::FromErrno("rename " + plan.staging_root + " to " + root, err);
  }
  if (durable) PGTHAW_RETURN_IF_ERROR(fsync_dir(store_.tenants_dir()));
  {
    MutexLock lock(mutex_);
    ++tenant_count_;
  }
  spdlog::info("tenant {}: forked from {}", fork, source);
  // Deep stacks are flattened in the background.
  {
    MutexLock lock(mutex_);
    for (const std::string& id : {source, fork}) {
      if (engine::tenant_layers(store_.root(id)).size() > engine::kCompactAbove) {
        compact_queue_.push_back(id);
      }
    }
  }
  compact_cv_.notify_one();
  return Status::Ok();
}

void Runtime::Impl::EndTurn(HeldLock& lock, const TenantPtr& t) {
  if (HasTurn(*t)) {
    Push(lock, t);  // still busy: back of the line (front if cold)
  } else {
    t->busy = false;
    if (t->state == TenantState::kCold && t->queue.empty() && !t->holder) {
      // Cold and idle: nothing in memory to remember it by.
      auto found = tenants_.find(t->id);
      if (found != tenants_.end() && found->second == t) tenants_.erase(found);
    }
  }
  if (OverBudget()) maintenance_cv_.notify_one();
  // A hold now idle: the maintenance thread times it (ExpireIdleHolds).
  if (t->holder && !t->busy && options_.idle_in_transaction_timeout_ms > 0) {
    maintenance_cv_.notify_one();
  }
  changed_cv_.notify_all();
}

uint64_t Runtime::Impl::MeasureMemory(engine::Instance* instance) const {
  if (options_.tenant_memory_bytes != 0) return options_.tenant_memory_bytes;
  return instance->PrivateMemoryBytes();
}

void Runtime::Impl::ChargeMemory(Tenant& t, uint64_t bytes) {
  warm_memory_bytes_ = warm_memory_bytes_ - t.memory_bytes + bytes;
  t.memory_bytes = bytes;
}

Result<std::unique_ptr<engine::Instance>> Runtime::Impl::OpenInstance(const Tenant& t,
                                                                      ColdKind* kind) {
  std::error_code ec;
  if (pool_ != nullptr && !fs::exists(t.root, ec) && !ec) {
    // A tenant with no directory at all: a pool slot becomes its directory.
    auto taken = pool_->TakeInto(t.root);
    if (taken.ok()) {
      *kind = ColdKind::kPool;
      return taken;
    }
    if (taken.status().code() != StatusCode::kNotFound) {
      spdlog::warn("tenant {}: warm pool not used: {}", t.id, taken.status().ToString());
    }
  }
  engine::OpenReport report;
  auto opened = engine::open_tenant(engine_, template_, t.root, &report);
  switch (report.kind) {
    case engine::OpenReport::kCreated:
      *kind = ColdKind::kCreated;
      break;
    case engine::OpenReport::kThawed:
      *kind = ColdKind::kThawed;
      break;
    case engine::OpenReport::kBooted:
      *kind = ColdKind::kBooted;
      break;
  }
  return opened;
}

Result<bool> Runtime::Impl::PullFromStore(const Tenant& t) {
  std::string staging;
  {
    MutexLock lock(mutex_);
    staging = store_.staging_path(engine::TenantStore::Staging::kPull, t.id, ++trash_seq_);
  }
  PGTHAW_RETURN_IF_ERROR(store_.MakeStagingDirs());
  // A tenant new to this disk: it counts against max_tenants.
  PGTHAW_RETURN_IF_ERROR(ReserveNewTenant());
  const auto start = SteadyClock::now();
  auto pulled = replica_->PullTenant(t.id, staging);
  std::error_code ec;
  if (!pulled.ok() || !*pulled) {
    EndNewTenant(false);
    fs::remove_all(staging, ec);
    if (!pulled.ok()) {
      return pulled.status().Annotate("tenant " + t.id + ": pulling it from the store: ");
    }
    return false;
  }
  if (env().Rename(staging.c_str(), t.root.c_str()) != 0) {
    const int err = errno;
    EndNewTenant(false);
    fs::remove_all(staging, ec);
    return Status::FromErrno("rename " + staging + " to " + t.root, err);
  }
  EndNewTenant(true);
  if (engine_.options().durable) PGTHAW_RETURN_IF_ERROR(fsync_dir(store_.tenants_dir()));
  spdlog::info(
      "tenant {}: pulled from the store in {} ms", t.id,
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count());
  return true;
}

Result<std::unique_ptr<engine::Instance>> Runtime::Impl::Open(Tenant& t, ColdKind* kind) {
  std::error_code ec;
  const bool is_new = !fs::exists(t.root, ec) && !ec;
  if (is_new) PGTHAW_RETURN_IF_ERROR(ReserveNewTenant());
  Result<std::unique_ptr<engine::Instance>> opened = Status::Internal("not opened");
  try {
    opened = OpenInstance(t, kind);
  } catch (const std::exception& e) {
    opened = Status::Internal(std::string("opening threw: ") + e.what());
  } catch (...) {
    opened = Status::Internal("opening threw");
  }
  if (is_new) EndNewTenant(opened.ok() && fs::exists(t.root, ec));
  Lock lock(mutex_);
  EndOpening(lock, t);
  return opened;
}

// ---- Limits and fairness -----------------------------------------------------------

Status Runtime::Impl::CheckQueueRoom(const Tenant& t, std::optional<uint64_t> holder) const {
  const uint64_t limit = options_.max_queued_per_tenant;
  if (limit == 0 || t.queue.size() < limit) return Status::Ok();
  // The holder's items pass the queue anyway, and its COMMIT or rollback
  // must never be refused: that would keep every other item waiting. (Its
  // running item may be about to take the hold.)
  if (holder && (t.holder == holder || (t.running && t.running_holder == holder))) {
    return Status::Ok();
  }
  return QueueFullError(t.id, limit);
}

Status Runtime::Impl::ReserveNewTenant() {
  MutexLock lock(mutex_);
  const uint64_t limit = options_.max_tenants;
  if (limit > 0 && tenant_count_ + tenants_reserved_ >= limit) return TooManyTenantsError(limit);
  ++tenants_reserved_;
  return Status::Ok();
}

void Runtime::Impl::EndNewTenant(bool created) {
  MutexLock lock(mutex_);
  --tenants_reserved_;
  if (created) {
    ++tenant_count_;
    ++tenants_created_;
  }
}

bool Runtime::Impl::NeedsOpen(Tenant& t) {
  return (t.instance == nullptr || !t.instance->alive()) && NextItem(t) != t.queue.end();
}

Runtime::Impl::TenantPtr Runtime::Impl::TakeReady(HeldLock& /*lock*/) {
  for (auto it = ready_.begin(); it != ready_.end(); ++it) {
    const bool needs_open = NeedsOpen(**it);
    if (needs_open && opening_ >= max_openers_) continue;  // keep a worker for warm tenants
    TenantPtr t = std::move(*it);
    ready_.erase(it);
    if (needs_open) {
      t->opening_counted = true;
      ++opening_;
    }
    return t;
  }
  return nullptr;
}

void Runtime::Impl::EndOpening(HeldLock& /*lock*/, Tenant& t) {
  if (!t.opening_counted) return;
  t.opening_counted = false;
  --opening_;
  work_cv_.notify_all();  // a cold tenant skipped for the cap may run now
}

// ---- Exceptions ----------------------------------------------------------------------

bool Runtime::Impl::CallWork(Work& work, Result<engine::Instance*> instance, const Timings& timings,
                             const std::string& tenant) {
  std::string what;
  try {
    if (!instance.ok()) {
      work(instance.status(), timings);
    } else {
      Session session(**instance);
      work(&session, timings);
    }
    return false;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  // The exception may have unwound through guest code: the instance is
  // dropped (DropInstance) and the caller hears of it through its own work.
  spdlog::error("tenant {}: a work item threw ({}); its instance is dropped", tenant, what);
  try {
    work(Status::Internal("tenant " + tenant + ": the request failed: " + what), timings);
  } catch (...) {
    spdlog::error("tenant {}: the work item threw again on its error", tenant);
  }
  return true;
}

void Runtime::Impl::DropInstance(HeldLock& lock, Tenant& t) {
  if (t.instance == nullptr) return;
  std::unique_ptr<engine::Instance> dropped = std::move(t.instance);
  t.holder.reset();  // its transaction is gone with the instance
  t.state = TenantState::kCold;
  --warm_count_;
  ChargeMemory(t, 0);
  lock.unlock();
  // No checkpoint: the files hold every committed transaction (as after a crash).
  dropped->Abandon();
  dropped.reset();
  lock.lock();
}

// ---- Eviction ------------------------------------------------------------------

void Runtime::Impl::MaintenanceLoop() {
  Lock lock(mutex_);
  while (!stop_maintenance_) {
    Clock::time_point now = clock_->now();
    Clock::time_point next = std::min(EvictPass(lock, now), ExpireIdleHolds(lock, now));
    if (!expired_.empty()) {
      std::vector<std::pair<std::string, uint64_t>> expired;
      expired.swap(expired_);
      HoldExpired tell = hold_expired_;
      lock.unlock();
      if (tell) {
        for (const auto& [tenant, holder] : expired) tell(tenant, holder);
      }
      lock.lock();
      continue;
    }
    // A ManualClock wakes this wait when it is advanced past `next`.
    clock_->WaitUntil(lock, maintenance_cv_, next);
  }
}

Clock::time_point Runtime::Impl::EvictPass(HeldLock& lock, Clock::time_point now) {
  // Clamped so that time points cannot overflow.
  const auto idle_timeout =
      std::chrono::milliseconds(std::min(options_.idle_timeout_ms, kMaxIdleMs));
  std::vector<TenantPtr> warm;
  for (const auto& [id, t] : tenants_) {
    if (t->state == TenantState::kWarm && !t->hibernate_wanted) warm.push_back(t);
  }
  std::sort(warm.begin(), warm.end(),
            [](const TenantPtr& a, const TenantPtr& b) { return a->last_used < b->last_used; });
  uint64_t memory = 0;
  for (const TenantPtr& t : warm) memory += t->memory_bytes;
  Clock::time_point next = now + idle_timeout;
  for (const TenantPtr& t : warm) {  // least recently used first
    // Running or queued: in use right now; judged again after its turn.
    if (t->busy) continue;
    // Inside a transaction block: its holder will come back to it.
    if (t->holder) continue;
    // Idle past the timeout: hibernate.
    // Over the memory budget: hibernate, least recently used first.
    if (now - t->last_used >= idle_timeout || memory > options_.memory_budget_bytes) {
      RequestHibernate(lock, t);
      memory -= t->memory_bytes;
      continue;
    }
    // Used recently and within budget: keep; wake up when it would expire.
    next = std::min(next, t->last_used + idle_timeout);
  }
  // A zero timeout must not turn this thread into a busy loop.
  return std::max(next, now + kMinPassInterval);
}

Clock::time_point Runtime::Impl::ExpireIdleHolds(HeldLock& lock, Clock::time_point now) {
  Clock::time_point next = Clock::time_point::max();
  if (options_.idle_in_transaction_timeout_ms <= 0) return next;
  const auto timeout =
      std::chrono::milliseconds(std::min(options_.idle_in_transaction_timeout_ms, kMaxIdleMs));
  std::vector<TenantPtr> held;
  for (const auto& [id, t] : tenants_) {
    // Busy: its holder's work runs or waits; judged again after its turn.
    if (t->holder && !t->busy) held.push_back(t);
  }
  for (const TenantPtr& t : held) {
    if (now - t->last_used < timeout) {
      next = std::min(next, t->last_used + timeout);
      continue;
    }
    uint64_t holder = *t->holder;
    t->holder.reset();
    t->expired_holders.insert(holder);
    std::string id = t->id;
    t->queue.push_front(WorkItem{[this, id](Result<Session*> session, const Timings&) {
                                   if (session.ok()) {
                                     ResetSession((*session)->instance(), id,
                                                  "idle-in-transaction timeout");
                                   }
                                 },
                                 std::nullopt, SteadyClock::now()});
    spdlog::info("tenant {}: holder {} idle in a transaction for {} ms: rolled back", t->id, holder,
                 options_.idle_in_transaction_timeout_ms);
    expired_.emplace_back(t->id, holder);
    Schedule(lock, t);
  }
  return next;
}

// ---- Admin ---------------------------------------------------------------------

Status Runtime::Impl::Hibernate(const std::string& id) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  Lock lock(mutex_);
  auto found = tenants_.find(id);
  if (found == tenants_.end()) return Status::Ok();  // cold already
  TenantPtr t = found->second;
  if (t->holder || !t->queue.empty()) {
    return Status::Unavailable("tenant " + id + " is busy (held or queued work)");
  }
  if (t->state == TenantState::kCold && !t->busy) return Status::Ok();
  if (stop_workers_) return Status::Unavailable("runtime is shut down");
  RequestHibernate(lock, t);
  changed_cv_.wait(lock, [&] { return !t->hibernate_wanted; });
  if (t->state == TenantState::kCold) return t->last_hibernate;
  return Status::Unavailable("tenant " + id + " got work before it could hibernate");
}

Status Runtime::Impl::CreateTenant(const std::string& id) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  std::error_code ec;
  if (store_.exists(id)) {
    return Status::AlreadyExists("tenant " + id + " exists");
  }
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> created = done->get_future();
  PGTHAW_RETURN_IF_ERROR(Submit(
      id, std::nullopt,
      [done, id](Result<Session*> session, const Timings& timings) {
        // This item opened it from nothing (a pool slot, created). Thawed,
        // booted or warm: another item made it first.
        if (!session.ok()) {
          done->set_value(session.status());
        } else if (timings.cold_kind == ColdKind::kPool ||
                   timings.cold_kind == ColdKind::kCreated) {
          done->set_value(Status::Ok());
        } else {
          done->set_value(Status::AlreadyExists("tenant " + id + " exists"));
        }
      },
      /*beside=*/false, /*may_create=*/true));
  return created.get();
}

Status Runtime::Impl::ImportTenant(const std::string& id, const std::string& archive) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  const std::string root = store_.root(id);
  std::error_code ec;
  if (fs::exists(root, ec)) return Status::AlreadyExists("tenant " + id + " exists");
  // Staged in the trash directory (a crash leaves it there, removed at the
  // next start) and renamed in whole: the tenant appears complete or not
  // at all.
  std::string staging;
  {
    MutexLock lock(mutex_);
    staging = store_.staging_path(engine::TenantStore::Staging::kImport, id, ++trash_seq_);
  }
  PGTHAW_RETURN_IF_ERROR(store_.MakeStagingDirs());
  engine::ArchiveLimits limits;
  limits.max_bytes = engine_.options().tenant_disk_max_bytes;
  PGTHAW_RETURN_IF_ERROR(engine::import_tenant(archive, staging, limits));
  if (env().Rename(staging.c_str(), root.c_str()) != 0) {
    const int err = errno;
    fs::remove_all(staging, ec);
    if (err == EEXIST || err == ENOTEMPTY) return Status::AlreadyExists("tenant " + id + " exists");
    return Status::FromErrno("rename " + staging + " to " + root, err);
  }
  if (engine_.options().durable) PGTHAW_RETURN_IF_ERROR(fsync_dir(store_.tenants_dir()));
  // Opened now: Postgres recovers it if it was not shut down cleanly, and an
  // archive whose database does not start goes again.
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> opened = done->get_future();
  Status submitted = Submit(
      id, std::nullopt,
      [done](Result<Session*> session, const Timings&) {
        if (!session.ok()) return done->set_value(session.status());
        // pg_stat_activity and pg_stat_database as every tenant has them
        // (the template's views; an archive from PGlite has PGlite's).
        done->set_value(install_connection_views(**session));
      },
      /*beside=*/false, /*may_create=*/true);
  Status st = submitted.ok() ? opened.get() : submitted;
  if (st.ok()) return st;
  Status removed = DeleteTenant(id, /*force=*/true, SteadyClock::now() + std::chrono::seconds(30));
  if (!removed.ok())
    spdlog::error("tenant {}: removing a failed import: {}", id, removed.ToString());
  return Status::InvalidArgument("the archive's database does not start: " + st.message());
}

Status Runtime::Impl::ExportTenant(const std::string& id, const std::string& out, bool gzip) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  std::error_code ec;
  if (!store_.exists(id)) return no_such_database(id);
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> exported = done->get_future();
  const std::string root = store_.root(id);
  PGTHAW_RETURN_IF_ERROR(Submit(
      id, std::nullopt,
      [done, root, out, gzip](Result<Session*> session, const Timings&) {
        // In the tenant's turn: its instance is idle, nothing writes.
        done->set_value(session.ok() ? engine::export_tenant(root, out, gzip) : session.status());
      },
      /*beside=*/false, /*may_create=*/false));
  return exported.get();
}

Status Runtime::Impl::RunOnSession(
    const std::string& id, const SessionHook& prepare,
    const std::function<Status(Session&, const std::string& scratch)>& fn) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  std::error_code ec;
  if (!store_.exists(id)) return no_such_database(id);
  std::string scratch;
  {
    MutexLock lock(mutex_);
    scratch = store_.staging_path(engine::TenantStore::Staging::kWork, id, ++trash_seq_);
  }
  fs::create_directories(scratch, ec);
  if (ec) return Status::FromErrno("mkdir " + scratch, ec.value());
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> finished = done->get_future();
  Status submitted = Submit(
      id, std::nullopt,
      [done, &prepare, &fn, &scratch](Result<Session*> session, const Timings&) {
        if (!session.ok()) return done->set_value(session.status());
        if (prepare) {
          if (Status st = prepare(**session); !st.ok()) return done->set_value(st);
        }
        done->set_value(fn(**session, scratch));
      },
      /*beside=*/false, /*may_create=*/false);
  // The work item refers to this frame: wait for it even if the wait is long.
  Status result = submitted.ok() ? finished.get() : submitted;
  fs::remove_all(scratch, ec);
  return result;
}

Status Runtime::Impl::DumpTenant(const std::string& id, const DumpOptions& options,
                                 const std::string& out, const SessionHook& prepare) {
  return RunOnSession(id, prepare, [&](Session& session, const std::string& scratch) {
    return dump_session(engine_, session, options, scratch, out);
  });
}

Status Runtime::Impl::RestoreTenant(const std::string& id, const std::string& file,
                                    const SessionHook& prepare) {
  return RunOnSession(id, prepare, [&](Session& session, const std::string&) {
    return restore_session(session, file);
  });
}

Status Runtime::Impl::DeleteTenant(const std::string& id, bool force,
                                   SteadyClock::time_point deadline) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  std::error_code ec;
  bool on_disk = store_.exists(id);
  if (!on_disk && replica_ != nullptr) {
    auto there = replica_->HasTenant(id);  // only in the store: deleted there
    if (!there.ok()) return there.status();
    on_disk = *there;
  }
  Lock lock(mutex_);
  if (!accepting_) return Status::Unavailable("runtime is shutting down");
  auto found = tenants_.find(id);
  if (found == tenants_.end() && !on_disk) return Status::NotFound("no tenant " + id);
  TenantPtr& slot = tenants_[id];
  if (slot == nullptr) slot = NewTenant(id);
  TenantPtr t = slot;
  if (t->deleting) return Status::Unavailable("tenant " + id + " is being deleted already");
  t->deleting = true;
  auto request = std::make_shared<DeleteRequest>();
  WorkItem item{nullptr, std::nullopt, SteadyClock::now()};
  item.deletion = request;
  if (force) {
    // Its holders are cut off: the hold ends now, a running statement is
    // cancelled, and the deletion goes before anything queued.
    t->delete_forced = true;
    t->holder.reset();
    if (t->running && t->instance != nullptr) t->instance->Interrupt();
    t->queue.push_front(std::move(item));
  } else {
    // After what is queued; a holder's items pass it until its hold ends.
    t->queue.push_back(std::move(item));
  }
  Schedule(lock, t);
  auto finished = [&] { return request->done; };
  if (deadline == SteadyClock::time_point::max()) {
    changed_cv_.wait(lock, finished);
  } else if (!changed_cv_.wait_until(lock, deadline, finished)) {
    auto it = std::find_if(t->queue.begin(), t->queue.end(),
                           [&](const WorkItem& w) { return w.deletion == request; });
    if (it != t->queue.end()) {
      // Never started: withdrawn, nothing changed.
      t->queue.erase(it);
      t->deleting = false;
      if (!t->busy && t->state == TenantState::kCold && t->queue.empty() && !t->holder) {
        auto again = tenants_.find(id);
        if (again != tenants_.end() && again->second == t) tenants_.erase(again);
      }
      return Status::Unavailable("tenant " + id +
                                 " is in use (a transaction is open) and was not deleted "
                                 "before the timeout; force cuts its connections off");
    }
    changed_cv_.wait(lock, finished);  // running now; it does not take long
  }
  return request->result;
}

bool Runtime::Impl::TenantExists(const std::string& id) const {
  if (!ValidateTenantId(id).ok()) return false;
  std::error_code ec;
  const bool on_disk = store_.exists(id);
  MutexLock lock(mutex_);
  auto found = tenants_.find(id);
  if (found != tenants_.end() && found->second->deleting) return false;
  return on_disk;
}

std::vector<std::string> Runtime::Impl::ListTenants() const {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(store_.tenants_dir(), ec)) {
    std::error_code type_ec;
    std::string name = e.path().filename().string();
    if (e.is_directory(type_ec) && ValidateTenantId(name).ok()) ids.push_back(std::move(name));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<TenantInfo> Runtime::Impl::Describe(const std::string& id) const {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(id));
  const std::string root = store_.root(id);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return Status::NotFound("no tenant " + id);
  TenantInfo info;
  int64_t newest_mtime_s = 0;
  walk_usage(root, &info.disk_bytes, &newest_mtime_s);
  info.hibernated = engine::TenantStore::hibernated(root);
  MutexLock lock(mutex_);
  auto found = tenants_.find(id);
  if (found != tenants_.end()) info.state = found->second->state;
  auto used = last_used_unix_s_.find(id);
  info.last_used_unix_s = used != last_used_unix_s_.end() ? used->second : newest_mtime_s;
  return info;
}

Status Runtime::Impl::Warmup() {
  if (pool_ == nullptr) return Status::Ok();
  return pool_->Fill();
}

TenantState Runtime::Impl::state(const std::string& id) const {
  MutexLock lock(mutex_);
  auto found = tenants_.find(id);
  return found == tenants_.end() ? TenantState::kCold : found->second->state;
}

RuntimeStats Runtime::Impl::stats() const {
  MutexLock lock(mutex_);
  RuntimeStats s;
  s.warm_tenants = warm_count_;
  s.hibernated_tenants = hibernated_count_;
  s.pool_ready = pool_ != nullptr ? pool_->ready() : 0;
  s.warm_memory_bytes = warm_memory_bytes_;
  s.cold_starts_created = created_;
  s.cold_starts_thawed = thawed_;
  s.cold_starts_booted = booted_;
  s.cold_starts_pool = pooled_;
  s.hibernations = hibernations_;
  s.tenants = tenant_count_;
  s.tenants_created = tenants_created_;
  for (const auto& [id, t] : tenants_) s.queued += t->queue.size();
  if (replica_ != nullptr) s.replica = replica_->stats();
  return s;
}

bool Runtime::Impl::AllIdle() const {
  if (!ready_.empty()) return false;
  for (const auto& [id, t] : tenants_) {
    if (t->busy || !t->queue.empty()) return false;
  }
  return true;
}

Status Runtime::Impl::Shutdown(SteadyClock::time_point deadline) {
  MutexLock shutdown_lock(shutdown_mutex_);
  if (shut_down_) return shutdown_status_;
  const SteadyClock::time_point started = SteadyClock::now();
  Lock lock(mutex_);
  accepting_ = false;
  // 1. Drain. Holders cannot submit any more, so their holds are dropped
  //    (a transaction left open is rolled back when its tenant hibernates).
  std::vector<TenantPtr> all;
  for (const auto& [id, t] : tenants_) all.push_back(t);
  for (const TenantPtr& t : all) {
    t->holder.reset();
    Schedule(lock, t);
  }
  if (!WaitIdle(lock, deadline)) {
    shut_down_ = true;
    shutdown_status_ = Abandon(lock, "draining queued work", started);
    return shutdown_status_;
  }

  // 2. No more eviction passes, pool refills or flattening.
  lock.unlock();
  StopCompactor();
  lock.lock();
  stop_maintenance_ = true;
  maintenance_cv_.notify_all();
  lock.unlock();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  if (pool_ != nullptr) pool_->Stop();
  lock.lock();

  // 3. Hibernate every warm tenant, on the workers in parallel.
  all.clear();
  for (const auto& [id, t] : tenants_) {
    if (t->instance != nullptr) all.push_back(t);
  }
  for (const TenantPtr& t : all) RequestHibernate(lock, t);
  if (!WaitIdle(lock, deadline)) {
    shut_down_ = true;
    shutdown_status_ = Abandon(lock, "hibernating warm tenants", started);
    return shutdown_status_;
  }
  Status status;
  for (const TenantPtr& t : all) {
    if (status.ok() && !t->last_hibernate.ok()) status = t->last_hibernate;
  }

  // 4. Workers leave once the ready queue is empty.
  stop_workers_ = true;
  work_cv_.notify_all();
  lock.unlock();
  workers_.JoinAll();
  shut_down_ = true;
  shutdown_status_ = status;
  return status;
}

// ---- Bounded shutdown ------------------------------------------------------------

bool Runtime::Impl::WaitIdle(HeldLock& lock, SteadyClock::time_point deadline) {
  if (deadline == SteadyClock::time_point::max()) {
    changed_cv_.wait(lock, [&]() REQUIRES(mutex_) { return AllIdle(); });
    return true;
  }
  return changed_cv_.wait_until(lock, deadline, [&]() REQUIRES(mutex_) { return AllIdle(); });
}

Status Runtime::Impl::Abandon(HeldLock& lock, const std::string& phase,
                              SteadyClock::time_point started) {
  abandoned_ = true;
  stop_workers_ = true;
  stop_maintenance_ = true;
  std::string running;
  size_t busy = 0;
  for (const auto& [id, t] : tenants_) {
    if (!t->busy) continue;
    if (++busy <= 8) running += (running.empty() ? "" : ", ") + id;
  }
  const uint64_t warm = warm_count_;
  work_cv_.notify_all();
  maintenance_cv_.notify_all();
  lock.unlock();
  // None runs guest code: they stop promptly (the compactor between files).
  stop_compactor_ = true;
  compact_cv_.notify_all();
  if (compactor_thread_.joinable()) compactor_thread_.detach();  // it may wait for a worker
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  if (pool_ != nullptr) pool_->Stop();
  // A worker may be inside guest code that never returns: do not join it.
  // Idle workers leave on their own (abandoned_); all of them use this
  // object, which the Runtime then leaks (~Runtime).
  workers_.DetachAll();
  Status st = Status::Unavailable(
      "shutdown timed out after " + std::to_string(micros(SteadyClock::now() - started) / 1000) +
      " ms while " + phase + ": " + std::to_string(warm) + " warm tenants abandoned (" +
      std::to_string(busy) + " still running" + (running.empty() ? "" : ": " + running) +
      "); they recover from their files at the next start");
  spdlog::error("runtime over {}: {}", options_.data_root, st.message());
  lock.lock();
  return st;
}

// ---- Runtime -------------------------------------------------------------------

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Runtime::~Runtime() {
  if (impl_ == nullptr) return;
  Status st = Shutdown();
  if (!st.ok()) spdlog::warn("runtime shutdown: {}", st.ToString());
  // Detached threads still run on it (Abandon): leak it; the process exits.
  if (impl_->abandoned()) (void)impl_.release();
}

namespace {

// Before this data root makes a template of its own: the store's, so that
// every node's tenants stack on the same one (a tenant's files and snapshot
// are only good over the template they were made on).
Status take_store_template(const engine::Engine& engine, TenantReplica& replica,
                           const std::string& data_root) {
  const std::string home = engine::Template::HomeUnder(data_root);
  std::error_code ec;
  if (fs::exists(home, ec)) return Status::Ok();
  const engine::TenantStore store(data_root);
  PGTHAW_RETURN_IF_ERROR(store.MakeStagingDirs());
  const std::string staging = store.staging_path(engine::TenantStore::Staging::kPull, "template",
                                                 static_cast<uint64_t>(::getpid()));
  fs::remove_all(staging, ec);
  auto pulled = replica.PullTemplate(build_id(), staging);
  if (!pulled.ok() || !*pulled) {
    fs::remove_all(staging, ec);
    return pulled.ok() ? Status::Ok() : pulled.status();
  }
  if (env().Rename(staging.c_str(), home.c_str()) != 0) {
    const int err = errno;
    fs::remove_all(staging, ec);
    if (fs::exists(home, ec)) return Status::Ok();  // another process of this root won
    return Status::FromErrno("rename " + staging + " to " + home, err);
  }
  if (engine.options().durable) PGTHAW_RETURN_IF_ERROR(fsync_dir(data_root));
  spdlog::info("template of build {}: taken from the store", build_id());
  return Status::Ok();
}

// After Ensure: this root's template to the store if the store has none.
// If the store has another (two nodes made theirs at once), this root's
// tenants could not move: the node refuses to start, saying so.
Status give_store_template(TenantReplica& replica, const std::string& data_root,
                           const engine::Template& tmpl) {
  Status given = replica.PushTemplate(build_id(), tmpl.dir());
  if (given.code() != StatusCode::kAlreadyExists) return given;
  return Status::AlreadyExists(given.message() + "; this data root (" + data_root +
                               ") has a template of its own: start it with an empty data "
                               "directory to serve from this store");
}

}  // namespace

Result<std::unique_ptr<Runtime>> Runtime::Start(const engine::Engine& engine,
                                                RuntimeOptions options) {
  if (options.data_root.empty())
    return Status::InvalidArgument("RuntimeOptions.data_root is empty");
  if (options.idle_timeout_ms < 0) {
    return Status::InvalidArgument("RuntimeOptions.idle_timeout_ms is negative");
  }
  if (options.shutdown_timeout_ms < 0) {
    return Status::InvalidArgument("RuntimeOptions.shutdown_timeout_ms is negative");
  }
  std::error_code ec;
  // Absolute: the template's path is written into tenant directories.
  fs::path root = fs::absolute(options.data_root, ec).lexically_normal();
  if (ec) return Status::FromErrno("absolute path of " + options.data_root, ec.value());
  options.data_root = root.string();
  while (options.data_root.size() > 1 && options.data_root.back() == '/') {
    options.data_root.pop_back();
  }
  if (options.threads == 0) {
    // Twice the cores, at least 4: a tenant whose statement runs until its
    // timeout holds a worker, and with spare workers the kernel time-slices
    // the other tenants' work in beside it instead of queueing it.
    options.threads = std::max(4u, 2 * std::thread::hardware_concurrency());
  }
  std::unique_ptr<TenantReplica> replica;
  if (options.store != nullptr) {
    auto made =
        TenantReplica::Create(options.store, options.store_key,
                              engine::TenantStore(options.data_root), engine.options().durable);
    if (!made.ok()) return made.status();
    replica = std::move(made).value();
    PGTHAW_RETURN_IF_ERROR(take_store_template(engine, *replica, options.data_root));
  }
  auto tmpl = engine::Template::Ensure(engine, options.data_root);
  if (!tmpl.ok()) return tmpl.status();
  if (replica != nullptr) {
    PGTHAW_RETURN_IF_ERROR(give_store_template(*replica, options.data_root, *tmpl));
  }
  auto impl = std::make_unique<Impl>(engine, std::move(options), std::move(tmpl).value());
  impl->SetReplica(std::move(replica));
  std::unique_ptr<Runtime> runtime(new Runtime(std::move(impl)));
  // On failure the destructor stops whatever Init() started.
  PGTHAW_RETURN_IF_ERROR(runtime->impl_->Init());
  return runtime;
}

Status Runtime::ValidateTenantId(std::string_view id) {
  if (id.empty() || id.size() > 63) {
    return Status::InvalidArgument("tenant id must be 1 to 63 characters");
  }
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return Status::InvalidArgument("tenant id may only hold [A-Za-z0-9_-]");
  }
  return Status::Ok();
}

Status Runtime::Submit(const std::string& tenant, Work work) {
  return impl_->Submit(tenant, std::nullopt, std::move(work));
}

bool Runtime::Cancel(const std::string& tenant, uint64_t holder) {
  return impl_->Cancel(tenant, holder);
}

Status Runtime::SetTenantSettings(const std::string& tenant, const TenantSettings& settings) {
  return impl_->SetTenantSettings(tenant, settings);
}

void Runtime::SetHoldExpiredHandler(HoldExpired handler) {
  impl_->SetHoldExpiredHandler(std::move(handler));
}

Status Runtime::SubmitHeld(const std::string& tenant, uint64_t holder, Work work) {
  return impl_->Submit(tenant, holder, std::move(work));
}

Status Runtime::SubmitBeside(const std::string& tenant, uint64_t holder, Work work) {
  return impl_->Submit(tenant, holder, std::move(work), /*beside=*/true);
}

bool Runtime::RunHeldNow(const std::string& tenant, uint64_t holder, Work& work) {
  return impl_->RunHeldNow(tenant, holder, work);
}

void Runtime::Release(const std::string& tenant, uint64_t holder) {
  impl_->Release(tenant, holder);
}

Status Runtime::Hibernate(const std::string& tenant) { return impl_->Hibernate(tenant); }

Status Runtime::CreateTenant(const std::string& tenant) { return impl_->CreateTenant(tenant); }

Status Runtime::ImportTenant(const std::string& tenant, const std::string& archive) {
  return impl_->ImportTenant(tenant, archive);
}

Status Runtime::ExportTenant(const std::string& tenant, const std::string& out, bool gzip) {
  return impl_->ExportTenant(tenant, out, gzip);
}

Status Runtime::DumpTenant(const std::string& tenant, const DumpOptions& options,
                           const std::string& out, const SessionHook& prepare) {
  return impl_->DumpTenant(tenant, options, out, prepare);
}

Status Runtime::ForkTenant(const std::string& source, const std::string& fork) {
  return impl_->ForkTenant(source, fork);
}

Status Runtime::CompactTenant(const std::string& tenant) { return impl_->CompactTenant(tenant); }

Status Runtime::RestoreTenant(const std::string& tenant, const std::string& file,
                              const SessionHook& prepare) {
  return impl_->RestoreTenant(tenant, file, prepare);
}

Status Runtime::DeleteTenant(const std::string& tenant, bool force,
                             std::chrono::steady_clock::time_point deadline) {
  return impl_->DeleteTenant(tenant, force, deadline);
}

bool Runtime::TenantExists(const std::string& tenant) const { return impl_->TenantExists(tenant); }

std::vector<std::string> Runtime::ListTenants() const { return impl_->ListTenants(); }

Result<TenantInfo> Runtime::Describe(const std::string& tenant) const {
  return impl_->Describe(tenant);
}

Status Runtime::Warmup() { return impl_->Warmup(); }

TenantState Runtime::state(const std::string& tenant) const { return impl_->state(tenant); }

RuntimeStats Runtime::stats() const { return impl_->stats(); }

bool Runtime::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  return impl_->WaitUntilIdle(deadline);
}

Status Runtime::Shutdown() {
  int64_t ms = impl_ != nullptr ? impl_->shutdown_timeout_ms() : 0;
  return Shutdown(ms > 0 ? SteadyClock::now() + std::chrono::milliseconds(ms)
                         : SteadyClock::time_point::max());
}

Status Runtime::Shutdown(SteadyClock::time_point deadline) { return impl_->Shutdown(deadline); }

bool Runtime::abandoned() const { return impl_->abandoned(); }

}  // namespace pgthaw::runtime
