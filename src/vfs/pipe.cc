// In-memory pipes (see pipe.h).
#include "vfs/pipe.h"

#include <algorithm>
#include <cstring>

#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {

int64_t Pipe::read(void* buf, size_t len) {
  if (len == 0) return 0;
  if (buffered() == 0) return writers > 0 ? -wasm_errno::kEAGAIN : 0;
  size_t n = std::min(len, buffered());
  std::memcpy(buf, data_.data() + head_, n);
  head_ += n;
  if (head_ == data_.size()) {
    data_.clear();
    head_ = 0;
  }
  return static_cast<int64_t>(n);
}

int64_t Pipe::write(const void* buf, size_t len) {
  if (readers == 0) return -wasm_errno::kEPIPE;
  if (len == 0) return 0;
  if (!has_space()) return -wasm_errno::kEAGAIN;
  size_t n = std::min(len, kCapacityBytes - buffered());
  if (head_ > 0) {  // compact before growing
    data_.erase(0, head_);
    head_ = 0;
  }
  data_.append(static_cast<const char*>(buf), n);
  return static_cast<int64_t>(n);
}

}  // namespace pgthaw::vfs
