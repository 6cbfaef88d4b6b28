// Numbers the guest (wasm32 Emscripten musl) passes through the syscall
// imports: open flags, *at flags, file types, fcntl/poll values.
//
// They are NOT the host's values (O_DIRECTORY, for one, differs on arm64), so
// the vfs API speaks only these and translates when it calls the host kernel.
#pragma once

#include <cstdint>

namespace pgthaw::vfs::wasm_abi {

// open(2) flags. The access mode is flags & kO_ACCMODE.
inline constexpr int kO_RDONLY = 0;
inline constexpr int kO_WRONLY = 1;
inline constexpr int kO_RDWR = 2;
inline constexpr int kO_ACCMODE = 3;
inline constexpr int kO_CREAT = 64;
inline constexpr int kO_EXCL = 128;
inline constexpr int kO_NOCTTY = 256;
inline constexpr int kO_TRUNC = 512;
inline constexpr int kO_APPEND = 1024;
inline constexpr int kO_NONBLOCK = 2048;
inline constexpr int kO_DSYNC = 4096;
inline constexpr int kO_LARGEFILE = 32768;  // always set by musl; ignored
inline constexpr int kO_DIRECTORY = 65536;
inline constexpr int kO_NOFOLLOW = 131072;
inline constexpr int kO_CLOEXEC = 524288;

// *at(2).
inline constexpr int kAT_FDCWD = -100;
inline constexpr int kAT_SYMLINK_NOFOLLOW = 256;
inline constexpr int kAT_REMOVEDIR = 512;
inline constexpr int kAT_EACCESS = 512;  // faccessat only
inline constexpr int kAT_SYMLINK_FOLLOW = 1024;
inline constexpr int kAT_EMPTY_PATH = 4096;

// access(2).
inline constexpr int kF_OK = 0;
inline constexpr int kX_OK = 1;
inline constexpr int kW_OK = 2;
inline constexpr int kR_OK = 4;

// st_mode file types (same octal values as Linux).
inline constexpr uint32_t kS_IFMT = 0170000;
inline constexpr uint32_t kS_IFREG = 0100000;
inline constexpr uint32_t kS_IFDIR = 0040000;
inline constexpr uint32_t kS_IFCHR = 0020000;
inline constexpr uint32_t kS_IFIFO = 0010000;
inline constexpr uint32_t kS_IFLNK = 0120000;

// getdents d_type.
inline constexpr uint8_t kDT_UNKNOWN = 0;
inline constexpr uint8_t kDT_CHR = 2;
inline constexpr uint8_t kDT_DIR = 4;
inline constexpr uint8_t kDT_REG = 8;
inline constexpr uint8_t kDT_LNK = 10;

// WASI fd_fdstat_get filetype.
inline constexpr int kFiletypeCharacterDevice = 2;
inline constexpr int kFiletypeDirectory = 3;
inline constexpr int kFiletypeRegularFile = 4;
inline constexpr int kFiletypeSymbolicLink = 7;

// lseek whence.
inline constexpr int kSEEK_SET = 0;
inline constexpr int kSEEK_CUR = 1;
inline constexpr int kSEEK_END = 2;

// fcntl.
inline constexpr int kF_DUPFD = 0;
inline constexpr int kF_GETFD = 1;
inline constexpr int kF_SETFD = 2;
inline constexpr int kF_GETFL = 3;
inline constexpr int kF_SETFL = 4;
inline constexpr int kF_GETLK = 12;
inline constexpr int kF_SETLK = 13;
inline constexpr int kF_SETLKW = 14;
inline constexpr int kF_DUPFD_CLOEXEC = 1030;
inline constexpr int kF_UNLCK = 2;

// poll.
inline constexpr int16_t kPOLLIN = 1;
inline constexpr int16_t kPOLLPRI = 2;
inline constexpr int16_t kPOLLOUT = 4;
inline constexpr int16_t kPOLLERR = 8;
inline constexpr int16_t kPOLLHUP = 16;
inline constexpr int16_t kPOLLNVAL = 32;

// utimensat nanosecond markers.
inline constexpr int64_t kUTIME_NOW = 0x3fffffff;
inline constexpr int64_t kUTIME_OMIT = 0x3ffffffe;

}  // namespace pgthaw::vfs::wasm_abi
