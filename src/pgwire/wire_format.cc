// Big-endian primitives, the message builder and the bounds-checked reader.
#include "pgwire/wire_format.h"

#include <cstdio>
#include <cstring>

namespace pgthaw::pgwire {

void put_int8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }

void put_int16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

void put_int32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

void put_cstring(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}

Status check_cstring(std::string_view s, std::string_view what) {
  if (s.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(std::string(what) + " contains a NUL byte");
  }
  return Status::Ok();
}

MessageBuilder::MessageBuilder(std::string& out, char type) : out_(out), start_(out.size()) {
  if (type != '\0') out_.push_back(type);
  length_at_ = out_.size();
  put_int32(out_, 0);
}

Status MessageBuilder::finish() {
  size_t length = out_.size() - length_at_;
  if (length > kMaxWireLength) {
    abandon();
    return Status::InvalidArgument("message of " + std::to_string(length) +
                                   " bytes exceeds the protocol's int32 length");
  }
  auto* p = reinterpret_cast<unsigned char*>(out_.data() + length_at_);
  p[0] = static_cast<unsigned char>(length >> 24);
  p[1] = static_cast<unsigned char>(length >> 16);
  p[2] = static_cast<unsigned char>(length >> 8);
  p[3] = static_cast<unsigned char>(length);
  return Status::Ok();
}

void MessageBuilder::abandon() { out_.resize(start_); }

static uint32_t load_be32(const char* p) {
  auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

bool WireReader::take(size_t n, const char* what) {
  if (failed()) return false;
  if (remaining() < n) {
    fail("truncated " + std::string(what) + " at offset " + std::to_string(pos_) + " (need " +
         std::to_string(n) + " bytes, have " + std::to_string(remaining()) + ")");
    return false;
  }
  return true;
}

uint8_t WireReader::int8() {
  if (!take(1, "int8")) return 0;
  return static_cast<uint8_t>(data_[pos_++]);
}

int16_t WireReader::int16() {
  if (!take(2, "int16")) return 0;
  auto* u = reinterpret_cast<const unsigned char*>(data_.data() + pos_);
  pos_ += 2;
  return static_cast<int16_t>((u[0] << 8) | u[1]);
}

int32_t WireReader::int32() { return static_cast<int32_t>(uint32()); }

uint32_t WireReader::uint32() {
  if (!take(4, "int32")) return 0;
  uint32_t v = load_be32(data_.data() + pos_);
  pos_ += 4;
  return v;
}

std::string_view WireReader::cstring() {
  if (failed()) return {};
  size_t nul = data_.find('\0', pos_);
  if (nul == std::string_view::npos) {
    fail("unterminated string at offset " + std::to_string(pos_));
    return {};
  }
  std::string_view s = data_.substr(pos_, nul - pos_);
  pos_ = nul + 1;
  return s;
}

std::string_view WireReader::bytes(size_t n) {
  if (!take(n, "byte string")) return {};
  std::string_view s = data_.substr(pos_, n);
  pos_ += n;
  return s;
}

std::string_view WireReader::rest() {
  if (failed()) return {};
  std::string_view s = data_.substr(pos_);
  pos_ = data_.size();
  return s;
}

void WireReader::fail(std::string what) {
  if (error_.empty()) error_ = std::move(what);
}

Status WireReader::finish() const {
  if (failed())
    return Status::InvalidArgument("malformed " + std::string(message_) + ": " + error_);
  if (remaining() != 0) {
    return Status::InvalidArgument("malformed " + std::string(message_) + ": " +
                                   std::to_string(remaining()) + " trailing bytes");
  }
  return Status::Ok();
}

Result<size_t> typed_message_size(std::string_view buffer, uint32_t max_payload_bytes) {
  if (buffer.size() < kTypedHeaderBytes) return size_t{0};
  uint32_t length = load_be32(buffer.data() + 1);
  if (length < 4 || length > kMaxWireLength) {
    return Status::InvalidArgument("message " + describe_type(buffer[0]) + " has invalid length " +
                                   std::to_string(static_cast<int32_t>(length)));
  }
  if (length - 4 > max_payload_bytes) {
    return Status::InvalidArgument("message " + describe_type(buffer[0]) + " length " +
                                   std::to_string(length) + " exceeds the limit of " +
                                   std::to_string(max_payload_bytes) + " bytes");
  }
  return size_t{1} + length;
}

Result<std::vector<MessageView>> split_messages(std::string_view bytes,
                                                uint32_t max_payload_bytes) {
  std::vector<MessageView> messages;
  size_t pos = 0;
  while (pos < bytes.size()) {
    std::string_view rest = bytes.substr(pos);
    Result<size_t> size = typed_message_size(rest, max_payload_bytes);
    if (!size.ok()) return size.status();
    if (*size == 0 || *size > rest.size()) {
      return Status::InvalidArgument("truncated message " + describe_type(rest[0]) + " at offset " +
                                     std::to_string(pos) + ": " + std::to_string(rest.size()) +
                                     " of " + std::to_string(*size == 0 ? 5 : *size) + " bytes");
    }
    messages.push_back({rest[0], rest.substr(kTypedHeaderBytes, *size - kTypedHeaderBytes)});
    pos += *size;
  }
  return messages;
}

void append_message(std::string& out, char type, std::string_view payload) {
  out += type;
  put_int32(out, static_cast<uint32_t>(payload.size() + 4));
  out += payload;
}

bool ends_at_ready(std::string_view reply) {
  // Walks the headers only: a reply may be large.
  size_t pos = 0, last = std::string_view::npos;
  while (pos < reply.size()) {
    Result<size_t> size = typed_message_size(reply.substr(pos), kMaxWireLength - 4);
    if (!size.ok() || *size == 0 || *size > reply.size() - pos) return false;
    last = pos;
    pos += *size;
  }
  return last != std::string_view::npos && reply[last] == 'Z' &&
         reply.size() - last == kTypedHeaderBytes + 1;
}

std::string describe_type(char type) {
  char buf[16];
  auto u = static_cast<unsigned char>(type);
  if (u >= 0x20 && u < 0x7f) {
    std::snprintf(buf, sizeof buf, "'%c' (0x%02x)", type, u);
  } else {
    std::snprintf(buf, sizeof buf, "0x%02x", u);
  }
  return buf;
}

}  // namespace pgthaw::pgwire
