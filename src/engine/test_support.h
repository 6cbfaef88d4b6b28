// Helpers for engine tests: a real engine, real directories, real protocol.
//
// initdb runs once per test binary into a template directory; each test gets
// a copy of it (a new database without paying initdb again), or an empty
// directory when the test is about initdb itself.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "engine/instance.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"

namespace pgthaw::engine::testing {

// The process-wide engine; fails the test if the build is incomplete.
const Engine& test_engine();

// A fresh temporary directory, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Copies the once-per-binary initdb'ed template into `dir`.
void copy_template_database(const std::string& dir);

// Boots `dir` and fails the test on error.
std::unique_ptr<Instance> boot(const std::string& dir);

// Runs `sql` with the simple query protocol; fails the test on a protocol
// error (not on a SQL error: that is in the results).
std::vector<pgwire::StatementResult> run(Instance& instance, const std::string& sql);

// The single value of a one-row, one-column query that must succeed.
std::string scalar(Instance& instance, const std::string& sql);

// Every row of a query that must succeed, in psql -A -t form.
std::string rows(Instance& instance, const std::string& sql);

// The SQLSTATE of a statement that must fail.
std::string error_code(Instance& instance, const std::string& sql);

// Runs `work` in a forked child; once it returns true, SIGKILLs the child
// (no shutdown, no checkpoint, no snapshot). Returns whether `work` got there.
bool kill_child_after(const std::function<bool()>& work);

}  // namespace pgthaw::engine::testing
