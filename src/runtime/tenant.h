// runtime::Tenant: one tenant's actor state inside Runtime::Impl.
//
// TENANT STATES
//
//              Submit (eager: front of the ready queue)
//    kCold ---------------------------------------------> kThawing
//      ^          (a worker runs pool / thaw / boot / create) |
//      |                                                      | ok
//      |         failed: the work item gets the error         v
//      +<---------------------------------------------------- +
//      |                                                    kWarm
//      |   snapshot written (or clean close), memory freed    |
//      +------------------ kHibernating <--------------------+
//                        idle_timeout_ms passed, memory budget (LRU),
//                        Hibernate(), Shutdown()
//
// ONE OWNER AT A TIME. A tenant's instance is used by at most one thread at
// once: the thread that set `busy`. `busy` is set when the tenant is pushed
// onto the ready queue (for work or for a hibernation) and cleared when a
// worker finds nothing more to do for it. While busy, new work only joins
// `queue`; it never pushes the tenant again. So work items of one tenant run
// one at a time, in arrival order, and thaw and hibernation never overlap a
// work item.
//
// HOLDS. A work item submitted with SubmitHeld(holder) that leaves the
// session inside a transaction block or an extended-protocol exchange
// (runtime::Session::Idle() false) takes the hold: from then on only that
// holder's items run (in their order), other items wait behind them, and
// the tenant is never hibernated, until one of its items leaves the session
// idle again. A hold is a Postgres connection inside BEGIN..COMMIT, whose
// statements must reach the same session without others' statements in
// between. The holder says when it is gone (Release, on disconnect): its
// transaction is then rolled back before anyone else's item runs; so is
// one left idle past idle_in_transaction_timeout_ms. Shutdown() drops every
// hold so it cannot wait forever on a holder that never comes back.
//
// FAIRNESS. At most threads-1 workers open instances (pool, thaw, boot,
// create) at once: a worker skips a tenant that needs opening while that
// many are opening, and takes the next ready tenant that is warm. A storm of
// new tenants then leaves a worker for warm ones; its cold starts wait their
// turn. The count covers the open only, not the work item that follows it.
//
// HIBERNATION RULE. A tenant is hibernated only when it is warm, not busy,
// not held and has no queued work; the decision and the `busy` flag are taken
// under the runtime mutex, so work that arrives during the snapshot waits in
// `queue` and thaws the tenant again afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "engine/instance.h"
#include "runtime/clock.h"
#include "runtime/runtime.h"

namespace pgthaw::runtime {

// What Timings measure by (never the runtime's Clock: see clock.h).
using SteadyClock = std::chrono::steady_clock;

// A DeleteTenant waiting for its turn; guarded by Runtime::Impl::mutex_.
struct DeleteRequest {
  bool done = false;
  Status result;
};

// Work that needs the tenant to itself with no live instance (a fork):
// its turn hibernates a warm instance first. Guarded like DeleteRequest.
struct ExclusiveRequest {
  std::function<Status()> run;
  bool done = false;
  Status result;
};

struct WorkItem {
  Runtime::Work work;
  std::optional<uint64_t> holder;  // set by SubmitHeld and SubmitBeside
  SteadyClock::time_point submitted;
  bool beside = false;  // SubmitBeside: may run beside another holder's hold
  // CreateTenant's item: opens a tenant with no directory even when
  // create_on_first_use is off.
  bool may_create = false;
  // DeleteTenant's item (no `work`): its turn drops and removes the tenant.
  std::shared_ptr<DeleteRequest> deletion = nullptr;
  // ForkTenant's item (no `work`): see ExclusiveRequest.
  std::shared_ptr<ExclusiveRequest> exclusive = nullptr;
};

// Every field but the constants is guarded by Runtime::Impl::mutex_; the
// Instance object itself is used only by the thread that owns the tenant
// (`busy`), outside the mutex.
struct Tenant {
  Tenant(std::string tenant_id, std::string tenant_root, Clock::time_point now)
      : id(std::move(tenant_id)), root(std::move(tenant_root)), last_used(now) {}

  // Constant after construction.
  const std::string id;
  const std::string root;  // DATA_ROOT/tenants/<id>

  TenantState state = TenantState::kCold;
  // Set in kWarm; moved out by the thread that hibernates the tenant.
  std::unique_ptr<engine::Instance> instance;
  std::deque<WorkItem> queue;
  std::optional<uint64_t> holder;  // reserved for this holder until Release
  // Holders whose hold expired while idle in a transaction: refused for good.
  std::set<uint64_t> expired_holders;
  // Whose item runs now (set while `running`), for Cancel.
  bool running = false;
  std::optional<uint64_t> running_holder;
  bool holder_left = false;  // Release(running_holder) came while its item ran
  // On the ready queue or owned by a thread (see ONE OWNER AT A TIME).
  bool busy = false;
  // Hibernate at the next turn if still idle; cleared when decided.
  bool hibernate_wanted = false;
  Status last_hibernate;  // outcome of the last hibernation
  // Counted in Runtime::Impl::opening_ from the worker's pick until its
  // Open() returns (fairness: cold starts never take every worker).
  bool opening_counted = false;
  // When its last work item ended, by the runtime's Clock (idle timeouts,
  // least recently used first).
  Clock::time_point last_used;
  // The server's statement limit for this tenant (TenantSettings over
  // RuntimeOptions), set at each open and by SetTenantSettings; applied to
  // the instance when each work item starts.
  int64_t statement_timeout_ms = 0;
  // What the memory budget charges for this tenant while warm (0 otherwise).
  uint64_t memory_bytes = 0;
  // A DeleteTenant item is queued: new work is refused, but the holder's.
  bool deleting = false;
  // ... with force: no item takes a hold any more.
  bool delete_forced = false;
};

}  // namespace pgthaw::runtime
