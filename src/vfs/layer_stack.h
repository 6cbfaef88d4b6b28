// vfs::LayerStack: the read-only layers under an overlay's upper directory,
// bottom first, seen as one directory tree.
//
// A tenant starts as an overlay on the template's data directory. Forking
// it freezes its upper directory as a new layer shared by the source and
// the fork, each then getting an empty upper of its own: the stack grows by
// one layer per fork (template, frozen layer, frozen layer, ...). A frozen
// layer keeps the whiteout log it had as an upper (overlay_dir.h), which
// hides paths of the layers below it.
//
// VIEW. A path is served by the topmost layer that has it, unless a layer
// above that one hides it (the path or one of its parents is in that
// layer's whiteouts). Directories present in several layers merge. Layers
// are never written: the stack only reads (its whiteout logs too, where a
// torn last record is ignored).
//
// PARTIAL COPIES. A frozen layer may hold a partial copy of a file
// (chunk_map.h): its unwritten chunks are read from the layers below it.
// open_chain() gives the copies such a file spans, top first.
//
// Methods take normalised remainders below the mount ("" is the root) and
// return 0 (or a host fd) or a negative wasm errno, as HostDir's do. Not
// thread-safe (owned by one OverlayDir).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "vfs/host_dir.h"
#include "vfs/layered_file.h"
#include "vfs/types.h"

namespace pgthaw::vfs {

// The whiteout log (overlay_dir.h METADATA): its name in a layer, its
// magic, and a parser shared by the overlay (which appends to its own) and
// the stack (which only reads frozen ones).
inline constexpr std::string_view kWhiteoutLogName = ".pgthaw-overlay/whiteouts";
inline constexpr char kWhiteoutLogMagic[8] = {'P', 'G', 'T', 'W', 'O', '0', '0', '1'};
inline constexpr size_t kMaxWhiteoutRecordBytes = 4096;
// Adds the log's complete records to `hidden`; returns the length of its
// valid prefix (magic and whole records: a torn last record is not in it),
// or 0 when `bytes` has no magic. Corruption if `bytes` holds another file.
Result<size_t> parse_whiteout_log(std::string_view bytes,
                                  std::set<std::string, std::less<>>* hidden);

class LayerStack {
 public:
  // `dirs` bottom first; at least one.
  static Result<std::unique_ptr<LayerStack>> open(const std::vector<std::string>& dirs);

  size_t depth() const { return layers_.size(); }
  // Every path some layer hides (of the layers below it), for flattening
  // the stack into one layer that hides them all.
  std::set<std::string, std::less<>> hidden_paths() const;

  int stat(std::string_view rel, Stat* st) const;  // lstat semantics
  // Opens `rel` in the layer that serves it (read-only flags expected).
  int open_file(std::string_view rel, int host_flags, uint32_t mode) const;
  // The copies regular file `rel` spans, top first, the last one whole; a
  // single part for a file whose serving copy is whole. -EIO if a partial
  // copy has nothing under it.
  int open_chain(std::string_view rel, std::vector<LayeredFile::Part>* parts) const;
  // True if the copy serving `rel` is partial (cheap when no layer has one).
  bool serves_partial(std::string_view rel) const;
  // A reader of `rel`'s bytes, whole or partial.
  int open_reader(std::string_view rel, std::shared_ptr<LayeredFile>* out) const;
  int readlink(std::string_view rel, std::string* target) const;
  // The merged entries of directory `rel` (without "." and ".."); ENOENT
  // when no layer serves it as a directory. The metadata directory of a
  // frozen layer is never listed.
  int list(std::string_view rel, std::vector<DirEntry>* out) const;

 private:
  struct Layer {
    std::unique_ptr<HostDir> dir;
    std::set<std::string, std::less<>> hidden;   // paths of the layers below it
    std::set<std::string, std::less<>> partial;  // escaped names of its chunk maps
  };
  explicit LayerStack(std::vector<Layer> layers) : layers_(std::move(layers)) {}
  // True if no layer above `index` hides `rel`.
  bool visible_in(size_t index, std::string_view rel) const;
  // The index of the layer serving `rel` (its lstat in *st), or an errno.
  int locate(std::string_view rel, Stat* st, size_t* index) const;
  int locate_uncached(std::string_view rel, Stat* st, size_t* index) const;

  // The index of the layer below `above` that serves `rel` as a regular
  // file, as seen from layer `above`; an errno if none.
  int locate_below(size_t above, std::string_view rel, size_t* index) const;

  std::vector<Layer> layers_;  // bottom first
  bool any_partial_ = false;
  // Frozen layers never change, so where a path is (or that it is nowhere)
  // is looked up once: a thaw reopens every file a snapshot had open and
  // each open asks several times, in every layer above the one serving it.
  struct Located {
    int rc;
    size_t index;
    Stat st;
  };
  static constexpr size_t kMaxLocated = 4096;
  mutable std::map<std::string, Located, std::less<>> located_;
};

// The whiteout log that hides `hidden`: magic, then one record per path.
std::string whiteout_log(const std::set<std::string, std::less<>>& hidden);

// True if `rel` or one of its parents is in `hidden`.
bool hidden_by(const std::set<std::string, std::less<>>& hidden, std::string_view rel);

}  // namespace pgthaw::vfs
