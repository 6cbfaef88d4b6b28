// Host::SaveState / Host::Restore: the process state outside linear memory.
//
// Table entries hold C function pointers, which a snapshot never stores: a
// snapshot may come from another machine or a bucket, and an address read
// from it would be code execution. Each entry is named instead: as its
// module's instantiation placed it (the restore instantiates the same
// modules at the same table bases, and checks owner and type), as an export
// of its owner (dlsym, GOT.func), or as a host callback by id. Owners are
// indices (DynamicLinker::OwnerOf), types are signature indices.
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "common/byte_codec.h"
#include "host/dynamic_linker.h"
#include "host/host.h"
#include "wasm/linear_memory.h"

namespace pgthaw::host {
namespace {

constexpr uint32_t kStateVersion = 2;

// How a table entry is named.
enum class Slot : uint8_t { kNull = 0, kInstantiated = 1, kExport = 2, kCallback = 3 };

// A runtime type id as its index in pgthaw_glue_type_sigs (the same in
// every process of the build); UINT32_MAX if unknown.
uint32_t type_index(uint32_t type_id) {
  for (unsigned i = 0; i < pgthaw_glue_type_count; ++i) {
    if (pgthaw_glue_type_ids[i] == type_id) return i;
  }
  return UINT32_MAX;
}

}  // namespace

std::string Host::SaveState() const {
  ByteWriter w;
  w.u32(kStateVersion);
  w.bytes(module_->name);
  w.u32(memory_->pages);
  for (const pgthaw_global_slot* g = module_->global_slots; g->size != 0; ++g) {
    w.raw(static_cast<const char*>(instance_) + g->offset, g->size);
  }
  w.u32(table_->size);
  linker_->Save(w);
  const std::map<uint32_t, std::pair<int, std::string>> exports = linker_->AppendedExports();
  for (uint32_t i = 0; i < table_->size; ++i) {
    const wasm_rt_funcref_t& f = table_->data[i];
    if (f.func == nullptr) {
      w.u8(static_cast<uint8_t>(Slot::kNull));
    } else if (auto cb = callback_slots_.find(i); cb != callback_slots_.end()) {
      w.u8(static_cast<uint8_t>(Slot::kCallback));
      w.u32(cb->second);
    } else if (auto e = exports.find(i); e != exports.end()) {
      w.u8(static_cast<uint8_t>(Slot::kExport));
      w.u32(static_cast<uint32_t>(e->second.first));
      w.bytes(e->second.second);
    } else {
      w.u8(static_cast<uint8_t>(Slot::kInstantiated));
      w.u32(static_cast<uint32_t>(linker_->OwnerOf(f.module_instance)));
      w.u32(type_index(f.func_type));
    }
  }
  double now = monotonic_ms();
  for (const Timer& t : timers_) {
    w.u8(t.armed ? 1 : 0);
    w.f64(t.armed ? t.deadline_ms - now : 0);
  }
  w.u32(static_cast<uint32_t>(mappings_.size()));
  for (const auto& [addr, fd] : mappings_) {
    w.u32(addr);
    w.u32(static_cast<uint32_t>(fd));
  }
  return std::move(w.str());
}

Result<std::unique_ptr<Host>> Host::Restore(
    HostOptions options, vfs::FileSystem* fs, std::string_view state,
    const std::function<Status(GuestMemory&)>& prepare_memory) {
  init_modules_once();
  std::unique_ptr<Host> host(new Host(std::move(options), fs));
  host->module_ = find_module(host->options_.module);
  if (host->module_ == nullptr || host->module_->memory != nullptr) {
    return Status::InvalidArgument("cannot restore module " + host->options_.module);
  }
  host->instance_ = std::calloc(1, host->module_->instance_size);
  if (host->instance_ == nullptr ||
      !wasm::allocate_memory(&host->own_memory_, 0, host->options_.max_pages)) {
    return Status::ResourceExhausted("cannot reserve memory for a restore");
  }
  host->memory_ = &host->own_memory_;
  host->guest_memory_.memory_ = host->memory_;
  PGTHAW_RETURN_IF_ERROR(prepare_memory(host->guest_memory_));
  host->linker_ = std::make_unique<DynamicLinker>(host.get());
  PGTHAW_RETURN_IF_ERROR(host->RestoreState(state));
  return host;
}

Status Host::RestoreState(std::string_view state) {
  ByteReader r(state);
  if (r.u32() != kStateVersion || r.bytes() != module_->name) {
    return Status::Corruption("host state: other version or module");
  }
  if (r.u32() != memory_->pages) return Status::Corruption("host state: memory size differs");
  module_->instantiate_without_memory(instance_, &context_);
  instantiated_ = true;
  table_ = module_->table(instance_);
  stack_pointer_ = ExportGlobal("__stack_pointer");
  ResolveExports();
  for (const pgthaw_global_slot* g = module_->global_slots; g->size != 0; ++g) {
    r.raw(static_cast<char*>(instance_) + g->offset, g->size);
  }
  uint32_t table_size = r.u32();
  if (!r.ok() || table_size < table_->size) return r.status("host state");
  if (wasm_rt_grow_funcref_table(table_, table_size - table_->size, wasm_rt_funcref_null_value) ==
      UINT32_MAX) {
    return Status::ResourceExhausted("cannot grow the function table");
  }
  PGTHAW_RETURN_IF_ERROR(linker_->Restore(r));
  // The instantiations above placed every module's own entries; what was
  // added at run time is looked up by name. Nothing here comes from an
  // address in the state.
  for (uint32_t i = 0; i < table_size && r.ok(); ++i) {
    wasm_rt_funcref_t& slot = table_->data[i];
    switch (static_cast<Slot>(r.u8())) {
      case Slot::kNull:
        slot = wasm_rt_funcref_null_value;
        break;
      case Slot::kInstantiated: {
        const auto owner = static_cast<int>(r.u32());
        const uint32_t type = r.u32();
        if (slot.func == nullptr || linker_->OwnerOf(slot.module_instance) != owner ||
            type_index(slot.func_type) != type) {
          return Status::Corruption("host state: table entry " + std::to_string(i) +
                                    " is not what its module placed there");
        }
        break;
      }
      case Slot::kExport: {
        const auto owner = static_cast<int>(r.u32());
        const std::string name(r.bytes());
        if (!r.ok()) break;
        auto ref = linker_->ExportRef(owner, name);
        if (!ref.ok()) return ref.status();
        slot = *ref;
        break;
      }
      case Slot::kCallback: {
        const uint32_t id = r.u32();
        std::optional<wasm_rt_funcref_t> ref = CallbackRef(id);
        if (!ref) return Status::Corruption("host state: unknown host callback");
        slot = *ref;
        callback_slots_[i] = id;
        break;
      }
      default:
        return Status::Corruption("host state: table entry kind");
    }
  }
  double now = monotonic_ms();
  for (Timer& t : timers_) {
    t.armed = r.u8() != 0;
    t.deadline_ms = now + r.f64();
  }
  uint32_t mappings = r.u32();
  for (uint32_t i = 0; i < mappings && r.ok(); ++i) {
    uint32_t addr = r.u32();
    mappings_[addr] = static_cast<int>(r.u32());
  }
  PGTHAW_RETURN_IF_ERROR(r.status("host state"));
  if (!r.at_end()) return Status::Corruption("host state: trailing bytes");
  return Status::Ok();
}

}  // namespace pgthaw::host
