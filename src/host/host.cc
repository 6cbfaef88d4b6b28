// Host lifecycle, calls into the guest, unwinding and timers.
#include "host/host.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <mutex>

#include "host/dynamic_linker.h"
#include "wasm/linear_memory.h"

namespace pgthaw::host {
const pgthaw_module_desc* find_module(std::string_view name) {
  for (unsigned i = 0; i < pgthaw_module_count; ++i) {
    if (name == pgthaw_modules[i].name) return &pgthaw_modules[i];
  }
  return nullptr;
}

// Every module's init_module() registers its function types; the glue's own
// signature table goes first. Once per process, in a fixed order, so type ids
// are the same in every process of one build (snapshots rely on it).
void init_modules_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    pgthaw_glue_register_types();
    for (unsigned i = 0; i < pgthaw_module_count; ++i) pgthaw_modules[i].init_module();
  });
}

double monotonic_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

void Host::Log(std::string_view line) {
  // Postgres' own reports of a dying backend are the operator's business:
  // a PANIC (a failed WAL write, a recovery that cannot go on) says why a
  // tenant does not boot.
  if (line.find("PANIC:") != std::string_view::npos) {
    spdlog::error("guest: {}", line);
  } else if (line.find("FATAL:") != std::string_view::npos) {
    spdlog::warn("guest: {}", line);
  } else {
    spdlog::debug("guest: {}", line);
  }
}

Host::Host(HostOptions options, vfs::FileSystem* fs)
    : options_(std::move(options)),
      fs_(fs),
      wire_({.stop = [this] { RequestCancel(CancelReason::kUser); },
             .withdraw = [this] { WithdrawOutputCancel(); }},
            options_.wire_peer),
      watch_deadline_ms_(std::numeric_limits<double>::infinity()) {
  context_.host = this;
  context_.memory_base = 0;
  context_.table_base = 1;
}

Host::~Host() {
  if (watched_) EndWatch();
  linker_.reset();
  if (instantiated_) module_->free_instance(instance_);
  std::free(instance_);
  if (own_table_allocated_) wasm_rt_free_funcref_table(&own_table_);
  if (own_memory_.data != nullptr) wasm::free_memory(&own_memory_);
}

Result<std::unique_ptr<Host>> Host::Create(HostOptions options, vfs::FileSystem* fs) {
  init_modules_once();
  std::unique_ptr<Host> host(new Host(std::move(options), fs));
  PGTHAW_RETURN_IF_ERROR(host->Instantiate());
  return host;
}

Status Host::Instantiate() {
  module_ = find_module(options_.module);
  if (module_ == nullptr) return Status::NotFound("no compiled module " + options_.module);
  instance_ = std::calloc(1, module_->instance_size);
  if (instance_ == nullptr) return Status::ResourceExhausted("instance allocation");
  if (module_->memory == nullptr) {
    // The module imports its memory (pglite.wasm): we provide it.
    if (!wasm::allocate_memory(&own_memory_, options_.initial_pages, options_.max_pages)) {
      return Status::ResourceExhausted("cannot reserve linear memory");
    }
    memory_ = &own_memory_;
  }
  linker_ = std::make_unique<DynamicLinker>(this);
  if (module_->table == nullptr) PGTHAW_RETURN_IF_ERROR(LayOutProgram());
  CallOutcome out = Call([&] { module_->instantiate(instance_, &context_); });
  if (out.kind == CallOutcome::kTrapped) return Status::EngineTrap("instantiate: " + out.trap);
  instantiated_ = true;
  if (module_->memory != nullptr) memory_ = module_->memory(instance_);
  guest_memory_.memory_ = memory_;
  if (table_ == nullptr) table_ = module_->table(instance_);
  if (stack_pointer_ == nullptr) stack_pointer_ = ExportGlobal("__stack_pointer");
  if (stack_pointer_ == nullptr || table_ == nullptr) {
    return Status::Internal(options_.module + " lacks __stack_pointer or its table");
  }
  ResolveExports();
  if (wasm_rt_function_ptr_t relocs = ExportFunction("__wasm_apply_data_relocs")) {
    // A relocatable program's pointers in data are relative to its base.
    out = Call([&] { Invoke<void>(relocs); });
    if (out.kind != CallOutcome::kReturned) return Status::EngineTrap("data relocs: " + out.trap);
  }
  out = Call([&] { Invoke<void>(fn_.ctors); });
  if (out.kind != CallOutcome::kReturned) return Status::EngineTrap("constructors: " + out.trap);
  RegisterCallbacks();
  return Status::Ok();
}

