// Clang's thread-safety analysis (-Wthread-safety): which mutex guards what,
// and which functions expect it held, written next to the code and checked
// at compile time by the thread_safety_analysis test
// (scripts/check_thread_safety.py). GCC, which builds pgthaw, ignores the
// attributes: every macro expands to nothing there.
//
// libstdc++'s std::mutex and std::lock_guard carry no annotations, so the
// analysis sees nothing through them: guarded state uses Mutex and
// MutexLock below instead.
//
//   Mutex mutex_;
//   int count_ GUARDED_BY(mutex_);
//   void BumpLocked() REQUIRES(mutex_);
//   ...
//   MutexLock lock(mutex_);   // or lock.unlock() / lock.lock() in between
//   cv_.wait(lock, [&]() REQUIRES(mutex_) { return count_ > 0; });
#pragma once

#include <mutex>

#if defined(__clang__)
#define PGTHAW_THREAD_ATTRIBUTE(x) __attribute__((x))
#else
#define PGTHAW_THREAD_ATTRIBUTE(x)
#endif

// A type that is a lock (Mutex below); `name` appears in the warnings.
#define CAPABILITY(name) PGTHAW_THREAD_ATTRIBUTE(capability(name))
// An RAII type that holds a capability from its constructor to its destructor.
#define SCOPED_CAPABILITY PGTHAW_THREAD_ATTRIBUTE(scoped_lockable)
// A member or variable that may be read or written only with `mu` held.
#define GUARDED_BY(mu) PGTHAW_THREAD_ATTRIBUTE(guarded_by(mu))
// A pointer whose target (not the pointer itself) is guarded by `mu`.
#define PT_GUARDED_BY(mu) PGTHAW_THREAD_ATTRIBUTE(pt_guarded_by(mu))
// Lock order: this mutex is taken after / before the named ones. Clang
// checks these only with -Wthread-safety-beta; they document the order.
#define ACQUIRED_AFTER(...) PGTHAW_THREAD_ATTRIBUTE(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) PGTHAW_THREAD_ATTRIBUTE(acquired_before(__VA_ARGS__))
// The caller must hold the capabilities (exclusively / shared) and still
// holds them when the function returns.
#define REQUIRES(...) PGTHAW_THREAD_ATTRIBUTE(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) PGTHAW_THREAD_ATTRIBUTE(requires_shared_capability(__VA_ARGS__))
// The function takes the capabilities (none named: `this`) and returns holding them.
#define ACQUIRE(...) PGTHAW_THREAD_ATTRIBUTE(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) PGTHAW_THREAD_ATTRIBUTE(acquire_shared_capability(__VA_ARGS__))
// The function gives up capabilities its caller held.
#define RELEASE(...) PGTHAW_THREAD_ATTRIBUTE(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) PGTHAW_THREAD_ATTRIBUTE(release_shared_capability(__VA_ARGS__))
// Takes the capability only when it returns `ok` (the first argument).
#define TRY_ACQUIRE(...) PGTHAW_THREAD_ATTRIBUTE(try_acquire_capability(__VA_ARGS__))
// The caller must not hold the capabilities (the function takes them itself).
#define EXCLUDES(...) PGTHAW_THREAD_ATTRIBUTE(locks_excluded(__VA_ARGS__))
// Tells the analysis that the capability is held from here on (no run-time check).
#define ASSERT_CAPABILITY(x) PGTHAW_THREAD_ATTRIBUTE(assert_capability(x))
// The function returns (a reference to) the named capability.
#define RETURN_CAPABILITY(x) PGTHAW_THREAD_ATTRIBUTE(lock_returned(x))
// The function's body is not analysed: for what the analysis cannot follow.
// Every use says why.
#define NO_THREAD_SAFETY_ANALYSIS PGTHAW_THREAD_ATTRIBUTE(no_thread_safety_analysis)

namespace pgthaw {

// std::mutex as a capability the analysis knows. Lockable (lock, unlock,
// try_lock), so std::scoped_lock and friends still work, though only
// MutexLock lets the analysis see the lock held.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mutex_.try_lock(); }

  // For the analysis only: the caller holds this mutex (no run-time check).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

  // The std::mutex underneath, for std::unique_lock (MutexLock uses it).
  std::mutex& native() RETURN_CAPABILITY(this) { return mutex_; }

 private:
  std::mutex mutex_;
};

// Holds a Mutex for its scope. It is a std::unique_lock<std::mutex>, so
// std::condition_variable waits on it as it is: the analysis treats a wait
// as a call that returns with the mutex held, which it does. A predicate
// lambda reading guarded state says so with REQUIRES(mutex) (the analysis
// looks at a lambda's body on its own, with nothing held).
//
// unlock() and lock() in between are seen by the analysis. Through a
// std::unique_lock<std::mutex>& (a helper that is handed the lock, see
// runtime.cc's HeldLock) they are the base class's and are not: the
// analysis cannot tell which Mutex such a reference holds.
class SCOPED_CAPABILITY MutexLock : public std::unique_lock<std::mutex> {
 public:
  explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : std::unique_lock<std::mutex>(mutex.native()) {}
  ~MutexLock() RELEASE() {}  // the base class unlocks if still held
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void lock() ACQUIRE() { std::unique_lock<std::mutex>::lock(); }
  void unlock() RELEASE() { std::unique_lock<std::mutex>::unlock(); }
};

}  // namespace pgthaw
