// zstd_frame.h.
#include "common/zstd_frame.h"

#include <zstd.h>

namespace pgthaw {

std::string zstd_compress(std::string_view bytes, int level) {
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), level);
  out.resize(ZSTD_isError(n) ? 0 : n);  // cannot fail with a bound-sized buffer
  return out;
}

Result<std::string> zstd_decompress(std::string_view frame, uint64_t max_bytes,
                                    const std::string& what) {
  unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > max_bytes) {
    return Status::Corruption(what + ": not a zstd frame of at most " + std::to_string(max_bytes) +
                              " bytes");
  }
  std::string out(static_cast<size_t>(size), '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != size) return Status::Corruption(what + ": damaged zstd frame");
  return out;
}

}  // namespace pgthaw
