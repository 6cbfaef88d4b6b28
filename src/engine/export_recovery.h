// Recovery after an engine export called by the host (not through the wire
// protocol) left by an ERROR.
//
// The host calls some of Postgres' own C functions directly, between
// exchanges: GUCs (session_settings.h), buffer eviction (buffer_eviction.h).
// An ERROR raised inside one reaches PostgresMain's handler, which PGlite
// ends with exit(100) (pgl_longjmp). recover_export_call() runs the
// handler's second half as the exchange loop does (PostgresMainLongJmp: the
// transaction is aborted, the ErrorResponse is sent), then a Sync exchange
// through `sync`, so the instance is back at ReadyForQuery.
#pragma once

#include <functional>
#include <vector>

#include "common/status.h"
#include "pgwire/backend.h"

namespace pgthaw::host {
class Host;
struct CallOutcome;
}  // namespace pgthaw::host

namespace pgthaw::engine {

// exit(100) in PGlite's pgl_longjmp: an ERROR reached PostgresMain's handler.
inline constexpr int kExitMainLongjmp = 100;

// What a recovery needs of the instance: a Sync exchange (its reply
// dropped), and what to do when the backend exited instead.
struct ExportRecovery {
  std::function<Status()> sync;
  std::function<void()> backend_exited;
};

// After a call that did not return (`out`): a trap or an exit is reported
// (an exit through `recovery.backend_exited`); an ERROR is recovered from.
// Returns the reports the recovery sent (the ErrorResponse); the host's
// wire().output() is left empty. `what` names the call in messages.
Result<std::vector<pgwire::ErrorFields>> recover_export_call(host::Host& host,
                                                             const host::CallOutcome& out,
                                                             const ExportRecovery& recovery,
                                                             const char* what);

// The NoticeResponse and ErrorResponse messages in `bytes`.
std::vector<pgwire::ErrorFields> reports_in(std::string_view bytes);

}  // namespace pgthaw::engine
