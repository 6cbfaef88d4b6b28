// Memory images and deltas on real files and real mappings.
#include "wasm/memory_image.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "wasm/linear_memory.h"

namespace pgthaw::wasm {
namespace {

namespace fs = std::filesystem;

class Memory {
 public:
  explicit Memory(uint32_t wasm_pages) { EXPECT_TRUE(allocate_memory(&m_, 0, wasm_pages)); }
  ~Memory() { free_memory(&m_); }
  wasm_rt_memory_t* get() { return &m_; }
  uint8_t* page(uint32_t p) { return m_.data + uint64_t{p} * kOsPageBytes; }

 private:
  wasm_rt_memory_t m_{};
};

void fill(uint8_t* page, uint32_t seed) {
  for (uint32_t i = 0; i < kOsPageBytes; ++i) page[i] = static_cast<uint8_t>(seed * 131 + i * 7);
}

TEST(MemoryImage, ADeltaOfLongAndShortRunsComesBackOverItsBase) {
  const std::string dir =
      fs::temp_directory_path() / ("memory_image_test." + std::to_string(getpid()));
  fs::create_directories(dir);
  constexpr uint32_t kWasmPages = 4;  // 64 OS pages
  Memory base(kWasmPages);
  ASSERT_TRUE(map_image(base.get(), "", kWasmPages).ok());
  for (uint32_t p = 0; p < 64; ++p) fill(base.page(p), p);
  ASSERT_TRUE(write_full_image(*base.get(), dir + "/image").ok());

  // Pages changed after the image: one long run (mapped) and short runs
  // (packed), the last page of the memory among them.
  Memory tenant(kWasmPages);
  ASSERT_TRUE(map_image(tenant.get(), dir + "/image", kWasmPages).ok());
  std::vector<uint32_t> pages = {1, 2, 5};
  for (uint32_t p = 20; p < 20 + kMapRunPages; ++p) pages.push_back(p);
  pages.push_back(40);
  pages.push_back(63);
  for (uint32_t p : pages) fill(tenant.page(p), 1000 + p);
  ASSERT_TRUE(write_delta(*tenant.get(), pages, dir + "/delta").ok());
  EXPECT_EQ(fs::file_size(dir + "/delta"), 64 * kOsPageBytes + 5 * kOsPageBytes);

  Memory thawed(kWasmPages);
  ASSERT_TRUE(map_image(thawed.get(), dir + "/image", kWasmPages).ok());
  auto mapped = apply_delta(thawed.get(), dir + "/delta", pages);
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  EXPECT_EQ(mapped->size(), kMapRunPages);
  for (uint32_t p = 0; p < 64; ++p) {
    EXPECT_EQ(std::memcmp(thawed.page(p), tenant.page(p), kOsPageBytes), 0) << "page " << p;
  }
  EXPECT_EQ(hash_pages(*thawed.get(), pages), hash_pages(*tenant.get(), pages));

  // A page list that does not match the file is refused, not misread.
  Memory other(kWasmPages);
  ASSERT_TRUE(map_image(other.get(), dir + "/image", kWasmPages).ok());
  std::vector<uint32_t> fewer(pages.begin(), pages.end() - 1);
  EXPECT_FALSE(apply_delta(other.get(), dir + "/delta", fewer).ok());

  // Pages given back to the image read as the image again.
  ASSERT_TRUE(remap_from_image(thawed.get(), dir + "/image", 20, kMapRunPages).ok());
  for (uint32_t p = 20; p < 20 + kMapRunPages; ++p) {
    EXPECT_EQ(std::memcmp(thawed.page(p), base.page(p), kOsPageBytes), 0) << "page " << p;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pgthaw::wasm
