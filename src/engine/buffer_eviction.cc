// engine::evict_buffers (buffer_eviction.h says what and why).
#include "engine/buffer_eviction.h"

#include <string>

#include "host/host.h"

namespace pgthaw::engine {

Result<BufferPool> buffer_pool(const host::Host& host) {
  // The exported globals hold the variables' addresses in linear memory.
  uint32_t* blocks_var = host.ExportGlobal("BufferBlocks");
  uint32_t* buffers_var = host.ExportGlobal("NBuffers");
  if (blocks_var == nullptr || buffers_var == nullptr) {
    return Status::Internal("the engine does not export its buffer pool");
  }
  BufferPool pool{host.Load<uint32_t>(*blocks_var), host.Load<uint32_t>(*buffers_var)};
  if (pool.blocks_at == 0 ||
      host.Bytes(pool.blocks_at, uint64_t{pool.buffers} * kBufferBlockBytes) == nullptr) {
    return Status::Internal("the buffer pool is not where the engine says");
  }
  return pool;
}

Result<std::vector<uint32_t>> evict_buffers(host::Host& host, const std::vector<uint32_t>& buffers,
                                            const ExportRecovery& recovery) {
  std::vector<uint32_t> evicted;
  if (buffers.empty()) return evicted;
  wasm_rt_function_ptr_t start_xact = host.ExportFunction("StartTransactionCommand");
  wasm_rt_function_ptr_t commit_xact = host.ExportFunction("CommitTransactionCommand");
  wasm_rt_function_ptr_t evict = host.ExportFunction("EvictUnpinnedBuffer");
  wasm_rt_function_ptr_t stack_alloc = host.ExportFunction("_emscripten_stack_alloc");
  if (start_xact == nullptr || commit_xact == nullptr || evict == nullptr ||
      stack_alloc == nullptr) {
    return Status::Internal("the engine lacks an export buffer eviction needs");
  }
  host.wire().output().clear();
  const uint32_t sp = host.stack_pointer();
  host::CallOutcome out = host.Call([&] {
    uint32_t flushed = host.Invoke<uint32_t>(stack_alloc, uint32_t{4});  // bool*
    host.Invoke<void>(start_xact);
    for (uint32_t b : buffers) {
      if (host.Invoke<uint32_t>(evict, b, flushed) != 0) evicted.push_back(b);
    }
    host.Invoke<void>(commit_xact);
  });
  host.set_stack_pointer(sp);
  if (out.kind == host::CallOutcome::kReturned) {
    host.wire().output().clear();
    return evicted;
  }
  auto reports = recover_export_call(host, out, recovery, "buffer eviction");
  if (!reports.ok()) return reports.status();
  return Status::EngineError(
      "evicting shared buffers failed: " +
      (reports->empty() ? std::string("(no message)") : reports->back().message()));
}

}  // namespace pgthaw::engine
