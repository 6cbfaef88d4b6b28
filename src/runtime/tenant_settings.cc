#include "runtime/tenant_settings.h"

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/durable_file.h"
#include "engine/tenant_store.h"

namespace pgthaw::runtime {

namespace {

constexpr char kStatementTimeout[] = "statement_timeout_ms";
constexpr int64_t kMaxTimeoutMs = int64_t{1} << 40;

Status check_timeout(int64_t ms, const std::string& where) {
  if (ms < 0 || ms > kMaxTimeoutMs) {
    return Status::InvalidArgument(where + ": " + kStatementTimeout + " " + std::to_string(ms) +
                                   " must be in [0, " + std::to_string(kMaxTimeoutMs) + "]");
  }
  return Status::Ok();
}

}  // namespace

Result<TenantSettings> read_tenant_settings(const std::string& root) {
  // Errors name the file, not where the data root is (clients see them).
  const std::string file = engine::TenantStore::settings_file(root);
  const std::string path = std::filesystem::path(file).filename().string();
  std::ifstream in(file);
  if (!in) {
    if (errno == ENOENT) return TenantSettings{};
    return Status::FromErrno("open " + path, errno);
  }
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::InvalidArgument(path + ": not a JSON object");
  TenantSettings settings;
  for (const auto& [key, value] : j.items()) {
    if (key != kStatementTimeout) {
      return Status::InvalidArgument(path + ": unknown setting \"" + key + "\"");
    }
    if (!value.is_number_integer()) {
      return Status::InvalidArgument(path + ": " + key + " must be an integer (ms)");
    }
    int64_t ms = value.get<int64_t>();
    PGTHAW_RETURN_IF_ERROR(check_timeout(ms, path));
    settings.statement_timeout_ms = ms;
  }
  return settings;
}

Status write_tenant_settings(const std::string& root, const TenantSettings& settings) {
  nlohmann::json j = nlohmann::json::object();
  if (settings.statement_timeout_ms) j[kStatementTimeout] = *settings.statement_timeout_ms;
  return write_file_atomically(engine::TenantStore::settings_file(root), j.dump() + "\n",
                               /*durable=*/true);
}

Status apply_tenant_setting(TenantSettings& settings, const std::string& assignment) {
  size_t eq = assignment.find('=');
  std::string key = assignment.substr(0, eq);
  if (eq == std::string::npos || key != kStatementTimeout) {
    return Status::InvalidArgument("\"" + assignment + "\": expected " + kStatementTimeout +
                                   "=MS (or =default)");
  }
  std::string value = assignment.substr(eq + 1);
  if (value == "default") {
    settings.statement_timeout_ms.reset();
    return Status::Ok();
  }
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
  if (ec != std::errc() || end != value.data() + value.size()) {
    return Status::InvalidArgument("\"" + assignment + "\": " + value + " is not an integer");
  }
  PGTHAW_RETURN_IF_ERROR(check_timeout(ms, assignment));
  settings.statement_timeout_ms = ms;
  return Status::Ok();
}

}  // namespace pgthaw::runtime
