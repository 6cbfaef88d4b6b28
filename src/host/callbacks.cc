// The five host functions PGlite's glue puts into the table at start-up:
// the wire-protocol read/write callbacks and system/popen/pclose. In a
// client program (pg_dump.wasm) the same read/write callbacks are its libpq
// socket.
#include <algorithm>
#include <iterator>
#include <optional>
#include <string_view>

#include "host/host.h"

namespace pgthaw::host {

namespace {

// Sets one of Postgres' `volatile sig_atomic_t` flags (exported data symbols:
// the global holds the variable's address in linear memory).
void set_backend_flag(Host& h, std::string_view name, int32_t value) {
  if (const uint32_t* addr = h.ExportGlobal(name)) h.Store<int32_t>(*addr, value);
}

}  // namespace

// Copies pending client bytes (or a client program's server reply) into the
// guest's receive buffer.
uint32_t HostReadCallback(void* self, uint32_t ptr, uint32_t max_len) {
  Host& h = *static_cast<Host*>(self);
  const uint64_t size = h.memory()->size;
  const size_t room = ptr < size ? static_cast<size_t>(std::min<uint64_t>(max_len, size - ptr)) : 0;
  uint8_t* dst = h.Bytes(ptr, room);
  if (dst == nullptr) return 0;
  return static_cast<uint32_t>(h.wire().Read(reinterpret_cast<char*>(dst), room));
}

// Collects what the guest flushes; the bytes must be copied before returning.
uint32_t HostWriteCallback(void* self, uint32_t ptr, uint32_t len) {
  Host& h = *static_cast<Host*>(self);
  const uint8_t* src = h.Bytes(ptr, len);
  if (src == nullptr) return 0;
  h.wire().Write(std::string_view(reinterpret_cast<const char*>(src), len));
  return len;
}

void Host::WithdrawOutputCancel() {
  // A statement that ended before its next CHECK_FOR_INTERRUPTS() left the
  // flag set: it must not cancel the next one.
  set_backend_flag(*this, "QueryCancelPending", 0);
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

// The callbacks by id, the name snapshots record them under (never their
// addresses: host_snapshot.cc).
struct HostCallback {
  const char* sig;
  wasm_rt_function_ptr_t fn;
};
const HostCallback kHostCallbacks[] = {
    {"i:i", reinterpret_cast<wasm_rt_function_ptr_t>(system_callback)},
    {"ii:i", reinterpret_cast<wasm_rt_function_ptr_t>(popen_callback)},
    {"i:i", reinterpret_cast<wasm_rt_function_ptr_t>(pclose_callback)},
    {"ii:i", reinterpret_cast<wasm_rt_function_ptr_t>(HostReadCallback)},
    {"ii:i", reinterpret_cast<wasm_rt_function_ptr_t>(HostWriteCallback)},
};
enum CallbackId : uint32_t { kSystem, kPopen, kPclose, kRead, kWrite };

}  // namespace

std::optional<wasm_rt_funcref_t> Host::CallbackRef(uint32_t id) {
  if (id >= std::size(kHostCallbacks)) return std::nullopt;
  return wasm_rt_funcref_t{TypeId(kHostCallbacks[id].sig), kHostCallbacks[id].fn, this};
}

uint32_t Host::AppendCallback(uint32_t id) {
  uint32_t index = AppendToTable(*CallbackRef(id));
  callback_slots_[index] = id;
  return index;
}

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
  uint32_t system_fp = AppendCallback(kSystem);
  uint32_t popen_fp = AppendCallback(kPopen);
  uint32_t pclose_fp = AppendCallback(kPclose);
  uint32_t read_fp = set_rw ? AppendCallback(kRead) : 0;
  uint32_t write_fp = set_rw ? AppendCallback(kWrite) : 0;
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
