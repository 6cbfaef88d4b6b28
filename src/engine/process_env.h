// The command lines and environments PGlite's glue gives its programs
// (pglite-host-abi.md §2.2, §2.3, §2.5), in one place.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/guest_files.h"

namespace pgthaw::engine {

inline constexpr const char* kPostgresProgram = "/pglite/bin/postgres";
inline constexpr const char* kInitdbProgram = "/pglite/bin/initdb";
inline constexpr const char* kDataDir = host::kGuestDataDir;

// Environment of the backend (main instance and initdb's postgres helper).
std::vector<std::string> postgres_environment();
// Environment of initdb.wasm.
std::vector<std::string> initdb_environment();
// `postgres --single ... -D /pglite/data postgres` as PGlite starts it.
// Without `durable`, -F turns fsync off as PGlite does.
std::vector<std::string> backend_arguments(bool durable);

// Settings pgthaw gives on the command line, where they win over the
// tenant's postgresql.conf and postgresql.auto.conf (ALTER SYSTEM): those a
// tenant could set to make its own next boot fail (a library to preload
// that does not exist, shared memory the instance may not have).
struct PinnedSetting {
  std::string_view name, value;
};
inline constexpr PinnedSetting kPinnedSettings[] = {
    // The values initdb gives PGlite's postgresql.conf, and Postgres' defaults.
    {"shared_preload_libraries", ""},  {"session_preload_libraries", ""},
    {"local_preload_libraries", ""},   {"shared_buffers", "128MB"},
    {"max_connections", "100"},        {"max_locks_per_transaction", "64"},
    {"max_prepared_transactions", "0"}};

// Logs a warning for each pinned setting DATA_DIR's postgresql.auto.conf
// tries to change: it is ignored.
void report_overridden_settings(const std::string& data_dir, const std::string& tenant);
// initdb's arguments as PGlite passes them.
std::vector<std::string> initdb_arguments();

}  // namespace pgthaw::engine
