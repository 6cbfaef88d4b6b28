// Encoders for backend protocol v3 messages.
#include "pgwire/backend_encode.h"

#include "pgwire/wire_format.h"

namespace pgthaw::pgwire::backend {
namespace {

void empty_message(std::string& out, char type) {
  out.push_back(type);
  put_int32(out, 4);
}

// RowDescription and DataRow counts are signed 16-bit.
Status check_columns(size_t n, std::string_view what) {
  if (n > 0x7fff) {
    return Status::InvalidArgument(std::string(what) + " has " + std::to_string(n) +
                                   " columns, more than 32767");
  }
  return Status::Ok();
}

Status error_fields_message(std::string& out, char type, const ErrorFields& e) {
  for (const auto& [code, value] : e.fields) {
    if (code == '\0') return Status::InvalidArgument("error field with code 0");
    PGTHAW_RETURN_IF_ERROR(check_cstring(value, "error field " + describe_type(code)));
  }
  static constexpr char kLeading[] = {'S', 'V', 'C', 'M'};
  MessageBuilder m(out, type);
  for (char code : kLeading) {
    auto it = e.fields.find(code);
    if (it == e.fields.end()) continue;
    out.push_back(code);
    put_cstring(out, it->second);
  }
  for (const auto& [code, value] : e.fields) {
    if (code == 'S' || code == 'V' || code == 'C' || code == 'M') continue;
    out.push_back(code);
    put_cstring(out, value);
  }
  out.push_back('\0');
  return m.finish();
}

Status copy_response(std::string& out, char type, const CopyResponse& c) {
  PGTHAW_RETURN_IF_ERROR(check_columns(c.column_formats.size(), "CopyResponse"));
  MessageBuilder m(out, type);
  put_int8(out, static_cast<uint8_t>(c.format));
  put_int16(out, static_cast<uint16_t>(c.column_formats.size()));
  for (int16_t f : c.column_formats) put_int16(out, static_cast<uint16_t>(f));
  return m.finish();
}

}  // namespace

Status error_response(std::string& out, const ErrorFields& fields) {
  return error_fields_message(out, 'E', fields);
}

Status notice_response(std::string& out, const ErrorFields& fields) {
  return error_fields_message(out, 'N', fields);
}

Status error_response(std::string& out, std::string_view severity, std::string_view sqlstate,
                      std::string_view message) {
  ErrorFields e;
  e.fields['S'] = std::string(severity);
  e.fields['V'] = std::string(severity);
  e.fields['C'] = std::string(sqlstate);
  e.fields['M'] = std::string(message);
  return error_response(out, e);
}

void authentication_ok(std::string& out) {
  out.push_back('R');
  put_int32(out, 8);
  put_int32(out, 0);
}

Status authentication_sasl(std::string& out, const std::vector<std::string>& mechanisms) {
  MessageBuilder m(out, 'R');
  put_int32(out, 10);
  for (const std::string& mechanism : mechanisms) {
    PGTHAW_RETURN_IF_ERROR(check_cstring(mechanism, "SASL mechanism"));
    put_cstring(out, mechanism);
  }
  out.push_back('\0');
  return m.finish();
}

namespace {
Status authentication_with_data(std::string& out, int32_t code, std::string_view data) {
  MessageBuilder m(out, 'R');
  put_int32(out, static_cast<uint32_t>(code));
  out.append(data);
  return m.finish();
}
}  // namespace

Status authentication_sasl_continue(std::string& out, std::string_view data) {
  return authentication_with_data(out, 11, data);
}

Status authentication_sasl_final(std::string& out, std::string_view data) {
  return authentication_with_data(out, 12, data);
}

Status parameter_status(std::string& out, std::string_view name, std::string_view value) {
  PGTHAW_RETURN_IF_ERROR(check_cstring(name, "ParameterStatus name"));
  PGTHAW_RETURN_IF_ERROR(check_cstring(value, "ParameterStatus value"));
  MessageBuilder m(out, 'S');
  put_cstring(out, name);
  put_cstring(out, value);
  return m.finish();
}

void backend_key_data(std::string& out, int32_t pid, uint32_t secret_key) {
  out.push_back('K');
  put_int32(out, 12);
  put_int32(out, static_cast<uint32_t>(pid));
  put_int32(out, secret_key);
}

Status backend_key_data(std::string& out, int32_t pid, std::string_view secret_key) {
  if (secret_key.size() < 4 || secret_key.size() > 256) {
    return Status::InvalidArgument("secret key must be 4 to 256 bytes, got " +
                                   std::to_string(secret_key.size()));
  }
  MessageBuilder m(out, 'K');
  put_int32(out, static_cast<uint32_t>(pid));
  out.append(secret_key);
  return m.finish();
}

void ready_for_query(std::string& out, TransactionStatus status) {
  out.push_back('Z');
  put_int32(out, 5);
  out.push_back(static_cast<char>(status));
}

Status row_description(std::string& out, const std::vector<FieldDescription>& fields) {
  PGTHAW_RETURN_IF_ERROR(check_columns(fields.size(), "RowDescription"));
  for (const FieldDescription& f : fields) {
    PGTHAW_RETURN_IF_ERROR(check_cstring(f.name, "RowDescription field name"));
  }
  MessageBuilder m(out, 'T');
  put_int16(out, static_cast<uint16_t>(fields.size()));
  for (const FieldDescription& f : fields) {
    put_cstring(out, f.name);
    put_int32(out, f.table_oid);
    put_int16(out, static_cast<uint16_t>(f.column_attnum));
    put_int32(out, f.type_oid);
    put_int16(out, static_cast<uint16_t>(f.type_size));
    put_int32(out, static_cast<uint32_t>(f.type_modifier));
    put_int16(out, static_cast<uint16_t>(f.format));
  }
  return m.finish();
}

Status data_row(std::string& out, const Row& row) {
  PGTHAW_RETURN_IF_ERROR(check_columns(row.size(), "DataRow"));
  MessageBuilder m(out, 'D');
  put_int16(out, static_cast<uint16_t>(row.size()));
  for (const auto& v : row) {
    if (!v) {
      put_int32(out, 0xffffffffu);  // -1: NULL
      continue;
    }
    if (v->size() > kMaxWireLength) {
      m.abandon();
      return Status::InvalidArgument("DataRow value exceeds the protocol's int32 length");
    }
    put_int32(out, static_cast<uint32_t>(v->size()));
    out.append(*v);
  }
  return m.finish();
}

Status command_complete(std::string& out, std::string_view tag) {
  PGTHAW_RETURN_IF_ERROR(check_cstring(tag, "CommandComplete tag"));
  MessageBuilder m(out, 'C');
  put_cstring(out, tag);
  return m.finish();
}

void empty_query_response(std::string& out) { empty_message(out, 'I'); }

Status copy_in_response(std::string& out, const CopyResponse& response) {
  return copy_response(out, 'G', response);
}

Status copy_out_response(std::string& out, const CopyResponse& response) {
  return copy_response(out, 'H', response);
}

Status copy_both_response(std::string& out, const CopyResponse& response) {
  return copy_response(out, 'W', response);
}

Status copy_data(std::string& out, std::string_view bytes) {
  MessageBuilder m(out, 'd');
  out.append(bytes);
  return m.finish();
}

void copy_done(std::string& out) { empty_message(out, 'c'); }
void parse_complete(std::string& out) { empty_message(out, '1'); }
void bind_complete(std::string& out) { empty_message(out, '2'); }
void close_complete(std::string& out) { empty_message(out, '3'); }
void no_data(std::string& out) { empty_message(out, 'n'); }
void portal_suspended(std::string& out) { empty_message(out, 's'); }

Status parameter_description(std::string& out, const std::vector<uint32_t>& type_oids) {
  if (type_oids.size() > 0xffff) {
    return Status::InvalidArgument("ParameterDescription has more than 65535 parameters");
  }
  MessageBuilder m(out, 't');
  put_int16(out, static_cast<uint16_t>(type_oids.size()));
  for (uint32_t oid : type_oids) put_int32(out, oid);
  return m.finish();
}

Status notification_response(std::string& out, const Notification& n) {
  PGTHAW_RETURN_IF_ERROR(check_cstring(n.channel, "NotificationResponse channel"));
  PGTHAW_RETURN_IF_ERROR(check_cstring(n.payload, "NotificationResponse payload"));
  MessageBuilder m(out, 'A');
  put_int32(out, static_cast<uint32_t>(n.pid));
  put_cstring(out, n.channel);
  put_cstring(out, n.payload);
  return m.finish();
}

}  // namespace pgthaw::pgwire::backend
