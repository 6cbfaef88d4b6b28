// host::Host: the Emscripten "process" around one wasm module instance.
//
// A Host owns a module instance (pglite.wasm, initdb.wasm or a client program
// such as pg_dump.wasm), the memory it
// runs in, the side modules it dlopen()ed, and the process state that lives
// outside linear memory: the VFS (fd table, cwd), environment, timers, the
// wire-protocol channel (wire_channel.h) and the unwind stack used by
// exit/longjmp. Every
// import the generated code calls receives a pointer to a ModuleContext whose
// `host` leads back here (imports_*.cc).
//
// Unwinding. Emscripten implements exit() and longjmp as exceptions that
// unwind wasm frames; we do the same with setjmp/longjmp over a stack of
// frames: invoke_* trampolines (host/glue_abi.h) and host entry points
// (Call). exit(n) lands in the innermost frame; invoke frames restore the
// stack pointer and pass it on, the entry frame reports kExited(n). A guest
// longjmp lands in the innermost invoke frame, which marks __THREW__ via
// setThrew and returns 0 to the guest's landing code. Traps bypass all of
// this (wasm/trap.h) and leave the Host dead.
//
// Threads: not thread-safe; one thread at a time drives a Host.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "host/glue_abi.h"
#include "host/guest_memory.h"
#include "host/wire_channel.h"
#include "vfs/filesystem.h"
#include "wasm-rt.h"
#include "wasm/guest_stack.h"
#include "wasm/trap.h"

namespace pgthaw::host {

class Host;
class Watchdog;

// What generated code receives as its import-module instance pointers
// (env, wasi, GOT.*). One per module instance: side modules differ in bases.
struct ModuleContext {
  Host* host;
  uint32_t memory_base;
  uint32_t table_base;
};

// How a host->guest call ended.
struct CallOutcome {
  enum Kind { kReturned, kExited, kTrapped };
  Kind kind = kReturned;
  int exit_status = 0;
  std::string trap;  // what trapped, for kTrapped
};

struct HostOptions {
  std::string module = "pglite";         // the module descriptor to instantiate
  std::string program;                   // argv[0] and `_`, e.g. /pglite/bin/postgres
  std::vector<std::string> environment;  // "KEY=value", final before ctors run
  uint32_t initial_pages = 2048;         // for an imported memory (pglite.wasm)
  uint32_t max_pages = 32768;
  // Shell emulation. system(cmd) -> exit code; popen(cmd, mode) -> FILE* in
  // guest memory or 0; pclose(FILE*) -> exit code. Defaults: system fails
  // (1), popen answers only "locale -a", pclose fcloses.
  std::function<uint32_t(Host&, const std::string&)> system;
  std::function<uint32_t(Host&, const std::string&, const std::string&)> popen;
  std::function<uint32_t(Host&, uint32_t)> pclose;
  // Makes deadlines reach running guest code (watchdog.h); null: timers are
  // delivered only between calls and cancel requests only at poll().
  Watchdog* watchdog = nullptr;
  // For a client program (pg_dump.wasm): the server at the other end of its
  // libpq socket. Each write the program makes goes to the peer, which
  // appends the server's answer to `reply`; the program's reads drain it.
  // Unset: the module is the server (Postgres), fed by SetInput().
  std::function<void(std::string_view request, std::string& reply)> wire_peer;
};

// Why a running statement is asked to stop (RequestCancel).
enum class CancelReason : int {
  kNone = 0,
  kUser,              // a CancelRequest: Postgres' "due to user request"
  kStatementTimeout,  // the server's own limit (SetStatementDeadline)
};

class Host {
 public:
  // Instantiates the module (its start function zeroes BSS) and runs its
  // constructors. `fs` must outlive the Host.
  static Result<std::unique_ptr<Host>> Create(HostOptions options, vfs::FileSystem* fs);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // --- calling the guest -------------------------------------------------
  template <typename Fn>
  CallOutcome Call(Fn&& fn);
  // Runs main(argv) and returns its exit status (returned or exit()ed).
  CallOutcome CallMain(const std::vector<std::string>& args);
  bool dead() const { return dead_; }

