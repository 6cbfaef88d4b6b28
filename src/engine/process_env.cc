#include "engine/process_env.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <fstream>

namespace pgthaw::engine {

std::vector<std::string> postgres_environment() {
  return {"USER=postgres",
          "LOGNAME=postgres",
          "PATH=/",
          "PWD=/",
          "HOME=/home/postgres",
          "LANG=en_US.UTF-8",
          "LC_COLLATE=en_US.UTF-8",
          "LC_CTYPE=en_US.UTF-8",
          "PGDATA=/pglite/data",
          "PGUSER=postgres",
          "PGDATABASE=postgres",
          "TZ=UTC",
          "PGTZ=UTC",
          "PGCLIENTENCODING=UTF8",
          "ICU_DATA=/pglite/icu",
          std::string("_=") + kPostgresProgram};
}

std::vector<std::string> initdb_environment() {
  return {"USER=postgres",
          "LOGNAME=postgres",
          "PATH=/",
          "PWD=/",
          "HOME=/home/postgres",
          "LANG=C.UTF-8",
          "PGDATA=/pglite/data",
          "ICU_DATA=/pglite/icu",
          "TZ=UTC",
          std::string("_=") + kInitdbProgram};
}

std::vector<std::string> backend_arguments(bool durable) {
  std::vector<std::string> args{"--single"};
  if (!durable) args.push_back("-F");
  for (const char* a : {"-O", "-j",
                        "-c", "search_path=public",
                        "-c", "exit_on_error=false",
                        "-c", "log_checkpoints=false",
                        "-c", "max_worker_processes=0",
                        "-c", "max_parallel_workers=0",
                        "-c", "max_parallel_workers_per_gather=0",
                        "-c", "io_method=sync",
                        "-c", "max_parallel_maintenance_workers=0",
                        "-D", kDataDir}) {
    args.emplace_back(a);
  }
  for (const auto& [name, value] : kPinnedSettings) {
    args.emplace_back("-c");
    args.push_back(std::string(name) + "=" + std::string(value));
  }
  args.emplace_back("postgres");
  return args;
}

void report_overridden_settings(const std::string& data_dir, const std::string& tenant) {
  std::ifstream in(data_dir + "/postgresql.auto.conf");
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos || line.empty() || line[0] == '#') continue;
    std::string name = line.substr(0, eq);
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.pop_back();
    for (const auto& [pinned, value] : kPinnedSettings) {
      if (name == pinned) {
        spdlog::warn("{}: postgresql.auto.conf sets {} ({}); pgthaw keeps {} = '{}'", tenant, name,
                     line.substr(eq + 1), pinned, value);
      }
    }
  }
}

std::vector<std::string> initdb_arguments() {
  return {"--allow-group-access",   "--encoding",  "UTF8", "--locale=C.UTF-8",
          "--locale-provider=libc", "--auth=trust"};
}

}  // namespace pgthaw::engine
