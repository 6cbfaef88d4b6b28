// SQL identifiers as pg_dump and pg_restore quote them.
#pragma once

#include <string>
#include <string_view>

namespace pgthaw::dumpfile {

// `name` as an identifier in PostgreSQL 18 SQL: bare when it is all
// lower-case ASCII letters, digits and '_', does not start with a digit and
// is no keyword beyond the unreserved ones; otherwise in double quotes with
// inner quotes doubled. The same rule as pg_dump's fmtId, so the SQL built
// here matches what pg_restore runs.
std::string quote_identifier(std::string_view name);

}  // namespace pgthaw::dumpfile
