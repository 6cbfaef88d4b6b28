// subprocess: posix_spawn, pipes and waitpid for the benchmark's helpers.
#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

extern char** environ;

namespace pgthaw::bench {
namespace {

// Owns the file actions so every return path destroys them.
class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&actions_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Spawns ARGV with ACTIONS already set up for fds 0-2.
Result<pid_t> spawn(const std::vector<std::string>& argv, FileActions& actions,
                    const CommandOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("spawn: empty argv");
  if (!options.cwd.empty()) {
    int rc = posix_spawn_file_actions_addchdir_np(actions.get(), options.cwd.c_str());
    if (rc != 0) return Status::FromErrno("posix_spawn_file_actions_addchdir_np", rc);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], actions.get(), nullptr, args.data(), environ);
  if (rc != 0) return Status::FromErrno("posix_spawnp " + argv[0], rc);
  return pid;
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string join_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

Result<int> wait_child(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno("waitpid " + std::to_string(pid), errno);
  }
  return decode_wait_status(status);
}

bool child_exited(pid_t pid) {
  int status = 0;
  pid_t rc = waitpid(pid, &status, WNOHANG);
  return rc == pid || (rc < 0 && errno == ECHILD);
}

Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                  const CommandOptions& options) {
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  // O_CLOEXEC: only the dup2'ed copies (fds 1 and 2) reach the child, so a
  // daemon it leaves behind cannot hold our pipes open.
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return Status::FromErrno("pipe2", errno);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    close_fd(out_pipe[0]);
    close_fd(out_pipe[1]);
    return Status::FromErrno("pipe2", e);
  }
  FileActions actions;
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(actions.get(), out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(actions.get(), err_pipe[1], 2);
  Result<pid_t> pid = spawn(argv, actions, options);
  close_fd(out_pipe[1]);
  close_fd(err_pipe[1]);
  if (!pid.ok()) {
    close_fd(out_pipe[0]);
    close_fd(err_pipe[0]);
    return pid.status();
  }

  CommandResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  Status read_error;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      read_error = Status::FromErrno("poll", errno);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[65536];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;  // poll ignores negative fds
        --open_fds;
      }
    }
  }
  for (pollfd& p : fds) close_fd(p.fd);
  Result<int> code = wait_child(pid.value());
  if (!code.ok()) return code.status();
  if (!read_error.ok()) return read_error;
  result.exit_code = code.value();
  return result;
}

Result<pid_t> spawn_background(const std::vector<std::string>& argv, const std::string& log_path,
                               const CommandOptions& options) {
  FileActions actions;
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(actions.get(), 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(actions.get(), 1, 2);
  return spawn(argv, actions, options);
}

std::optional<std::string> find_executable(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) == 0) return name;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace pgthaw::bench
