#include "engine/test_support.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

namespace pgthaw::engine::testing {

namespace fs = std::filesystem;

const Engine& test_engine() {
  static const Engine* engine = [] {
    auto e = Engine::Open();
    if (!e.ok()) {
      ADD_FAILURE() << e.status().ToString();
      std::abort();
    }
    return std::move(e).value().release();  // lives as long as the test binary
  }();
  return *engine;
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "pgthaw-test-XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void copy_template_database(const std::string& dir) {
  static TempDir* holder = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    holder = new TempDir();  // lives until the binary exits
    auto instance = Instance::Boot(test_engine(), holder->sub("template"));
    ASSERT_TRUE(instance.ok()) << instance.status().ToString();
    ASSERT_TRUE((*instance)->Close().ok());
  });
  fs::copy(holder->sub("template"), dir, fs::copy_options::recursive);
}

std::unique_ptr<Instance> boot(const std::string& dir) {
  auto instance = Instance::Boot(test_engine(), dir);
  EXPECT_TRUE(instance.ok()) << instance.status().ToString();
  if (!instance.ok()) return nullptr;
  return std::move(instance).value();
}

std::vector<pgwire::StatementResult> run(Instance& instance, const std::string& sql) {
  std::string request;
  EXPECT_TRUE(pgwire::frontend::query(request, sql).ok());
  auto reply = instance.Exec(request);
  EXPECT_TRUE(reply.ok()) << reply.status().ToString();
  if (!reply.ok()) return {};
  auto results = pgwire::collect_results(reply.value());
  EXPECT_TRUE(results.ok()) << results.status().ToString();
  if (!results.ok()) return {};
  return std::move(results).value();
}

std::string rows(Instance& instance, const std::string& sql) {
  std::string out;
  for (const pgwire::StatementResult& r : run(instance, sql)) {
    EXPECT_FALSE(r.error.has_value()) << sql << ": " << r.error->summary();
    out += pgwire::format_unaligned(r);
  }
  return out;
}

std::string scalar(Instance& instance, const std::string& sql) {
  auto results = run(instance, sql);
  if (results.size() != 1 || results[0].error || results[0].rows.size() != 1 ||
      results[0].rows[0].size() != 1) {
    ADD_FAILURE() << sql << ": not a single value"
                  << (results.size() == 1 && results[0].error ? ": " + results[0].error->summary()
                                                              : "");
    return "";
  }
  return results[0].rows[0][0].value_or("NULL");
}

std::string error_code(Instance& instance, const std::string& sql) {
  for (const pgwire::StatementResult& r : run(instance, sql)) {
    if (r.error) return r.error->sqlstate();
  }
  ADD_FAILURE() << sql << ": expected an error";
  return "";
}

bool kill_child_after(const std::function<bool()>& work) {
  int ready[2];
  if (pipe(ready) != 0) return false;
  pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    close(ready[0]);
    char byte = 'c';
    if (!work() || write(ready[1], &byte, 1) != 1) _exit(2);
    pause();
    _exit(3);
  }
  close(ready[1]);
  char byte = 0;
  bool reached = read(ready[0], &byte, 1) == 1;
  close(ready[0]);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  return reached;
}

}  // namespace pgthaw::engine::testing
