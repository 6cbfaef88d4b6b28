// vfs::OverlayDir: a copy-on-write union of host directories, the backend
// of an OverlayMount.
//
// A new tenant's data directory starts as an overlay on a template data
// directory: `lower` (read-only, shared by many tenants, NEVER written) under
// `upper` (the tenant's own directory, empty at first). Creating a tenant
// copies no files. `lower` may be a stack of such layers (layer_stack.h: a
// forked tenant's frozen layers over the template); below, "lower" is the
// stack's merged view.
//
// VIEW. A name is looked up in upper first, then in lower unless it is
// hidden. Directories present in both merge. The hidden set holds the paths
// the guest removed (unlink, rmdir, rename away) that exist in lower: a
// hidden path hides that lower path and its whole lower subtree. An upper
// entry is never hidden, so re-creating a removed name needs no bookkeeping,
// and a directory re-created over a hidden one stays opaque (it does not
// show the old lower children). Entries are only ever added.
//
// COPY-UP. Lower files are opened read-only on the host (the FileSystem
// marks such descriptions `lower`); the first modification copies the file
// into upper (copy_up) and the FileSystem swaps the host fd of every lower
// description of that file. copy_up is atomic for the merged view: missing
// parent directories are created in upper with the lower directories' modes,
// the bytes go to a temporary file in the metadata directory (FICLONE, else
// copy_file_range, else read/write), which is synced (when durable) and then
// renamed into place; the parent directories' syncs are owed until the next
// fsync (sync_owed()). A crash leaves at most extra empty-of-meaning
// directories (they merge with lower) and a stray temporary file, removed by
// the next open().
//
// PARTIAL COPY-UP. A regular file of at least ChunkMap::kPartialMinBytes is
// not copied: the temporary is created sparse at the lower size, its empty
// chunk map (chunk_map.h) is written and synced, and only then is it
// renamed into place; from then on the file is a LayeredFile (one per name,
// shared by every description) that copies chunks up as they are written.
// Renaming or linking a partial file first copies up the rest (the map
// names one path); unlinking or replacing one retires its map.
//
// METADATA. `upper/.pgthaw-overlay/` holds `whiteouts`, an append-only log of
// hidden paths (magic, then records of u32 little-endian length + path
// bytes), and copy-up temporaries. A record is appended (and fdatasync'ed
// when durable) BEFORE the upper entry is removed, so a crash in between
// leaves the upper entry visible: the removal did not happen. A torn last
// record is cut off at open. The directory is invisible to the guest: never
// listed, never openable (ENOENT; creating it is EACCES), in either layer.
//
// SANDBOX. Every layer is a HostDir: same normalised-path and no-symlink
// rules as HostDirMount.
//
// Methods take normalised remainders below the mount ("" is the root) and
// return 0 (or a host fd) or a negative wasm errno. Not thread-safe (owned by
// one FileSystem).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "vfs/host_dir.h"
#include "vfs/layer_stack.h"
#include "vfs/layered_file.h"
#include "vfs/types.h"

namespace pgthaw::vfs {

class OverlayDir {
 public:
  static constexpr std::string_view kMetaDirName = ".pgthaw-overlay";

  // Opens both layers, creates the metadata directory in upper if missing,
  // removes stray copy-up temporaries and loads the hidden set. `durable`
  // makes metadata writes and copy-ups synced.
  // `lower_dirs` bottom first.
  static Result<std::unique_ptr<OverlayDir>> open(const std::vector<std::string>& lower_dirs,
                                                  const std::string& upper_dir, bool durable);
  ~OverlayDir();
  OverlayDir(const OverlayDir&) = delete;
  OverlayDir& operator=(const OverlayDir&) = delete;

  const HostDir& upper() const { return *upper_; }

  // True for the metadata directory and anything below it.
  static bool is_meta(std::string_view rel);
  // True if `rel` in lower is not hidden (says nothing about existence).
  bool lower_visible(std::string_view rel) const;

  // Which layer serves `rel`: 1 upper, 2 lower, or a negative errno. *st is
  // that layer's lstat.
  static constexpr int kUpper = 1;
  static constexpr int kLower = 2;
  int locate(std::string_view rel, Stat* st) const;

