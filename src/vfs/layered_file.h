// vfs::LayeredFile: the bytes of one regular file whose copies span layers.
//
// A partial copy-up (chunk_map.h) leaves a file in pieces: the upper copy
// holds the chunks the tenant wrote, the layers below the rest, and a frozen
// layer may itself hold a partial copy over the layers under it. A
// LayeredFile is that chain of copies, top first, each with the map of what
// it owns; the last copy is whole. Reads take every byte from the topmost
// copy that owns it.
//
// WRITES (only when the top is an upper's partial copy). A write to a chunk
// that still lives below and is only partly overwritten first copies that
// chunk up, so every chunk the top owns is whole there; then the written
// chunks are marked. flush() saves the map after syncing the data (when
// durable), as chunk_map.h's crash rules ask; the destructor flushes too.
//
// One LayeredFile is shared by every open description of the file in one
// FileSystem (OverlayDir keeps the registry), so all of them see one map.
// Methods return a count (or 0) or a negative wasm errno. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "vfs/chunk_map.h"

namespace pgthaw::vfs {

// Copies the first `len` bytes of host file `src` into the empty host file
// `dst`: a reflink when the filesystem can (then trimmed to `len`), else
// copy_file_range, else read/write.
int copy_file_bytes(int src, int dst, int64_t len);

class LayeredFile {
 public:
  struct Part {
    int fd = -1;                    // this layer's copy (owned)
    std::unique_ptr<ChunkMap> map;  // null: the copy is whole
  };

  // `parts` top first; the last one whole. Read-only.
  explicit LayeredFile(std::vector<Part> parts);
  // The top is the upper's partial copy, writable; its map is saved to
  // `map_fd` (owned).
  LayeredFile(std::vector<Part> parts, int map_fd, bool durable);
  ~LayeredFile();
  LayeredFile(const LayeredFile&) = delete;
  LayeredFile& operator=(const LayeredFile&) = delete;

  // False once the top is whole (see became_whole).
  bool partial() const { return parts_.front().map != nullptr; }
  bool writable() const { return map_fd_ >= 0; }
  int top_fd() const { return parts_.front().fd; }

  // A short count only at the end of the file.
  int64_t pread(void* buf, size_t len, int64_t offset) const;
  // Copies the first `len` bytes into the empty host file `dst` (a whole
  // file as copy_file_bytes does).
  int copy_to(int dst, int64_t len) const;
  // REQUIRES: writable().
  int64_t pwrite(const void* buf, size_t len, int64_t offset);
  int truncate(int64_t length);
  // Saves the map if it changed (data synced first when durable); 0 for a
  // file that is not writable or no longer partial.
  int flush();
  // fdatasync of what was written (when durable), then flush(): an fsync
  // of the file, or what an O_DSYNC write owes.
  int sync();
  // Copies up every chunk still below and syncs the data: the top copy is
  // then whole, and the caller removes its map and calls became_whole().
  int fill_all();
  void became_whole();
  // The name now belongs to another file (unlinked or replaced): the map
  // is never saved again, the bytes stay readable and writable.
  void forget_name();

 private:
  int64_t read_part(size_t index, char* buf, size_t len, int64_t offset) const;
  // Copies chunk `chunk` of the top up from the parts below and marks it.
  int fill_chunk(int64_t chunk);
  int fill_if_partly_covered(int64_t chunk, int64_t begin, int64_t end);
  // `data_synced`: the data was just synced, so the map can follow at once.
  int save_map(bool data_synced);

  std::vector<Part> parts_;
  int map_fd_ = -1;
  bool durable_ = false;
};

}  // namespace pgthaw::vfs
