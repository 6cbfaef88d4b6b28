#include "tools/tenant_settings_command.h"

#include <iostream>

#include "engine/tenant_store.h"
#include "runtime/runtime.h"
#include "runtime/tenant_settings.h"

namespace pgthaw::tools {

int run_tenant_settings_command(const std::string& data_dir, const std::string& tenant,
                                const std::vector<std::string>& assignments) {
  auto fail = [](const Status& st) {
    std::cerr << "pgthaw tenant-settings: " << st.message() << "\n";
    return 1;
  };
  if (Status st = runtime::Runtime::ValidateTenantId(tenant); !st.ok()) return fail(st);
  const std::string root = engine::TenantStore(data_dir).root(tenant);
  if (!engine::TenantStore::has_data_dir(root)) {
    return fail(Status::NotFound("no tenant " + tenant + " in " + data_dir));
  }
  auto settings = runtime::read_tenant_settings(root);
  if (!settings.ok()) return fail(settings.status());
  for (const std::string& a : assignments) {
    if (Status st = runtime::apply_tenant_setting(*settings, a); !st.ok()) return fail(st);
  }
  if (!assignments.empty()) {
    if (Status st = runtime::write_tenant_settings(root, *settings); !st.ok()) return fail(st);
  }
  std::cout << "{";
  if (settings->statement_timeout_ms) {
    std::cout << "\"statement_timeout_ms\": " << *settings->statement_timeout_ms;
  }
  std::cout << "}\n";
  return 0;
}

}  // namespace pgthaw::tools
