// TenantSettings: what an operator set for one tenant over the server's
// defaults, kept in ROOT/settings.json (ROOT = DATA_ROOT/tenants/<id>).
//
//   {"statement_timeout_ms": 5000}
//
// A missing file or key means the server's value. The runtime reads the file
// whenever it opens the tenant (create, thaw, boot) and
// Runtime::SetTenantSettings writes it (durably) and applies it to a warm
// instance at its next work item. A file that does not parse is an error
// for that tenant's open, not a silent default: the operator asked for a
// limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace pgthaw::runtime {

struct TenantSettings {
  // The server's limit on one statement for this tenant (57014 "canceling
  // statement due to statement timeout"); 0: none. Overrides
  // RuntimeOptions::statement_timeout_ms.
  std::optional<int64_t> statement_timeout_ms;

  bool operator==(const TenantSettings&) const = default;
};

// ROOT/settings.json; {} when absent. InvalidArgument (naming the file, not
// ROOT) if
// it is not a JSON object of known keys with valid values.
Result<TenantSettings> read_tenant_settings(const std::string& root);
// Replaces ROOT/settings.json (temp file, fsync, rename, fsync of ROOT).
Status write_tenant_settings(const std::string& root, const TenantSettings& settings);

// "statement_timeout_ms=5000" (a key of the file, '=', a value; "default"
// removes the key) applied to `settings`: for the command line.
Status apply_tenant_setting(TenantSettings& settings, const std::string& assignment);

}  // namespace pgthaw::runtime
