// See dynamic_linker.h. Also home of the imports side modules take from the
// host directly (memory, table, stack pointer, bases) and of the GOT hooks.
#include "host/dynamic_linker.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "host/imports.h"

namespace pgthaw::host {
namespace {

constexpr uint32_t kUnresolved = UINT32_MAX;

// Offsets in libc's struct dso (wasm32), as Emscripten's dlopen fills it.
constexpr uint32_t kDsoMemAllocated = 8, kDsoMemAddr = 12, kDsoMemSize = 16;
constexpr uint32_t kDsoTableAddr = 20, kDsoTableSize = 24, kDsoName = 36;

const pgthaw_module_desc* find_by_path(const std::string& path) {
  for (unsigned i = 0; i < pgthaw_module_count; ++i) {
    if (pgthaw_modules[i].vfs_path != nullptr && path == pgthaw_modules[i].vfs_path) {
      return &pgthaw_modules[i];
    }
  }
  return nullptr;
}

const pgthaw_function_export* find_function(const pgthaw_module_desc& d, const std::string& n) {
  for (const pgthaw_function_export* e = d.functions; e->name != nullptr; ++e) {
    if (n == e->name) return e;
  }
  return nullptr;
}

const pgthaw_global_export* find_global(const pgthaw_module_desc& d, const std::string& n) {
  for (const pgthaw_global_export* e = d.globals; e->name != nullptr; ++e) {
    if (n == e->name) return e;
  }
  return nullptr;
}

}  // namespace

DynamicLinker::~DynamicLinker() {
  for (auto& [handle, lib] : by_handle_) {
    lib.desc->free_instance(lib.instance);
    std::free(lib.instance);
  }
}

void DynamicLinker::SetError(const std::string& message) {
  Host::Log("dlopen: " + message);
  auto alloc = host_->ExportFunction("_emscripten_stack_alloc");
  auto restore = host_->ExportFunction("_emscripten_stack_restore");
  auto seterr = host_->ExportFunction("__dl_seterr");
  uint32_t saved = host_->stack_pointer();
  uint32_t p = host_->Invoke<uint32_t>(alloc, static_cast<uint32_t>(message.size() + 1));
  std::memcpy(host_->Bytes(p, message.size() + 1), message.c_str(), message.size() + 1);
  host_->Invoke<void>(seterr, p, uint32_t{0});
  host_->Invoke<void>(restore, saved);
}

uint32_t DynamicLinker::FunctionIndex(void* instance, const pgthaw_function_export& e) {
  auto key = std::make_pair(instance, std::string(e.name));
  auto it = table_index_.find(key);
  if (it != table_index_.end()) return it->second;
  uint32_t index =
      host_->AppendToTable(wasm_rt_funcref_t{pgthaw_glue_type_ids[e.type_index], e.fn, instance});
  table_index_.emplace(std::move(key), index);
  return index;
}

uint32_t* DynamicLinker::GotCell(pgthaw_got_kind kind, const std::string& name) {
  auto key = std::make_pair(static_cast<int>(kind), name);
  auto it = got_.find(key);
  if (it != got_.end()) {
    if (importing_ != nullptr && kind == PGTHAW_GOT_MEM) importing_->push_back(&*it);
    return it->second;
  }
  uint32_t value = kUnresolved;
  const pgthaw_module_desc& main = host_->module();
  if (kind == PGTHAW_GOT_MEM) {
    if (const pgthaw_global_export* g = find_global(main, name)) value = *g->get(host_->instance());
  } else if (const pgthaw_function_export* f = find_function(main, name)) {
    value = FunctionIndex(host_->instance(), *f);
  }
  cells_.push_back(value);
  cell_keys_.push_back(key);
  uint32_t* cell = &cells_.back();
  auto [added, _] = got_.emplace(std::move(key), cell);
  if (importing_ != nullptr && kind == PGTHAW_GOT_MEM) importing_->push_back(&*added);
  return cell;
}

void DynamicLinker::ResolveFromModule(const Loaded& lib) {
  for (auto& [key, cell] : got_) {
    if (*cell != kUnresolved) continue;
    const std::string& name = key.second;
    if (key.first == PGTHAW_GOT_FUNC) {
      if (const pgthaw_function_export* f = find_function(*lib.desc, name)) {
        *cell = FunctionIndex(lib.instance, *f);
      }
    } else if (const pgthaw_global_export* g = find_global(*lib.desc, name)) {
      *cell = *g->get(lib.instance) + lib.context->memory_base;
    }
  }
}

uint32_t DynamicLinker::Open(uint32_t handle) {
  std::string path(host_->CString(handle + kDsoName));
  if (auto it = handle_by_path_.find(path); it != handle_by_path_.end()) return 1;
  const pgthaw_module_desc* desc = find_by_path(path);
  if (desc == nullptr) {
    SetError("could not load library \"" + path + "\": not part of this build");
    return 0;
  }

  Loaded lib{desc, std::calloc(1, desc->instance_size), std::make_unique<ModuleContext>()};
  lib.context->host = host_;
  if (desc->mem_size > 0) {
    uint32_t align = 1u << desc->mem_p2align;
    uint32_t raw = host_->Invoke<uint32_t>(host_->ExportFunction("calloc"), desc->mem_size + align,
                                           uint32_t{1});
    if (raw == 0) {
      SetError("out of memory loading " + path);
      std::free(lib.instance);
      return 0;
    }
    lib.context->memory_base = (raw + align - 1) & ~(align - 1);
  }
  lib.context->table_base = host_->table()->size;
  if (desc->table_size > 0 &&
      wasm_rt_grow_funcref_table(host_->table(), desc->table_size, wasm_rt_funcref_null_value) ==
          UINT32_MAX) {
    SetError("function table full loading " + path);
    std::free(lib.instance);
    return 0;
  }
  host_->Store<uint32_t>(handle + kDsoMemAllocated, desc->mem_size > 0 ? 1 : 0);
  host_->Store<uint32_t>(handle + kDsoMemAddr, lib.context->memory_base);
  host_->Store<uint32_t>(handle + kDsoMemSize, desc->mem_size);
  host_->Store<uint32_t>(handle + kDsoTableAddr, lib.context->table_base);
  host_->Store<uint32_t>(handle + kDsoTableSize, desc->table_size);

  std::vector<const std::pair<const std::pair<int, std::string>, uint32_t*>*> data_imports;
  importing_ = &data_imports;
  desc->instantiate(lib.instance, lib.context.get());
  importing_ = nullptr;
  ResolveFromModule(lib);
  for (const auto* import : data_imports) {
    if (*import->second != kUnresolved) continue;
    // A variable neither the main module nor this one defines: as Emscripten's
    // loader does, refuse the library (Postgres reports the dlopen error)
    // rather than let its code dereference a bogus address. Its memory and
    // table slots stay allocated; a failed load is rare.
    SetError("undefined symbol: " + import->first.second);
    desc->free_instance(lib.instance);
    std::free(lib.instance);
    return 0;
  }
  if (const pgthaw_function_export* relocs = find_function(*desc, "__wasm_apply_data_relocs")) {
    reinterpret_cast<void (*)(void*)>(relocs->fn)(lib.instance);
  }
  if (const pgthaw_function_export* ctors = find_function(*desc, "__wasm_call_ctors")) {
    reinterpret_cast<void (*)(void*)>(ctors->fn)(lib.instance);
  }
  handle_by_path_[path] = handle;
  by_handle_.emplace(handle, std::move(lib));
  load_order_.push_back(handle);
  return 1;
}

int DynamicLinker::OwnerOf(const void* module_instance) const {
  if (module_instance == host_->instance()) return 0;
  if (module_instance == host_) return 1;
  for (size_t i = 0; i < load_order_.size(); ++i) {
    if (by_handle_.at(load_order_[i]).instance == module_instance) return static_cast<int>(2 + i);
  }
  return -1;
}

void* DynamicLinker::OwnerInstance(int owner) const {
  if (owner == 0) return host_->instance();
  if (owner == 1) return host_;
  size_t i = static_cast<size_t>(owner - 2);
  return i < load_order_.size() ? by_handle_.at(load_order_[i]).instance : nullptr;
}

void DynamicLinker::Save(ByteWriter& w) const {
  w.u32(static_cast<uint32_t>(cells_.size()));
  for (size_t i = 0; i < cells_.size(); ++i) {
    w.u32(static_cast<uint32_t>(cell_keys_[i].first));
    w.bytes(cell_keys_[i].second);
    w.u32(cells_[i]);
  }
  w.u32(static_cast<uint32_t>(load_order_.size()));
  for (uint32_t handle : load_order_) {
    const Loaded& lib = by_handle_.at(handle);
    w.bytes(lib.desc->name);
    w.u32(handle);
    w.u32(lib.context->memory_base);
    w.u32(lib.context->table_base);
    for (const pgthaw_global_slot* g = lib.desc->global_slots; g->size != 0; ++g) {
      w.raw(static_cast<const char*>(lib.instance) + g->offset, g->size);
    }
  }
  w.u32(static_cast<uint32_t>(table_index_.size()));
  for (const auto& [key, index] : table_index_) {
    w.u32(static_cast<uint32_t>(OwnerOf(key.first)));
    w.bytes(key.second);
    w.u32(index);
  }
}

std::map<uint32_t, std::pair<int, std::string>> DynamicLinker::AppendedExports() const {
  std::map<uint32_t, std::pair<int, std::string>> by_index;
  for (const auto& [key, index] : table_index_) by_index[index] = {OwnerOf(key.first), key.second};
  return by_index;
}

Result<wasm_rt_funcref_t> DynamicLinker::ExportRef(int owner, const std::string& name) const {
  void* instance = OwnerInstance(owner);
  const pgthaw_module_desc* desc = nullptr;
  if (owner == 0) {
    desc = &host_->module();
  } else if (owner >= 2 && instance != nullptr) {
    desc = by_handle_.at(load_order_[static_cast<size_t>(owner - 2)]).desc;
  }
  if (desc == nullptr) return Status::Corruption("snapshot names an unknown table owner");
  // `functions` is sorted by name (glue_abi.h).
  const pgthaw_function_export* begin = desc->functions;
  const pgthaw_function_export* end = begin;
  while (end->name != nullptr) ++end;
  const pgthaw_function_export* e =
      std::lower_bound(begin, end, name, [](const pgthaw_function_export& f, const std::string& n) {
        return std::strcmp(f.name, n.c_str()) < 0;
      });
  if (e == end || name != e->name) {
    return Status::Corruption("snapshot names export " + name + " that " + desc->name +
                              " does not have");
  }
  return wasm_rt_funcref_t{pgthaw_glue_type_ids[e->type_index], e->fn, instance};
}

Status DynamicLinker::Restore(ByteReader& r) {
  // GOT cells first: side modules read their addresses at instantiation.
  uint32_t cells = r.u32();
  for (uint32_t i = 0; i < cells && r.ok(); ++i) {
    auto kind = static_cast<int>(r.u32());
    std::string name(r.bytes());
    uint32_t value = r.u32();
    cells_.push_back(value);
    cell_keys_.emplace_back(kind, name);
    got_.emplace(std::make_pair(kind, name), &cells_.back());
  }
  uint32_t libs = r.u32();
  for (uint32_t i = 0; i < libs && r.ok(); ++i) {
    std::string name(r.bytes());
    uint32_t handle = r.u32();
    const pgthaw_module_desc* desc = find_module(name);
    if (desc == nullptr || desc->vfs_path == nullptr) {
      return Status::Corruption("snapshot names unknown side module " + name);
    }
    Loaded lib{desc, std::calloc(1, desc->instance_size), std::make_unique<ModuleContext>()};
    lib.context->host = host_;
    lib.context->memory_base = r.u32();
    lib.context->table_base = r.u32();
    if (!r.ok()) {
      std::free(lib.instance);
      break;
    }
    desc->instantiate_without_memory(lib.instance, lib.context.get());
    for (const pgthaw_global_slot* g = desc->global_slots; g->size != 0; ++g) {
      r.raw(static_cast<char*>(lib.instance) + g->offset, g->size);
    }
    handle_by_path_[desc->vfs_path] = handle;
    by_handle_.emplace(handle, std::move(lib));
    load_order_.push_back(handle);
  }
  uint32_t indices = r.u32();
  for (uint32_t i = 0; i < indices && r.ok(); ++i) {
    int owner = static_cast<int>(r.u32());
    std::string name(r.bytes());
    uint32_t index = r.u32();
    table_index_[std::make_pair(OwnerInstance(owner), name)] = index;
  }
  return r.status("dynamic linker state");
}

uint32_t DynamicLinker::Symbol(uint32_t handle, const std::string& name, uint32_t index_out) {
  auto it = by_handle_.find(handle);
  if (it == by_handle_.end()) {
    SetError("dlsym: unknown handle");
    return 0;
  }
  const Loaded& lib = it->second;
  if (const pgthaw_function_export* f = find_function(*lib.desc, name)) {
    if (index_out != 0)
      host_->Store<uint32_t>(index_out, static_cast<uint32_t>(f - lib.desc->functions));
    return FunctionIndex(lib.instance, *f);
  }
  if (const pgthaw_global_export* g = find_global(*lib.desc, name)) {
    return *g->get(lib.instance) + lib.context->memory_base;
  }
  // Normal for an optional _PG_init.
  SetError("Tried to lookup unknown symbol \"" + name + "\" in dynamic lib: " + lib.desc->name);
  return 0;
}

}  // namespace pgthaw::host

