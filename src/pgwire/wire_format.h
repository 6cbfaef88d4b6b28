// Big-endian primitives of the wire protocol: appending them to a message
// under construction, reading them back with bounds checks, and finding
// where one typed message ends in a byte stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "pgwire/message.h"

namespace pgthaw::pgwire {

// Appends integers big-endian.
void put_int8(std::string& out, uint8_t v);
void put_int16(std::string& out, uint16_t v);
void put_int32(std::string& out, uint32_t v);
// Appends `s` and a terminating NUL. The caller checks `s` has no NUL
// (see check_cstring).
void put_cstring(std::string& out, std::string_view s);

// InvalidArgument if `s` holds a NUL byte, which would end a C string early;
// `what` names the field in the message ("Query text").
Status check_cstring(std::string_view s, std::string_view what);

// Builds one typed message in place: the constructor appends the type and a
// placeholder length, finish() patches the length. If finish() fails (the
// message is over the int32 limit) `out` is restored to its old size, so a
// failed encoder appends nothing.
class MessageBuilder {
 public:
  // type '\0' builds an untyped packet (no type byte): the first packet.
  MessageBuilder(std::string& out, char type);
  Status finish();
  // Drops what this builder appended (an encoder's argument check failed).
  void abandon();

 private:
  std::string& out_;
  size_t start_;      // out_.size() before this message
  size_t length_at_;  // offset of the length word
};

// A bounds-checked cursor over one message's payload. A read past the end
// returns a zero value and marks the reader failed; finish() then reports
// the first failure. Loops driven by counts from the wire stop early by
// testing failed().
class WireReader {
 public:
  // `message` names the message in errors ("RowDescription").
  WireReader(std::string_view payload, std::string_view message)
      : data_(payload), message_(message) {}

  uint8_t int8();
  int16_t int16();
  int32_t int32();
  uint32_t uint32();
  // Reads up to the next NUL, which is consumed and not returned.
  std::string_view cstring();
  std::string_view bytes(size_t n);
  // The unread remainder, consumed.
  std::string_view rest();

  size_t remaining() const { return data_.size() - pos_; }
  bool failed() const { return !error_.empty(); }
  // Records a semantic error found by the caller ("negative field count").
  void fail(std::string what);
  // Ok if nothing failed and the payload was consumed exactly.
  Status finish() const;

 private:
  bool take(size_t n, const char* what);

  std::string_view data_;
  size_t pos_ = 0;
  std::string_view message_;
  std::string error_;  // first failure; empty while all reads succeeded
};

// Looks at the start of `buffer` for a typed message. Returns its total size
// (header plus payload), or 0 if the 5-byte header is not all there yet.
// InvalidArgument if the length word is below 4 or the payload above
// `max_payload_bytes`.
Result<size_t> typed_message_size(std::string_view buffer, uint32_t max_payload_bytes);

// Splits a buffer that holds whole typed messages. The views point into
// `bytes`. InvalidArgument on a bad length or a partial last message.
Result<std::vector<MessageView>> split_messages(std::string_view bytes,
                                                uint32_t max_payload_bytes = kMaxWireLength - 4);

// Appends one typed message: `type`, the length word, `payload`.
void append_message(std::string& out, char type, std::string_view payload);

// True if the last message of `reply` (backend messages) is a
// ReadyForQuery: the session then waits for a new exchange. False for an
// empty or malformed reply.
bool ends_at_ready(std::string_view reply);

// "'T' (0x54)": a message type for error messages, printable or not.
std::string describe_type(char type);

}  // namespace pgthaw::pgwire
