// Memory images: how a linear memory is saved and brought back.
//
// A full image is a sparse file as long as the memory, holding its non-zero
// 4 KiB pages (zero pages are holes). Restoring maps it MAP_PRIVATE over the
// front of the memory's reservation: no bytes are copied, pages fault in on
// first touch, and every memory restored from one image shares its clean
// pages in the page cache; a write copies just that page.
//
// A delta holds only the pages a memory has written since it was mapped from
// its base image (found through /proc/self/pagemap: a page this process owns
// anonymously instead of through the file). Restoring maps the base image,
// then copies the delta's pages in.
//
// Linux-only (pagemap, MAP_FIXED over a reservation).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "wasm-rt.h"

namespace pgthaw::wasm {

inline constexpr uint64_t kOsPageBytes = 4096;

// Writes the full sparse image of `memory` to `path` (created, fsynced).
Status write_full_image(const wasm_rt_memory_t& memory, const std::string& path);

// Page indices of `memory` this process has written since they were mapped
// (or, for anonymous memory, ever touched). With `skip_zero`, all-zero pages
// are left out (right when the base is all zeros).
Result<std::vector<uint32_t>> dirty_pages(const wasm_rt_memory_t& memory, bool skip_zero);

// Bytes of `memory` this process holds privately: resident or swapped
// anonymous pages (written since mapping, or ever touched for anonymous
// memory). Pages still shared with an image file are not counted. Reads
// /proc/self/pagemap in chunks (8 bytes per 4 KiB page; ~0.1 ms for 128 MiB)
// and allocates nothing; safe to call from any thread while the memory is
// not growing.
Result<uint64_t> private_resident_bytes(const wasm_rt_memory_t& memory);

// A delta file, for the given pages of a memory of `memory.size` bytes:
//  - runs of at least kMapRunPages pages at their own offsets (a sparse file
//    as long as the memory), so a restore maps them;
//  - after that, the pages of shorter runs packed one after the other in
//    ascending order, so a restore reads them all with a few preadv calls.
// `pages` ascending, as dirty_pages() gives them. Created and fsynced.
inline constexpr uint32_t kMapRunPages = 16;
Status write_delta(const wasm_rt_memory_t& memory, const std::vector<uint32_t>& pages,
                   const std::string& path);

// Makes `memory` (reserved, 0 pages) `pages` wasm pages long, its front
// mapped from the image file `image_path` (or all zeros if empty).
Status map_image(wasm_rt_memory_t* memory, const std::string& image_path, uint32_t pages);

// Brings a delta's pages into `memory`: the long runs are mapped MAP_PRIVATE
// from the delta file (one mapping each, no copy), the packed pages are read
// in. Returns the mapped pages: they are file-backed, so a later
// dirty_pages() does not see them and the caller must add them.
Result<std::vector<uint32_t>> apply_delta(wasm_rt_memory_t* memory, const std::string& delta_path,
                                          const std::vector<uint32_t>& pages);

// Drops what `memory` wrote to the OS pages [first_page, first_page + count)
// and maps them back from the image file `image_path` (the one map_image
// mapped); pages past the file's end become zero pages. Afterwards they are
// shared with the image again, and dirty_pages() leaves them out until the
// next write.
Status remap_from_image(wasm_rt_memory_t* memory, const std::string& image_path,
                        uint32_t first_page, uint32_t count);

// XXH3 of the given pages' bytes, in order.
uint64_t hash_pages(const wasm_rt_memory_t& memory, const std::vector<uint32_t>& pages);

}  // namespace pgthaw::wasm