  // Export lookup: the function pointer of a named export, or null.
  wasm_rt_function_ptr_t ExportFunction(std::string_view name) const;
  uint32_t* ExportGlobal(std::string_view name) const;
  void* instance() const { return instance_; }
  const pgthaw_module_desc& module() const { return *module_; }

  // Calls export `fn` (looked up once by the caller) on this instance.
  template <typename R, typename... A>
  R Invoke(wasm_rt_function_ptr_t fn, A... args) {
    return reinterpret_cast<R (*)(void*, A...)>(fn)(instance_, args...);
  }

  // --- memory --------------------------------------------------------------
  wasm_rt_memory_t* memory() const { return memory_; }
  // The memory as image files: saved, restored, what changed (guest_memory.h).
  GuestMemory& guest_memory() { return guest_memory_; }
  const GuestMemory& guest_memory() const { return guest_memory_; }
  // Guest bytes [addr, addr+len), or null when out of bounds.
  uint8_t* Bytes(uint32_t addr, uint64_t len) const {
    if (uint64_t{addr} + len > memory_->size) return nullptr;
    return memory_->data + addr;
  }
  template <typename T>
  T Load(uint32_t addr) const {
    T v{};
    if (const uint8_t* p = Bytes(addr, sizeof(T))) std::memcpy(&v, p, sizeof(T));
    return v;
  }
  template <typename T>
  bool Store(uint32_t addr, T v) {
    uint8_t* p = Bytes(addr, sizeof(T));
    if (p == nullptr) return false;
    std::memcpy(p, &v, sizeof(T));
    return true;
  }
  // A NUL-terminated guest string; empty view if unterminated/out of bounds.
  std::string_view CString(uint32_t addr) const;
  uint32_t stack_pointer() const { return *stack_pointer_; }
  // The stack pointer global itself (what side modules import).
  uint32_t* stack_pointer_slot() const { return stack_pointer_; }
  void set_stack_pointer(uint32_t sp) { *stack_pointer_ = sp; }
  // Grows memory to at least `bytes`; false past the maximum.
  bool GrowTo(uint64_t bytes);
  // Guest malloc/free/memalign, for memory the host hands to the guest.
  uint32_t GuestMalloc(uint32_t size);
  uint32_t GuestMemalign(uint32_t alignment, uint32_t size);
  // `s` as a NUL-terminated string in guest memory, allocated once per Host
  // and never freed (for imports that return `const char*`); 0 if malloc
  // fails.
  uint32_t InternString(const std::string& s);

  // --- table ---------------------------------------------------------------
  wasm_rt_funcref_table_t* table() const { return table_; }
  // Appends a funcref and returns its index.
  uint32_t AppendToTable(wasm_rt_funcref_t ref);
  // Calls table[index] as `R(A...)`, checking its type against `sig`
  // ("ii:i" as in pgthaw_glue_type_sigs); traps on mismatch.
  template <typename R, typename... A>
  R CallTable(uint32_t index, uint32_t type_id, A... args) {
    const wasm_rt_funcref_t& f = CheckedTableEntry(index, type_id);
    return reinterpret_cast<R (*)(void*, A...)>(f.func)(f.module_instance, args...);
  }
  const wasm_rt_funcref_t& CheckedTableEntry(uint32_t index, uint32_t type_id) const;
  static uint32_t TypeId(std::string_view sig);  // registers "ii:i" style signatures

  // --- unwinding (called from imports) --------------------------------------
  [[noreturn]] void Exit(int status);
  [[noreturn]] void ThrowLongjmp();
  [[noreturn]] void Abort(const std::string& why);
  // From an import called by Postgres: ereport(ERROR) with this SQLSTATE and
  // the message a + b + c (no '%'), which unwinds like any Postgres error.
  // Aborts if the module is not Postgres or the call is not inside a query.
  [[noreturn]] void RaisePostgresError(const char* sqlstate, const char* a, const char* b,
                                       const char* c);
  void PushFrame(pgthaw_invoke_frame* frame);
  void PopFrame(pgthaw_invoke_frame* frame);
  void OnUnwound(pgthaw_invoke_frame* frame);

  // --- process state ---------------------------------------------------------
  vfs::FileSystem& fs() { return *fs_; }
  const std::vector<std::string>& environment() const { return options_.environment; }
  HostOptions& options() { return options_; }
  ModuleContext* context() { return &context_; }

