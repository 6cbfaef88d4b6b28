#include "runtime/warm_pool.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <exception>
#include <filesystem>

#include "common/env.h"

namespace pgthaw::runtime {

namespace fs = std::filesystem;

// A failed slot is retried after this long, so a full disk does not spin.
constexpr std::chrono::milliseconds kRefillBackoff{1000};

WarmPool::WarmPool(const engine::Template& tmpl, engine::TenantStore store, unsigned target,
                   bool durable)
    : template_(tmpl), store_(std::move(store)), target_(target), durable_(durable) {}

WarmPool::~WarmPool() { Stop(); }

Status WarmPool::Reset() {
  const std::string& dir = store_.pool_dir();
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return Status::FromErrno("remove " + dir, ec.value());
  fs::create_directories(dir, ec);
  if (ec) return Status::FromErrno("mkdir " + dir, ec.value());
  return Status::Ok();
}

void WarmPool::Start() {
  if (target_ == 0) return;
  refill_thread_ = std::thread([this] { RefillLoop(); });
}

void WarmPool::Stop() {
  std::deque<Slot> slots;
  {
    MutexLock lock(mutex_);
    stop_ = true;
    slots.swap(ready_);
  }
  changed_cv_.notify_all();
  if (refill_thread_.joinable()) refill_thread_.join();
  for (Slot& slot : slots) Discard(std::move(slot));
}

void WarmPool::Discard(Slot slot) {
  // Blank: nothing to keep, and no shutdown checkpoint worth writing.
  if (slot.instance != nullptr) slot.instance->Abandon();
  slot.instance.reset();
  std::error_code ec;
  fs::remove_all(slot.dir, ec);
}

Result<WarmPool::Slot> WarmPool::MakeSlot(uint64_t n) {
  Slot slot;
  slot.dir = store_.pool_slot(n);
  std::error_code ec;
  fs::remove_all(slot.dir, ec);
  Result<std::unique_ptr<engine::Instance>> instance = Status::Internal("not made");
  try {  // on the refill thread an escaping exception would end the process
    instance = engine::create_tenant(template_, slot.dir, durable_, /*renamed_later=*/true);
  } catch (const std::exception& e) {
    instance = Status::Internal(std::string("restoring the template threw: ") + e.what());
  }
  if (instance.ok()) {
    slot.instance = std::move(instance).value();
    return slot;
  }
  fs::remove_all(slot.dir, ec);
  return instance.status().Annotate("warm pool slot: ");
}

Status WarmPool::Fill() {
  MutexLock lock(mutex_);
  for (;;) {
    if (stop_) return Status::Unavailable("warm pool stopped");
    if (ready_.size() >= target_) return Status::Ok();
    if (ready_.size() + filling_ >= target_) {
      // The refill thread is making the missing slots: wait for it.
      changed_cv_.wait(lock);
      continue;
    }
    ++filling_;
    uint64_t n = next_slot_++;
    lock.unlock();
    Result<Slot> slot = MakeSlot(n);
    lock.lock();
    --filling_;
    changed_cv_.notify_all();
    if (!slot.ok()) return slot.status();
    if (stop_) {
      lock.unlock();
      Discard(std::move(slot).value());
      return Status::Unavailable("warm pool stopped");
    }
    ready_.push_back(std::move(slot).value());
  }
}

void WarmPool::RefillLoop() {
  MutexLock lock(mutex_);
  for (;;) {
    changed_cv_.wait(
        lock, [&]() REQUIRES(mutex_) { return stop_ || ready_.size() + filling_ < target_; });
    if (stop_) return;
    ++filling_;
    uint64_t n = next_slot_++;
    lock.unlock();
    Result<Slot> slot = MakeSlot(n);
    lock.lock();
    --filling_;
    changed_cv_.notify_all();
    if (!slot.ok()) {
      last_error_ = slot.status();
      spdlog::warn("{}; retrying in {} ms", slot.status().ToString(), kRefillBackoff.count());
      changed_cv_.wait_for(lock, kRefillBackoff, [&]() REQUIRES(mutex_) { return stop_; });
      continue;
    }
    if (stop_) {
      lock.unlock();
      Discard(std::move(slot).value());
      return;
    }
    ready_.push_back(std::move(slot).value());
  }
}

Result<std::unique_ptr<engine::Instance>> WarmPool::TakeInto(const std::string& root) {
  Slot slot;
  {
    MutexLock lock(mutex_);
    if (ready_.empty()) return Status::NotFound("warm pool empty");
    slot = std::move(ready_.front());
    ready_.pop_front();
  }
  changed_cv_.notify_all();  // the refill thread makes a replacement
  if (env().Rename(slot.dir.c_str(), root.c_str()) != 0) {
    Status st = Status::FromErrno("rename " + slot.dir + " to " + root, errno);
    Discard(std::move(slot));
    return st;
  }
  // The new name must survive a power cut before the tenant commits
  // anything under it: owed to its first durable write.
  slot.instance->OweHostSync(fs::path(root).parent_path().string());
  return std::move(slot.instance);
}

size_t WarmPool::ready() const {
  MutexLock lock(mutex_);
  return ready_.size();
}

}  // namespace pgthaw::runtime
