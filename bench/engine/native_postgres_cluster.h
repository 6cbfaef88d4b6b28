// native_postgres_cluster: the pieces of the native PostgreSQL benchmark
// other benchmarks reuse (bench/runner): who the PG binaries run as (nobody
// via setpriv when root), a private cluster directory, a unix-socket
// connection, and a Server that is stopped on every error path.
#pragma once

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/status.h"
#include "stopwatch.h"
#include "subprocess.h"

namespace pgthaw::bench::native_pg {

constexpr const char* kRunAsUser = "nobody";
constexpr const char* kSuperuser = "postgres";
constexpr double kReadyLimitMs = 60000;  // safety bound for the direct boot

// Who the PG binaries run as: ourselves, or (when root) kRunAsUser.
struct RunAs {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string setpriv;

  std::vector<std::string> Wrap(std::vector<std::string> argv) const {
    if (!drop) return argv;
    std::vector<std::string> out = {setpriv, "--reuid=" + std::to_string(uid),
                                    "--regid=" + std::to_string(gid), "--clear-groups", "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }
};

inline Result<RunAs> choose_run_as() {
  RunAs run_as;
  if (geteuid() != 0) return run_as;
  passwd* pw = getpwnam(kRunAsUser);
  if (pw == nullptr) return Status::NotFound(std::string("no user '") + kRunAsUser + "'");
  std::optional<std::string> setpriv = find_executable("setpriv");
  if (!setpriv) return Status::NotFound("running as root needs setpriv (util-linux) in PATH");
  run_as.drop = true;
  run_as.uid = pw->pw_uid;
  run_as.gid = pw->pw_gid;
  run_as.setpriv = *setpriv;
  return run_as;
}

// Prepares WORK_DIR/native for RUN_AS: created 0700 and, when dropping
// privileges, owned by that user, with WORK_DIR and its ancestors passable.
inline Result<std::string> prepare_dir(const std::string& work_dir, const RunAs& run_as) {
  std::string dir = work_dir + "/native";
  if (mkdir(dir.c_str(), 0700) != 0) return Status::FromErrno("mkdir " + dir, errno);
  if (!run_as.drop) return dir;
  if (chown(dir.c_str(), run_as.uid, run_as.gid) != 0) {
    return Status::FromErrno("chown " + dir, errno);
  }
  struct stat st;
  if (stat(work_dir.c_str(), &st) != 0) return Status::FromErrno("stat " + work_dir, errno);
  if (chmod(work_dir.c_str(), (st.st_mode & 07777) | S_IXOTH) != 0) {
    return Status::FromErrno("chmod o+x " + work_dir, errno);
  }
  // Every ancestor must let `nobody` through, or initdb fails obscurely.
  std::string path = work_dir;
  while (true) {
    size_t slash = path.find_last_of('/');
    if (slash == std::string::npos || slash == 0) break;
    path.resize(slash);
    if (stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path, errno);
    if ((st.st_mode & S_IXOTH) == 0 && st.st_uid != run_as.uid) {
      return Status::InvalidArgument(path + " is not passable by user " + kRunAsUser +
                                     ", who runs Postgres; put the work dir under /tmp");
    }
  }
  return dir;
}

// A TCP port nobody listens on now. The server listens on a unix socket
// only; the port names the socket file and seeds the shared memory key.
inline Result<int> free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    close(fd);
    return Status::FromErrno("bind 127.0.0.1:0", e);
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

inline std::string tail(const std::string& text, size_t max = 2000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs ARGV; a non-zero exit is an error carrying its output.
inline Status run_checked(const std::vector<std::string>& argv, const std::string& cwd) {
  Result<CommandResult> r = run_command(argv, {cwd});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return Status::Internal(join_argv(argv) + " exited " + std::to_string(r->exit_code) + ": " +
                            tail(r->err + r->out));
  }
  return Status::Ok();
}

inline std::string quote_conf(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

using PgConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;

// Connection parameters for the private socket.
class ConnInfo {
 public:
  ConnInfo(std::string socket_dir, int port)
      : socket_dir_(std::move(socket_dir)), port_(std::to_string(port)) {}
  const char* const* keywords() const { return kKeywords; }
  const char* const* values() {
    values_[0] = socket_dir_.c_str();
    values_[1] = port_.c_str();
    return values_;
  }

 private:
  static constexpr const char* kKeywords[] = {"host", "port", "user", "dbname", nullptr};
  std::string socket_dir_;
  std::string port_;
  const char* values_[5] = {nullptr, nullptr, kSuperuser, kSuperuser, nullptr};
};

inline Result<PgConn> connect(ConnInfo& info) {
  PgConn conn(PQconnectdbParams(info.keywords(), info.values(), 0), &PQfinish);
  if (conn == nullptr) return Status::ResourceExhausted("PQconnectdbParams returned null");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Status::Unavailable(std::string("connect: ") + PQerrorMessage(conn.get()));
  }
  return conn;
}

// Runs SQL with PQexec; VALUE (if given) gets row 0 column 0.
inline Status exec(PGconn* conn, const std::string& sql, std::string* value = nullptr) {
  std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn, sql.c_str()), &PQclear);
  ExecStatusType st = PQresultStatus(res.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return Status::EngineError("'" + sql + "': " + PQerrorMessage(conn));
  }
  if (value != nullptr) {
    if (PQntuples(res.get()) < 1) return Status::Internal("'" + sql + "' returned no row");
    *value = PQgetvalue(res.get(), 0, 0);
  }
  return Status::Ok();
}

// The server on DATA_DIR; the destructor stops it if it still runs, so
// every error path of the measurement shuts it down.
class Server {
 public:
  Server(std::string bindir, std::string dir, const RunAs& run_as)
      : bindir_(std::move(bindir)),
        dir_(std::move(dir)),
        data_dir_(dir_ + "/data"),
        run_as_(run_as) {}
  ~Server() {
    if (running_) {
      Status st = Stop();
      // Nothing to return it to; say so rather than leave a server behind
      // silently.
      if (!st.ok()) std::fprintf(stderr, "native PG: stop failed: %s\n", st.ToString().c_str());
    }
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::string& data_dir() const { return data_dir_; }

  Status Initdb() {
    return run_checked(run_as_.Wrap({bindir_ + "/initdb", "-D", data_dir_, "-U", kSuperuser}),
                       dir_);
  }

  // pg_ctl start -w: returns once the server accepts connections.
  Status StartPgCtl() {
    running_ = true;  // even a failed start may leave a postmaster behind
    return run_checked(run_as_.Wrap({bindir_ + "/pg_ctl", "start", "-w", "-D", data_dir_, "-l",
                                     dir_ + "/server.log"}),
                       dir_);
  }

  // Starts postgres itself, no pg_ctl, and returns at once.
  Status StartDirect() {
    Result<pid_t> pid = spawn_background(run_as_.Wrap({bindir_ + "/postgres", "-D", data_dir_}),
                                         dir_ + "/direct.log", {dir_});
    if (!pid.ok()) return pid.status();
    running_ = true;
    direct_pid_ = pid.value();
    return Status::Ok();
  }
  // True while a directly started postgres has not exited.
  bool DirectAlive() const { return direct_pid_ > 0 && !child_exited(direct_pid_); }
  std::string DirectLog() const { return tail(read_file(dir_ + "/direct.log")); }

  Status Stop() {
    running_ = false;
    Status st = run_checked(
        run_as_.Wrap({bindir_ + "/pg_ctl", "stop", "-m", "fast", "-w", "-D", data_dir_}), dir_);
    if (direct_pid_ > 0) {
      Result<int> code = wait_child(direct_pid_);
      direct_pid_ = -1;
      if (st.ok() && !code.ok()) st = code.status();
    }
    return st;
  }

 private:
  std::string bindir_;
  std::string dir_;
  std::string data_dir_;
  RunAs run_as_;
  bool running_ = false;
  pid_t direct_pid_ = -1;
};

inline void sleep_us(long us) {
  timespec ts{0, us * 1000};
  nanosleep(&ts, nullptr);
}

// Direct boot: postgres started without pg_ctl, PQping'ed until it accepts
// connections, then connected. Returns the ms from spawn to connection.
inline Result<double> time_direct_boot(Server& server, ConnInfo& info) {
  Stopwatch watch;
  PGTHAW_RETURN_IF_ERROR(server.StartDirect());
  while (PQpingParams(info.keywords(), info.values(), 0) != PQPING_OK) {
    if (!server.DirectAlive()) {
      return Status::Internal("postgres exited during startup: " + server.DirectLog());
    }
    if (watch.ElapsedMs() > kReadyLimitMs) {
      return Status::Unavailable("postgres not ready after 60 s: " + server.DirectLog());
    }
    sleep_us(200);
  }
  Result<PgConn> conn = connect(info);
  if (!conn.ok()) return conn.status();
  double ms = watch.ElapsedMs();
  PGTHAW_RETURN_IF_ERROR(exec(conn->get(), "select 1"));
  conn->reset();
  PGTHAW_RETURN_IF_ERROR(server.Stop());
  return ms;
}

}  // namespace pgthaw::bench::native_pg
