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
//
// Thread-safe: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/instance.h"

namespace pgthaw::runtime {

struct RuntimeOptions {
  std::string data_root;  // tenants in data_root/tenants/<id>/, template in data_root/
  unsigned threads = 0;   // 0: std::thread::hardware_concurrency()
  int64_t idle_timeout_ms = 60'000;
  uint64_t memory_budget_bytes = uint64_t{4} << 30;  // private memory of warm tenants
  unsigned warm_pool_size = 2;                       // blank instances kept ready for new tenants
  // Private memory charged per warm tenant against memory_budget_bytes: 0
  // charges each tenant's measured private memory
  // (engine::Instance::PrivateMemoryBytes, after its thaw and after each of
  // its work items); a value is a fixed charge per warm tenant instead.
  uint64_t tenant_memory_bytes = 0;
};

// Per-request phase timings, microseconds (steady_clock).
struct Timings {
  int64_t queue_us = 0;  // waiting for the tenant's turn
  int64_t thaw_us = 0;   // thaw, boot or creation (0 when warm)
  int64_t exec_us = 0;   // filled in by the caller around Instance::Exec
  bool cold = false;
  std::string cold_kind;  // "created" | "thawed" | "booted" | "pool" | ""
};

enum class TenantState { kCold, kThawing, kWarm, kHibernating };

struct RuntimeStats {
  size_t warm_tenants = 0;
  size_t hibernated_tenants = 0;  // on disk with a snapshot
  size_t pool_ready = 0;
  uint64_t warm_memory_bytes = 0;  // measured private memory of warm tenants
  uint64_t cold_starts_created = 0, cold_starts_thawed = 0, cold_starts_booted = 0;
  uint64_t cold_starts_pool = 0;  // new tenants served from the warm pool
  uint64_t hibernations = 0;
};

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
  using Work = std::function<void(Result<engine::Instance*> instance, const Timings& timings)>;
  Status Submit(const std::string& tenant, Work work);

  // Like Submit, but the tenant's actor stays reserved for `holder` until
  // Release(tenant, holder): used by a Postgres connection inside a
  // transaction block. Other holders' work waits.
  // The hold starts when a held item starts on a live instance (each held
  // item takes it again); the holder's items then pass waiting ones. The
  // owner must call Release when its transaction ends AND on disconnect,
  // after its last held item ran (e.g. from inside that item): nothing else
  // ends a hold but Shutdown(). Release by a non-holder does nothing.
  Status SubmitHeld(const std::string& tenant, uint64_t holder, Work work);
  void Release(const std::string& tenant, uint64_t holder);

  // Hibernates `tenant` now if it is warm and idle (tests, admin).
  Status Hibernate(const std::string& tenant);
  // Fills the pool of blank instances; returns when it holds `warm_pool_size`.
  Status Warmup();

  TenantState state(const std::string& tenant) const;
  RuntimeStats stats() const;

  // Stops accepting work, drains queued work, hibernates warm tenants.
  Status Shutdown();

  class Impl;

 private:
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgthaw::runtime
