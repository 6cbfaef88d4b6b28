// host::GuestMemory: a Host's linear memory as image files.
//
// A memory is saved whole (a sparse image) or as the pages it changed since
// the image it maps (a delta), and brought back by mapping those files
// (wasm/memory_image.h does the pages). Beside the memory it keeps what the
// files it came from mean for the next save: the image it maps, the base a
// delta is taken against, and the pages it mapped from a delta, which are
// file-backed and so invisible to dirty-page tracking although they are not
// the base's.
//
// Page numbers count OS pages (kPageBytes), the unit of images, deltas and
// hashes. Threads: the Host's; PrivateBytes() also from any thread while
// the memory is not growing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "wasm-rt.h"

namespace pgthaw::host {

class GuestMemory {
 public:
  static constexpr uint64_t kPageBytes = 4096;
  static constexpr uint64_t kWasmPageBytes = 65536;

  uint32_t wasm_pages() const { return memory_->pages; }
  uint64_t bytes() const { return memory_->size; }

  // --- restoring (Host::Restore's prepare step, on a fresh reservation) ---
  // Makes the memory `wasm_pages` long, its front mapped from the image at
  // `path` (all zeros if empty).
  Status MapImage(const std::string& path, uint32_t wasm_pages);
  // Brings a delta's pages in over the mapped image.
  Status ApplyDelta(const std::string& path, const std::vector<uint32_t>& pages);
  // Pages ApplyDelta mapped rather than read in (they count as changed).
  size_t delta_mapped_pages() const { return delta_mapped_.size(); }

  // --- saving --------------------------------------------------------------
  // The pages that differ from the mapped image (written since it was
  // mapped, or mapped from a delta), ascending.
  Result<std::vector<uint32_t>> ChangedPages() const;
  // XXH3 of the pages' bytes, in order: a delta's checksum.
  uint64_t Hash(const std::vector<uint32_t>& pages) const;
  Status SaveImage(const std::string& path) const;
  Status SaveDelta(const std::vector<uint32_t>& pages, const std::string& path) const;
  // Drops what the memory wrote to [first_page, first_page + count) and maps
  // those pages from the image again (its file must still exist): they are
  // unchanged from then on, until the next write.
  Status Revert(uint32_t first_page, uint32_t count);

  // Bytes this memory holds privately (not shared with an image file): a
  // pagemap read (~0.1 ms for 128 MiB), so callers rate-limit it.
  uint64_t PrivateBytes() const;

 private:
  friend class Host;
  wasm_rt_memory_t* memory_ = nullptr;
  std::string image_;                   // the image mapped ("" : none, zeros)
  std::vector<uint32_t> delta_mapped_;  // pages mapped from a delta, ascending
};

}  // namespace pgthaw::host
