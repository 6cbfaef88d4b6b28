// host::WireChannel (wire_channel.h).
#include "host/wire_channel.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace pgthaw::host {

namespace {

// A wire message is a type byte and a big-endian length that counts itself.
constexpr size_t kHeaderBytes = 5;

uint32_t length_at(std::string_view messages, size_t at) {
  return (uint32_t{static_cast<uint8_t>(messages[at + 1])} << 24) |
         (uint32_t{static_cast<uint8_t>(messages[at + 2])} << 16) |
         (uint32_t{static_cast<uint8_t>(messages[at + 3])} << 8) |
         uint32_t{static_cast<uint8_t>(messages[at + 4])};
}

// The type of the last complete backend message in `out` (0 if none).
char last_message_type(std::string_view out) {
  char last = 0;
  size_t at = 0;
  while (at + kHeaderBytes <= out.size()) {
    uint32_t len = length_at(out, at);
    if (len < 4 || at + 1 + len > out.size()) break;
    last = out[at];
    at += 1 + len;
  }
  return last;
}

// Where the last message of `out` starts: everything before it is whole
// messages. A trailing incomplete message counts as the last.
size_t last_message_start(std::string_view out) {
  size_t at = 0, last = 0;
  while (at + kHeaderBytes <= out.size()) {
    uint32_t len = length_at(out, at);
    if (len < 4 || at + 1 + len > out.size()) return at;
    last = at;
    at += 1 + len;
  }
  return at < out.size() ? at : last;
}

// True if `messages` (whole frontend messages) hold a CopyDone or CopyFail:
// the COPY they feed ends there.
bool ends_copy(std::string_view messages) {
  size_t at = 0;
  while (at + kHeaderBytes <= messages.size()) {
    if (messages[at] == 'c' || messages[at] == 'f') return true;
    uint32_t len = length_at(messages, at);
    if (len < 4) return false;
    at += 1 + len;
  }
  return false;
}

// What a client sends to give up a COPY FROM STDIN ('f' CopyFail).
std::string copy_fail_message(std::string_view why) {
  std::string fail(1, 'f');
  uint32_t len = static_cast<uint32_t>(4 + why.size() + 1);
  for (int i = 3; i >= 0; --i) fail.push_back(static_cast<char>(len >> (8 * i)));
  fail.append(why);
  fail.push_back('\0');
  return fail;
}

constexpr char kNoCopyData[] =
    "no COPY data can come on this path (over HTTP use INSERT, or a Postgres connection)";

}  // namespace

void WireChannel::BeginOutput(size_t max_bytes, OutputSink sink) {
  output_limit_ = max_bytes;
  output_total_ = 0;
  output_sink_ = std::move(sink);
  output_dropped_ = false;
  stopped_statement_ = false;
}

void WireChannel::EndOutput() {
  if (stopped_statement_) stop_.withdraw();
  output_limit_ = 0;
  output_sink_ = nullptr;
  input_source_ = nullptr;
  in_copy_ = false;
  output_dropped_ = false;
  stopped_statement_ = false;
}

size_t WireChannel::Read(char* dst, size_t max) {
  if (peer_) {
    // A client program reads its server's answer.
    size_t n = std::min(max, peer_reply_.size() - peer_reply_pos_);
    std::memcpy(dst, peer_reply_.data() + peer_reply_pos_, n);
    peer_reply_pos_ += n;
    if (peer_reply_pos_ == peer_reply_.size()) {
      peer_reply_.clear();
      peer_reply_pos_ = 0;
    }
    return n;
  }
  if (input_pos_ == input_.size() &&
      (in_copy_ || (!copy_fail_sent_ && last_message_type(output_) == 'G'))) {
    // The backend is inside a COPY FROM STDIN (it sent CopyInResponse) and
    // wants data the request does not hold.
    std::string& more = synthetic_input_;
    more.clear();
    if (input_source_) {
      // The client must see everything up to the CopyInResponse before it
      // sends its data.
      if (output_sink_) FlushOutput();
      in_copy_ = true;
      input_source_(more);
      if (more.empty()) more = copy_fail_message("the client sent no COPY data");
      if (ends_copy(more)) in_copy_ = false;
    } else {
      // No client to wait for: fail the COPY as a client would, with
      // CopyFail. Postgres reports it as an ERROR and goes on.
      more = copy_fail_message(kNoCopyData);
      copy_fail_sent_ = true;
    }
    input_ = more;
    input_pos_ = 0;
  }
  size_t n = std::min(max, input_.size() - input_pos_);
  std::memcpy(dst, input_.data() + input_pos_, n);
  input_pos_ += n;
  return n;
}

void WireChannel::Write(std::string_view bytes) {
  if (peer_) {
    // A client program's request: its server answers before it reads.
    peer_(bytes, peer_reply_);
    return;
  }
  if (output_dropped_) return;
  output_total_ += bytes.size();
  if (output_limit_ != 0 && output_total_ > output_limit_) {
    output_dropped_ = true;
    Stop();
    return;
  }
  output_.append(bytes);
  if (output_sink_ && output_.size() >= kStreamChunkBytes) StreamOutput();
}

void WireChannel::StreamOutput() {
  size_t n = last_message_start(output_);
  if (n == 0) return;
  // Swap, then keep the tail: only the tail (under a chunk) is copied.
  std::string chunk;
  chunk.swap(output_);
  output_.assign(chunk, n);
  chunk.resize(n);
  Deliver(chunk);
}

void WireChannel::FlushOutput() {
  if (output_.empty() || output_dropped_) return;
  size_t end = last_message_start(output_);
  // The last message counts if it is whole (it is once the backend flushed).
  std::string_view tail = std::string_view(output_).substr(end);
  if (tail.size() >= kHeaderBytes) {
    uint32_t len = length_at(tail, 0);
    if (len >= 4 && 1 + static_cast<size_t>(len) == tail.size()) end = output_.size();
  }
  if (end == 0) return;
  std::string chunk;
  chunk.swap(output_);
  output_.assign(chunk, end);
  chunk.resize(end);
  Deliver(chunk);
}

void WireChannel::Deliver(std::string& chunk) {
  if (output_sink_(chunk)) return;
  output_dropped_ = true;
  output_.clear();
  Stop();
}

void WireChannel::Stop() {
  stopped_statement_ = true;
  stop_.stop();
}

}  // namespace pgthaw::host
