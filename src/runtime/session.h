// runtime::Session: what a work item may do with its tenant's engine
// session. The runtime hands one to each work item (Runtime::Work) and to
// holders of a scratch instance (scratch.h); it is the only way server/
// reaches guest code. A view: valid for the duration of the work item.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/instance.h"

namespace pgthaw::runtime {

class Session {
 public:
  explicit Session(engine::Instance& instance) : instance_(instance) {}

  // Runs protocol messages; with `max_reply_bytes` (0: none) a bigger reply
  // is dropped (kResourceExhausted). See engine::Instance::Exec.
  Result<std::string> Exec(std::string_view messages, size_t max_reply_bytes = 0) {
    return instance_.Exec(messages, max_reply_bytes);
  }
  bool InTransaction() const { return instance_.InTransaction(); }
  bool alive() const { return instance_.alive(); }
  // Changes when the tenant's engine session is replaced (a reboot, a thaw).
  const void* identity() const { return &instance_; }

  // For the runtime and its tests.
  engine::Instance& instance() { return instance_; }

 private:
  engine::Instance& instance_;
};

}  // namespace pgthaw::runtime
