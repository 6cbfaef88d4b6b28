// `pgthaw tenant-settings --data-dir DIR TENANT [KEY=VALUE ...]`: shows a
// tenant's settings (runtime/tenant_settings.h) as JSON, after applying the
// assignments given (`statement_timeout_ms=5000`, `...=default`). A running
// server applies a file changed this way when it next opens the tenant (a
// thaw); Runtime::SetTenantSettings applies at once. Exit 1 on an error.
#pragma once

#include <string>
#include <vector>

namespace pgthaw::tools {

int run_tenant_settings_command(const std::string& data_dir, const std::string& tenant,
                                const std::vector<std::string>& assignments);

}  // namespace pgthaw::tools