  // The wire protocol's bytes for the current request (wire_channel.h):
  // what the read callback serves and the write callback fills.
  WireChannel& wire() { return wire_; }

  // Timers (ITIMER_REAL etc.): armed by _setitimer_js, delivered here only,
  // between calls, through _emscripten_timeout.
  void ArmTimer(uint32_t which, double timeout_ms);
  bool HasDueTimer() const;
  void DeliverDueTimers();

  // --- interrupts (signals.cc) ---------------------------------------------
  // A watched stretch of guest calls (one request): timers and cancel
  // requests are delivered while guest code runs, at CHECK_FOR_INTERRUPTS()
  // (or when a WaitLatch returns), as Postgres' signal handlers would. `statement_deadline_ms`
  // (monotonic, 0 = none) is the server's own limit for the stretch.
  void BeginWatch(double statement_deadline_ms);
  void EndWatch();
  // Any thread, while this Host is alive: asks the running statement to stop
  // (QueryCancelPending). Cleared at EndWatch; a request made while no guest
  // code runs has no effect on later calls.
  void RequestCancel(CancelReason reason);
  // True when the last watched stretch was stopped by its statement deadline.
  bool statement_deadline_fired() const { return statement_deadline_fired_; }
  // True when a timer, the statement deadline or a cancel request is due.
  bool SignalDue(double now) const;
  // Guest thread, inside guest code: runs due timer handlers and raises the
  // flags of a pending cancel. Called by the ProcessInterrupts hook.
  void DeliverSignals();
  // For the watchdog: the earliest pending deadline (+inf if none), and the
  // poke that makes the guest look at it (any thread): InterruptPending and
  // the process latch are set, as a signal handler sets them.
  double WatchDeadline() const { return watch_deadline_ms_.load(std::memory_order_acquire); }
  void Poke();

  // File mappings (_mmap_js): guest address -> private fd kept for munmap.
  std::unordered_map<uint32_t, int>& mappings() { return mappings_; }

  // Side modules (dynamic_linker.cc).
  class DynamicLinker& linker() {
    return *linker_;
  }

  // --- snapshots (host_snapshot.cc) -----------------------------------------
  // Everything outside linear memory and the VFS that makes this process:
  // wasm globals, the table, loaded side modules, the GOT, timers, mappings.
  // Only between calls (nothing on the unwind stack).
  std::string SaveState() const;
  // Rebuilds a Host from SaveState() output without running any guest code:
  // `prepare_memory` fills the fresh reservation (GuestMemory::MapImage,
  // ApplyDelta) before the module is attached to it.
  static Result<std::unique_ptr<Host>> Restore(
      HostOptions options, vfs::FileSystem* fs, std::string_view state,
      const std::function<Status(GuestMemory&)>& prepare_memory);

  // Log sink for guest stdout/stderr and host warnings.
  static void Log(std::string_view line);

 private:
  Host(HostOptions options, vfs::FileSystem* fs);
  Status Instantiate();
  Status LayOutProgram();
  Status RestoreState(std::string_view state);
  void RegisterCallbacks();
  // The five table callbacks (callbacks.cc) by id: appended to the table
  // and remembered, so snapshots name them by id.
  uint32_t AppendCallback(uint32_t id);
  std::optional<wasm_rt_funcref_t> CallbackRef(uint32_t id);
  void ResolveExports();

  HostOptions options_;
  vfs::FileSystem* fs_;
  WireChannel wire_;  // over options_.wire_peer
  // Clears the QueryCancelPending a capped or abandoned reply raised
  // (wire_'s StatementStop::withdraw; callbacks.cc).
  void WithdrawOutputCancel();
  const pgthaw_module_desc* module_ = nullptr;
  void* instance_ = nullptr;
  wasm_rt_memory_t own_memory_{};  // for modules that import memory
  // For relocatable programs, which import their table and stack pointer.
  wasm_rt_funcref_table_t own_table_{};
  bool own_table_allocated_ = false;
  uint32_t own_stack_pointer_ = 0;
  std::unordered_map<std::string, uint32_t> interned_;
  wasm_rt_memory_t* memory_ = nullptr;
  GuestMemory guest_memory_;  // over memory_
  wasm_rt_funcref_table_t* table_ = nullptr;
  uint32_t* stack_pointer_ = nullptr;
  ModuleContext context_{};
  bool dead_ = false;
  bool instantiated_ = false;

