// pglite_node_peer: spawns the Node peer and parses its JSON (no exceptions:
// nlohmann's non-throwing parse and checked accessors only).
#include "pglite_node_peer.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "subprocess.h"

namespace pgthaw::bench {
namespace {

using nlohmann::json;

// The last non-empty line of TEXT (the script prints its JSON last).
std::string last_line(const std::string& text) {
  size_t end = text.find_last_not_of("\r\n");
  if (end == std::string::npos) return "";
  size_t start = text.find_last_of('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return text.substr(start, end - start + 1);
}

Result<double> number_at(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) {
    return Status::Corruption(std::string("pglite_node.mjs output lacks number '") + key + "'");
  }
  return it->get<double>();
}

std::string string_at(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::optional<std::string> pglite_node_missing(const PgliteNodeOptions& options) {
  if (!find_executable(options.node)) return "'" + options.node + "' not found in PATH";
  if (access(options.script.c_str(), R_OK) != 0) return options.script + " not found";
  std::string manifest = options.node_modules + "/@electric-sql/pglite/package.json";
  if (access(manifest.c_str(), R_OK) != 0) {
    return manifest + " not found (run: npm ci --prefix bench/node)";
  }
  return std::nullopt;
}

Result<EngineBenchRows> measure_pglite_node(const std::string& work_dir,
                                            const PgliteNodeOptions& options) {
  std::vector<std::string> argv = {options.node, options.script, work_dir, "--node-modules",
                                   options.node_modules};
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  Result<CommandResult> run = run_command(argv);
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return Status::Internal(join_argv(argv) + " exited " + std::to_string(run->exit_code) + ": " +
                            run->err);
  }
  json doc = json::parse(last_line(run->out), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("rows") || !doc["rows"].is_object()) {
    return Status::Corruption("pglite_node.mjs printed no JSON object: " + run->out + run->err);
  }
  EngineBenchRows rows;
  rows.system = kSystemPgliteNode;
  rows.version = string_at(doc, "version");
  rows.notes = string_at(doc, "notes");
  const json& r = doc["rows"];
  double EngineBenchRows::*fields[] = {
      &EngineBenchRows::initdb_ms, &EngineBenchRows::boot_ms, &EngineBenchRows::first_query_ms,
      &EngineBenchRows::warm_select1_us, &EngineBenchRows::insert10k_ms};
  const char* names[] = {"initdb_ms", "boot_ms", "first_query_ms", "warm_select1_us",
                         "insert10k_ms"};
  for (size_t i = 0; i < std::size(fields); ++i) {
    Result<double> v = number_at(r, names[i]);
    if (!v.ok()) return v.status();
    rows.*fields[i] = v.value();
  }
  if (doc.contains("extras") && doc["extras"].is_object()) {
    for (const auto& [name, value] : doc["extras"].items()) {
      if (value.is_number()) rows.extras.emplace_back(name, value.get<double>());
    }
  }
  return rows;
}

}  // namespace pgthaw::bench