// A relocatable program (pg_dump.wasm, linked as an Emscripten MAIN_MODULE
// with -fPIC) imports what Emscripten's JS would give it: its table, its
// stack pointer, the bases its data and table elements are placed at, and
// __heap_base. The layout is that JS's: data at 1024, a 64 KiB stack above
// it, the heap above the stack.
Status Host::LayOutProgram() {
  constexpr uint32_t kGlobalBase = 1024, kStackBytes = 64 << 10, kMaxTableEntries = 1 << 16;
  const uint32_t align = 1u << module_->mem_p2align;
  context_.memory_base = (kGlobalBase + align - 1) & ~(align - 1);
  context_.table_base = 1;
  const uint64_t stack_top =
      ((uint64_t{context_.memory_base} + module_->mem_size + 15) & ~15ull) + kStackBytes;
  if (stack_top > memory_->size) return Status::Internal(options_.module + ": memory too small");
  own_stack_pointer_ = static_cast<uint32_t>(stack_top);
  stack_pointer_ = &own_stack_pointer_;
  wasm_rt_allocate_funcref_table(&own_table_, module_->table_size + context_.table_base,
                                 kMaxTableEntries);
  own_table_allocated_ = true;
  table_ = &own_table_;
  *linker_->GotCell(PGTHAW_GOT_MEM, "__heap_base") = own_stack_pointer_;
  return Status::Ok();
}

void Host::ResolveExports() {
  fn_.set_threw = ExportFunction("setThrew");
  fn_.malloc = ExportFunction("malloc");
  fn_.memalign = ExportFunction("emscripten_builtin_memalign");
  fn_.timeout = ExportFunction("_emscripten_timeout");
  fn_.main = ExportFunction("__main_argc_argv");
  fn_.stack_alloc = ExportFunction("_emscripten_stack_alloc");
  fn_.stack_restore = ExportFunction("_emscripten_stack_restore");
  fn_.ctors = ExportFunction("__wasm_call_ctors");
}

wasm_rt_function_ptr_t Host::ExportFunction(std::string_view name) const {
  for (const pgthaw_function_export* e = module_->functions; e->name != nullptr; ++e) {
    if (name == e->name) return e->fn;
  }
  return nullptr;
}

uint32_t* Host::ExportGlobal(std::string_view name) const {
  for (const pgthaw_global_export* e = module_->globals; e->name != nullptr; ++e) {
    if (name == e->name) return e->get(instance_);
  }
  return nullptr;
}

std::string_view Host::CString(uint32_t addr) const {
  if (addr >= memory_->size) return {};
  const char* start = reinterpret_cast<const char*>(memory_->data + addr);
  const void* nul = std::memchr(start, 0, memory_->size - addr);
  if (nul == nullptr) return {};
  return std::string_view(start, static_cast<const char*>(nul) - start);
}

bool Host::GrowTo(uint64_t bytes) {
  uint64_t pages = (bytes + wasm::kPageBytes - 1) / wasm::kPageBytes;
  if (pages <= memory_->pages) return true;
  return wasm::grow_memory(memory_, static_cast<uint32_t>(pages - memory_->pages)) != UINT32_MAX;
}

uint32_t Host::GuestMalloc(uint32_t size) { return Invoke<uint32_t>(fn_.malloc, size); }

uint32_t Host::GuestMemalign(uint32_t alignment, uint32_t size) {
  return Invoke<uint32_t>(fn_.memalign, alignment, size);
}

uint32_t Host::InternString(const std::string& s) {
  auto it = interned_.find(s);
  if (it != interned_.end()) return it->second;
  uint32_t p = GuestMalloc(static_cast<uint32_t>(s.size() + 1));
  if (p == 0) return 0;
  std::memcpy(Bytes(p, s.size() + 1), s.c_str(), s.size() + 1);
  interned_.emplace(s, p);
  return p;
}

uint32_t Host::TypeId(std::string_view sig) {
  for (unsigned i = 0; i < pgthaw_glue_type_count; ++i) {
    if (sig == pgthaw_glue_type_sigs[i]) return pgthaw_glue_type_ids[i];
  }
  std::abort();  // a signature the glue does not know: a host bug
}

uint32_t Host::AppendToTable(wasm_rt_funcref_t ref) {
  uint32_t index = wasm_rt_grow_funcref_table(table_, 1, ref);
  if (index == UINT32_MAX) Abort("function table cannot grow");
  return index;
}

const wasm_rt_funcref_t& Host::CheckedTableEntry(uint32_t index, uint32_t type_id) const {
  if (index >= table_->size || table_->data[index].func == nullptr ||
      table_->data[index].func_type != type_id) {
    wasm_rt_trap(WASM_RT_TRAP_CALL_INDIRECT);
  }
  return table_->data[index];
}

CallOutcome Host::CallMain(const std::vector<std::string>& args) {
  CallOutcome out = Call([&] {
    // argv strings and the pointer array go on the guest stack, as
    // Emscripten's callMain does; main's own frame sits below them.
    std::vector<std::string> argv{options_.program};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<uint32_t> ptrs;
    for (const std::string& a : argv) {
      uint32_t p = Invoke<uint32_t>(fn_.stack_alloc, static_cast<uint32_t>(a.size() + 1));
      std::memcpy(Bytes(p, a.size() + 1), a.c_str(), a.size() + 1);
      ptrs.push_back(p);
    }
    ptrs.push_back(0);
    uint32_t array = Invoke<uint32_t>(fn_.stack_alloc, static_cast<uint32_t>(ptrs.size() * 4));
    for (size_t i = 0; i < ptrs.size(); ++i) Store<uint32_t>(array + 4 * i, ptrs[i]);
    exit_status_ =
        static_cast<int>(Invoke<uint32_t>(fn_.main, static_cast<uint32_t>(argv.size()), array));
  });
  if (out.kind == CallOutcome::kReturned) {
    out.kind = CallOutcome::kExited;
    out.exit_status = exit_status_;
  }
  return out;
}