  // Unwinding.
  enum class Pending { kNone, kLongjmp, kExit };
  pgthaw_invoke_frame* unwind_top_ = nullptr;
  Pending pending_ = Pending::kNone;
  int exit_status_ = 0;
  std::string abort_reason_;

  // Exports used by the host itself, resolved once.
  struct {
    wasm_rt_function_ptr_t set_threw, malloc, memalign, timeout, main;
    wasm_rt_function_ptr_t stack_alloc, stack_restore, ctors;
  } fn_{};

  friend class DynamicLinker;
  struct Timer {
    bool armed = false;
    double deadline_ms = 0;  // on the monotonic clock
  };
  Timer timers_[3];

  // Interrupts (signals.cc). Guest-thread state unless marked otherwise.
  void UpdateWatchDeadline();
  bool watched_ = false;
  double statement_deadline_ms_ = 0;
  bool statement_deadline_fired_ = false;
  struct {
    uint32_t interrupt_pending = 0, query_cancel_pending = 0, my_latch = 0;
  } guest_flags_;                          // addresses in linear memory
  std::atomic<double> watch_deadline_ms_;  // read by the watchdog
  std::atomic<int> cancel_reason_{0};      // CancelReason; any thread

  std::unique_ptr<class DynamicLinker> linker_;
  std::unordered_map<uint32_t, int> mappings_;
  std::map<uint32_t, uint32_t> callback_slots_;  // table index -> callback id
};

// fopen() in the guest, strings passed on the guest stack; returns FILE*.
uint32_t guest_fopen(Host& h, const std::string& path, const std::string& mode);
// PGlite's popen: only `locale -a`, answered from /pglite/locale-a.
uint32_t default_popen(Host& h, const std::string& command, const std::string& mode);
uint32_t default_pclose(Host& h, uint32_t stream);

// The compiled module called `name` (pgthaw_modules), or null.
const pgthaw_module_desc* find_module(std::string_view name);

// Registers every compiled module's function types, once per process.
void init_modules_once();

// Monotonic milliseconds (emscripten_get_now's clock).
double monotonic_ms();

// Runs `fn` on this thread's guest stack (wasm/guest_stack.h); Call() does
// too, so a caller making many calls in a row switches once around them all.
inline void run_on_guest_stack(const std::function<void()>& fn) { wasm::run_on_guest_stack(fn); }

// The Host behind an import-module pointer the generated code passes.
inline Host* host_of(const void* ctx) { return static_cast<const ModuleContext*>(ctx)->host; }

template <typename Fn>
CallOutcome Host::Call(Fn&& fn) {
  CallOutcome out;
  if (dead_) {
    out.kind = CallOutcome::kTrapped;
    out.trap = "instance is dead after an earlier trap";
    return out;
  }
  pgthaw_invoke_frame entry{};
  entry.is_entry = 1;
  entry.saved_stack_pointer = stack_pointer_ != nullptr ? *stack_pointer_ : 0;
  PushFrame(&entry);
  wasm_rt_trap_t trap = WASM_RT_TRAP_NONE;
  wasm::run_on_guest_stack([&] {
    trap = wasm::run_guarded([&] {
      if (setjmp(entry.unwind) == 0) {
        fn();
        out.kind = CallOutcome::kReturned;
      } else if (pending_ == Pending::kExit) {
        out.kind = CallOutcome::kExited;
        out.exit_status = exit_status_;
      } else {
        // A guest longjmp with no invoke_* frame to land in, or an abort.
        out.kind = CallOutcome::kTrapped;
        out.trap = abort_reason_.empty() ? "longjmp with no active setjmp" : abort_reason_;
      }
    });
  });
  unwind_top_ = entry.prev;
  pending_ = Pending::kNone;
  if (trap != WASM_RT_TRAP_NONE) {
    out.kind = CallOutcome::kTrapped;
    out.trap = abort_reason_.empty() ? wasm::trap_name(trap) : abort_reason_;
  }
  if (out.kind == CallOutcome::kTrapped) dead_ = true;
  return out;
}

}  // namespace pgthaw::host
