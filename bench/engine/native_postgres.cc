// native_postgres: times native PostgreSQL 15 (initdb, pg_ctl, libpq).
#include "native_postgres.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "native_postgres_cluster.h"
#include "stopwatch.h"
#include "subprocess.h"

namespace pgthaw::bench {
using namespace native_pg;  // NOLINT: the helpers moved to native_postgres_cluster.h

std::optional<std::string> native_postgres_missing(const std::string& bindir) {
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    std::string path = bindir + "/" + tool;
    if (access(path.c_str(), X_OK) != 0) {
      return path + " not found (Debian: apt-get install postgresql-15)";
    }
  }
  Result<RunAs> run_as = choose_run_as();
  if (!run_as.ok()) return run_as.status().message();
  return std::nullopt;
}

Result<EngineBenchRows> measure_native_postgres(const std::string& work_dir,
                                                const std::string& bindir) {
  EngineBenchRows rows;
  rows.system = kSystemNativePg;
  Result<RunAs> run_as = choose_run_as();
  if (!run_as.ok()) return run_as.status();
  rows.notes = std::string("libpq PQexec over a unix socket; defaults (fsync on); initdb_ms = ") +
               "initdb + pg_ctl start -w + connect; binaries run as " +
               (run_as->drop ? std::string(kRunAsUser) + " via setpriv" : "the current user");
  Result<std::string> dir = prepare_dir(work_dir, run_as.value());
  if (!dir.ok()) return dir.status();
  Result<int> port = free_port();
  if (!port.ok()) return port.status();
  ConnInfo info(dir.value(), port.value());
  Server server(bindir, dir.value(), run_as.value());

  // Row 1: initdb until it answers queries.
  Stopwatch watch;
  PGTHAW_RETURN_IF_ERROR(server.Initdb());
  double initdb_only_ms = watch.ElapsedMs();
  {
    // Untimed-ish (microseconds): a private socket, no TCP.
    std::ofstream conf(server.data_dir() + "/postgresql.conf", std::ios::app);
    conf << "\n# pgthaw bench: a private unix socket only\nlisten_addresses = ''\n"
         << "unix_socket_directories = " << quote_conf(dir.value()) << "\n"
         << "port = " << port.value() << "\n";
    if (!conf) return Status::IoError("append to " + server.data_dir() + "/postgresql.conf");
  }
  PGTHAW_RETURN_IF_ERROR(server.StartPgCtl());
  Result<PgConn> conn = connect(info);
  if (!conn.ok()) return conn.status();
  rows.initdb_ms = watch.ElapsedMs();
  rows.extras.emplace_back("initdb_only_ms", initdb_only_ms);
  PGTHAW_RETURN_IF_ERROR(exec(conn->get(), "select 1"));  // untimed: it answers
  conn->reset();
  PGTHAW_RETURN_IF_ERROR(server.Stop());

  // Extra: boot without pg_ctl's 100 ms polling.
  Result<double> direct_ms = time_direct_boot(server, info);
  if (!direct_ms.ok()) return direct_ms.status();
  rows.extras.emplace_back("boot_direct_ms", direct_ms.value());

  // Row 2: boot of the cleanly stopped directory.
  watch.Restart();
  PGTHAW_RETURN_IF_ERROR(server.StartPgCtl());
  double pg_ctl_ms = watch.ElapsedMs();
  conn = connect(info);
  if (!conn.ok()) return conn.status();
  rows.boot_ms = watch.ElapsedMs();
  rows.extras.emplace_back("boot_pg_ctl_only_ms", pg_ctl_ms);
  PGconn* db = conn->get();

  // Row 3: first query.
  watch.Restart();
  PGTHAW_RETURN_IF_ERROR(exec(db, "select 1"));
  rows.first_query_ms = watch.ElapsedMs();

  // Row 4: warm select 1.
  for (int i = 0; i < kWarmupQueries; ++i) PGTHAW_RETURN_IF_ERROR(exec(db, "select 1"));
  watch.Restart();
  for (int i = 0; i < kWarmQueries; ++i) PGTHAW_RETURN_IF_ERROR(exec(db, "select 1"));
  rows.warm_select1_us = watch.ElapsedMs() * 1000.0 / kWarmQueries;

  // Row 5: 10,000 single-row inserts in one transaction.
  PGTHAW_RETURN_IF_ERROR(
      exec(db, "create table bench_insert (id integer primary key, payload text)"));
  watch.Restart();
  PGTHAW_RETURN_IF_ERROR(exec(db, "begin"));
  for (int i = 0; i < kInsertRows; ++i) {
    std::string n = std::to_string(i);
    PGTHAW_RETURN_IF_ERROR(
        exec(db, "insert into bench_insert values (" + n + ", 'row " + n + "')"));
  }
  PGTHAW_RETURN_IF_ERROR(exec(db, "commit"));
  rows.insert10k_ms = watch.ElapsedMs();

  std::string count;
  PGTHAW_RETURN_IF_ERROR(exec(db, "select count(*) from bench_insert", &count));
  if (count != std::to_string(kInsertRows)) {
    return Status::Internal("expected " + std::to_string(kInsertRows) +
                            " rows after commit, found " + count);
  }
  std::string version;
  PGTHAW_RETURN_IF_ERROR(exec(db, "select version()", &version));
  rows.version = version.substr(0, version.find(" on "));
  conn->reset();
  PGTHAW_RETURN_IF_ERROR(server.Stop());
  return rows;
}

}  // namespace pgthaw::bench
