// wire_bytes: builds simple Query messages and walks backend replies.
#include "wire_bytes.h"

#include <cstdint>

namespace pgthaw::bench {
namespace {

uint32_t read_be32(std::string_view b, size_t at) {
  return (uint32_t{static_cast<uint8_t>(b[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(b[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(b[at + 3])};
}

void append_be32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

struct Message {
  char type;
  std::string_view body;  // after the length word
};

// Splits off the message at *POS; false at the end or on a torn message
// (then *torn is set).
bool next_message(std::string_view reply, size_t* pos, Message* msg, bool* torn) {
  *torn = false;
  if (*pos >= reply.size()) return false;
  if (reply.size() - *pos < 5) {
    *torn = true;
    return false;
  }
  uint32_t len = read_be32(reply, *pos + 1);
  if (len < 4 || reply.size() - *pos - 1 < len) {
    *torn = true;
    return false;
  }
  msg->type = reply[*pos];
  msg->body = reply.substr(*pos + 5, len - 4);
  *pos += 1 + len;
  return true;
}

// "ERROR 42P01: relation "x" does not exist" from an ErrorResponse body.
std::string describe_error(std::string_view body) {
  std::string severity, code, message;
  size_t i = 0;
  while (i < body.size() && body[i] != '\0') {
    char field = body[i++];
    size_t end = body.find('\0', i);
    if (end == std::string_view::npos) end = body.size();
    std::string value(body.substr(i, end - i));
    if (field == 'S') severity = value;
    if (field == 'C') code = value;
    if (field == 'M') message = value;
    i = end + 1;
  }
  return severity + " " + code + ": " + message;
}

}  // namespace

std::string query_message(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 6);
  out.push_back('Q');
  append_be32(out, static_cast<uint32_t>(4 + sql.size() + 1));
  out.append(sql);
  out.push_back('\0');
  return out;
}

Status check_reply(std::string_view reply, std::string_view sql) {
  size_t pos = 0;
  Message msg;
  bool torn = false;
  char last = 0;
  while (next_message(reply, &pos, &msg, &torn)) {
    if (msg.type == 'E') {
      return Status::EngineError("ErrorResponse for '" + std::string(sql) +
                                 "': " + describe_error(msg.body));
    }
    last = msg.type;
  }
  if (torn) {
    return Status::Corruption("reply to '" + std::string(sql) + "' has a torn message at byte " +
                              std::to_string(pos) + " of " + std::to_string(reply.size()));
  }
  if (last != 'Z') {
    return Status::Corruption("reply to '" + std::string(sql) + "' does not end in ReadyForQuery");
  }
  return Status::Ok();
}

Result<std::string> first_value(std::string_view reply) {
  size_t pos = 0;
  Message msg;
  bool torn = false;
  while (next_message(reply, &pos, &msg, &torn)) {
    if (msg.type != 'D') continue;
    // int16 column count, then int32 length (-1: NULL) and the bytes.
    if (msg.body.size() < 6) break;
    uint32_t len = read_be32(msg.body, 2);
    if (len == 0xffffffffu) return std::string();
    if (msg.body.size() - 6 < len) break;
    return std::string(msg.body.substr(6, len));
  }
  return Status::Corruption("reply has no readable DataRow");
}

}  // namespace pgthaw::bench
