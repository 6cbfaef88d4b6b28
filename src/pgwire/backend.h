// The client side of the backend (server -> client) stream: BackendParser
// frames the bytes, and the decode_* functions turn payloads into structs.
// Every decoder checks bounds and returns InvalidArgument on a malformed
// payload; none reads past its input.
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

// Backend message type bytes.
namespace backend_type {
inline constexpr char kAuthentication = 'R';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kCopyBothResponse = 'W';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kDataRow = 'D';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kFunctionCallResponse = 'V';
inline constexpr char kNegotiateProtocolVersion = 'v';
inline constexpr char kNoData = 'n';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kNotificationResponse = 'A';
inline constexpr char kParameterDescription = 't';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kParseComplete = '1';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kRowDescription = 'T';
}  // namespace backend_type

// One column of a RowDescription.
struct FieldDescription {
  std::string name;
  uint32_t table_oid = 0;     // 0 if not a table column
  int16_t column_attnum = 0;  // 0 if not a table column
  uint32_t type_oid = 0;
  int16_t type_size = 0;       // pg_type.typlen; negative = variable width
  int32_t type_modifier = -1;  // pg_attribute.atttypmod
  int16_t format = 0;          // 0 text, 1 binary
  bool operator==(const FieldDescription&) const = default;
};

using Row = std::vector<std::optional<std::string>>;  // nullopt = NULL

// The fields of an ErrorResponse or NoticeResponse, keyed by their code
// byte. Accessors return "" for an absent field.
struct ErrorFields {
  std::map<char, std::string> fields;

  const std::string& get(char code) const;
  bool has(char code) const { return fields.count(code) != 0; }

  const std::string& severity() const { return get('S'); }  // localized
  const std::string& severity_nonlocalized() const { return get('V'); }
  const std::string& sqlstate() const { return get('C'); }
  const std::string& message() const { return get('M'); }
  const std::string& detail() const { return get('D'); }
  const std::string& hint() const { return get('H'); }
  const std::string& position() const { return get('P'); }  // 1-based, in characters
  const std::string& internal_position() const { return get('p'); }
  const std::string& internal_query() const { return get('q'); }
  const std::string& where() const { return get('W'); }
  const std::string& schema_name() const { return get('s'); }
  const std::string& table_name() const { return get('t'); }
  const std::string& column_name() const { return get('c'); }
  const std::string& data_type_name() const { return get('d'); }
  const std::string& constraint_name() const { return get('n'); }
  const std::string& file() const { return get('F'); }
  const std::string& line() const { return get('L'); }
  const std::string& routine() const { return get('R'); }

  // psql's first line: "ERROR:  relation \"t\" does not exist".
  std::string summary() const;
  bool operator==(const ErrorFields&) const = default;
};

struct ParameterStatus {
  std::string name;
  std::string value;
  bool operator==(const ParameterStatus&) const = default;
};

struct BackendKeyData {
  int32_t pid = 0;
  std::string secret_key;  // 4 bytes in protocol 3.0, up to 256 in 3.2
  // The key as a 32-bit integer (protocol 3.0 keys), 0 if not 4 bytes.
  uint32_t secret_key32() const;
};

// CopyInResponse, CopyOutResponse and CopyBothResponse.
struct CopyResponse {
  int8_t format = 0;  // overall: 0 text, 1 binary
  std::vector<int16_t> column_formats;
  bool operator==(const CopyResponse&) const = default;
};

struct Notification {
  int32_t pid = 0;
  std::string channel;
  std::string payload;
  bool operator==(const Notification&) const = default;
};

// Authentication* ('R'): the request code and whatever data it carries.
struct Authentication {
  enum Code : int32_t {
    kOk = 0,
    kKerberosV5 = 2,
    kCleartextPassword = 3,
    kMd5Password = 5,
    kGss = 7,
    kGssContinue = 8,
    kSspi = 9,
    kSasl = 10,
    kSaslContinue = 11,
    kSaslFinal = 12,
  };
  int32_t code = kOk;
  std::string data;                     // MD5 salt (4 bytes), GSS/SASL data
  std::vector<std::string> mechanisms;  // kSasl only
};

struct NegotiateProtocolVersion {
  int32_t newest_minor = 0;
  std::vector<std::string> unrecognized_options;
};

Result<std::vector<FieldDescription>> decode_row_description(std::string_view payload);
Result<Row> decode_data_row(std::string_view payload);
Result<std::string> decode_command_complete(std::string_view payload);
// ErrorResponse and NoticeResponse share a layout.
Result<ErrorFields> decode_error_fields(std::string_view payload);
Result<ParameterStatus> decode_parameter_status(std::string_view payload);
Result<BackendKeyData> decode_backend_key_data(std::string_view payload);
Result<TransactionStatus> decode_ready_for_query(std::string_view payload);
// CopyInResponse, CopyOutResponse, CopyBothResponse.
Result<CopyResponse> decode_copy_response(std::string_view payload);
Result<std::vector<uint32_t>> decode_parameter_description(std::string_view payload);
Result<Notification> decode_notification(std::string_view payload);
Result<Authentication> decode_authentication(std::string_view payload);
Result<NegotiateProtocolVersion> decode_negotiate_protocol_version(std::string_view payload);
// ParseComplete, BindComplete, CloseComplete, NoData, EmptyQueryResponse,
// PortalSuspended, CopyDone: ok if the payload is empty.
Status decode_empty(const MessageView& message);
// CopyData's payload is the data itself; no decoder is needed.

struct BackendParserOptions {
  uint32_t max_message_bytes = kMaxWireLength - 4;
};

// Frames a server's byte stream into typed messages. Feed bytes as they
// arrive; next() yields complete messages in order. A framing error is
// sticky. Not thread-safe. For a buffer known to hold whole messages,
// split_messages (wire_format.h) returns views without copying.
class BackendParser {
 public:
  explicit BackendParser(BackendParserOptions options = {}) : options_(options) {}

  void feed(std::string_view bytes);
  // The next complete message, nullopt if more bytes are needed, or the
  // framing error.
  Result<std::optional<Message>> next();
  size_t buffered_bytes() const { return buffer_.size() - consumed_; }

  // Splits a buffer of whole messages; a partial last message is an error.
  static Result<std::vector<Message>> split(std::string_view bytes);

 private:
  BackendParserOptions options_;
  std::string buffer_;
  size_t consumed_ = 0;
  Status error_;
};

}  // namespace pgthaw::pgwire
