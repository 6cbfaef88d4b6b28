// Process-level imports: exit, abort, longjmp, the invoke_* frame protocol,
// signals and timers.
#include "host/imports.h"

using pgthaw::host::Host;
using pgthaw::host::host_of;

extern "C" {

void Z_envZ_exit(struct Z_env_instance_t* env, u32 status) {
  host_of(env)->Exit(static_cast<int>(status));
}

void Z_wasi_snapshot_preview1Z_proc_exit(struct Z_wasi_snapshot_preview1_instance_t* env,
                                         u32 status) {
  host_of(env)->Exit(static_cast<int>(status));
}

void Z_envZ__abort_js(struct Z_env_instance_t* env) { host_of(env)->Abort("abort() called"); }

void Z_envZ___assert_fail(struct Z_env_instance_t* env, u32 cond, u32 file, u32 line, u32 fn) {
  Host* h = host_of(env);
  h->Abort("assertion failed: " + std::string(h->CString(cond)) + " at " +
           std::string(h->CString(file)) + ":" + std::to_string(line) + " in " +
           std::string(h->CString(fn)));
}

// Only used on the way to _emscripten_force_exit; nothing to keep alive.
void Z_envZ__emscripten_runtime_keepalive_clear(struct Z_env_instance_t*) {}

void Z_envZ__emscripten_throw_longjmp(struct Z_env_instance_t* env) {
  host_of(env)->ThrowLongjmp();
}

void Z_envZ___call_sighandler(struct Z_env_instance_t* env, u32 fp, u32 sig) {
  Host* h = host_of(env);
  static const uint32_t kVoidOfI32 = Host::TypeId("i:");
  h->CallTable<void>(fp, kVoidOfI32, sig);
}

u32 Z_envZ__setitimer_js(struct Z_env_instance_t* env, u32 which, f64 timeout_ms) {
  host_of(env)->ArmTimer(which, timeout_ms);
  return 0;
}

// --- the invoke_* frame protocol (host/glue_abi.h) ---------------------------

const wasm_rt_funcref_t* pgthaw_invoke_enter(void* ctx, pgthaw_invoke_frame* frame,
                                             uint32_t table_index, uint32_t type_id) {
  Host* h = host_of(ctx);
  const wasm_rt_funcref_t& f = h->CheckedTableEntry(table_index, type_id);
  frame->is_entry = 0;
  frame->saved_stack_pointer = h->stack_pointer();
  h->PushFrame(frame);
  return &f;
}

void pgthaw_invoke_leave(void* ctx, pgthaw_invoke_frame* frame) { host_of(ctx)->PopFrame(frame); }

void pgthaw_invoke_unwound(void* ctx, pgthaw_invoke_frame* frame) {
  host_of(ctx)->OnUnwound(frame);
}

}  // extern "C"
