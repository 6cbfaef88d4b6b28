// Quoting for the SQL the listener writes itself (settings, LISTEN, renamed
// statements): never text a client could turn into more SQL.
#pragma once

#include <string>
#include <string_view>

namespace pgthaw::server {

// `name` as a quoted identifier: "name", inner quotes doubled.
inline std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// `text` as an E'...' literal (backslashes and quotes escaped), so its
// meaning does not depend on the standard_conforming_strings a previous
// user of the session left behind.
inline std::string escape_literal(std::string_view text) {
  std::string out = "E'";
  for (char c : text) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace pgthaw::server
