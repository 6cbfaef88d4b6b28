// host::DynamicLinker: dlopen()/dlsym() of side modules that were translated
// and compiled at build time (there is no JIT: a path maps to a compiled
// module descriptor), following Emscripten's loader: allocate the module's
// data in the guest heap, reserve its table slots, instantiate it against the
// main module's memory, table and stack pointer, fill the GOT, apply data
// relocations, run constructors.
//
// The GOT is per Host (tenant): GOT.mem cells hold addresses, GOT.func cells
// table indices. Owned by its Host; same thread rules.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/byte_codec.h"
#include "common/status.h"
#include "host/glue_abi.h"

namespace pgthaw::host {

class Host;
struct ModuleContext;

class DynamicLinker {
 public:
  explicit DynamicLinker(Host* host) : host_(host) {}
  ~DynamicLinker();

  // _dlopen_js(handle): 1 on success, 0 with __dl_seterr on failure.
  uint32_t Open(uint32_t handle);
  // _dlsym_js: a function's table index or a data symbol's address; 0 if
  // absent.
  uint32_t Symbol(uint32_t handle, const std::string& name, uint32_t symbol_index_out);
  uint32_t* GotCell(pgthaw_got_kind kind, const std::string& name);

  // Snapshots: owners are 0 for the main instance, 1 for the Host itself
  // (its callbacks), 2 + i for the i-th loaded side module.
  int OwnerOf(const void* module_instance) const;
  void* OwnerInstance(int owner) const;
  void Save(ByteWriter& w) const;
  Status Restore(ByteReader& r);
  // Table slots dlsym and GOT.func appended, by index: (owner, export name).
  std::map<uint32_t, std::pair<int, std::string>> AppendedExports() const;
  // The funcref of `owner`'s export `name` (what such a slot holds).
  Result<wasm_rt_funcref_t> ExportRef(int owner, const std::string& name) const;

 private:
  struct Loaded {
    const pgthaw_module_desc* desc;
    void* instance;
    std::unique_ptr<ModuleContext> context;
  };
  uint32_t FunctionIndex(void* instance, const pgthaw_function_export& e);
  void ResolveFromModule(const Loaded& lib);
  void SetError(const std::string& message);

  Host* host_;
  std::map<uint32_t, Loaded> by_handle_;
  std::vector<uint32_t> load_order_;  // handles, in dlopen order
  std::map<std::string, uint32_t> handle_by_path_;
  // Cells must not move: the generated code keeps pointers to them.
  std::deque<uint32_t> cells_;
  std::vector<std::pair<int, std::string>> cell_keys_;  // parallel to cells_
  std::map<std::pair<int, std::string>, uint32_t*> got_;
  std::map<std::pair<void*, std::string>, uint32_t> table_index_;
  // While a side module instantiates: the data symbols (GOT.mem) it imports.
  std::vector<const std::pair<const std::pair<int, std::string>, uint32_t*>*>* importing_ = nullptr;
};

}  // namespace pgthaw::host
