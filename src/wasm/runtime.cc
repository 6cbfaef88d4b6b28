// Our wasm2c runtime: the wasm_rt_* functions declared by wabt's wasm-rt.h,
// which the generated code calls. Traps live in trap.cc and memories in
// linear_memory.cc; this file holds function types and tables.
//
// Function type ids are process-wide: identical signatures registered by any
// module get the same id, which is what lets a side module's call_indirect
// reach a main-module function (and the host's own callbacks) through the
// shared table.
#include <cstdarg>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "wasm-rt.h"
#include "wasm/linear_memory.h"
#include "wasm/trap.h"

namespace {

struct FuncTypeRegistry {
  std::mutex mutex;
  std::vector<std::vector<wasm_rt_type_t>> types;  // params then results, plus counts
};

FuncTypeRegistry& registry() {
  static FuncTypeRegistry r;
  return r;
}

}  // namespace

extern "C" {

void wasm_rt_init(void) { pgthaw::wasm::prepare_thread_for_guest_calls(); }
bool wasm_rt_is_initialized(void) { return true; }
void wasm_rt_free(void) {}

const char* wasm_rt_strerror(wasm_rt_trap_t trap) { return pgthaw::wasm::trap_name(trap); }

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  std::vector<wasm_rt_type_t> key;
  key.reserve(params + results + 2);
  key.push_back(static_cast<wasm_rt_type_t>(params));
  key.push_back(static_cast<wasm_rt_type_t>(results));
  va_list args;
  va_start(args, results);
  for (uint32_t i = 0; i < params + results; ++i) {
    key.push_back(static_cast<wasm_rt_type_t>(va_arg(args, int)));
  }
  va_end(args);
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  for (size_t i = 0; i < r.types.size(); ++i) {
    if (r.types[i] == key) return static_cast<uint32_t>(i + 1);
  }
  r.types.push_back(std::move(key));
  return static_cast<uint32_t>(r.types.size());  // ids start at 1; 0 is "no function"
}

// PGlite is built without wasm exception handling; these exist to link.
uint32_t wasm_rt_register_tag(uint32_t /*size*/) { return 0; }
void wasm_rt_load_exception(uint32_t, uint32_t, const void*) {
  wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
}
void wasm_rt_throw(void) { wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION); }
WASM_RT_UNWIND_TARGET* wasm_rt_get_unwind_target(void) { return nullptr; }
void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET*) {}
uint32_t wasm_rt_exception_tag(void) { return 0; }
uint32_t wasm_rt_exception_size(void) { return 0; }
void* wasm_rt_exception(void) { return nullptr; }

void wasm_rt_allocate_memory(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages) {
  if (!pgthaw::wasm::allocate_memory(memory, initial_pages, max_pages)) {
    wasm_rt_trap(WASM_RT_TRAP_OOB);
  }
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* memory, uint32_t pages) {
  return pgthaw::wasm::grow_memory(memory, pages);
}

void wasm_rt_free_memory(wasm_rt_memory_t* memory) { pgthaw::wasm::free_memory(memory); }

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t* table, uint32_t elements,
                                    uint32_t max_elements) {
  table->size = elements;
  table->max_size = max_elements;
  table->data = static_cast<wasm_rt_funcref_t*>(
      std::calloc(elements ? elements : 1, sizeof(wasm_rt_funcref_t)));
  if (table->data == nullptr) wasm_rt_trap(WASM_RT_TRAP_OOB);
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t* table) {
  std::free(table->data);
  table->data = nullptr;
  table->size = 0;
}

uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t* table, uint32_t delta,
                                    wasm_rt_funcref_t init) {
  uint32_t old = table->size;
  uint64_t grown = uint64_t{old} + delta;
  if (grown > table->max_size) return UINT32_MAX;
  if (delta == 0) return old;
  auto* data =
      static_cast<wasm_rt_funcref_t*>(std::realloc(table->data, grown * sizeof(wasm_rt_funcref_t)));
  if (data == nullptr) return UINT32_MAX;
  for (uint64_t i = old; i < grown; ++i) data[i] = init;
  table->data = data;
  table->size = static_cast<uint32_t>(grown);
  return old;
}

void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t* table, uint32_t elements,
                                      uint32_t max_elements) {
  table->size = elements;
  table->max_size = max_elements;
  table->data = static_cast<wasm_rt_externref_t*>(
      std::calloc(elements ? elements : 1, sizeof(wasm_rt_externref_t)));
  if (table->data == nullptr) wasm_rt_trap(WASM_RT_TRAP_OOB);
}

void wasm_rt_free_externref_table(wasm_rt_externref_table_t* table) {
  std::free(table->data);
  table->data = nullptr;
  table->size = 0;
}

uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t* table, uint32_t delta,
                                      wasm_rt_externref_t init) {
  uint32_t old = table->size;
  uint64_t grown = uint64_t{old} + delta;
  if (grown > table->max_size) return UINT32_MAX;
  if (delta == 0) return old;
  auto* data = static_cast<wasm_rt_externref_t*>(
      std::realloc(table->data, grown * sizeof(wasm_rt_externref_t)));
  if (data == nullptr) return UINT32_MAX;
  for (uint64_t i = old; i < grown; ++i) data[i] = init;
  table->data = data;
  table->size = static_cast<uint32_t>(grown);
  return old;
}

}  // extern "C"
