#include "server/session_sync.h"

#include <string>

#include "pgwire/backend.h"
#include "pgwire/frontend.h"
#include "pgwire/wire_format.h"

namespace pgthaw::server {

bool ends_at_ready(std::string_view reply) {
  auto messages = pgwire::split_messages(reply);
  return messages.ok() && !messages->empty() &&
         messages->back().type == pgwire::backend_type::kReadyForQuery &&
         messages->back().payload.size() == 1;
}

Result<char> sync_engine(runtime::Session& instance) {
  std::string sync;
  pgwire::frontend::sync(sync);
  Result<std::string> reply = instance.Exec(sync);
  if (!reply.ok()) return reply.status();
  if (!ends_at_ready(reply.value())) {
    return Status::EngineError("the engine did not answer Sync with ReadyForQuery");
  }
  return reply.value().back();  // the status byte of the trailing ReadyForQuery
}

}  // namespace pgthaw::server
