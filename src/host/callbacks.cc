// The five host functions PGlite's glue puts into the table at start-up:
// the wire-protocol read/write callbacks and system/popen/pclose. In a
// client program (pg_dump.wasm) the same read/write callbacks are its libpq
// socket.
#include <algorithm>
#include <string_view>

#include "host/host.h"

namespace pgthaw::host {

// Copies pending client bytes into Postgres' receive buffer.
namespace {

// The type of the last complete backend message in `out` (0 if none).
char last_message_type(std::string_view out) {
  char last = 0;
  size_t at = 0;
  while (at + 5 <= out.size()) {
    uint32_t len = (uint32_t{static_cast<uint8_t>(out[at + 1])} << 24) |
                   (uint32_t{static_cast<uint8_t>(out[at + 2])} << 16) |
                   (uint32_t{static_cast<uint8_t>(out[at + 3])} << 8) |
                   uint32_t{static_cast<uint8_t>(out[at + 4])};
    if (len < 4 || at + 1 + len > out.size()) break;
    last = out[at];
    at += 1 + len;
  }
  return last;
}

// What a client sends to give up a COPY FROM STDIN ('f' CopyFail).
constexpr char kNoCopyData[] =
    "no COPY data can come on this path (over HTTP use INSERT, or a Postgres connection)";

// True if `messages` (whole frontend messages) hold a CopyDone or CopyFail:
// the COPY they feed ends there.
bool ends_copy(std::string_view messages) {
  size_t at = 0;
  while (at + 5 <= messages.size()) {
    if (messages[at] == 'c' || messages[at] == 'f') return true;
    uint32_t len = (uint32_t{static_cast<uint8_t>(messages[at + 1])} << 24) |
                   (uint32_t{static_cast<uint8_t>(messages[at + 2])} << 16) |
                   (uint32_t{static_cast<uint8_t>(messages[at + 3])} << 8) |
                   uint32_t{static_cast<uint8_t>(messages[at + 4])};
    if (len < 4) return false;
    at += 1 + len;
  }
  return false;
}

std::string copy_fail_message(std::string_view why) {
  std::string fail(1, 'f');
  uint32_t len = static_cast<uint32_t>(4 + why.size() + 1);
  for (int i = 3; i >= 0; --i) fail.push_back(static_cast<char>(len >> (8 * i)));
  fail.append(why);
  fail.push_back('\0');
  return fail;
}

}  // namespace

uint32_t HostReadCallback(void* self, uint32_t ptr, uint32_t max_len) {
  Host& h = *static_cast<Host*>(self);
  if (h.options_.wire_peer) {
    // A client program reads its server's answer.
    size_t n = std::min<size_t>(max_len, h.peer_reply_.size() - h.peer_reply_pos_);
    uint8_t* dst = h.Bytes(ptr, n);
    if (dst == nullptr) return 0;
    std::memcpy(dst, h.peer_reply_.data() + h.peer_reply_pos_, n);
    h.peer_reply_pos_ += n;
    if (h.peer_reply_pos_ == h.peer_reply_.size()) {
      h.peer_reply_.clear();
      h.peer_reply_pos_ = 0;
    }
    return static_cast<uint32_t>(n);
  }
  if (h.input_pos_ == h.input_.size() &&
      (h.in_copy_ || (!h.copy_fail_sent_ && last_message_type(h.output_) == 'G'))) {
    // The backend is inside a COPY FROM STDIN (it sent CopyInResponse) and
    // wants data the request does not hold.
    std::string& more = h.synthetic_input_;
    more.clear();
    if (h.input_source_) {
      // The client must see everything up to the CopyInResponse before it
      // sends its data.
      if (h.output_sink_) h.FlushOutput();
      h.in_copy_ = true;
      h.input_source_(more);
      if (more.empty()) more = copy_fail_message("the client sent no COPY data");
      if (ends_copy(more)) h.in_copy_ = false;
    } else {
      // No client to wait for: fail the COPY as a client would, with
      // CopyFail. Postgres reports it as an ERROR and goes on.
      more = copy_fail_message(kNoCopyData);
      h.copy_fail_sent_ = true;
    }
    h.input_ = more;
    h.input_pos_ = 0;
  }
  size_t n = std::min<size_t>(max_len, h.input_.size() - h.input_pos_);
  uint8_t* dst = h.Bytes(ptr, n);
  if (dst == nullptr) return 0;
  std::memcpy(dst, h.input_.data() + h.input_pos_, n);
  h.input_pos_ += n;
  return static_cast<uint32_t>(n);
}

namespace {

// Sets one of Postgres' `volatile sig_atomic_t` flags (exported data symbols:
// the global holds the variable's address in linear memory).
void set_backend_flag(Host& h, std::string_view name, int32_t value) {
  if (const uint32_t* addr = h.ExportGlobal(name)) h.Store<int32_t>(*addr, value);
}

}  // namespace

// Collects what Postgres flushes; the bytes must be copied before returning.
uint32_t HostWriteCallback(void* self, uint32_t ptr, uint32_t len) {
  Host& h = *static_cast<Host*>(self);
  const uint8_t* src = h.Bytes(ptr, len);
  if (src == nullptr) return 0;
  if (h.options_.wire_peer) {
    // A client program's request: its server answers before it reads.
    h.options_.wire_peer(std::string_view(reinterpret_cast<const char*>(src), len), h.peer_reply_);
    return len;
  }
  if (h.output_dropped_) return len;
  h.output_total_ += len;
  if (h.output_limit_ != 0 && h.output_total_ > h.output_limit_) {
    h.output_dropped_ = true;
    h.RequestCancel(CancelReason::kUser);
    h.output_cancel_raised_ = true;
    return len;
  }
  h.output_.append(reinterpret_cast<const char*>(src), len);
  if (h.output_sink_ && h.output_.size() >= Host::kStreamChunkBytes) h.StreamOutput();
  return len;
}

namespace {

// Where the last message of `out` starts: everything before it is whole
// messages. A trailing incomplete message counts as the last.
size_t last_message_start(std::string_view out) {
  size_t at = 0, last = 0;
  while (at + 5 <= out.size()) {
    uint32_t len = (uint32_t{static_cast<uint8_t>(out[at + 1])} << 24) |
                   (uint32_t{static_cast<uint8_t>(out[at + 2])} << 16) |
                   (uint32_t{static_cast<uint8_t>(out[at + 3])} << 8) |
                   uint32_t{static_cast<uint8_t>(out[at + 4])};
    if (len < 4 || at + 1 + len > out.size()) return at;
    last = at;
    at += 1 + len;
  }
  return at < out.size() ? at : last;
}

}  // namespace

void Host::StreamOutput() {
  size_t n = last_message_start(output_);
  if (n == 0) return;
  // Swap, then keep the tail: only the tail (under a chunk) is copied.
  std::string chunk;
  chunk.swap(output_);
  output_.assign(chunk, n);
  chunk.resize(n);
  if (!output_sink_(chunk)) {
    output_dropped_ = true;
    output_.clear();
    RequestCancel(CancelReason::kUser);
    output_cancel_raised_ = true;
  }
}

void Host::FlushOutput() {
  if (output_.empty() || output_dropped_) return;
  size_t end = last_message_start(output_);
  // The last message counts if it is whole (it is once the backend flushed).
  std::string_view tail = std::string_view(output_).substr(end);
  if (tail.size() >= 5) {
    uint32_t len = (uint32_t{static_cast<uint8_t>(tail[1])} << 24) |
                   (uint32_t{static_cast<uint8_t>(tail[2])} << 16) |
                   (uint32_t{static_cast<uint8_t>(tail[3])} << 8) |
                   uint32_t{static_cast<uint8_t>(tail[4])};
    if (len >= 4 && 1 + static_cast<size_t>(len) == tail.size()) end = output_.size();
  }
  if (end == 0) return;
  std::string chunk;
  chunk.swap(output_);
  output_.assign(chunk, end);
  chunk.resize(end);
  if (!output_sink_(chunk)) {
    output_dropped_ = true;
    output_.clear();
    RequestCancel(CancelReason::kUser);
    output_cancel_raised_ = true;
  }
}

void Host::BeginOutput(size_t max_bytes, OutputSink sink) {
  output_limit_ = max_bytes;
  output_total_ = 0;
  output_sink_ = std::move(sink);
  output_dropped_ = false;
  output_cancel_raised_ = false;
}

void Host::EndOutput() {
  // A statement that ended before its next CHECK_FOR_INTERRUPTS() left the
  // flag set: it must not cancel the next one.
  if (output_cancel_raised_) set_backend_flag(*this, "QueryCancelPending", 0);
  output_limit_ = 0;
  output_sink_ = nullptr;
  input_source_ = nullptr;
  in_copy_ = false;
  output_dropped_ = false;
  output_cancel_raised_ = false;
}

namespace {

uint32_t system_callback(void* self, uint32_t cmd) {
  Host& h = *static_cast<Host*>(self);
  std::string command(h.CString(cmd));
  if (h.options().system) return h.options().system(h, command);
  Host::Log("system() refused: " + command);
  return 1;  // as PGlite: any shell command fails
}

uint32_t popen_callback(void* self, uint32_t cmd, uint32_t mode) {
  Host& h = *static_cast<Host*>(self);
  std::string command(h.CString(cmd)), how(h.CString(mode));
  if (h.options().popen) return h.options().popen(h, command, how);
  return default_popen(h, command, how);
}

uint32_t pclose_callback(void* self, uint32_t stream) {
  Host& h = *static_cast<Host*>(self);
  if (h.options().pclose) return h.options().pclose(h, stream);
  return default_pclose(h, stream);
}

template <typename Fn>
uint32_t table_slot(Host& h, const char* sig, Fn fn) {
  return h.AppendToTable(
      wasm_rt_funcref_t{Host::TypeId(sig), reinterpret_cast<wasm_rt_function_ptr_t>(fn), &h});
}

}  // namespace

uint32_t guest_fopen(Host& h, const std::string& path, const std::string& mode) {
  auto alloc = h.ExportFunction("_emscripten_stack_alloc");
  auto restore = h.ExportFunction("_emscripten_stack_restore");
  auto fopen = h.ExportFunction("fopen");
  uint32_t saved = h.stack_pointer();
  uint32_t p = h.Invoke<uint32_t>(alloc, static_cast<uint32_t>(path.size() + 1));
  std::memcpy(h.Bytes(p, path.size() + 1), path.c_str(), path.size() + 1);
  uint32_t m = h.Invoke<uint32_t>(alloc, static_cast<uint32_t>(mode.size() + 1));
  std::memcpy(h.Bytes(m, mode.size() + 1), mode.c_str(), mode.size() + 1);
  uint32_t file = h.Invoke<uint32_t>(fopen, p, m);
  h.Invoke<void>(restore, saved);
  return file;
}

uint32_t default_popen(Host& h, const std::string& command, const std::string& mode) {
  // pg_import_system_collations runs `locale -a`; the bundle holds its answer.
  if (command.rfind("locale -a", 0) == 0 && mode == "r") {
    return guest_fopen(h, "/pglite/locale-a", "r");
  }
  Host::Log("popen() refused: " + command);
  return 0;
}

uint32_t default_pclose(Host& h, uint32_t stream) {
  return h.Invoke<uint32_t>(h.ExportFunction("fclose"), stream);
}

void Host::RegisterCallbacks() {
  // pglite.wasm takes all five; initdb.wasm only the shell emulation.
  auto set_system = ExportFunction("pgl_set_system_fn");
  auto set_rw = ExportFunction("pgl_set_rw_cbs");
  uint32_t system_fp = table_slot(*this, "i:i", system_callback);
  uint32_t popen_fp = table_slot(*this, "ii:i", popen_callback);
  uint32_t pclose_fp = table_slot(*this, "i:i", pclose_callback);
  uint32_t read_fp = set_rw ? table_slot(*this, "ii:i", HostReadCallback) : 0;
  uint32_t write_fp = set_rw ? table_slot(*this, "ii:i", HostWriteCallback) : 0;
  Call([&] {
    if (set_system != nullptr) {
      Invoke<void>(set_system, system_fp);
      Invoke<void>(ExportFunction("pgl_set_popen_fn"), popen_fp);
      Invoke<void>(ExportFunction("pgl_set_pclose_fn"), pclose_fp);
    }
    if (set_rw != nullptr) Invoke<void>(set_rw, read_fp, write_fp);
  });
}

}  // namespace pgthaw::host
