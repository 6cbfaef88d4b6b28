// FrontendParser framing and the frontend payload decoders.
#include "pgwire/frontend_parser.h"

#include "pgwire/wire_format.h"

namespace pgthaw::pgwire {

FrontendParser::FrontendParser(bool at_connection_start, FrontendParserOptions options)
    : options_(options), expecting_startup_(at_connection_start) {}

void FrontendParser::feed(std::string_view bytes) {
  if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

std::string FrontendParser::take_buffered() {
  std::string rest = buffer_.substr(consumed_);
  buffer_.clear();
  consumed_ = 0;
  return rest;
}

void FrontendParser::consume(size_t n) {
  consumed_ += n;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
}

Result<std::optional<FrontendMessage>> FrontendParser::next() {
  if (!error_.ok()) return error_;
  Result<std::optional<FrontendMessage>> r =
      expecting_startup_ ? next_startup_packet() : next_typed_message();
  if (!r.ok()) error_ = r.status();
  return r;
}

Result<std::optional<FrontendMessage>> FrontendParser::next_startup_packet() {
  std::string_view rest = std::string_view(buffer_).substr(consumed_);
  if (rest.size() < 4) return std::optional<FrontendMessage>();
  WireReader header(rest.substr(0, 4), "first packet");
  uint32_t length = header.uint32();
  if (length < 8 || length > options_.max_startup_packet_bytes) {
    return Status::InvalidArgument(
        "first packet has invalid length " + std::to_string(static_cast<int32_t>(length)) +
        " (must be 8 to " + std::to_string(options_.max_startup_packet_bytes) + ")");
  }
  if (rest.size() < length) return std::optional<FrontendMessage>();

  FrontendMessage m;
  m.payload.assign(rest.substr(4, length - 4));
  WireReader body(m.payload, "first packet");
  int32_t code = body.int32();
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      if (length != 8) {
        return Status::InvalidArgument("encryption request has length " + std::to_string(length) +
                                       ", expected 8");
      }
      m.startup_kind = code == kSslRequestCode ? StartupPacketKind::kSslRequest
                                               : StartupPacketKind::kGssEncRequest;
      break;
    case kCancelRequestCode:
      m.startup_kind = StartupPacketKind::kCancelRequest;
      break;
    default:
      // Major version 1234 is reserved for request codes; others are versions
      // the server accepts or rejects after decoding.
      if ((code >> 16) == 1234) {
        return Status::InvalidArgument("unknown first-packet request code " + std::to_string(code));
      }
      m.startup_kind = StartupPacketKind::kStartup;
      expecting_startup_ = false;
      break;
  }
  consume(length);
  return std::optional<FrontendMessage>(std::move(m));
}

Result<std::optional<FrontendMessage>> FrontendParser::next_typed_message() {
  std::string_view rest = std::string_view(buffer_).substr(consumed_);
  Result<size_t> size = typed_message_size(rest, options_.max_message_bytes);
  if (!size.ok()) return size.status();
  if (*size == 0 || rest.size() < *size) return std::optional<FrontendMessage>();
  FrontendMessage m;
  m.type = rest[0];
  m.payload.assign(rest.substr(kTypedHeaderBytes, *size - kTypedHeaderBytes));
  consume(*size);
  return std::optional<FrontendMessage>(std::move(m));
}

// ---- Decoders ----

Result<StartupMessage> decode_startup_message(std::string_view payload) {
  WireReader r(payload, "StartupMessage");
  StartupMessage m;
  m.protocol_version = r.int32();
  // Name/value pairs end with an empty name.
  while (!r.failed()) {
    std::string_view name = r.cstring();
    if (r.failed() || name.empty()) break;
    std::string_view value = r.cstring();
    if (!m.params.emplace(name, value).second) {
      r.fail("duplicate parameter \"" + std::string(name) + "\"");
    }
  }
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return m;
}

Result<CancelRequest> decode_cancel_request(std::string_view payload) {
  WireReader r(payload, "CancelRequest");
  if (r.int32() != kCancelRequestCode && !r.failed()) r.fail("wrong request code");
  CancelRequest m;
  m.pid = r.int32();
  m.secret_key.assign(r.rest());
  if (!r.failed() && (m.secret_key.size() < 4 || m.secret_key.size() > 256)) {
    r.fail("cancel key of " + std::to_string(m.secret_key.size()) + " bytes (must be 4 to 256)");
  }
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return m;
}

namespace {

Result<std::string> decode_one_cstring(std::string_view payload, std::string_view what) {
  WireReader r(payload, what);
  std::string s(r.cstring());
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return s;
}

std::vector<int16_t> read_int16_list(WireReader& r) {
  std::vector<int16_t> v;
  auto n = static_cast<uint16_t>(r.int16());
  for (uint16_t i = 0; i < n && !r.failed(); ++i) v.push_back(r.int16());
  return v;
}

Result<TargetMessage> decode_target(std::string_view payload, std::string_view what) {
  WireReader r(payload, what);
  TargetMessage m;
  m.kind = static_cast<char>(r.int8());
  if (!r.failed() && m.kind != 'S' && m.kind != 'P') r.fail("kind " + describe_type(m.kind));
  m.name.assign(r.cstring());
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return m;
}

}  // namespace

Result<std::string> decode_query(std::string_view payload) {
  return decode_one_cstring(payload, "Query");
}

Result<SaslInitialResponse> decode_sasl_initial_response(std::string_view payload) {
  WireReader r(payload, "SASLInitialResponse");
  SaslInitialResponse m;
  m.mechanism.assign(r.cstring());
  int32_t len = r.int32();
  if (len < -1) {
    r.fail("data has length " + std::to_string(len));
  } else if (len >= 0) {
    m.data.emplace(r.bytes(static_cast<size_t>(len)));
  }
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return m;
}

Result<std::string> decode_copy_fail(std::string_view payload) {
  return decode_one_cstring(payload, "CopyFail");
}

Result<ParseMessage> decode_parse(std::string_view payload) {
  WireReader r(payload, "Parse");
  ParseMessage m;
  m.statement.assign(r.cstring());
  m.query.assign(r.cstring());
  auto n = static_cast<uint16_t>(r.int16());
  for (uint16_t i = 0; i < n && !r.failed(); ++i) m.param_type_oids.push_back(r.uint32());
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return m;
}

Result<BindMessage> decode_bind(std::string_view payload) {
  WireReader r(payload, "Bind");
  BindMessage m;
  m.portal.assign(r.cstring());
  m.statement.assign(r.cstring());
  m.param_formats = read_int16_list(r);
  auto n = static_cast<uint16_t>(r.int16());
  for (uint16_t i = 0; i < n && !r.failed(); ++i) {
    int32_t len = r.int32();
    if (len == -1) {
      m.params.emplace_back(std::nullopt);
    } else if (len < 0) {
      r.fail("parameter " + std::to_string(i) + " has length " + std::to_string(len));
    } else {
      m.params.emplace_back(std::string(r.bytes(static_cast<size_t>(len))));
    }
  }
  m.result_formats = read_int16_list(r);
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return m;
}

Result<TargetMessage> decode_describe(std::string_view payload) {
  return decode_target(payload, "Describe");
}

Result<TargetMessage> decode_close(std::string_view payload) {
  return decode_target(payload, "Close");
}

Result<ExecuteMessage> decode_execute(std::string_view payload) {
  WireReader r(payload, "Execute");
  ExecuteMessage m;
  m.portal.assign(r.cstring());
  m.max_rows = r.int32();
  PGTHAW_RETURN_IF_ERROR(r.finish());
  return m;
}

}  // namespace pgthaw::pgwire
