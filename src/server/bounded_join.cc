#include "server/bounded_join.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace pgthaw::server {

bool join_by(boost::asio::thread_pool& pool, std::chrono::steady_clock::time_point deadline) {
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    pool.join();
    return true;
  }
  struct Joined {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
  };
  auto joined = std::make_shared<Joined>();
  std::thread([&pool, joined] {
    pool.join();
    std::lock_guard lock(joined->mutex);
    joined->done = true;
    joined->cv.notify_all();
  }).detach();
  std::unique_lock lock(joined->mutex);
  return joined->cv.wait_until(lock, deadline, [&] { return joined->done; });
}

}  // namespace pgthaw::server
