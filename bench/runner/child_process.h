// child_process: a server the runner starts (pgthaw serve, the PGlite Node
// server, wrangler dev) and always stops: SIGTERM, then SIGKILL after a
// grace period, from Stop() or the destructor. Output goes to a log file
// whose tail explains a failed start. Owned by the runner's one thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgthaw::bench {

class ChildProcess {
 public:
  static Result<std::unique_ptr<ChildProcess>> Start(const std::string& name,
                                                     const std::vector<std::string>& argv,
                                                     const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Alive();
  // Last lines of the log, for error messages.
  std::string LogTail() const;
  // Polls GET URL/PATH until it answers 200 or TIMEOUT_MS passes or the
  // process exits.
  Status WaitHttpReady(const std::string& url, const std::string& path, double timeout_ms);
  // SIGTERM, wait up to GRACE_MS, then SIGKILL.
  void Stop(double grace_ms = 15000);

 private:
  ChildProcess(std::string name, pid_t pid, std::string log_path)
      : name_(std::move(name)), pid_(pid), log_path_(std::move(log_path)) {}
  std::string name_;
  pid_t pid_;
  std::string log_path_;
  bool exited_ = false;
};

// A loopback TCP port free right now.
Result<int> free_loopback_port();

}  // namespace pgthaw::bench
