#include "server/http_admin_routes.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <exception>
#include <nlohmann/json.hpp>

#include "server/tenant_admin_json.h"

namespace pgthaw::server {

namespace {

using nlohmann::json;

Reply admin_error(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return error_reply(400, "invalid_argument", status.message());
    case StatusCode::kNotFound:
      return error_reply(404, "not_found", status.message());
    case StatusCode::kAlreadyExists:
      return error_reply(409, "already_exists", status.message());
    case StatusCode::kUnavailable:
      return error_reply(503, "unavailable", status.message());
    case StatusCode::kResourceExhausted:
      return error_reply(503, "resource_exhausted", status.message());
    default:
      spdlog::warn("admin API: {}", status.ToString());
      return error_reply(500, "internal", status.ToString());
  }
}

Reply json_reply(int status, json body) {
  Reply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

// The body as a JSON object; an empty body is {}.
Result<json> body_object(const std::string& body) {
  if (body.empty()) return json::object();
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Status::InvalidArgument("the body must be a JSON object");
  }
  return parsed;
}

// `key` of `body`: nullopt when absent or null, an error when not a string.
Result<std::optional<std::string>> optional_string(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return Status::InvalidArgument(std::string(key) + " must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> required_string(const json& body, const char* key) {
  auto value = optional_string(body, key);
  if (!value.ok()) return value.status();
  if (!*value) return Status::InvalidArgument(std::string(key) + " is required");
  return std::move(**value);
}

// ?force=1 (or true, yes, or bare ?force).
// A file made by `write` (into a temp file in `scratch`) as a download,
// removed once sent; an error reply if `write` failed.
Reply download(const std::string& scratch, const std::string& prefix,
               const std::function<Status(const std::string& file)>& write,
               const std::string& content_type, const std::string& filename) {
  std::string file = scratch + "/" + prefix + "-XXXXXX";
  int fd = ::mkstemp(file.data());
  if (fd < 0) return admin_error(Status::FromErrno("mkstemp " + file, errno));
  ::close(fd);
  if (Status st = write(file); !st.ok()) {
    ::unlink(file.c_str());
    return admin_error(st);
  }
  Reply reply;
  reply.file = file;  // sent, then removed
  reply.content_type = content_type;
  reply.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  return reply;
}

bool query_flag(const std::string& query, const std::string& name) {
  auto value = query_param(query, name);
  return value && (value->empty() || *value == "1" || *value == "true" || *value == "yes");
}

// {tenant, role, password?}: the password only when it was generated.
json role_reply(const std::string& tenant, const std::string& role,
                const std::optional<std::string>& password) {
  json out = {{"tenant", tenant}, {"role", role}};
  if (password) out["password"] = *password;
  return out;
}

}  // namespace

void AdminService::AddRoutes(Router& router) {
  TenantAdmin& admin = admin_;
  // Each operation runs on the blocking pool and answers from there.
  auto add = [&](const char* method, const char* path, std::function<Reply(const Request&)> op) {
    router.Add(method, path, [this, op = std::move(op)](const Request& request, Respond respond) {
      boost::asio::post(blocking_, [op, request, respond = std::move(respond)] {
        Reply reply;
        try {
          reply = op(request);
        } catch (const std::exception& e) {  // nlohmann::json on a type mismatch
          reply = error_reply(400, "invalid_argument", e.what());
        }
        respond(std::move(reply));
      });
    });
  };

  // access: admin token (every route here; checked by the HTTP server's
  // bearer-token check, http_access, before the handler runs)
  add("POST", "/admin/tenants", [&admin](const Request& r) {
    auto body = body_object(r.body);
    if (!body.ok()) return admin_error(body.status());
    auto tenant = required_string(*body, "tenant");
    if (!tenant.ok()) return admin_error(tenant.status());
    auto role = optional_string(*body, "role");
    if (!role.ok()) return admin_error(role.status());
    auto password = optional_string(*body, "password");
    if (!password.ok()) return admin_error(password.status());
    auto created = admin.Create(*tenant, role->value_or(*tenant), *password);
    if (!created.ok()) return admin_error(created.status());
    return json_reply(201, role_reply(created->tenant, created->role, created->password));
  });
  // access: admin token
  add("GET", "/admin/tenants", [&admin](const Request&) {
    json tenants = json::array();
    for (const TenantSummary& summary : admin.List()) tenants.push_back(tenant_json(summary));
    return json_reply(200, {{"tenants", std::move(tenants)}});
  });
  // access: admin token
  add("GET", "/admin/tenants/{tenant}", [&admin](const Request& r) {
    auto shown = admin.Show(r.params.at("tenant"));
    if (!shown.ok()) return admin_error(shown.status());
    return json_reply(200, tenant_details_json(*shown));
  });
  // access: admin token
  add("DELETE", "/admin/tenants/{tenant}", [&admin](const Request& r) {
    const std::string& tenant = r.params.at("tenant");
    const bool force = query_flag(r.query, "force");
    if (Status st = admin.Delete(tenant, force); !st.ok()) return admin_error(st);
    return json_reply(200, {{"tenant", tenant}, {"deleted", true}});
  });
  // access: admin token
  add("POST", "/admin/tenants/{tenant}/hibernate", [&admin](const Request& r) {
    const std::string& tenant = r.params.at("tenant");
    if (Status st = admin.Hibernate(tenant); !st.ok()) return admin_error(st);
    return json_reply(200, {{"tenant", tenant}, {"hibernated", true}});
  });
  // access: admin token
  add("POST", "/admin/tenants/{tenant}/roles", [&admin](const Request& r) {
    const std::string& tenant = r.params.at("tenant");
    auto body = body_object(r.body);
    if (!body.ok()) return admin_error(body.status());
    auto role = required_string(*body, "role");
    if (!role.ok()) return admin_error(role.status());
    auto password = optional_string(*body, "password");
    if (!password.ok()) return admin_error(password.status());
    auto added = admin.AddRole(tenant, *role, *password);
    if (!added.ok()) return admin_error(added.status());
    return json_reply(201, role_reply(tenant, *role, *added));
  });
  // access: admin token
  add("POST", "/admin/tenants/{tenant}/roles/{role}/rotate", [&admin](const Request& r) {
    const std::string& tenant = r.params.at("tenant");
    const std::string& role = r.params.at("role");
    auto body = body_object(r.body);
    if (!body.ok()) return admin_error(body.status());
    auto password = optional_string(*body, "password");
    if (!password.ok()) return admin_error(password.status());
    auto rotated = admin.RotatePassword(tenant, role, *password);
    if (!rotated.ok()) return admin_error(rotated.status());
    return json_reply(200, role_reply(tenant, role, *rotated));
  });
  // access: admin token
  add("DELETE", "/admin/tenants/{tenant}/roles/{role}", [&admin](const Request& r) {
    const std::string& tenant = r.params.at("tenant");
    const std::string& role = r.params.at("role");
    if (Status st = admin.DropRole(tenant, role); !st.ok()) return admin_error(st);
    return json_reply(200, {{"tenant", tenant}, {"role", role}, {"dropped", true}});
  });
  // access: admin token
  add("POST", "/admin/tokens", [&admin](const Request& r) {
    auto body = body_object(r.body);
    if (!body.ok()) return admin_error(body.status());
    auto scope_member = body->find("scope");
    if (scope_member == body->end())
      return admin_error(Status::InvalidArgument("scope is required"));
    auto scope = token_scope_from_json(*scope_member);
    if (!scope.ok()) return admin_error(scope.status());
    auto label = optional_string(*body, "label");
    if (!label.ok()) return admin_error(label.status());
    auto issued = admin.IssueToken(std::move(scope).value(), label->value_or(""));
    if (!issued.ok()) return admin_error(issued.status());
    json out = token_json(issued->info);
    out["token"] = issued->bearer;
    return json_reply(201, std::move(out));
  });
  // access: admin token; the body is an archive, streamed to a file
  // (an upload route: the token is checked before the body is read)
  router.AddUpload("POST", "/admin/tenants/{tenant}/import", RouteAccess::Admin(),
                   [this](const Request& request, Respond respond) {
                     boost::asio::post(blocking_, [this, request, respond = std::move(respond)] {
                       const std::string& tenant = request.params.at("tenant");
                       const std::string role = query_param(request.query, "role").value_or(tenant);
                       auto imported = admin_.Import(tenant, request.body_file, role, std::nullopt);
                       ::unlink(request.body_file.c_str());
                       if (!imported.ok()) return respond(admin_error(imported.status()));
                       respond(json_reply(
                           201, role_reply(imported->tenant, imported->role, imported->password)));
                     });
                   });
  // access: admin token
  add("GET", "/admin/tenants/{tenant}/export", [this, &admin](const Request& r) {
    const std::string& tenant = r.params.at("tenant");
    const bool gzip = query_flag(r.query, "gzip");
    return download(
        scratch_, "export",
        [&](const std::string& file) { return admin.Export(tenant, file, gzip); },
        gzip ? "application/gzip" : "application/x-tar", tenant + (gzip ? ".tar.gz" : ".tar"));
  });
  // access: admin token; body {"tenant": NEW}
  add("POST", "/admin/tenants/{tenant}/fork", [&admin](const Request& r) {
    const std::string& source = r.params.at("tenant");
    auto body = body_object(r.body);
    if (!body.ok()) return admin_error(body.status());
    auto fork = optional_string(*body, "tenant");
    if (!fork.ok()) return admin_error(fork.status());
    if (!*fork) return admin_error(Status::InvalidArgument("tenant (the new one) is required"));
    if (Status st = admin.Fork(source, **fork); !st.ok()) return admin_error(st);
    return json_reply(201, {{"tenant", **fork}, {"forked_from", source}});
  });
  // access: admin token; ?format=plain|custom, schema_only, data_only,
  // no_owner, no_privileges, inserts (flags), table=, schema= (patterns)
  add("GET", "/admin/tenants/{tenant}/dump", [this, &admin](const Request& r) {
    const std::string& tenant = r.params.at("tenant");
    runtime::DumpOptions options;
    if (auto format = query_param(r.query, "format")) {
      auto parsed = runtime::parse_dump_format(*format);
      if (!parsed.ok()) return admin_error(parsed.status());
      options.format = *parsed;
    }
    options.schema_only = query_flag(r.query, "schema_only");
    options.data_only = query_flag(r.query, "data_only");
    options.no_owner = query_flag(r.query, "no_owner");
    options.no_privileges = query_flag(r.query, "no_privileges");
    options.inserts = query_flag(r.query, "inserts");
    if (auto table = query_param(r.query, "table")) options.tables.push_back(*table);
    if (auto schema = query_param(r.query, "schema")) options.schemas.push_back(*schema);
    const bool custom = options.format == runtime::DumpOptions::Format::kCustom;
    return download(
        scratch_, "dump",
        [&](const std::string& file) { return admin.Dump(tenant, options, file); },
        custom ? "application/octet-stream" : "application/sql",
        tenant + (custom ? ".dump" : ".sql"));
  });
  // access: admin token; the body is a pg_dump output (plain or custom),
  // streamed to a file
  router.AddUpload("POST", "/admin/tenants/{tenant}/restore", RouteAccess::Admin(),
                   [this](const Request& request, Respond respond) {
                     boost::asio::post(blocking_, [this, request, respond = std::move(respond)] {
                       const std::string& tenant = request.params.at("tenant");
                       Status restored = admin_.Restore(tenant, request.body_file);
                       ::unlink(request.body_file.c_str());
                       if (!restored.ok()) return respond(admin_error(restored));
                       respond(json_reply(200, {{"tenant", tenant}, {"restored", true}}));
                     });
                   });
  // access: admin token
  add("GET", "/admin/tokens", [&admin](const Request&) {
    json tokens = json::array();
    for (const TokenInfo& token : admin.ListTokens()) tokens.push_back(token_json(token));
    return json_reply(200, {{"tokens", std::move(tokens)}});
  });
  // access: admin token
  add("DELETE", "/admin/tokens/{id}", [&admin](const Request& r) {
    const std::string& id = r.params.at("id");
    if (Status st = admin.RevokeToken(id); !st.ok()) return admin_error(st);
    return json_reply(200, {{"id", id}, {"revoked", true}});
  });
}

}  // namespace pgthaw::server
