#include "dumpfile/owner_statement.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "dumpfile/sql_identifier.h"

namespace pgthaw::dumpfile {

namespace {

// Kinds named "<desc> [schema.]name" (pg_backup_archiver.c,
// _getObjectDescription).
constexpr std::array<std::string_view, 20> kNamedKinds = {
    "COLLATION",
    "CONVERSION",
    "DOMAIN",
    "FOREIGN TABLE",
    "MATERIALIZED VIEW",
    "SEQUENCE",
    "STATISTICS",
    "TABLE",
    "TEXT SEARCH DICTIONARY",
    "TEXT SEARCH CONFIGURATION",
    "TYPE",
    "VIEW",
    "DATABASE",
    "PROCEDURAL LANGUAGE",
    "SCHEMA",
    "EVENT TRIGGER",
    "FOREIGN DATA WRAPPER",
    "SERVER",
    "PUBLICATION",
    "SUBSCRIPTION",
};

// Kinds whose drop statement names them with everything ALTER needs
// ("DROP FUNCTION public.f(integer);").
constexpr std::array<std::string_view, 6> kKindsNamedByDrop = {
    "AGGREGATE", "FUNCTION", "OPERATOR", "OPERATOR CLASS", "OPERATOR FAMILY", "PROCEDURE"};

template <size_t N>
bool contains(const std::array<std::string_view, N>& kinds, std::string_view kind) {
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

}  // namespace

std::string owner_statement(const ArchiveEntry& entry) {
  if (entry.owner.empty() || entry.drop_stmt.empty()) return "";
  const std::string to_owner = " OWNER TO " + quote_identifier(entry.owner) + ";";
  if (entry.desc == "BLOB METADATA") {
    // The definition lists the large objects' oids, one a line.
    std::string out;
    std::string_view oids = entry.defn;
    for (size_t end; (end = oids.find('\n')) != std::string_view::npos;
         oids.remove_prefix(end + 1)) {
      if (!out.empty()) out += '\n';
      out += "ALTER LARGE OBJECT " + std::string(oids.substr(0, end)) + to_owner;
    }
    return out;
  }
  if (contains(kNamedKinds, entry.desc)) {
    std::string name = quote_identifier(entry.tag);
    if (!entry.schema.empty()) name = quote_identifier(entry.schema) + "." + name;
    return "ALTER " + entry.desc + " " + name + to_owner;
  }
  if (entry.desc == "BLOB") {  // numeric name, never quoted
    return "ALTER LARGE OBJECT " + entry.tag + to_owner;
  }
  if (contains(kKindsNamedByDrop, entry.desc)) {
    std::string_view object = entry.drop_stmt;
    if (!object.starts_with("DROP ")) return "";
    object.remove_prefix(5);
    while (!object.empty() && (object.back() == '\n' || object.back() == ';')) {
      object.remove_suffix(1);
    }
    if (object.empty()) return "";
    return "ALTER " + std::string(object) + to_owner;
  }
  // Everything else (INDEX, CONSTRAINT, DEFAULT, TRIGGER, RULE, POLICY, CAST,
  // ...) has no owner of its own.
  return "";
}

}  // namespace pgthaw::dumpfile
