#include "tools/tenant_command.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "runtime/runtime.h"
#include "server/credential_store.h"
#include "server/tenant_admin.h"
#include "server/tenant_admin_json.h"
#include "tools/data_dir_lock.h"

namespace pgthaw::tools {

namespace {

using nlohmann::json;
using server::TenantAdmin;

constexpr int kFailed = 1;
constexpr int kUsage = 2;

int fail(const Status& status) {
  std::cerr << "pgthaw tenant: " << status.message() << "\n";
  return kFailed;
}

int usage(const std::string& message) {
  std::cerr << "pgthaw tenant: " << message << "\n";
  return kUsage;
}

void add_password_options(CLI::App* command, TenantArgs& args) {
  CLI::Option* given = command->add_option("--password", args.password, "the role's password");
  CLI::Option* from_stdin = command->add_flag("--password-stdin", args.password_stdin,
                                              "read the password from stdin (one line)");
  given->excludes(from_stdin);
}

// The password the flags give: nullopt to generate one.
Result<std::optional<std::string>> password_from(const TenantArgs& args) {
  if (args.password_stdin) {
    std::string line;
    if (!std::getline(std::cin, line)) return Status::InvalidArgument("no password on stdin");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return std::optional<std::string>(std::move(line));
  }
  if (!args.password.empty()) return std::optional<std::string>(args.password);
  return std::optional<std::string>();
}

void print_json(const json& value) { std::cout << value.dump(2) << "\n"; }

json role_json(const std::string& tenant, const std::string& role,
               const std::optional<std::string>& password) {
  json out = {{"tenant", tenant}, {"role", role}};
  if (password) out["password"] = *password;
  return out;
}

void print_table(const std::vector<server::TenantSummary>& tenants) {
  std::cout << std::left << std::setw(24) << "TENANT" << std::setw(12) << "STATE" << std::setw(14)
            << "DISK_BYTES" << std::setw(14) << "LAST_USED" << std::setw(14) << "CREATED"
            << "ROLES\n";
  for (const server::TenantSummary& t : tenants) {
    std::string roles;
    for (const std::string& role : t.roles) roles += (roles.empty() ? "" : ",") + role;
    std::cout << std::left << std::setw(24) << t.tenant << std::setw(12) << t.state << std::setw(14)
              << t.disk_bytes << std::setw(14) << t.last_used_unix_s << std::setw(14)
              << t.created_unix_s << roles << "\n";
  }
}

// A dump to a.file, or to stdout through a file next to the data.
int dump(TenantAdmin& admin, const TenantArgs& a) {
  if (!a.file.empty()) {
    if (Status st = admin.Dump(a.name, a.dump, a.file); !st.ok()) return fail(st);
    return 0;
  }
  const std::string staged = a.data_dir + "/.dump." + std::to_string(::getpid());
  Status st = admin.Dump(a.name, a.dump, staged);
  if (st.ok()) {
    std::ifstream in(staged, std::ios::binary);
    std::cout << in.rdbuf();
    std::cout.flush();
    if (!in || !std::cout) st = Status::IoError("writing the dump to stdout");
  }
  std::error_code ec;
  std::filesystem::remove(staged, ec);
  return st.ok() ? 0 : fail(st);
}

int run(TenantAdmin& admin, const TenantArgs& a) {
  const std::string& action = a.action;
  if (action == "create" || action == "import" || action == "role add" || action == "role rotate") {
    auto password = password_from(a);
    if (!password.ok()) return fail(password.status());
    if (action == "import") {
      auto imported = admin.Import(a.name, a.file, a.role.empty() ? a.name : a.role, *password);
      if (!imported.ok()) return fail(imported.status());
      print_json(role_json(imported->tenant, imported->role, imported->password));
      return 0;
    }
    if (action == "create") {
      auto created = admin.Create(a.name, a.role.empty() ? a.name : a.role, *password);
      if (!created.ok()) return fail(created.status());
      print_json(role_json(created->tenant, created->role, created->password));
      return 0;
    }
    auto changed = action == "role add" ? admin.AddRole(a.name, a.role, *password)
                                        : admin.RotatePassword(a.name, a.role, *password);
    if (!changed.ok()) return fail(changed.status());
    print_json(role_json(a.name, a.role, *changed));
    return 0;
  }
  if (action == "export") {
    if (Status st = admin.Export(a.name, a.file, a.gzip); !st.ok()) return fail(st);
    return 0;
  }
  if (action == "dump") return dump(admin, a);
  if (action == "fork") {
    if (Status st = admin.Fork(a.name, a.fork); !st.ok()) return fail(st);
    print_json({{"tenant", a.fork}, {"forked_from", a.name}});
    return 0;
  }
  if (action == "restore") {
    if (Status st = admin.Restore(a.name, a.file); !st.ok()) return fail(st);
    return 0;
  }
  if (action == "list") {
    std::vector<server::TenantSummary> tenants = admin.List();
    if (!a.json) {
      print_table(tenants);
      return 0;
    }
    json out = json::array();
    for (const server::TenantSummary& t : tenants) out.push_back(server::tenant_json(t));
    print_json(out);
    return 0;
  }
  if (action == "show") {
    auto shown = admin.Show(a.name);
    if (!shown.ok()) return fail(shown.status());
    print_json(server::tenant_details_json(*shown));
    return 0;
  }
  if (action == "delete") {
    if (Status st = admin.Delete(a.name, a.force); !st.ok()) return fail(st);
    return 0;
  }
  if (action == "hibernate") {
    auto shown = admin.Show(a.name);
    if (!shown.ok()) return fail(shown.status());
    std::cout << "tenant " << a.name
              << ": nothing to do; with no server running, every tenant is hibernated\n";
    return 0;
  }
  if (action == "role drop") {
    if (Status st = admin.DropRole(a.name, a.role); !st.ok()) return fail(st);
    return 0;
  }
  if (action == "token issue") {
    server::TokenScope scope = a.admin ? server::TokenScope::Admin()
                                       : server::TokenScope::Tenant(a.token_tenant, a.read_only);
    auto issued = admin.IssueToken(std::move(scope), a.label);
    if (!issued.ok()) return fail(issued.status());
    json out = server::token_json(issued->info);
    out["token"] = issued->bearer;
    print_json(out);
    return 0;
  }
  if (action == "token list") {
    json out = json::array();
    for (const server::TokenInfo& token : admin.ListTokens())
      out.push_back(server::token_json(token));
    print_json(out);
    return 0;
  }
  if (action == "token revoke") {
    if (Status st = admin.RevokeToken(a.token_id); !st.ok()) return fail(st);
    return 0;
  }
  return usage("no such command: " + action);
}

}  // namespace

CLI::App* add_tenant_command(CLI::App& app, TenantArgs& args) {
  CLI::App* tenant = app.add_subcommand(
      "tenant", "manage tenants, roles and tokens offline (a running server: its HTTP admin API)");
  tenant->add_option("--data-dir", args.data_dir, "the server's data directory")->required();
  tenant->add_option("--auth-file", args.auth_file,
                     "the credential store (default DATA/credentials.json)");
  tenant->require_subcommand(1);
  tenant->fallthrough();  // --data-dir may come after the action too
  auto action = [&args](CLI::App* command, std::string name) {
    command->callback([&args, name = std::move(name)] { args.action = name; });
    return command;
  };

  CLI::App* create =
      action(tenant->add_subcommand("create", "create a tenant and its owner role"), "create");
  create->add_option("name", args.name, "tenant id")->required();
  create->add_option("--role", args.role, "the owner role (default: the tenant id)");
  add_password_options(create, args);

  CLI::App* import =
      action(tenant->add_subcommand("import",
                                    "a tenant from a PGlite dumpDataDir() archive (.tar, .tar.gz)"),
             "import");
  import->add_option("name", args.name, "tenant id")->required();
  import->add_option("file", args.file, "the archive")->required()->check(CLI::ExistingFile);
  import->add_option("--role", args.role, "the owner role (default: the tenant id)");
  add_password_options(import, args);

  CLI::App* exported = action(
      tenant->add_subcommand("export", "a tenant's data directory as an archive PGlite loads"),
      "export");
  exported->add_option("name", args.name, "tenant id")->required();
  exported->add_option("file", args.file, "the archive to write")->required();
  exported->add_flag("--gzip", args.gzip, "gzip it (.tar.gz)");

  CLI::App* fork =
      action(tenant->add_subcommand("fork", "a copy of a tenant in milliseconds (no files copied)"),
             "fork");
  fork->add_option("source", args.name, "tenant id")->required();
  fork->add_option("new", args.fork, "the copy's tenant id")->required();

  CLI::App* list = action(tenant->add_subcommand("list", "list tenants"), "list");
  list->add_flag("--json", args.json, "JSON instead of a table");

  CLI::App* show =
      action(tenant->add_subcommand("show", "one tenant, its roles and tokens"), "show");
  show->add_option("name", args.name, "tenant id")->required();

  CLI::App* drop = action(
      tenant->add_subcommand("delete", "delete a tenant: its files, roles and tokens"), "delete");
  drop->add_option("name", args.name, "tenant id")->required();
  drop->add_flag("--force", args.force, "do not wait for open transactions");

  CLI::App* hibernate = action(
      tenant->add_subcommand("hibernate", "a no-op offline (tenants are hibernated already)"),
      "hibernate");
  hibernate->add_option("name", args.name, "tenant id")->required();

  CLI::App* role = tenant->add_subcommand("role", "add, rotate or drop a tenant's role");
  role->require_subcommand(1);
  CLI::App* role_add = action(role->add_subcommand("add", "add a LOGIN role"), "role add");
  CLI::App* rotate = action(role->add_subcommand("rotate", "a new password"), "role rotate");
  CLI::App* role_drop = action(role->add_subcommand("drop", "drop a role"), "role drop");
  for (CLI::App* command : {role_add, rotate, role_drop}) {
    command->add_option("name", args.name, "tenant id")->required();
    command->add_option("role", args.role, "role name")->required();
  }
  add_password_options(role_add, args);
  add_password_options(rotate, args);

  CLI::App* token = tenant->add_subcommand("token", "issue, list or revoke bearer tokens");
  token->require_subcommand(1);
  CLI::App* issue = action(token->add_subcommand("issue", "issue a token"), "token issue");
  CLI::Option* admin = issue->add_flag("--admin", args.admin, "every tenant and the admin API");
  CLI::Option* scoped = issue->add_option("--tenant", args.token_tenant, "one tenant only");
  admin->excludes(scoped);
  issue->add_flag("--read-only", args.read_only, "with --tenant: it may not change the tenant")
      ->needs(scoped);
  issue->add_option("--label", args.label, "who or what it is for");
  action(token->add_subcommand("list", "list tokens (never their secrets)"), "token list");
  CLI::App* revoke = action(token->add_subcommand("revoke", "revoke a token"), "token revoke");
  revoke->add_option("id", args.token_id, "the token's id")->required();
  return tenant;
}

int run_tenant_command(const TenantArgs& args) {
  if (args.action == "token issue" && args.admin == !args.token_tenant.empty()) {
    return usage("token issue needs --admin or --tenant NAME");
  }
  // Audit lines (info) on stderr.
  if (spdlog::get_level() > spdlog::level::info) spdlog::set_level(spdlog::level::info);
  if (Status locked = lock_data_dir(args.data_dir); !locked.ok()) {
    std::cerr << "pgthaw tenant: " << locked.message() << "\n";
    if (locked.code() == StatusCode::kUnavailable &&
        (args.action == "import" || args.action == "export" || args.action == "dump" ||
         args.action == "restore")) {
      std::cerr << "pgthaw tenant: a server runs on " << args.data_dir << ": stop it to "
                << args.action << " a tenant\n";
    } else if (locked.code() == StatusCode::kUnavailable) {
      std::cerr << "pgthaw tenant: a server runs on " << args.data_dir
                << ": use its HTTP admin API instead (POST /admin/tenants, GET /admin/tenants, "
                   "DELETE /admin/tenants/NAME, /admin/tokens; an admin token)\n";
    }
    return kFailed;
  }
  const std::string auth_file =
      args.auth_file.empty() ? args.data_dir + "/credentials.json" : args.auth_file;
  auto store = server::CredentialStore::Open(auth_file);
  if (!store.ok()) return fail(store.status());
  auto engine = engine::Engine::Open();
  if (!engine.ok()) return fail(engine.status());
  runtime::RuntimeOptions options;
  options.data_root = args.data_dir;
  options.threads = 2;
  options.warm_pool_size = 0;  // one tenant at a time: no pool to fill
  options.create_on_first_use = false;
  auto rt = runtime::Runtime::Start(**engine, options);
  if (!rt.ok()) return fail(rt.status());
  int code = 0;
  {
    TenantAdmin admin(**rt, **store);
    code = run(admin, args);
  }
  std::cout.flush();
  // Warm tenants (a create) are hibernated: offline, every tenant is.
  if (Status st = (*rt)->Shutdown(); !st.ok()) {
    std::cerr << "pgthaw tenant: " << st.message() << "\n";
    return kFailed;
  }
  return code;
}

}  // namespace pgthaw::tools
