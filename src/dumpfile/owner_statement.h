// The ALTER ... OWNER TO statement pg_restore runs after creating an
// archive entry's object (its default: ownership by ALTER, not by SET
// SESSION AUTHORIZATION).
#pragma once

#include <string>

#include "dumpfile/archive_entry.h"

namespace pgthaw::dumpfile {

// "ALTER TABLE public.t OWNER TO alice;" for `entry`, or "" when pg_restore
// runs none: no owner, no drop statement (pg_restore's sign of an object
// that is not separately owned), or a kind without owners (INDEX,
// CONSTRAINT, ACL, COMMENT, ...). Functions, aggregates, procedures and
// operators are named as their drop statement names them (with argument
// types). BLOB METADATA gives one statement per large object, one a line.
// Identifiers are quoted as pg_dump quotes them.
std::string owner_statement(const ArchiveEntry& entry);

}  // namespace pgthaw::dumpfile