// --- unwinding ---------------------------------------------------------------

void Host::PushFrame(pgthaw_invoke_frame* frame) {
  frame->prev = unwind_top_;
  unwind_top_ = frame;
}

void Host::PopFrame(pgthaw_invoke_frame* frame) { unwind_top_ = frame->prev; }

void Host::Exit(int status) {
  pending_ = Pending::kExit;
  exit_status_ = status;
  longjmp(unwind_top_->unwind, 1);
}

void Host::ThrowLongjmp() {
  pending_ = Pending::kLongjmp;
  longjmp(unwind_top_->unwind, 1);
}

void Host::RaisePostgresError(const char* sqlstate, const char* a, const char* b, const char* c) {
  wasm_rt_function_ptr_t errstart = ExportFunction("errstart");
  wasm_rt_function_ptr_t errcode = ExportFunction("errcode");
  wasm_rt_function_ptr_t errmsg = ExportFunction("errmsg_internal");
  wasm_rt_function_ptr_t errfinish = ExportFunction("errfinish");
  // Postgres' error handling is live once a query runs (PG_exception_stack).
  const uint32_t* handler = ExportGlobal("PG_exception_stack");
  bool can_raise = errstart != nullptr && errcode != nullptr && errmsg != nullptr &&
                   errfinish != nullptr && handler != nullptr && Load<uint32_t>(*handler) != 0;
  if (!can_raise) Abort(std::string(a) + b + c);
  // The text on the guest stack (errmsg copies it); the unwind restores the
  // stack pointer. No host object with a destructor is alive from here on:
  // errfinish longjmps past this frame.
  size_t la = std::strlen(a), lb = std::strlen(b), lc = std::strlen(c);
  uint32_t text = Invoke<uint32_t>(fn_.stack_alloc, static_cast<uint32_t>(la + lb + lc + 1));
  uint8_t* p = Bytes(text, la + lb + lc + 1);
  if (p == nullptr) Abort(a);
  std::memcpy(p, a, la);
  std::memcpy(p + la, b, lb);
  std::memcpy(p + la + lb, c, lc);
  p[la + lb + lc] = 0;
  for (size_t i = 0; i < la + lb + lc; ++i) {
    if (p[i] == '%') p[i] = '?';  // it is a format string
  }
  // MAKE_SQLSTATE: six bits per character.
  uint32_t code = 0;
  for (int i = 0; i < 5 && sqlstate[i] != 0; ++i) {
    code |= (static_cast<uint32_t>(sqlstate[i] - '0') & 0x3F) << (6 * i);
  }
  constexpr uint32_t kError = 21;  // elog.h's ERROR
  Invoke<uint32_t>(errstart, kError, uint32_t{0});
  Invoke<uint32_t>(errcode, code);
  Invoke<uint32_t>(errmsg, text, uint32_t{0});
  Invoke<void>(errfinish, uint32_t{0}, uint32_t{0}, uint32_t{0});
  Abort("errfinish returned for an ERROR");
}

void Host::Abort(const std::string& why) {
  abort_reason_ = why;
  wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE);
}

void Host::OnUnwound(pgthaw_invoke_frame* frame) {
  unwind_top_ = frame->prev;
  *stack_pointer_ = frame->saved_stack_pointer;
  if (pending_ == Pending::kLongjmp) {
    // __THREW__ is already set by emscripten_longjmp; setThrew(1, 0) is then
    // a no-op, exactly what Emscripten's invoke wrapper does.
    pending_ = Pending::kNone;
    Invoke<void>(fn_.set_threw, uint32_t{1}, uint32_t{0});
    return;
  }
  longjmp(unwind_top_->unwind, 1);  // exit: keep unwinding
}

// --- timers --------------------------------------------------------------------

void Host::ArmTimer(uint32_t which, double timeout_ms) {
  if (which >= 3) return;
  timers_[which].armed = timeout_ms > 0;
  timers_[which].deadline_ms = monotonic_ms() + timeout_ms;
  UpdateWatchDeadline();
}

bool Host::HasDueTimer() const {
  double now = monotonic_ms();
  return std::any_of(std::begin(timers_), std::end(timers_),
                     [&](const Timer& t) { return t.armed && t.deadline_ms <= now; });
}

void Host::DeliverDueTimers() {
  double now = monotonic_ms();
  for (uint32_t which = 0; which < 3; ++which) {
    if (!timers_[which].armed || timers_[which].deadline_ms > now) continue;
    timers_[which].armed = false;
    UpdateWatchDeadline();
    // libc re-arms or disarms through _setitimer_js and raises the signal.
    Call([&] { Invoke<void>(fn_.timeout, which, now); });
  }
}

}  // namespace pgthaw::host
