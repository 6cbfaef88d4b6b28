#include "tools/sql_command.h"

#include <cstdio>
#include <iostream>

#include "engine/instance.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"

namespace pgthaw::tools {

int run_sql_command(const std::string& data_dir, const std::vector<std::string>& statements) {
  auto engine = engine::Engine::Open();
  if (!engine.ok()) {
    std::cerr << "pgthaw: " << engine.status().message() << "\n";
    return 1;
  }
  auto instance = engine::Instance::Boot(**engine, data_dir);
  if (!instance.ok()) {
    std::cerr << "pgthaw: " << instance.status().message() << "\n";
    return 1;
  }
  for (const std::string& sql : statements) {
    std::string request;
    if (Status st = pgwire::frontend::query(request, sql); !st.ok()) {
      std::cerr << "pgthaw: " << st.message() << "\n";
      return 1;
    }
    auto reply = (*instance)->Exec(request);
    if (!reply.ok()) {
      std::cerr << "pgthaw: " << reply.status().message() << "\n";
      return 1;
    }
    auto results = pgwire::collect_results(*reply);
    if (!results.ok()) {
      std::cerr << "pgthaw: bad reply from the engine: " << results.status().message() << "\n";
      return 1;
    }
    for (const pgwire::StatementResult& r : *results) {
      if (r.error) {
        std::cerr << r.error->severity() << ":  " << r.error->message() << " (SQLSTATE "
                  << r.error->sqlstate() << ")\n";
        return 1;
      }
      std::cout << pgwire::format_unaligned(r);
    }
  }
  std::cout.flush();
  Status st = (*instance)->Close();
  if (!st.ok()) {
    std::cerr << "pgthaw: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace pgthaw::tools
