// The JSON of the tenant admin API, shared by the HTTP admin routes and
// `pgthaw tenant` so both print the same thing.
//
//   tenant: {"tenant", "state", "disk_bytes", "last_used_unix_s",
//            "created_unix_s", "owner" (null if none), "roles": [...]}
//   shown:  a tenant with "tokens": [token, ...]
//   token:  {"id", "scope": "admin" | {"tenant", "read_only"}, "label",
//            "created_unix_s"}; never a secret
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "server/credential_store.h"
#include "server/tenant_admin.h"

namespace pgthaw::server {

nlohmann::json tenant_json(const TenantSummary& summary);
nlohmann::json tenant_details_json(const TenantDetails& details);
nlohmann::json token_scope_json(const TokenScope& scope);
nlohmann::json token_json(const TokenInfo& token);

// "admin", or {"tenant": NAME, "read_only": bool} (read_only optional,
// false). InvalidArgument for anything else.
Result<TokenScope> token_scope_from_json(const nlohmann::json& scope);

}  // namespace pgthaw::server
