// Plain value types crossing the vfs API: Stat, DirEntry, PollFd, Timespec.
//
// They hold host-independent values in the guest's numbering (wasm_abi.h);
// the host layer encodes them into the guest's struct layouts (96-byte stat,
// 280-byte dirent, 8-byte pollfd).
#pragma once

#include <cstdint>
#include <string>

namespace pgthaw::vfs {

struct Timespec {
  int64_t sec = 0;
  int64_t nsec = 0;
};

struct Stat {
  uint32_t dev = 0;
  uint64_t ino = 0;
  uint32_t mode = 0;  // S_IF* | permission bits
  uint32_t nlink = 1;
  uint32_t uid = 0;  // always 0: the guest's getuid() is 0 and Postgres checks
  uint32_t gid = 0;  // that it owns its data directory
  uint32_t rdev = 0;
  int64_t size = 0;
  int32_t blksize = 4096;
  int64_t blocks = 0;  // 512-byte units
  Timespec atime;
  Timespec mtime;
  Timespec ctime;
};

struct DirEntry {
  uint64_t ino = 0;
  uint8_t type = 0;  // wasm_abi::kDT_*
  std::string name;
  // Position of this entry in the listing (0 is "."). The guest's d_off for
  // the record is (index + 1) * record size.
  int64_t index = 0;
};

struct PollFd {
  int fd = -1;
  int16_t events = 0;
  int16_t revents = 0;  // filled by FileSystem::poll
};

}  // namespace pgthaw::vfs
