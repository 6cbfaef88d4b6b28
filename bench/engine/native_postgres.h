// native_postgres: the engine benchmark's rows for Debian's native
// PostgreSQL 15, driven through its own tools (initdb, pg_ctl) and libpq
// over a unix socket in a private directory.
//
// Users. Postgres refuses to run as root. When this process is root, every
// PG binary runs as the system user `nobody` through util-linux `setpriv`
// (present on a fresh Debian 12; no user is created and no PAM session is
// opened); the benchmark's files go in WORK_DIR/native, owned by nobody, and
// WORK_DIR gets o+x so nobody can reach it. As a normal user, the binaries
// run as that user and nothing changes owner.
#pragma once

#include <optional>
#include <string>

#include "bench_rows.h"
#include "common/status.h"

namespace pgthaw::bench {

inline constexpr const char* kDefaultPgBindir = "/usr/lib/postgresql/15/bin";

// Why native PG cannot run here (binaries or setpriv missing), or nullopt.
std::optional<std::string> native_postgres_missing(const std::string& bindir = kDefaultPgBindir);

// Measures rows 1-5 in WORK_DIR/native; the server is stopped before this
// returns (pg_ctl stop -m fast), on success and on every error.
//   initdb_ms  plain `initdb` (fsyncs its files; the user's defaults but
//              -U postgres) + `pg_ctl start -w` + PQconnectdb.
//   boot_ms    `pg_ctl start -w` of that dir after a clean stop + PQconnectdb.
//              pg_ctl polls for readiness every 100 ms, so extras carry
//              boot_direct_ms: postgres started directly, PQping'ed every
//              0.2 ms, then connected.
Result<EngineBenchRows> measure_native_postgres(const std::string& work_dir,
                                                const std::string& bindir = kDefaultPgBindir);

}  // namespace pgthaw::bench
