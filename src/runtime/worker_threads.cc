// runtime::WorkerThreads: see worker_threads.h.
#include "runtime/worker_threads.h"

#include <algorithm>

namespace pgthaw::runtime {

WorkerThreads::WorkerThreads(std::function<void()> body) : body_(std::move(body)) {
  // Made now, by the runtime's creator: its priority is the process's own.
  replacer_ = std::thread([this] { Loop(); });
}

WorkerThreads::~WorkerThreads() {
  bool detached;
  {
    MutexLock lock(mutex_);
    detached = detached_;
  }
  if (!detached) JoinAll();
}

void WorkerThreads::Start(unsigned n) {
  MutexLock lock(mutex_);
  for (unsigned i = 0; i < n; ++i) threads_.emplace_back(body_);
}

bool WorkerThreads::ReplaceCurrent() {
  MutexLock lock(mutex_);
  if (stop_) return false;
  auto self = std::find_if(threads_.begin(), threads_.end(), [](const std::thread& t) {
    return t.get_id() == std::this_thread::get_id();
  });
  if (self == threads_.end()) return false;
  retiring_.push_back(std::move(*self));
  threads_.erase(self);
  changed_.notify_all();
  return true;
}

void WorkerThreads::Loop() {
  MutexLock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&]() REQUIRES(mutex_) { return !retiring_.empty() || stop_; });
    if (retiring_.empty()) return;  // stopping, and every retired thread is joined
    std::thread old = std::move(retiring_.front());
    retiring_.pop_front();
    // Created here, on a thread that never runs guest code, so it starts at
    // the process's normal priority whatever `old` was left at.
    if (!stop_) {
      threads_.emplace_back(body_);
      ++replaced_;
    }
    const bool detach = detached_;
    lock.unlock();
    if (detach) {
      old.detach();
    } else {
      old.join();  // it returns from the body right after ReplaceCurrent
    }
    lock.lock();
  }
}

void WorkerThreads::JoinAll() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  // The replacer joins the retired workers it still has, then returns.
  if (replacer_.joinable()) replacer_.join();
  std::vector<std::thread> all;
  {
    MutexLock lock(mutex_);
    all.swap(threads_);
  }
  for (std::thread& t : all) t.join();
}

void WorkerThreads::DetachAll() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
    detached_ = true;
    for (std::thread& t : threads_) t.detach();
    threads_.clear();
  }
  changed_.notify_all();
  if (replacer_.joinable()) replacer_.join();
}

uint64_t WorkerThreads::replaced() const {
  MutexLock lock(mutex_);
  return replaced_;
}

}  // namespace pgthaw::runtime
