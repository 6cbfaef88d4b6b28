// Protocol v3 message framing types and the constants shared by the
// frontend and backend halves of the codec.
//
// Every message after the first packet of a connection is typed:
//
//   +------+----------------+------------------------+
//   | type | length (int32) | payload (length - 4)   |
//   +------+----------------+------------------------+
//
// The length counts itself but not the type byte. All integers are big-endian.
// The first packet a client sends is untyped (length, then a 32-bit code).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pgthaw::pgwire {

// One complete message; owns its payload (the bytes after the length word).
struct Message {
  char type = 0;  // '\0' for the untyped first packets of a connection
  std::string payload;
};

// One complete message inside a caller's buffer; valid while that buffer is.
struct MessageView {
  char type = 0;
  std::string_view payload;
};

// The transaction state carried by ReadyForQuery.
enum class TransactionStatus : char {
  kIdle = 'I',
  kInTransaction = 'T',
  kFailed = 'E',
};

// Protocol version 3.0 as sent in a StartupMessage (major << 16 | minor).
inline constexpr int32_t kProtocolVersion30 = 3 << 16;
// Codes that replace the protocol version in special first packets.
inline constexpr int32_t kCancelRequestCode = 80877102;
inline constexpr int32_t kSslRequestCode = 80877103;
inline constexpr int32_t kGssEncRequestCode = 80877104;

// Size of a typed message header: type byte plus length word.
inline constexpr size_t kTypedHeaderBytes = 5;
// Largest frontend message Postgres accepts (PQ_LARGE_MESSAGE_LIMIT, ~1 GiB).
inline constexpr uint32_t kDefaultMaxFrontendMessageBytes = 1u << 30;
// Largest startup-phase packet Postgres accepts (MAX_STARTUP_PACKET_LENGTH).
inline constexpr uint32_t kDefaultMaxStartupPacketBytes = 10000;
// The wire length is a signed int32.
inline constexpr uint32_t kMaxWireLength = 0x7fffffffu;

}  // namespace pgthaw::pgwire