using pgthaw::host::host_of;

extern "C" {

u32 Z_envZ__dlopen_js(struct Z_env_instance_t* env, u32 handle) {
  return host_of(env)->linker().Open(handle);
}

u32 Z_envZ__dlsym_js(struct Z_env_instance_t* env, u32 handle, u32 name, u32 index_out) {
  pgthaw::host::Host* h = host_of(env);
  return h->linker().Symbol(handle, std::string(h->CString(name)), index_out);
}

wasm_rt_memory_t* Z_envZ_memory(struct Z_env_instance_t* env) { return host_of(env)->memory(); }

// Imported by side modules only (declared in their generated headers).
wasm_rt_funcref_table_t* Z_envZ___indirect_function_table(struct Z_env_instance_t* env) {
  return host_of(env)->table();
}
u32* Z_envZ___stack_pointer(struct Z_env_instance_t* env) {
  return host_of(env)->stack_pointer_slot();
}
u32* Z_envZ___memory_base(struct Z_env_instance_t* env) {
  return &reinterpret_cast<pgthaw::host::ModuleContext*>(env)->memory_base;
}
u32* Z_envZ___table_base(struct Z_env_instance_t* env) {
  return &reinterpret_cast<pgthaw::host::ModuleContext*>(env)->table_base;
}

uint32_t* pgthaw_got_cell(void* ctx, pgthaw_got_kind kind, const char* name) {
  return host_of(ctx)->linker().GotCell(kind, name);
}

void* pgthaw_main_instance(void* ctx) { return host_of(ctx)->instance(); }

void pgthaw_unresolved_import(void* ctx, const char* name) {
  // Side modules import helpers PGlite's main module does not export (the
  // encoding converters' latin2mic, LocalToUtf, ...). Inside Postgres that is
  // an ERROR for the statement that needed it; elsewhere (initdb, startup)
  // the process cannot go on.
  host_of(ctx)->RaisePostgresError("0A000", "function ", name, " is not available in PGlite");
}

}  // extern "C"
