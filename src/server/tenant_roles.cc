#include "server/tenant_roles.h"

#include "server/sql_quote.h"

namespace pgthaw::server {

namespace {
constexpr const char* kRoleAttributes =
    " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS";
}  // namespace

std::string login_role_sql(const std::string& role) {
  return "CREATE ROLE " + quote_identifier(role) + kRoleAttributes + ";";
}

std::string owner_role_sql(const std::string& role) {
  const std::string ident = quote_identifier(role);
  return login_role_sql(role) + " ALTER DATABASE postgres OWNER TO " + ident +
         "; ALTER SCHEMA public OWNER TO " + ident + ";";
}

}  // namespace pgthaw::server
