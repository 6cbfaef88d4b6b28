// Host::SaveState / Host::Restore: the process state outside linear memory.
//
// Table entries hold C function pointers; a snapshot stores them relative to
// an anchor function of this binary (snapshots only load into the same
// build, so the offsets are the same) and names each entry's owner by index
// (DynamicLinker::OwnerOf) instead of by instance address.
#include <cstdlib>

#include "common/byte_codec.h"
#include "host/dynamic_linker.h"
#include "host/host.h"
#include "wasm/linear_memory.h"

namespace pgthaw::host {
namespace {

constexpr uint32_t kStateVersion = 1;

intptr_t anchor() { return reinterpret_cast<intptr_t>(&pgthaw_glue_register_types); }

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
  for (uint32_t i = 0; i < table_->size; ++i) {
    const wasm_rt_funcref_t& f = table_->data[i];
    if (f.func == nullptr) {
      w.u32(UINT32_MAX);
      continue;
    }
    w.u32(static_cast<uint32_t>(linker_->OwnerOf(f.module_instance)));
    w.u32(f.func_type);
    w.u64(static_cast<uint64_t>(reinterpret_cast<intptr_t>(f.func) - anchor()));
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
  for (uint32_t i = 0; i < table_size && r.ok(); ++i) {
    uint32_t owner = r.u32();
    if (owner == UINT32_MAX) {
      table_->data[i] = wasm_rt_funcref_null_value;
      continue;
    }
    uint32_t type = r.u32();
    auto offset = static_cast<intptr_t>(r.u64());
    void* instance = linker_->OwnerInstance(static_cast<int>(owner));
    if (instance == nullptr) return Status::Corruption("host state: table entry owner");
    table_->data[i] = wasm_rt_funcref_t{
        type, reinterpret_cast<wasm_rt_function_ptr_t>(anchor() + offset), instance};
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
