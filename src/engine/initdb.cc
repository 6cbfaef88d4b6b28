// See initdb.h.
#include "engine/initdb.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "engine/process_env.h"
#include "host/guest_files.h"
#include "host/host.h"

namespace pgthaw::engine {
namespace {

constexpr const char* kPipeIn = "/tmp/pgstdin";    // initdb writes, postgres reads
constexpr const char* kPipeOut = "/tmp/pgstdout";  // postgres writes, initdb reads

// wasm32 open flags.
constexpr int kORdOnly = 0, kOWrOnly = 1, kOCreat = 64, kOTrunc = 512, kOLargeFile = 32768;

// Splits a command line like a POSIX shell and keeps the words before the
// first operator or redirection: `"/pglite/bin/postgres" --boot -x1 2>&1`.
std::vector<std::string> command_words(const std::string& cmd) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < cmd.size(); ++i) {
    char c = cmd[i];
    if (c == '\'' || c == '"') {
      size_t end = cmd.find(c, i + 1);
      if (end == std::string::npos) end = cmd.size();
      word.append(cmd, i + 1, end - i - 1);
      in_word = true;
      i = end;
    } else if (c == '\\' && i + 1 < cmd.size()) {
      word += cmd[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (!in_word && (c == '<' || c == '>' || c == '|' || c == '&' || c == ';' ||
                            (std::isdigit(static_cast<unsigned char>(c)) && i + 1 < cmd.size() &&
                             (cmd[i + 1] == '>' || cmd[i + 1] == '<')))) {
      break;  // an operator or a redirection: the rest is for the shell
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

// The shell emulation initdb.wasm sees through system/popen/pclose.
class PostgresRunner {
 public:
  PostgresRunner(const Engine& engine, std::unique_ptr<vfs::FileSystem> fs)
      : engine_(engine), fs_(std::move(fs)) {}

  // Redirects the helper's stdin/stdout to the scratch pipes, as PGlite's
  // pgl_freopen calls do; the redirection outlives each run.
  Status Redirect() {
    int in = fs_->openat(vfs::wasm_abi::kAT_FDCWD, kPipeIn, kORdOnly | kOCreat | kOLargeFile, 0600);
    int out = fs_->openat(vfs::wasm_abi::kAT_FDCWD, kPipeOut,
                          kOWrOnly | kOCreat | kOTrunc | kOLargeFile, 0600);
    if (in < 0 || out < 0) return Status::IoError("initdb: cannot open the scratch pipes");
    if (fs_->dup3(in, 0, 0) < 0 || fs_->dup3(out, 1, 0) < 0) {
      return Status::IoError("initdb: cannot redirect postgres' stdio");
    }
    fs_->close(in);
    fs_->close(out);
    return Status::Ok();
  }

  // Runs `/pglite/bin/postgres args...` to completion; its exit status.
  uint32_t Run(const std::string& command) {
    std::vector<std::string> words = command_words(command);
    if (words.empty() || words[0] != kPostgresProgram) {
      spdlog::warn("initdb: refusing to run {}", command);
      return 127;
    }
    words.erase(words.begin());
    host::HostOptions options;
    options.module = "pglite";
    options.program = kPostgresProgram;
    options.environment = postgres_environment();
    auto helper = host::Host::Create(std::move(options), fs_.get());
    if (!helper.ok()) {
      spdlog::error("initdb: postgres helper: {}", helper.status().ToString());
      return 1;
    }
    host::CallOutcome out = (*helper)->CallMain(words);
    if (out.kind == host::CallOutcome::kTrapped) {
      spdlog::error("initdb: postgres {} trapped: {}", words.empty() ? "" : words[0], out.trap);
      return 1;
    }
    return static_cast<uint32_t>(out.exit_status);
  }

  // initdb's popen: "r" runs now and hands back its output; "w" runs at
  // pclose, once initdb has written the script.
  uint32_t Popen(const std::string& command, const std::string& mode) {
    if (mode == "r") {
      last_status_ = Run(command);
      return reader_;
    }
    pending_ = command;
    return writer_;
  }

  uint32_t Pclose(host::Host& initdb, uint32_t stream) {
    if (stream != reader_ && stream != writer_) return host::default_pclose(initdb, stream);
    if (pending_) {
      // initdb fflush()es every line, so the script is complete in the file.
      last_status_ = Run(*pending_);
      pending_.reset();
    }
    return last_status_;
  }

  // The FILE*s initdb reads from and writes to, opened in its own memory.
  void OpenStreams(host::Host& initdb) {
    reader_ = host::guest_fopen(initdb, kPipeOut, "r");
    writer_ = host::guest_fopen(initdb, kPipeIn, "w");
  }

 private:
  const Engine& engine_;
  std::unique_ptr<vfs::FileSystem> fs_;
  uint32_t reader_ = 0, writer_ = 0, last_status_ = 0;
  std::optional<std::string> pending_;
};

}  // namespace

namespace {

Status initdb_into(const Engine& engine, const std::filesystem::path& scratch);

}  // namespace

Status run_initdb(const Engine& engine, const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path target(data_dir);
  fs::path scratch = target.parent_path() / (target.filename().string() + ".initdb");
  fs::remove_all(scratch, ec);
  fs::create_directories(scratch, ec);
  if (ec) return Status::FromErrno("initdb: mkdir " + scratch.string(), ec.value());
  Status st = initdb_into(engine, scratch);
  if (st.ok()) {
    // An empty target (the caller made it) is replaced atomically.
    fs::remove(target, ec);
    fs::rename(scratch, target, ec);
    if (ec) st = Status::FromErrno("initdb: rename into " + data_dir, ec.value());
  }
  if (!st.ok()) fs::remove_all(scratch, ec);
  return st;
}

namespace {

Status initdb_into(const Engine& engine, const std::filesystem::path& scratch) {
  host::SharedTmp tmp = host::make_shared_tmp();
  auto helper_fs = host::postgres_files(engine.guest_files(), scratch.string(), {}, tmp);
  if (!helper_fs.ok()) return helper_fs.status();
  auto initdb_fs = host::postgres_files(engine.guest_files(), scratch.string(), {}, tmp);
  if (!initdb_fs.ok()) return initdb_fs.status();

  PostgresRunner runner(engine, std::move(helper_fs).value());
  PGTHAW_RETURN_IF_ERROR(runner.Redirect());

  host::HostOptions options;
  options.module = "initdb";
  options.program = kInitdbProgram;
  options.environment = initdb_environment();
  options.system = [&](host::Host&, const std::string& cmd) { return runner.Run(cmd); };
  options.popen = [&](host::Host&, const std::string& cmd, const std::string& mode) {
    return runner.Popen(cmd, mode);
  };
  options.pclose = [&](host::Host& h, uint32_t stream) { return runner.Pclose(h, stream); };
  auto initdb = host::Host::Create(std::move(options), initdb_fs->get());
  if (!initdb.ok()) return initdb.status();

  host::CallOutcome out = (*initdb)->Call([&] { runner.OpenStreams(**initdb); });
  if (out.kind != host::CallOutcome::kReturned) return Status::EngineError("initdb: fopen failed");
  std::vector<std::string> args = initdb_arguments();
  // The directory is made durable once, below, instead of file by file.
  args.push_back("--no-sync");
  out = (*initdb)->CallMain(args);
  if (out.kind == host::CallOutcome::kTrapped) {
    return Status::EngineTrap("initdb trapped: " + out.trap);
  }
  if (out.exit_status != 0) {
    return Status::EngineError("initdb exited with status " + std::to_string(out.exit_status));
  }
  initdb->reset();

  if (engine.options().durable) {
    int dirfd = open(scratch.c_str(), O_RDONLY | O_DIRECTORY);
    if (dirfd >= 0) {
      syncfs(dirfd);
      close(dirfd);
    }
  }
  return Status::Ok();
}

}  // namespace

}  // namespace pgthaw::engine
