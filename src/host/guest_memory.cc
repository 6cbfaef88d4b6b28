// host::GuestMemory (guest_memory.h).
#include "host/guest_memory.h"

#include <algorithm>

#include "wasm/linear_memory.h"
#include "wasm/memory_image.h"

namespace pgthaw::host {

static_assert(GuestMemory::kPageBytes == wasm::kOsPageBytes);
static_assert(GuestMemory::kWasmPageBytes == wasm::kPageBytes);

Status GuestMemory::MapImage(const std::string& path, uint32_t wasm_pages) {
  PGTHAW_RETURN_IF_ERROR(wasm::map_image(memory_, path, wasm_pages));
  image_ = path;
  delta_mapped_.clear();
  return Status::Ok();
}

Status GuestMemory::ApplyDelta(const std::string& path, const std::vector<uint32_t>& pages) {
  auto mapped = wasm::apply_delta(memory_, path, pages);
  if (!mapped.ok()) return mapped.status();
  delta_mapped_ = std::move(mapped).value();
  std::sort(delta_mapped_.begin(), delta_mapped_.end());
  return Status::Ok();
}

Result<std::vector<uint32_t>> GuestMemory::ChangedPages() const {
  auto written = wasm::dirty_pages(*memory_, /*skip_zero=*/false);
  if (!written.ok()) return written.status();
  std::vector<uint32_t> pages = std::move(written).value();
  pages.insert(pages.end(), delta_mapped_.begin(), delta_mapped_.end());
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  return pages;
}

uint64_t GuestMemory::Hash(const std::vector<uint32_t>& pages) const {
  return wasm::hash_pages(*memory_, pages);
}

Status GuestMemory::SaveImage(const std::string& path) const {
  return wasm::write_full_image(*memory_, path);
}

Status GuestMemory::SaveDelta(const std::vector<uint32_t>& pages, const std::string& path) const {
  return wasm::write_delta(*memory_, pages, path);
}

Status GuestMemory::Revert(uint32_t first_page, uint32_t count) {
  PGTHAW_RETURN_IF_ERROR(wasm::remap_from_image(memory_, image_, first_page, count));
  std::erase_if(delta_mapped_,
                [&](uint32_t p) { return p >= first_page && p < first_page + count; });
  return Status::Ok();
}

uint64_t GuestMemory::PrivateBytes() const {
  auto anonymous = wasm::private_resident_bytes(*memory_);
  // Without pagemap, the whole memory: never less than it may hold.
  return (anonymous.ok() ? *anonymous : memory_->size) + delta_mapped_.size() * kPageBytes;
}

}  // namespace pgthaw::host
