// join_by: joining a thread pool whose threads may be stuck in guest code
// (an endless loop in a query), without waiting forever.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>

namespace pgthaw::server {

// Joins `pool` if that is done by `deadline` (time_point::max(): wait as
// long as it takes) and returns true. Otherwise returns false and a detached
// thread goes on joining: `pool` must then never be destroyed (its
// destructor would join again), so its owner is leaked and the process
// should exit.
bool join_by(boost::asio::thread_pool& pool, std::chrono::steady_clock::time_point deadline);

}  // namespace pgthaw::server
