// vfs::ChunkMap: which chunks of a partial copy-up hold the tenant's bytes.
//
// Copying a relation file of a gigabyte up to the tenant's layer because
// Postgres set hint bits on one page would cost seconds and a gigabyte of
// disk per fork. A big file is therefore copied up *partially*: the upper
// file is created sparse at the lower file's size, and a chunk map records
// which 8 KiB chunks the upper copy has written. Every other chunk below
// `lower_limit` is still read from the layers below; everything at or past
// `lower_limit` (the lower size, lowered by truncation) is the upper copy's.
//
// FILE. The map of `rel` lives in the same layer as the data, at
// `.pgthaw-overlay/chunks/<rel with '%' as %25 and '/' as %2F>`:
//   magic "PGTCHK01", u64 inode, i64 birth seconds, u32 birth nanoseconds,
//   u32 zero, i64 lower_limit, then one bit per chunk below lower_limit
//   (little-endian throughout, bit i of byte i/8 for chunk i).
// The inode and birth time name the data file the map belongs to: a map is
// in force only while `rel` is that very file, so a name that was unlinked,
// renamed over or re-created never inherits a stale map, whatever the
// order in which a crash left the two files.
//
// CRASH RULES. Bits only ever turn on (until a truncation lowers the limit,
// which is saved before the data file shrinks), and a map is written only
// after the data it describes was synced: a map torn in any way describes
// data that is there. Chunks written but not yet in the saved map read
// from below after a crash, as unsynced writes may be lost on any disk.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "vfs/host_dir.h"

namespace pgthaw::vfs {

// Which data file a map belongs to.
struct FileIdentity {
  uint64_t ino = 0;
  int64_t birth_sec = 0;  // 0 where the filesystem keeps no birth time
  uint32_t birth_nsec = 0;
  bool operator==(const FileIdentity&) const = default;
};
// The identity of the open host file `fd`, or a negative wasm errno.
int file_identity(int fd, FileIdentity* out);

class ChunkMap {
 public:
  static constexpr int64_t kChunkBytes = 8192;
  // Files smaller than this are copied up whole.
  static constexpr int64_t kPartialMinBytes = 64 * 1024;
  static constexpr std::string_view kDirName = ".pgthaw-overlay/chunks";

  ChunkMap(FileIdentity identity, int64_t lower_limit);
  // Corruption unless `bytes` is a whole map file.
  static Result<ChunkMap> parse(std::string_view bytes);
  std::string serialize() const;

  const FileIdentity& identity() const { return identity_; }
  int64_t lower_limit() const { return lower_limit_; }
  // True if the byte at `offset` is served by this layer's copy.
  bool owns(int64_t offset) const { return offset >= lower_limit_ || has(offset / kChunkBytes); }
  bool has(int64_t chunk) const {
    return (bits_[static_cast<size_t>(chunk >> 3)] >> (chunk & 7)) & 1;
  }
  // Chunks below lower_limit that still live below, in order.
  int64_t chunk_count() const { return (lower_limit_ + kChunkBytes - 1) / kChunkBytes; }
  void set(int64_t chunk);
  // Truncation to `limit` (< lower_limit): chunks from there on are the
  // upper copy's. The chunk holding `limit` keeps its bit.
  void lower_to(int64_t limit);

  bool dirty() const { return dirty_; }
  void mark_clean() { dirty_ = false; }

 private:
  FileIdentity identity_;
  int64_t lower_limit_;
  std::vector<uint8_t> bits_;
  bool dirty_ = false;
};

// The layer-relative name of `rel`'s map, or "" when the escaped name would
// be longer than a file name may be (such a file is copied up whole).
std::string chunk_map_name(std::string_view rel);
// The escaped file name of `rel`'s map inside kDirName, and back.
std::string chunk_map_file_name(std::string_view rel);
std::string chunk_map_rel(std::string_view file_name);

// The escaped names of the maps `layer` holds (its partial files).
int list_chunk_maps(const HostDir& layer, std::set<std::string, std::less<>>* names);
// The map in force for `rel` in `layer`, whose data file is open as
// `data_fd`: *out stays null when there is none or it belongs to another
// file. Corruption (-EIO) when the map file is not one.
int load_chunk_map(const HostDir& layer, std::string_view rel, int data_fd,
                   std::unique_ptr<ChunkMap>* out);
// The whole of a small file of `layer`; ENOENT as a negative errno.
int read_layer_file(const HostDir& layer, std::string_view name, std::string* out);

}  // namespace pgthaw::vfs
