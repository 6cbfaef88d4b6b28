// Encoders for frontend protocol v3 messages.
#include "pgwire/frontend.h"

#include "pgwire/message.h"
#include "pgwire/wire_format.h"

namespace pgthaw::pgwire::frontend {
namespace {

// Counts in Parse and Bind are 16-bit; Postgres reads them unsigned.
Status check_count(size_t n, std::string_view what) {
  if (n > 0xffff) {
    return Status::InvalidArgument(std::string(what) + " count " + std::to_string(n) +
                                   " exceeds 65535");
  }
  return Status::Ok();
}

Status check_kind(char kind, std::string_view message) {
  if (kind != 'S' && kind != 'P') {
    return Status::InvalidArgument(std::string(message) + " kind must be 'S' or 'P', got " +
                                   describe_type(kind));
  }
  return Status::Ok();
}

void empty_message(std::string& out, char type) {
  out.push_back(type);
  put_int32(out, 4);
}

// A message whose payload is one C string.
Status cstring_message(std::string& out, char type, std::string_view s, std::string_view what) {
  PGTHAW_RETURN_IF_ERROR(check_cstring(s, what));
  MessageBuilder m(out, type);
  put_cstring(out, s);
  return m.finish();
}

Status kind_name_message(std::string& out, char type, char kind, std::string_view name,
                         std::string_view message) {
  PGTHAW_RETURN_IF_ERROR(check_kind(kind, message));
  PGTHAW_RETURN_IF_ERROR(check_cstring(name, std::string(message) + " name"));
  MessageBuilder m(out, type);
  out.push_back(kind);
  put_cstring(out, name);
  return m.finish();
}

}  // namespace

Status query(std::string& out, std::string_view sql) {
  return cstring_message(out, 'Q', sql, "Query text");
}

Status parse(std::string& out, std::string_view stmt_name, std::string_view sql,
             const std::vector<uint32_t>& param_type_oids) {
  PGTHAW_RETURN_IF_ERROR(check_cstring(stmt_name, "Parse statement name"));
  PGTHAW_RETURN_IF_ERROR(check_cstring(sql, "Parse query text"));
  PGTHAW_RETURN_IF_ERROR(check_count(param_type_oids.size(), "Parse parameter type"));
  MessageBuilder m(out, 'P');
  put_cstring(out, stmt_name);
  put_cstring(out, sql);
  put_int16(out, static_cast<uint16_t>(param_type_oids.size()));
  for (uint32_t oid : param_type_oids) put_int32(out, oid);
  return m.finish();
}

Status bind(std::string& out, std::string_view portal, std::string_view stmt,
            const std::vector<int16_t>& param_formats,
            const std::vector<std::optional<std::string>>& params,
            const std::vector<int16_t>& result_formats) {
  PGTHAW_RETURN_IF_ERROR(check_cstring(portal, "Bind portal name"));
  PGTHAW_RETURN_IF_ERROR(check_cstring(stmt, "Bind statement name"));
  PGTHAW_RETURN_IF_ERROR(check_count(param_formats.size(), "Bind parameter format"));
  PGTHAW_RETURN_IF_ERROR(check_count(params.size(), "Bind parameter"));
  PGTHAW_RETURN_IF_ERROR(check_count(result_formats.size(), "Bind result format"));
  for (const auto& p : params) {
    if (p && p->size() > kMaxWireLength) {
      return Status::InvalidArgument("Bind parameter of " + std::to_string(p->size()) +
                                     " bytes exceeds the protocol's int32 length");
    }
  }
  MessageBuilder m(out, 'B');
  put_cstring(out, portal);
  put_cstring(out, stmt);
  put_int16(out, static_cast<uint16_t>(param_formats.size()));
  for (int16_t f : param_formats) put_int16(out, static_cast<uint16_t>(f));
  put_int16(out, static_cast<uint16_t>(params.size()));
  for (const auto& p : params) {
    if (!p) {
      put_int32(out, 0xffffffffu);  // -1: NULL
      continue;
    }
    put_int32(out, static_cast<uint32_t>(p->size()));
    out.append(*p);
  }
  put_int16(out, static_cast<uint16_t>(result_formats.size()));
  for (int16_t f : result_formats) put_int16(out, static_cast<uint16_t>(f));
  return m.finish();
}

Status describe(std::string& out, char kind, std::string_view name) {
  return kind_name_message(out, 'D', kind, name, "Describe");
}

Status execute(std::string& out, std::string_view portal, int32_t max_rows) {
  PGTHAW_RETURN_IF_ERROR(check_cstring(portal, "Execute portal name"));
  if (max_rows < 0) return Status::InvalidArgument("Execute max_rows must be >= 0");
  MessageBuilder m(out, 'E');
  put_cstring(out, portal);
  put_int32(out, static_cast<uint32_t>(max_rows));
  return m.finish();
}

Status close(std::string& out, char kind, std::string_view name) {
  return kind_name_message(out, 'C', kind, name, "Close");
}

void sync(std::string& out) { empty_message(out, 'S'); }
void flush(std::string& out) { empty_message(out, 'H'); }
void terminate(std::string& out) { empty_message(out, 'X'); }

Status copy_data(std::string& out, std::string_view bytes) {
  MessageBuilder m(out, 'd');
  out.append(bytes);
  return m.finish();
}

void copy_done(std::string& out) { empty_message(out, 'c'); }

Status copy_fail(std::string& out, std::string_view message) {
  return cstring_message(out, 'f', message, "CopyFail message");
}

Status startup_message(std::string& out, const std::map<std::string, std::string>& params,
                       int32_t protocol) {
  for (const auto& [name, value] : params) {
    if (name.empty()) return Status::InvalidArgument("startup parameter with an empty name");
    PGTHAW_RETURN_IF_ERROR(check_cstring(name, "startup parameter name"));
    PGTHAW_RETURN_IF_ERROR(check_cstring(value, "startup parameter " + name));
  }
  MessageBuilder m(out, '\0');
  put_int32(out, static_cast<uint32_t>(protocol));
  for (const auto& [name, value] : params) {
    put_cstring(out, name);
    put_cstring(out, value);
  }
  out.push_back('\0');  // end of the list
  return m.finish();
}

void cancel_request(std::string& out, int32_t pid, uint32_t secret_key) {
  put_int32(out, 16);
  put_int32(out, static_cast<uint32_t>(kCancelRequestCode));
  put_int32(out, static_cast<uint32_t>(pid));
  put_int32(out, secret_key);
}

Status cancel_request(std::string& out, int32_t pid, std::string_view secret_key) {
  if (secret_key.empty() || secret_key.size() > 256) {
    return Status::InvalidArgument("cancel key must be 1 to 256 bytes, got " +
                                   std::to_string(secret_key.size()));
  }
  MessageBuilder m(out, '\0');
  put_int32(out, static_cast<uint32_t>(kCancelRequestCode));
  put_int32(out, static_cast<uint32_t>(pid));
  out.append(secret_key);
  return m.finish();
}

void ssl_request(std::string& out) {
  put_int32(out, 8);
  put_int32(out, static_cast<uint32_t>(kSslRequestCode));
}

void gssenc_request(std::string& out) {
  put_int32(out, 8);
  put_int32(out, static_cast<uint32_t>(kGssEncRequestCode));
}

}  // namespace pgthaw::pgwire::frontend
