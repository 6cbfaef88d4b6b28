// The SQL that makes a tenant's roles real Postgres roles: LOGIN, never a
// superuser nor able to create roles or databases. The owner role owns the
// tenant's database and its public schema, as hosted Postgres services give
// their users; other roles get what the owner grants them.
#pragma once

#include <string>

namespace pgthaw::server {

// CREATE ROLE plus the ownership of database postgres and schema public.
std::string owner_role_sql(const std::string& role);
// CREATE ROLE only.
std::string login_role_sql(const std::string& role);

}  // namespace pgthaw::server
