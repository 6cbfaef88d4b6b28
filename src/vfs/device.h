// The built-in character devices under /dev: null, urandom, random, blob,
// stdin, stdout, stderr, and pgthaw-connections (the server's report of the
// tenant's connections, FileSystem::set_connections_report). Their behaviour lives in FileSystem
// (fd_ops.cc); this is the table of names and identities.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace pgthaw::vfs {

enum class Device {
  kNone,
  kNull,
  kUrandom,
  kRandom,
  kBlob,
  kStdin,
  kStdout,
  kStderr,
  kConnections,
};

struct DeviceInfo {
  std::string_view path;  // e.g. "/dev/null"
  Device device;
  uint64_t ino;
  uint32_t rdev;  // Emscripten's makedev: major << 8 | minor
};

// All devices, in listing order.
std::span<const DeviceInfo> all_devices();
// The device at the normalised virtual path, or null.
const DeviceInfo* find_device(std::string_view path);
const DeviceInfo& device_info(Device device);

// Fills buf with CSPRNG bytes (getrandom); returns len or a negative wasm errno.
int64_t read_random(void* buf, size_t len);

}  // namespace pgthaw::vfs
