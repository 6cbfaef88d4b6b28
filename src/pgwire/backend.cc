// Backend payload decoders and BackendParser framing.
#include "pgwire/backend.h"

#include "pgwire/wire_format.h"

namespace pgthaw::pgwire {

const std::string& ErrorFields::get(char code) const {
  static const std::string kEmpty;
  auto it = fields.find(code);
  return it == fields.end() ? kEmpty : it->second;
}

std::string ErrorFields::summary() const {
  const std::string& sev = has('S') ? severity() : severity_nonlocalized();
  return (sev.empty() ? std::string("ERROR") : sev) + ":  " + message();
}

uint32_t BackendKeyData::secret_key32() const {
  if (secret_key.size() != 4) return 0;
  auto* u = reinterpret_cast<const unsigned char*>(secret_key.data());
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

Result<std::vector<FieldDescription>> decode_row_description(std::string_view payload) {
  WireReader r(payload, "RowDescription");
  std::vector<FieldDescription> fields;
  int16_t n = r.int16();
  if (n < 0) r.fail("negative field count " + std::to_string(n));
  // Each field takes at least 19 bytes; don't reserve for a lying count.
  if (!r.failed() && static_cast<size_t>(n) * 19 <= r.remaining()) fields.reserve(n);
  for (int16_t i = 0; i < n && !r.failed(); ++i) {
    FieldDescription f;
    f.name.assign(r.cstring());
    f.table_oid = r.uint32();
    f.column_attnum = r.int16();
    f.type_oid = r.uint32();
    f.type_size = r.int16();
    f.type_modifier = r.int32();
    f.format = r.int16();
    fields.push_back(std::move(f));
  }
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return fields;
}

Result<Row> decode_data_row(std::string_view payload) {
  WireReader r(payload, "DataRow");
  Row row;
  int16_t n = r.int16();
  if (n < 0) r.fail("negative column count " + std::to_string(n));
  if (!r.failed() && static_cast<size_t>(n) * 4 <= r.remaining()) row.reserve(n);
  for (int16_t i = 0; i < n && !r.failed(); ++i) {
    int32_t len = r.int32();
    if (len == -1) {
      row.emplace_back(std::nullopt);
    } else if (len < 0) {
      r.fail("column " + std::to_string(i) + " has length " + std::to_string(len));
    } else {
      row.emplace_back(std::string(r.bytes(static_cast<size_t>(len))));
    }
  }
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return row;
}

Result<std::string> decode_command_complete(std::string_view payload) {
  WireReader r(payload, "CommandComplete");
  std::string tag(r.cstring());
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return tag;
}

Result<ErrorFields> decode_error_fields(std::string_view payload) {
  WireReader r(payload, "ErrorResponse/NoticeResponse");
  ErrorFields e;
  // (code byte, C string) pairs ending with a zero code byte.
  while (!r.failed()) {
    char code = static_cast<char>(r.int8());
    if (r.failed() || code == '\0') break;
    std::string_view value = r.cstring();
    // A repeated code keeps the last value, as libpq does.
    e.fields[code] = std::string(value);
  }
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return e;
}

Result<ParameterStatus> decode_parameter_status(std::string_view payload) {
  WireReader r(payload, "ParameterStatus");
  ParameterStatus p;
  p.name.assign(r.cstring());
  p.value.assign(r.cstring());
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return p;
}

Result<BackendKeyData> decode_backend_key_data(std::string_view payload) {
  WireReader r(payload, "BackendKeyData");
  BackendKeyData k;
  k.pid = r.int32();
  k.secret_key.assign(r.rest());
  if (!r.failed() && (k.secret_key.size() < 4 || k.secret_key.size() > 256)) {
    r.fail("secret key of " + std::to_string(k.secret_key.size()) + " bytes (must be 4 to 256)");
  }
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return k;
}

Result<TransactionStatus> decode_ready_for_query(std::string_view payload) {
  WireReader r(payload, "ReadyForQuery");
  char s = static_cast<char>(r.int8());
  if (!r.failed() && s != 'I' && s != 'T' && s != 'E') {
    r.fail("unknown transaction status " + describe_type(s));
  }
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return static_cast<TransactionStatus>(s);
}

Result<CopyResponse> decode_copy_response(std::string_view payload) {
  WireReader r(payload, "CopyResponse");
  CopyResponse c;
  c.format = static_cast<int8_t>(r.int8());
  int16_t n = r.int16();
  if (n < 0) r.fail("negative column count " + std::to_string(n));
  for (int16_t i = 0; i < n && !r.failed(); ++i) c.column_formats.push_back(r.int16());
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return c;
}

Result<std::vector<uint32_t>> decode_parameter_description(std::string_view payload) {
  WireReader r(payload, "ParameterDescription");
  std::vector<uint32_t> oids;
  // Postgres reads this count as unsigned 16-bit.
  auto n = static_cast<uint16_t>(r.int16());
  for (uint16_t i = 0; i < n && !r.failed(); ++i) oids.push_back(r.uint32());
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return oids;
}

Result<Notification> decode_notification(std::string_view payload) {
  WireReader r(payload, "NotificationResponse");
  Notification n;
  n.pid = r.int32();
  n.channel.assign(r.cstring());
  n.payload.assign(r.cstring());
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return n;
}

Result<Authentication> decode_authentication(std::string_view payload) {
  WireReader r(payload, "Authentication");
  Authentication a;
  a.code = r.int32();
  switch (a.code) {
    case Authentication::kOk:
    case Authentication::kKerberosV5:
    case Authentication::kCleartextPassword:
    case Authentication::kGss:
    case Authentication::kSspi:
      break;
    case Authentication::kMd5Password:
      a.data.assign(r.bytes(4));
      break;
    case Authentication::kGssContinue:
    case Authentication::kSaslContinue:
    case Authentication::kSaslFinal:
      a.data.assign(r.rest());
      break;
    case Authentication::kSasl:
      // Mechanism names ending with an empty one.
      while (!r.failed()) {
        std::string_view m = r.cstring();
        if (r.failed() || m.empty()) break;
        a.mechanisms.emplace_back(m);
      }
      break;
    default:
      if (!r.failed()) r.fail("unknown request code " + std::to_string(a.code));
  }
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return a;
}

Result<NegotiateProtocolVersion> decode_negotiate_protocol_version(std::string_view payload) {
  WireReader r(payload, "NegotiateProtocolVersion");
  NegotiateProtocolVersion v;
  v.newest_minor = r.int32();
  int32_t n = r.int32();
  if (n < 0) r.fail("negative option count " + std::to_string(n));
  for (int32_t i = 0; i < n && !r.failed(); ++i) v.unrecognized_options.emplace_back(r.cstring());
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return v;
}

Status decode_empty(const MessageView& message) {
  if (!message.payload.empty()) {
    return Status::InvalidArgument("message " + describe_type(message.type) +
                                   " should be empty but has " +
                                   std::to_string(message.payload.size()) + " bytes");
  }
  return Status::Ok();
}

void BackendParser::feed(std::string_view bytes) {
  if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

Result<std::optional<Message>> BackendParser::next() {
  if (!error_.ok()) return error_;
  std::string_view rest = std::string_view(buffer_).substr(consumed_);
  Result<size_t> size = typed_message_size(rest, options_.max_message_bytes);
  if (!size.ok()) {
    error_ = size.status();
    return error_;
  }
  if (*size == 0 || rest.size() < *size) return std::optional<Message>();
  Message m{rest[0], std::string(rest.substr(kTypedHeaderBytes, *size - kTypedHeaderBytes))};
  consumed_ += *size;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return std::optional<Message>(std::move(m));
}

Result<std::vector<Message>> BackendParser::split(std::string_view bytes) {
  Result<std::vector<MessageView>> views = split_messages(bytes);
  if (!views.ok()) return views.status();
  std::vector<Message> messages;
  messages.reserve(views->size());
  for (const MessageView& v : *views) messages.push_back({v.type, std::string(v.payload)});
  return messages;
}

}  // namespace pgthaw::pgwire
