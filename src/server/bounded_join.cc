#include "server/bounded_join.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/thread_annotations.h"

namespace pgthaw::server {

bool join_by(boost::asio::thread_pool& pool, std::chrono::steady_clock::time_point deadline) {
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    pool.join();
    return true;
  }
  struct Joined {
    Mutex mutex;
    std::condition_variable cv;
    bool done GUARDED_BY(mutex) = false;
  };
  auto joined = std::make_shared<Joined>();
  std::thread([&pool, joined] {
    pool.join();
    MutexLock lock(joined->mutex);
    joined->done = true;
    joined->cv.notify_all();
  }).detach();
  MutexLock lock(joined->mutex);
  return joined->cv.wait_until(lock, deadline,
                               [&]() REQUIRES(joined->mutex) { return joined->done; });
}

}  // namespace pgthaw::server
