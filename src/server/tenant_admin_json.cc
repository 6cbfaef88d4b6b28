#include "server/tenant_admin_json.h"

namespace pgthaw::server {

using nlohmann::json;

json tenant_json(const TenantSummary& summary) {
  return {{"tenant", summary.tenant},
          {"state", summary.state},
          {"disk_bytes", summary.disk_bytes},
          {"last_used_unix_s", summary.last_used_unix_s},
          {"created_unix_s", summary.created_unix_s},
          {"owner", summary.owner ? json(*summary.owner) : json(nullptr)},
          {"roles", summary.roles}};
}

json tenant_details_json(const TenantDetails& details) {
  json out = tenant_json(details.summary);
  json tokens = json::array();
  for (const TokenInfo& token : details.tokens) tokens.push_back(token_json(token));
  out["tokens"] = std::move(tokens);
  return out;
}

json token_scope_json(const TokenScope& scope) {
  if (scope.kind == TokenScope::Kind::kAdmin) return "admin";
  return {{"tenant", scope.tenant}, {"read_only", scope.read_only}};
}

json token_json(const TokenInfo& token) {
  return {{"id", token.id},
          {"scope", token_scope_json(token.scope)},
          {"label", token.label},
          {"created_unix_s", token.created_unix_s}};
}

Result<TokenScope> token_scope_from_json(const json& scope) {
  if (scope.is_string() && scope.get<std::string>() == "admin") return TokenScope::Admin();
  if (scope.is_object()) {
    auto tenant = scope.find("tenant");
    auto read_only = scope.find("read_only");
    const bool read_only_ok = read_only == scope.end() || read_only->is_boolean();
    if (tenant != scope.end() && tenant->is_string() && read_only_ok) {
      return TokenScope::Tenant(tenant->get<std::string>(),
                                read_only != scope.end() && read_only->get<bool>());
    }
  }
  return Status::InvalidArgument(
      R"(scope must be "admin" or {"tenant": NAME, "read_only": true|false})");
}

}  // namespace pgthaw::server
