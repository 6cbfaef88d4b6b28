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

std::string adopt_owner_role_sql(const std::string& role) {
  const std::string ident = quote_identifier(role);
  const std::string literal = escape_literal(role);
  // 10 is the bootstrap superuser's oid (PGlite's postgres).
  return "DO $pgthaw$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = " +
         literal + ") THEN CREATE ROLE " + ident + kRoleAttributes +
         "; END IF; END $pgthaw$;"
         " ALTER ROLE " +
         ident + kRoleAttributes + "; ALTER DATABASE postgres OWNER TO " + ident +
         "; ALTER SCHEMA public OWNER TO " + ident +
         ";"
         " DO $pgthaw$ DECLARE o record; owner text := " +
         literal +
         "; BEGIN"
         " FOR o IN SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspowner = 10"
         "   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
         "   AND n.nspname NOT LIKE 'pg\\_%' LOOP"
         "   EXECUTE format('ALTER SCHEMA %I OWNER TO %I', o.nspname, owner); END LOOP;"
         " FOR o IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_catalog.pg_class c"
         "   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
         "   WHERE c.relowner = 10 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
         "   AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
         "   AND n.nspname NOT LIKE 'pg\\_%'"
         "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid ="
         "     'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'i', "
         "'a'))"
         "   LOOP EXECUTE format('ALTER %s %s OWNER TO %I', CASE o.relkind WHEN 'S' THEN"
         "   'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN"
         "   'FOREIGN TABLE' ELSE 'TABLE' END, o.rel, owner); END LOOP;"
         " FOR o IN SELECT p.oid::regprocedure AS fn, p.prokind FROM pg_catalog.pg_proc p"
         "   JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.proowner = 10"
         "   AND p.prokind IN ('f', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
         "   AND n.nspname NOT LIKE 'pg\\_%'"
         "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid ="
         "     'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"
         "   LOOP EXECUTE format('ALTER ROUTINE %s OWNER TO %I', o.fn, owner); END LOOP;"
         " FOR o IN SELECT t.oid::regtype AS ty FROM pg_catalog.pg_type t"
         "   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.typowner = 10"
         "   AND t.typtype IN ('e', 'd', 'r') AND n.nspname NOT IN ('pg_catalog',"
         "   'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
         "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid ="
         "     'pg_catalog.pg_type'::regclass AND d.objid = t.oid AND d.deptype IN ('e', 'i'))"
         "   LOOP EXECUTE format('ALTER TYPE %s OWNER TO %I', o.ty, owner); END LOOP;"
         " END $pgthaw$;";
}

std::string owner_role_sql(const std::string& role) {
  const std::string ident = quote_identifier(role);
  return login_role_sql(role) + " ALTER DATABASE postgres OWNER TO " + ident +
         "; ALTER SCHEMA public OWNER TO " + ident + ";";
}

}  // namespace pgthaw::server
