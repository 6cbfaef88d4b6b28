// child_process: spawn, readiness polling and a bounded stop.
#include "child_process.h"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "bench/engine/native_postgres_cluster.h"
#include "bench/engine/stopwatch.h"
#include "bench/engine/subprocess.h"
#include "http_client.h"

namespace pgthaw::bench {

Result<int> free_loopback_port() { return native_pg::free_port(); }

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::string& name,
                                                          const std::vector<std::string>& argv,
                                                          const std::string& log_path) {
  Result<pid_t> pid = spawn_background(argv, log_path);
  if (!pid.ok()) return pid.status().Annotate(name + ": ");
  return std::unique_ptr<ChildProcess>(new ChildProcess(name, pid.value(), log_path));
}

ChildProcess::~ChildProcess() { Stop(); }

bool ChildProcess::Alive() {
  if (exited_) return false;
  if (child_exited(pid_)) exited_ = true;
  return !exited_;
}

std::string ChildProcess::LogTail() const {
  return native_pg::tail(native_pg::read_file(log_path_), 1500);
}

Status ChildProcess::WaitHttpReady(const std::string& url, const std::string& path,
                                   double timeout_ms) {
  Result<std::unique_ptr<HttpClient>> client = HttpClient::Create(url);
  if (!client.ok()) return client.status();
  Stopwatch watch;
  while (watch.ElapsedMs() < timeout_ms) {
    if (!Alive()) return Status::Unavailable(name_ + " exited during startup: " + LogTail());
    Result<HttpReply> r = (*client)->Get(path);
    if (r.ok() && r->status == 200) return Status::Ok();
    (*client)->Close();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Unavailable(name_ + " not ready at " + url + path + " after " +
                             std::to_string(static_cast<int>(timeout_ms / 1000)) +
                             " s: " + LogTail());
}

void ChildProcess::Stop(double grace_ms) {
  if (!Alive()) return;
  kill(pid_, SIGTERM);
  Stopwatch watch;
  while (watch.ElapsedMs() < grace_ms) {
    if (!Alive()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  Result<int> code = wait_child(pid_);
  (void)code;  // killed: its exit code says only that
  exited_ = true;
}

}  // namespace pgthaw::bench
