// runtime::WarmPool: blank tenants made ahead of time, for tenant ids that
// have no directory yet.
//
// A slot (engine::TenantStore::pool_slot) is laid out exactly like a new
// tenant's root, and made the same way (engine::create_tenant): its
// instance is restored from the template over its data directory, an
// overlay on the template's. TakeInto(root) renames the whole slot
// directory to the tenant's root (engine::TenantStore::root). The
// live instance keeps working across the rename because the VFS holds each
// mount as an O_PATH directory fd opened when the instance was made
// (vfs/host_dir.h; open host files are fds too); the host path strings it
// keeps are only used in messages. The runtime test
// PoolTenantSurvivesRenameHibernateAndRestart checks this end to end. If the
// VFS ever resolved host paths again after creation, the pool would have to
// stop renaming (and TakeInto would be replaced by a plain NewTenant).
//
// Slots never outlive the process: Reset() removes what an earlier process
// left (the directory belongs to one process at a time), Stop() abandons the
// ready instances and removes their slots.
//
// Owner: Runtime::Impl. Threads: every method is thread-safe; a background
// refill thread (Start()) keeps `target` slots ready.
//
// Mutex rules: mutex_ guards ready_, filling_, next_slot_, stop_ and
// last_error_. It is a leaf lock: never held while making or renaming a
// slot, and nothing else is locked while it is held.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "engine/instance.h"
#include "engine/template.h"
#include "engine/tenant_store.h"

namespace pgthaw::runtime {

class WarmPool {
 public:
  // `tmpl` must outlive the pool. Its slots are `store`'s.
  WarmPool(const engine::Template& tmpl, engine::TenantStore store, unsigned target, bool durable);
  ~WarmPool();  // Stop()
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  // Removes slots an earlier process left behind (they are blank).
  Status Reset();
  // Starts the refill thread.
  void Start();
  // Joins the refill thread, abandons ready instances, removes their slots.
  void Stop();

  // Makes slots on the calling thread until `target` are ready; returns the
  // error of a slot that could not be made.
  Status Fill();

  // Moves a ready slot to ROOT (which must not exist; its parent must) and
  // returns its instance, now the tenant's. NotFound when no slot is ready.
  Result<std::unique_ptr<engine::Instance>> TakeInto(const std::string& root);

  size_t ready() const;

 private:
  struct Slot {
    std::string dir;
    std::unique_ptr<engine::Instance> instance;
  };

  Result<Slot> MakeSlot(uint64_t n);
  void RefillLoop();
  static void Discard(Slot slot);

  // Constant after construction.
  const engine::Template& template_;
  const engine::TenantStore store_;
  const unsigned target_;
  const bool durable_;

  mutable Mutex mutex_;
  std::condition_variable changed_cv_;  // ready_, filling_ or stop_ changed
  std::deque<Slot> ready_ GUARDED_BY(mutex_);
  unsigned filling_ GUARDED_BY(mutex_) = 0;  // slots being made
  uint64_t next_slot_ GUARDED_BY(mutex_) = 0;
  bool stop_ GUARDED_BY(mutex_) = false;
  Status last_error_ GUARDED_BY(mutex_);  // last failed MakeSlot
  std::thread refill_thread_;
};

}  // namespace pgthaw::runtime
