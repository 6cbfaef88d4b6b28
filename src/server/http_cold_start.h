// ColdStarter: answers a query from a brand-new instance, bypassing the
// runtime and its warm pool: the seed's "force cold start (new DO)".
//
// Each call restores the template into a fresh scratch directory
// (SCRATCH_ROOT/cold-XXXXXX, an overlay on the template's data directory),
// runs the query, abandons the instance and removes the directory, so
// nothing accumulates on disk. The timings report the creation as thawUs
// with coldKind "created". The instance comes from the runtime's
// ScratchTemplate (runtime/scratch.h), under the server's statement limit.
//
// Thread-safe; calls run on the given (blocking) thread pool, never on an
// io thread.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <string>

#include "runtime/scratch.h"
#include "server/http_reply.h"
#include "server/query_json.h"

namespace pgthaw::server {

class ColdStarter {
 public:
  // `pool` is not owned and must outlive every Run().
  ColdStarter(runtime::ScratchTemplate tmpl, std::string scratch_root,
              boost::asio::thread_pool& pool)
      : template_(std::move(tmpl)), scratch_root_(std::move(scratch_root)), pool_(pool) {}

  void Run(const QueryRequest& request, std::chrono::steady_clock::time_point start,
           Respond respond);

  const std::string& scratch_root() const { return scratch_root_; }
  // The server's --statement-timeout for these throwaway instances too; set
  // before the first Run().
  void set_statement_timeout_ms(int64_t ms) { statement_timeout_ms_ = ms; }
  // The server's --max-queued-per-tenant for cold starts as for one tenant:
  // a Run() past that many waiting or running is refused at once (503,
  // "too many requests queued") instead of queueing without bound. 0: no cap.
  void set_max_pending(uint64_t n) { max_pending_ = n; }

 private:
  int64_t statement_timeout_ms_ = 0;
  uint64_t max_pending_ = 0;
  std::atomic<uint64_t> pending_{0};
  const runtime::ScratchTemplate template_;
  const std::string scratch_root_;
  boost::asio::thread_pool& pool_;
};

}  // namespace pgthaw::server
