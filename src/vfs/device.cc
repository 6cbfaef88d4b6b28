// The /dev device table and the CSPRNG reader (see device.h).
#include "vfs/device.h"

#include <sys/random.h>

#include <cerrno>

#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {
namespace {

constexpr DeviceInfo kDevices[] = {
    {"/dev/null", Device::kNull, 10, (1 << 8) | 3},
    {"/dev/urandom", Device::kUrandom, 11, (1 << 8) | 9},
    {"/dev/random", Device::kRandom, 12, (1 << 8) | 8},
    {"/dev/blob", Device::kBlob, 13, 64 << 8},
    {"/dev/stdin", Device::kStdin, 14, 5 << 8},
    {"/dev/stdout", Device::kStdout, 15, 5 << 8},
    {"/dev/stderr", Device::kStderr, 16, 5 << 8},
    {"/dev/pgthaw-connections", Device::kConnections, 17, (64 << 8) | 1},
};

}  // namespace

std::span<const DeviceInfo> all_devices() { return kDevices; }

const DeviceInfo* find_device(std::string_view path) {
  if (path.substr(0, 5) != "/dev/") return nullptr;
  for (const DeviceInfo& d : kDevices) {
    if (d.path == path) return &d;
  }
  return nullptr;
}

const DeviceInfo& device_info(Device device) {
  for (const DeviceInfo& d : kDevices) {
    if (d.device == device) return d;
  }
  return kDevices[0];
}

int64_t read_random(void* buf, size_t len) {
  auto* p = static_cast<char*>(buf);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::getrandom(p + done, len - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return done > 0 ? static_cast<int64_t>(done) : neg_wasm_errno_from_host();
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<int64_t>(done);
}

}  // namespace pgthaw::vfs
