// The file trees PGlite's programs see (pglite-host-abi.md §3.2), built
// over the VFS:
//
//   Postgres (the backend, initdb and its helper):
//     /pglite/{bin,lib,share,icu}, /home/postgres   the data bundle, read-only
//     /pglite/data                                   the tenant's directory
//     /dev/shm, /tmp                                 in memory, per process
//     /dev/null, /dev/urandom, /dev/blob             devices
//   pg_dump:
//     /pglite                                        the bundle, read-only
//     /tmp, /home/postgres                           in memory
//     /out                                           where the dump goes
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "vfs/filesystem.h"
#include "vfs/mem_dir.h"

namespace pgthaw::host {

// Where a Postgres process finds its data directory.
inline constexpr const char* kGuestDataDir = "/pglite/data";
// Where pg_dump writes (pg_dump_files' output_dir).
inline constexpr const char* kPgDumpOutDir = "/out";

struct GuestFilesOptions {
  std::string share_dir;        // the unpacked data bundle (pglite/, home/)
  uint64_t disk_max_bytes = 0;  // the data directory's quota (0: none)
  uint64_t tmp_max_bytes = 0;   // /tmp and /dev/shm together (0: none)
  bool durable = true;          // fsync reaches the disk
};

// An in-memory directory several processes may share as their /tmp
// (initdb and its postgres helper talk through pipes there).
using SharedTmp = std::shared_ptr<vfs::MemDir>;
inline SharedTmp make_shared_tmp() { return std::make_shared<vfs::MemDir>(); }

// Postgres' tree over the host directory `data_dir`. `lower_dirs` (bottom
// first), when set, make /pglite/data an overlay: `data_dir` on top of
// them. `tmp` null: a /tmp of its own.
Result<std::unique_ptr<vfs::FileSystem>> postgres_files(const GuestFilesOptions& options,
                                                        const std::string& data_dir,
                                                        const std::vector<std::string>& lower_dirs,
                                                        SharedTmp tmp = nullptr);

// pg_dump's tree: its output goes to the host directory `output_dir` (the
// caller syncs it), each line it prints to `on_line`.
Result<std::unique_ptr<vfs::FileSystem>> pg_dump_files(
    const GuestFilesOptions& options, const std::string& output_dir,
    std::function<void(std::string_view line)> on_line);

}  // namespace pgthaw::host
