// engine::recover_export_call (export_recovery.h says when and why).
#include "engine/export_recovery.h"

#include <algorithm>
#include <string>

#include "host/host.h"
#include "pgwire/wire_format.h"

namespace pgthaw::engine {

std::vector<pgwire::ErrorFields> reports_in(std::string_view bytes) {
  std::vector<pgwire::ErrorFields> out;
  auto messages = pgwire::split_messages(bytes);
  if (!messages.ok()) return out;
  for (const pgwire::MessageView& m : *messages) {
    if (m.type != 'N' && m.type != 'E') continue;
    auto fields = pgwire::decode_error_fields(m.payload);
    if (fields.ok()) out.push_back(std::move(fields).value());
  }
  return out;
}

Result<std::vector<pgwire::ErrorFields>> recover_export_call(host::Host& host,
                                                             const host::CallOutcome& out,
                                                             const ExportRecovery& recovery,
                                                             const char* what) {
  if (out.kind == host::CallOutcome::kTrapped) {
    return Status::EngineTrap(std::string("the engine trapped on ") + what + ": " + out.trap);
  }
  if (out.kind == host::CallOutcome::kExited && out.exit_status != kExitMainLongjmp) {
    recovery.backend_exited();
    return Status::EngineError("the backend exited with status " + std::to_string(out.exit_status) +
                               " on " + what);
  }
  wasm_rt_function_ptr_t long_jmp = host.ExportFunction("PostgresMainLongJmp");
  wasm_rt_function_ptr_t flush = host.ExportFunction("pgl_pq_flush");
  if (long_jmp == nullptr || flush == nullptr) {
    recovery.backend_exited();
    return Status::Internal("the engine lacks the exports an error recovery needs");
  }
  // The handler's half the exchange loop runs: it aborts the transaction
  // and sends the ErrorResponse. Then a Sync ends a skip to Sync and sends
  // the ReadyForQuery the handler asked for (both dropped).
  const size_t from = host.wire().output().size();
  host::CallOutcome recovered = host.Call([&] {
    host.Invoke<void>(long_jmp);
    host.Invoke<void>(flush);
  });
  if (recovered.kind == host::CallOutcome::kTrapped) {
    return Status::EngineTrap("error recovery trapped: " + recovered.trap);
  }
  std::vector<pgwire::ErrorFields> reports = reports_in(
      std::string_view(host.wire().output()).substr(std::min(from, host.wire().output().size())));
  host.wire().output().clear();
  if (recovered.kind == host::CallOutcome::kExited) {
    recovery.backend_exited();
    return Status::EngineError("the backend exited during error recovery");
  }
  PGTHAW_RETURN_IF_ERROR(recovery.sync());
  return reports;
}

}  // namespace pgthaw::engine