  int stat(std::string_view rel, Stat* st) const;  // lstat semantics
  // Opens for the guest with host flags (see to_host_open_flags). A name
  // served by lower is opened read-only there and *from_lower is set; the
  // caller copies up first when O_TRUNC is asked. O_CREAT of a new name
  // creates it in upper (parent directories copied up). A file whose bytes
  // span layers (a partial copy, here or below) also gets *layered: reads,
  // writes, truncation and syncs of it must go through that.
  int open(std::string_view rel, int host_flags, uint32_t mode, bool* from_lower,
           std::shared_ptr<LayeredFile>* layered);
  // The LayeredFile of upper's partial copy of `rel`; null if upper's copy
  // is whole (or absent).
  int partial_upper(std::string_view rel, std::shared_ptr<LayeredFile>* out);
  // A reader of regular file `rel` in the merged view.
  int open_reader(std::string_view rel, std::shared_ptr<LayeredFile>* out);
  // truncate(2) of upper's `rel`, partial or not.
  int truncate(std::string_view rel, int64_t length);
  int mkdir(std::string_view rel, uint32_t mode);
  // Records a whiteout when lower has the name, then removes the upper one.
  int unlink(std::string_view rel, bool is_dir);
  // REQUIRES: `old_rel` is not lower-only if it is a file (the caller copied
  // it up). A directory that has lower contents cannot move: EXDEV (as
  // overlayfs without redirect_dir).
  int rename(std::string_view old_rel, std::string_view new_rel);
  // REQUIRES: `old_rel` was copied up.
  int link(std::string_view old_rel, std::string_view new_rel);
  int readlink(std::string_view rel, std::string* target) const;
  // The merged entries of directory `rel`, without "." and "..".
  int list(std::string_view rel, std::vector<DirEntry>* out) const;
  // fsync of the upper directory `rel` when it exists (durable only).
  int sync_dir(std::string_view rel) const;
  // Syncs the upper directories that copy-ups added entries to since the
  // last call. The FileSystem calls it before every fsync it passes on and
  // before a snapshot: a copied-up name must be durable by the time Postgres
  // relies on the file, not when the copy is made (a crash before that
  // loses the copy, and the lower file shows again, as an unsynced write is
  // lost). What a copy's correctness needs in order (the copy's bytes, a
  // chunk map before its file's name) is still synced at once.
  int sync_owed();

  // Copies lower-only `rel` up (a directory: creates it in upper), keeping
  // at most `max_bytes` of a file. 0 if `rel` is already in upper.
  int copy_up(std::string_view rel, int64_t max_bytes);
  // A private read-write copy of an open lower file that has no name any
  // more (a description whose lower name was removed): a host fd to an
  // unlinked file in the metadata directory. `layered` (may be null) when
  // the lower file's bytes span layers.
  int copy_to_anonymous(int lower_fd, const LayeredFile* layered);

  // Makes every partial copy in upper whole (its chunk maps gone): upper
  // then reads the same with no map, as it must where the map's file
  // identity does not hold (upper copied to another machine).
  int make_all_whole();
  // For tests: the hidden paths.
  const std::set<std::string, std::less<>>& hidden_for_test() const { return hidden_; }

 private:
  OverlayDir(std::unique_ptr<LayerStack> lower, std::unique_ptr<HostDir> upper, bool durable)
      : lower_(std::move(lower)), upper_(std::move(upper)), durable_(durable) {}

  // The metadata directory (stray temporaries removed) and, if it has one,
  // the whiteout log.
  Status init_meta();
  // init_meta() unless done.
  int ensure_meta();
  // Opens the whiteout log (created on the first whiteout), cutting off a
  // torn last record.
  Status open_log();
  int add_hidden(std::string_view rel);
  // Creates the upper directories of `dir_rel` (itself included) that only
  // lower has, with lower's modes.
  int copy_up_dirs(std::string_view dir_rel);
  // The merged view has `dir_rel` as a directory: 0, -ENOENT or -ENOTDIR.
  int check_dir(std::string_view dir_rel) const;
  // Queues the sync of `rel`'s parent for sync_owed() (durable only).
  void owe_sync_of_parent(std::string_view rel);
  std::string temp_name();
  // Writes the sparse copy and its map, then renames it into place.
  int copy_up_partial(std::string_view rel, const Stat& st);
  // Copies up the rest of partial `rel`: upper's copy is whole after it.
  int make_whole(std::string_view rel);
  // Upper's `rel` is gone or replaced: its map (if any) is retired.
  void retire_map(std::string_view rel);
  bool upper_partial_name(std::string_view rel) const;

  std::unique_ptr<LayerStack> lower_;
  std::unique_ptr<HostDir> upper_;
  bool durable_;
  bool meta_ready_ = false;  // the metadata directory exists
  int log_fd_ = -1;          // the whiteouts log, O_WRONLY | O_APPEND; -1 until one is needed
  uint64_t next_temp_ = 0;
  std::set<std::string, std::less<>> hidden_;
  std::set<std::string, std::less<>> partial_;  // escaped names of upper's chunk maps
  std::map<std::string, std::weak_ptr<LayeredFile>, std::less<>> live_;
  std::set<std::string, std::less<>> owed_syncs_;  // upper directories, see sync_owed()
};

}  // namespace pgthaw::vfs
