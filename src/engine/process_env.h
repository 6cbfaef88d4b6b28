// The command lines and environments PGlite's glue gives its programs
// (pglite-host-abi.md §2.2, §2.3, §2.5), in one place.
#pragma once

#include <string>
#include <vector>

namespace pgthaw::engine {

inline constexpr const char* kPostgresProgram = "/pglite/bin/postgres";
inline constexpr const char* kInitdbProgram = "/pglite/bin/initdb";
inline constexpr const char* kDataDir = "/pglite/data";

// Environment of the backend (main instance and initdb's postgres helper).
std::vector<std::string> postgres_environment();
// Environment of initdb.wasm.
std::vector<std::string> initdb_environment();
// `postgres --single ... -D /pglite/data postgres` as PGlite starts it.
// Without `durable`, -F turns fsync off as PGlite does.
std::vector<std::string> backend_arguments(bool durable);
// initdb's arguments as PGlite passes them.
std::vector<std::string> initdb_arguments();

}  // namespace pgthaw::engine
