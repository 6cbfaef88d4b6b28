// Heap growth and file mappings. Anonymous mmap is handled inside libc;
// file mappings are copies into linear memory, written back on munmap when
// shared and writable, as Emscripten's glue does.
#include "host/imports.h"
#include "wasm/linear_memory.h"

using pgthaw::host::Host;
using pgthaw::host::host_of;
using pgthaw::host::neg;

extern "C" {

u32 Z_envZ_emscripten_resize_heap(struct Z_env_instance_t* env, u32 requested) {
  return host_of(env)->GrowTo(requested) ? 1 : 0;
}

u32 Z_envZ_emscripten_get_heap_max(struct Z_env_instance_t* env) {
  return static_cast<u32>(uint64_t{host_of(env)->memory()->max_pages} * pgthaw::wasm::kPageBytes);
}

u32 Z_envZ__mmap_js(struct Z_env_instance_t* env, u32 len, u32 /*prot*/, u32 /*flags*/, u32 fd,
                    u64 offset, u32 allocated, u32 addr) {
  Host* h = host_of(env);
  uint32_t size = (len + 65535u) & ~65535u;
  uint32_t ptr = h->GuestMemalign(65536, size);
  if (ptr == 0) return neg(pgthaw::host::kWasmENOMEM);
  uint8_t* dst = h->Bytes(ptr, size);
  std::memset(dst, 0, size);
  int64_t n = h->fs().pread(static_cast<int>(fd), dst, len, static_cast<int64_t>(offset));
  if (n < 0) return static_cast<u32>(n);
  // The guest may close fd before munmap (Postgres does for DSM segments);
  // a private duplicate keeps the open file for the write-back.
  int keep = h->fs().dup(static_cast<int>(fd));
  if (keep < 0) return static_cast<u32>(keep);
  h->mappings()[ptr] = keep;
  h->Store<uint32_t>(allocated, 1);
  h->Store<uint32_t>(addr, ptr);
  return 0;
}

u32 Z_envZ__munmap_js(struct Z_env_instance_t* env, u32 addr, u32 len, u32 prot, u32 flags,
                      u32 /*fd*/, u64 offset) {
  constexpr u32 kProtWrite = 2, kMapPrivate = 2;
  Host* h = host_of(env);
  auto it = h->mappings().find(addr);
  if (it == h->mappings().end()) return neg(pgthaw::host::kWasmEINVAL);
  int keep = it->second;
  h->mappings().erase(it);
  int64_t n = 0;
  if ((prot & kProtWrite) != 0 && (flags & kMapPrivate) == 0) {
    const uint8_t* src = h->Bytes(addr, len);
    n = src == nullptr ? -int64_t{pgthaw::host::kWasmEINVAL}
                       : h->fs().pwrite(keep, src, len, static_cast<int64_t>(offset));
  }
  h->fs().close(keep);
  return n < 0 ? static_cast<u32>(n) : 0;
}

}  // extern "C"
