// engine::SessionSettings: a session's settings (GUCs) read and set through
// the engine's own C functions, never through SQL, so nothing here parses,
// plans, takes a snapshot or touches the transaction a client has open.
//
// Read: the current value of each named setting as SHOW shows it
// (GetConfigOptionByName: units, show hooks), or nullopt for a name the
// engine does not know. Safe at any point between exchanges: inside a
// transaction block, inside a failed one, in the middle of an extended
// exchange. Allocates nothing that outlives the call (the value Postgres
// pallocs is pfree'd, the names go on the guest stack).
//
// SetDefaults: makes name = value pairs the session's reset values, as
// Postgres applies a connection's startup-packet options (source
// PGC_S_CLIENT, context PGC_SU_BACKEND: the tenant's session user is a
// superuser), inside a transaction of its own as InitPostgres does (check
// hooks such as client_encoding's and role's need catalog access), so RESET,
// RESET ALL and DISCARD ALL return to them. Only at ReadyForQuery outside a
// transaction block. A later call first puts every name an earlier call set
// back to the server's own value (what the session has with no startup
// option: postgresql.conf, the command line, boot value, in that order of
// priority), then applies its own set; afterwards the current value of
// every name either call names is its new reset value, even one a SET
// changed since (the caller re-applies its connection's SETs after).
//
// The server's own value of a name is read from the engine's GUC record
// (its reset value) the first time a call names it, and kept here; Save()
// and Load() carry what is kept through a snapshot (snapshot meta.json), so
// a thawed instance goes on exactly as the one that was hibernated. A
// setting put back to the server's value keeps source "client" in
// pg_settings (Postgres has no call that lowers a source), the value is the
// server's.
//
// Errors: a value Postgres refuses (or an unknown name) is not applied and
// comes back in Postgres' own words for a startup option (severity FATAL,
// e.g. 22023 `invalid value for parameter "TimeZone": "nowhere"`, 42704
// `unrecognized configuration parameter "nosuch"`); the other settings are
// applied and the session stays usable. set_config_option reports at INFO
// (a NoticeResponse Postgres always sends the client and, by default, does
// not log), which is read back from the output. A check hook that raises an
// ERROR itself (TimeZone = 'interval ''nonsense''' does) leaves the export
// call through PostgresMain's handler (exit 100): the error recovery runs
// (PostgresMainLongJmp, then a Sync exchange, `sync`), its ErrorResponse is
// that setting's error, and the remaining settings go on in a new
// transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/export_recovery.h"
#include "pgwire/backend.h"
#include "wasm-rt.h"

namespace pgthaw::engine {

// Settings as a startup packet carries them, in order: name, value.
using SettingValues = std::vector<std::pair<std::string, std::string>>;

class SessionSettings {
 public:
  // What SetDefaults needs of the instance after an ERROR left an export
  // call (export_recovery.h).
  using Recovery = ExportRecovery;

  // `recovery` is used only if the engine runs out of memory.
  Result<std::vector<std::optional<std::string>>> Read(host::Host& host,
                                                       const std::vector<std::string>& names,
                                                       const Recovery& recovery);

  // One error per setting that was not applied, in the order given.
  Result<std::vector<pgwire::ErrorFields>> SetDefaults(host::Host& host,
                                                       const SettingValues& settings,
                                                       const Recovery& recovery);

  // What is kept, as JSON for a snapshot's meta.json ("" when nothing is),
  // and back.
  std::string Save() const;
  Status Load(const std::string& saved);

 private:
  struct Exports {
    const host::Host* host = nullptr;
    wasm_rt_function_ptr_t find_option, get_by_name, get_option, set_option, pfree, stack_alloc,
        start_xact, commit_xact, flush;
  };
  Status Resolve(host::Host& host);
  // The reset value of every name in `names` not yet in server_values_.
  Status RecordServerValues(host::Host& host, const std::vector<std::string>& names,
                            const Recovery& recovery);

  Exports fn_;
  // Lower-cased name -> the server's own value, for every name SetDefaults
  // was given.
  std::map<std::string, std::string> server_values_;
  // Lower-cased names whose reset value is the last SetDefaults' value.
  std::vector<std::string> in_force_;
};

}  // namespace pgthaw::engine
