// subprocess: runs the benchmark's helper programs (node, initdb, pg_ctl,
// postgres) with posix_spawn; no shell in between, so arguments need no
// quoting. Linux/glibc: uses posix_spawn_file_actions_addchdir_np (2.29+).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgthaw::bench {

struct CommandResult {
  int exit_code = -1;  // 128 + signal number when a signal ended it
  std::string out;     // everything it wrote to stdout
  std::string err;     // everything it wrote to stderr
};

struct CommandOptions {
  std::string cwd;  // empty: inherit ours
};

// Runs ARGV (argv[0] looked up in PATH when it has no '/') to completion,
// stdin from /dev/null, capturing stdout and stderr. A non-zero exit is a
// CommandResult, not an error; failing to start it is.
Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                  const CommandOptions& options = {});

// Starts ARGV in the background, stdin from /dev/null, stdout and stderr
// appended to LOG_PATH. The caller reaps it with wait_child().
Result<pid_t> spawn_background(const std::vector<std::string>& argv, const std::string& log_path,
                               const CommandOptions& options = {});

// Waits for PID; returns its exit code (128 + signal when killed).
Result<int> wait_child(pid_t pid);

// True when PID has already exited (and reaps it).
bool child_exited(pid_t pid);

// The full path of NAME found in PATH (or NAME itself when it holds a '/'
// and is executable); nullopt when there is none.
std::optional<std::string> find_executable(const std::string& name);

// "argv[0] argv[1] ..." for messages.
std::string join_argv(const std::vector<std::string>& argv);

}  // namespace pgthaw::bench
