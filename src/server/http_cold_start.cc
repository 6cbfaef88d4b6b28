#include "server/http_cold_start.h"

#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <boost/asio/post.hpp>
#include <filesystem>

#include "runtime/admission.h"
#include "runtime/runtime.h"
#include "server/http_query_exec.h"

namespace pgthaw::server {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void ColdStarter::Run(const QueryRequest& request, Clock::time_point start, Respond respond) {
  auto wire = encode_query(request);
  if (!wire.ok()) return respond(status_reply(wire.status()));
  if (pending_.fetch_add(1) >= max_pending_ && max_pending_ != 0) {
    pending_.fetch_sub(1);
    return respond(status_reply(runtime::QueueFullError("cold-start", max_pending_)));
  }
  boost::asio::post(
      pool_, [this, wire = std::move(wire).value(), start, respond = std::move(respond)]() mutable {
        struct Done {
          std::atomic<uint64_t>& pending;
          ~Done() { pending.fetch_sub(1); }
        } done{pending_};
        QueryTimings timings;
        timings.queue_us = micros_since(start);
        timings.cold = true;
        timings.cold_kind = runtime::cold_kind_name(runtime::ColdKind::kCreated);
        std::error_code ec;
        fs::create_directories(scratch_root_, ec);
        std::string pattern = scratch_root_ + "/cold-XXXXXX";
        if (mkdtemp(pattern.data()) == nullptr) {
          return respond(with_timings(status_reply(Status::FromErrno("mkdtemp " + pattern, errno)),
                                      timings, start));
        }
        const std::string dir = pattern;
        Clock::time_point thaw_start = Clock::now();
        auto instance = template_.New(dir + "/data", statement_timeout_ms_);
        timings.thaw_us = micros_since(thaw_start);
        Reply reply = instance.ok() ? execute_query((*instance)->session(), wire, timings, start)
                                    : with_timings(status_reply(instance.status()), timings, start);
        // Nothing of a throwaway instance is worth a shutdown checkpoint.
        if (instance.ok()) {
          (*instance)->Abandon();
          instance.value().reset();
        }
        fs::remove_all(dir, ec);
        if (ec) spdlog::warn("cold start: remove {}: {}", dir, ec.message());
        respond(std::move(reply));
      });
}

}  // namespace pgthaw::server
