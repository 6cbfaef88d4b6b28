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
// For a database made elsewhere (an imported PGlite data directory): the
// role made if absent, else made a plain LOGIN non-superuser; then the owner
// of the database and of the schemas, tables, sequences, views, functions
// and types the bootstrap superuser owns outside the system schemas (not
// those of extensions, which follow their extension).
std::string adopt_owner_role_sql(const std::string& role);

}  // namespace pgthaw::server
