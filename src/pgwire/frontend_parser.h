// The server side of the frontend stream: FrontendParser frames the bytes a
// client sends into messages, and the decode_* functions read the payloads
// a Postgres-compatible listener needs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "pgwire/message.h"

namespace pgthaw::pgwire {

// What kind of untyped first packet a message is (kNone for typed messages).
enum class StartupPacketKind {
  kNone,
  kStartup,        // StartupMessage: protocol version, parameters
  kSslRequest,     // 80877103: answer 'S' or 'N', then expect another first packet
  kGssEncRequest,  // 80877104: answer 'G' or 'N', then expect another first packet
  kCancelRequest,  // 80877102: pid and key; the connection then closes
};

struct FrontendMessage {
  char type = 0;  // '\0' for first packets
  StartupPacketKind startup_kind = StartupPacketKind::kNone;
  // Bytes after the length word. For first packets this starts with the
  // 32-bit protocol version or request code.
  std::string payload;
};

struct FrontendParserOptions {
  // Typed messages whose payload is larger are rejected.
  uint32_t max_message_bytes = kDefaultMaxFrontendMessageBytes;
  // First packets whose total length is larger are rejected.
  uint32_t max_startup_packet_bytes = kDefaultMaxStartupPacketBytes;
};

// Frames a client's byte stream. Feed bytes as they arrive; next() yields
// each complete message in order. When built at connection start it first
// expects untyped packets: after an SSLRequest or GSSENCRequest it keeps
// expecting one (the client retries with a StartupMessage); after a
// StartupMessage it switches to typed messages. A framing error (length < 4,
// over the limit, an unknown first-packet code) is sticky: the stream has no
// recoverable boundary after it. Not thread-safe; one per connection.
class FrontendParser {
 public:
  explicit FrontendParser(bool at_connection_start, FrontendParserOptions options = {});

  void feed(std::string_view bytes);
  // The next complete message, nullopt if more bytes are needed, or the
  // framing error.
  Result<std::optional<FrontendMessage>> next();

  // True until a StartupMessage has been framed.
  bool expecting_startup() const { return expecting_startup_; }
  // Bytes fed but not yet returned as messages.
  size_t buffered_bytes() const { return buffer_.size() - consumed_; }
  // Those bytes, removed from the parser (a connection handed on unparsed).
  std::string take_buffered();

 private:
  Result<std::optional<FrontendMessage>> next_startup_packet();
  Result<std::optional<FrontendMessage>> next_typed_message();
  void consume(size_t n);

  FrontendParserOptions options_;
  bool expecting_startup_;
  std::string buffer_;
  size_t consumed_ = 0;  // prefix of buffer_ already returned
  Status error_;         // sticky framing error
};

// ---- Decoders of frontend payloads (InvalidArgument if malformed). ----

struct StartupMessage {
  int32_t protocol_version = 0;  // major << 16 | minor
  std::map<std::string, std::string> params;
  int major() const { return protocol_version >> 16; }
  int minor() const { return protocol_version & 0xffff; }
};

struct CancelRequest {
  int32_t pid = 0;
  std::string secret_key;  // 4 bytes in protocol 3.0, up to 256 in 3.2
};

struct ParseMessage {
  std::string statement;
  std::string query;
  std::vector<uint32_t> param_type_oids;
};

struct BindMessage {
  std::string portal;
  std::string statement;
  std::vector<int16_t> param_formats;
  std::vector<std::optional<std::string>> params;  // nullopt = NULL
  std::vector<int16_t> result_formats;
};

// Describe and Close share a layout.
struct TargetMessage {
  char kind = 'S';  // 'S' statement, 'P' portal
  std::string name;
};

struct ExecuteMessage {
  std::string portal;
  int32_t max_rows = 0;
};

// SASLInitialResponse ('p' during SASL authentication): the mechanism the
// client chose and its first message (absent: length -1).
struct SaslInitialResponse {
  std::string mechanism;
  std::optional<std::string> data;
};

Result<StartupMessage> decode_startup_message(std::string_view payload);
Result<SaslInitialResponse> decode_sasl_initial_response(std::string_view payload);  // 'p'
Result<CancelRequest> decode_cancel_request(std::string_view payload);
Result<std::string> decode_query(std::string_view payload);       // 'Q'
Result<ParseMessage> decode_parse(std::string_view payload);      // 'P'
Result<BindMessage> decode_bind(std::string_view payload);        // 'B'
Result<TargetMessage> decode_describe(std::string_view payload);  // 'D'
Result<TargetMessage> decode_close(std::string_view payload);     // 'C'
Result<ExecuteMessage> decode_execute(std::string_view payload);  // 'E'
Result<std::string> decode_copy_fail(std::string_view payload);   // 'f'

}  // namespace pgthaw::pgwire
