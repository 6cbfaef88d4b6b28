// See space_quota.h.
#include "vfs/space_quota.h"

namespace pgthaw::vfs {

bool SpaceQuota::try_charge(int64_t bytes) {
  if (bytes <= 0) return true;
  int64_t now = used_.load(std::memory_order_relaxed);
  do {
    if (limit_ > 0 && (bytes > limit_ || now > limit_ - bytes)) return false;
  } while (!used_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
  return true;
}

void SpaceQuota::release(int64_t bytes) {
  if (bytes <= 0) return;
  int64_t now = used_.load(std::memory_order_relaxed);
  while (
      !used_.compare_exchange_weak(now, now > bytes ? now - bytes : 0, std::memory_order_relaxed)) {
  }
}

}  // namespace pgthaw::vfs
