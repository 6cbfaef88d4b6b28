// One zstd frame around a whole buffer, and back with a bound on its size:
// for files that are read and written whole (snapshot state, store blobs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pgthaw {

// `bytes` as one zstd frame that records its content size.
std::string zstd_compress(std::string_view bytes, int level = 1);
// The content of `frame`: Corruption (naming `what`) if it is not one whole
// frame or would decompress past `max_bytes`.
Result<std::string> zstd_decompress(std::string_view frame, uint64_t max_bytes,
                                    const std::string& what);

}  // namespace pgthaw
