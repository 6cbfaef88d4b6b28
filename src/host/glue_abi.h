/* The C contract between the generated host glue (scripts/gen_host_glue.py
 * writes host_glue.c from the wasm2c headers) and the hand-written host.
 *
 * The glue holds what follows mechanically from the modules: invoke_*
 * trampolines, forwarders from side-module imports to main-module exports,
 * GOT cell getters and descriptor tables. Everything with judgement in it
 * (unwinding, the GOT, the table) is implemented by the host in C++.
 *
 * Every import-module instance pointer the generated code passes (env, wasi,
 * GOT.mem, GOT.func) is the host's per-wasm-instance context. */
#ifndef PGTHAW_HOST_GLUE_ABI_H_
#define PGTHAW_HOST_GLUE_ABI_H_

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "wasm-rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- invoke_* trampolines ------------------------------------------------ */

/* One per active invoke_* call, on the native stack. A longjmp or exit
 * unwinding the guest lands in the innermost frame's `unwind`. */
typedef struct pgthaw_invoke_frame {
  jmp_buf unwind;
  struct pgthaw_invoke_frame* prev;
  uint32_t saved_stack_pointer;
  int is_entry; /* a host entry point, not an invoke_* call */
} pgthaw_invoke_frame;

/* Checks the table entry (bounds, signature), saves the stack pointer and
 * pushes the frame. Traps on a bad entry. */
const wasm_rt_funcref_t* pgthaw_invoke_enter(void* ctx, pgthaw_invoke_frame* frame,
                                             uint32_t table_index, uint32_t type_id);
/* Pops the frame after a normal return. */
void pgthaw_invoke_leave(void* ctx, pgthaw_invoke_frame* frame);
/* Called when an unwind landed in the frame: pops it and restores the stack
 * pointer. For a guest longjmp it marks the throw (setThrew) and returns, and
 * the trampoline returns 0; for exit or a trap it keeps unwinding and does not
 * return. */
void pgthaw_invoke_unwound(void* ctx, pgthaw_invoke_frame* frame);

/* --- side modules -------------------------------------------------------- */

typedef enum { PGTHAW_GOT_MEM = 0, PGTHAW_GOT_FUNC = 1 } pgthaw_got_kind;
/* The tenant-wide GOT cell for a symbol; stable address. */
uint32_t* pgthaw_got_cell(void* ctx, pgthaw_got_kind kind, const char* name);
/* The main module's instance (Z_pglite_instance_t*) of this tenant. */
void* pgthaw_main_instance(void* ctx);
/* An import nothing provides was called: traps with its name. */
WASM_RT_NO_RETURN void pgthaw_unresolved_import(void* ctx, const char* name);

/* --- descriptors --------------------------------------------------------- */

typedef struct {
  const char* name;
  wasm_rt_function_ptr_t fn; /* called as fn(module_instance, args...) */
  uint32_t type_index;       /* into pgthaw_glue_type_ids */
} pgthaw_function_export;

typedef uint32_t* (*pgthaw_global_getter)(void* instance);
typedef struct {
  const char* name;
  pgthaw_global_getter get;
} pgthaw_global_export;

/* A wasm global inside a module's instance struct, for snapshots. */
typedef struct {
  size_t offset;
  size_t size; /* 0 ends the list */
} pgthaw_global_slot;

typedef struct {
  const char* name;
  const char* vfs_path; /* side modules: the path dlopen() asks for; else NULL */
  size_t instance_size;
  void (*init_module)(void);
  void (*instantiate)(void* instance, void* ctx);
  /* instantiate() without writing linear memory: for snapshot restore. */
  void (*instantiate_without_memory)(void* instance, void* ctx);
  void (*free_instance)(void* instance);
  const pgthaw_function_export* functions;           /* sorted by name, NULL-terminated */
  const pgthaw_global_export* globals;               /* sorted by name, NULL-terminated */
  wasm_rt_memory_t* (*memory)(void* instance);       /* exported memory, or NULL */
  wasm_rt_funcref_table_t* (*table)(void* instance); /* exported table, or NULL */
  const pgthaw_global_slot* global_slots;
  uint32_t mem_size, mem_p2align, table_size; /* from the dylink.0 section */
} pgthaw_module_desc;

extern const pgthaw_module_desc pgthaw_modules[];
extern const unsigned pgthaw_module_count;

/* Signatures ("ii:i" = params:results in i/j/f/d) and their runtime ids. */
extern const unsigned pgthaw_glue_type_count;
extern const char* const pgthaw_glue_type_sigs[];
extern uint32_t pgthaw_glue_type_ids[];
void pgthaw_glue_register_types(void);

#ifdef __cplusplus
}
#endif

#endif /* PGTHAW_HOST_GLUE_ABI_H_ */
