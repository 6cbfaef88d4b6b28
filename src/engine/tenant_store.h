// Where tenants live and their life cycle: create, hibernate, thaw, fork.
// This file alone knows the layout; other layers ask it for paths.
//
//   DATA_ROOT/tenants/ID/     a tenant's ROOT (below)
//   DATA_ROOT/layers/NAME/    a frozen LAYER a fork or a flattening made
//   DATA_ROOT/pool/slot-N/    a warm pool's blank tenant, laid out as a ROOT
//   DATA_ROOT/trash/          what is staged or being removed (emptied at
//                             every start: nothing there is anybody's)
//
//   ROOT/data       the tenant's data directory (an overlay on the template's)
//   ROOT/lower      the overlay's lower layers, one per line, bottom first:
//                   the template's data directory, then the frozen layers
//                   of the forks it descends from (absent: a plain data dir);
//                   named relative to DATA_ROOT
//                   (template-BUILD/data, layers/NAME/data)
//   ROOT/snapshot/  present while the tenant is hibernated
//   ROOT/settings.json  the tenant's own settings (runtime/tenant_settings.h)
//   LAYER/data      a frozen layer: what a tenant's data directory was when
//                   it was forked (never written again)
//   LAYER/refs/ID   one empty file per tenant whose stack holds the layer
//
// open_tenant() thaws a hibernated tenant from its snapshot; if the snapshot
// is missing, truncated, corrupt or from another build it boots the tenant
// from its files instead (Postgres' crash recovery replays the WAL) and logs
// why. A tenant with no database yet starts from the template.
// hibernate_tenant() snapshots an idle tenant and releases its memory.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "engine/data_dir_archive.h"
#include "engine/instance.h"
#include "engine/template.h"

namespace pgthaw::engine {

// The paths of the layout above under one data root. Cheap to copy.
class TenantStore {
 public:
  explicit TenantStore(const std::string& data_root);

  const std::string& tenants_dir() const { return tenants_; }
  const std::string& trash_dir() const { return trash_; }
  const std::string& pool_dir() const { return pool_; }
  // Tenant `id`'s ROOT (the id is not checked here).
  std::string root(const std::string& id) const { return tenants_ + "/" + id; }
  bool exists(const std::string& id) const;
  // Warm pool slot `n`.
  std::string pool_slot(uint64_t n) const;

  // What a scratch path in the trash is for.
  enum class Staging { kDeleted, kFork, kImport, kWork, kPull };
  // A path in the trash for `id`, unique for a `seq` never used before in
  // this process.
  std::string staging_path(Staging what, const std::string& id, uint64_t seq) const;
  // The home of a new frozen layer of tenant `id` (a fork's, or a
  // flattening's), unique for a new `seq` in this process and across
  // processes.
  std::string fork_layer_root(const std::string& id, uint64_t seq) const;
  std::string flat_layer_root(const std::string& id, uint64_t seq) const;
  // Makes the trash and layer directories a fork or an import stages in.
  Status MakeStagingDirs() const;

  const std::string& data_root() const { return data_root_; }
  // What a hibernated tenant is anywhere (runtime/tenant_replica.h), as
  // paths relative to its ROOT, directories before what they hold: its
  // data directory's own layer (whiteouts kept, copy-up bookkeeping not),
  // its layer list, snapshot and settings. Partial copy-ups are made whole
  // first: a chunk map names the local file it belongs to. InvalidArgument
  // for a tenant that stacks on frozen fork layers (not portable yet).
  struct PortableEntry {
    std::string rel;
    bool dir = false;
  };
  Result<std::vector<PortableEntry>> PortableFiles(const std::string& root, bool durable) const;
  // Everything under DIR the same way (a template's directory).
  static Result<std::vector<PortableEntry>> TreeFiles(const std::string& dir);
  // Whether `rel` may be a path of a tenant's portable files: what a pulled
  // manifest names is checked with it before anything is written.
  static bool portable_tenant_path(const std::string& rel);

  // About the tenant at ROOT:
  static bool hibernated(const std::string& root);    // a whole snapshot
  static bool has_data_dir(const std::string& root);  // a tenant, not debris
  static std::string settings_file(const std::string& root);

 private:
  std::string data_root_, tenants_, layers_, pool_, trash_;
};

struct OpenReport {
  enum Kind { kCreated, kThawed, kBooted };
  Kind kind = kCreated;
  std::string fallback_reason;  // why a snapshot was not used (kBooted)
};

Result<std::unique_ptr<Instance>> open_tenant(const Engine& engine, const Template& tmpl,
                                              const std::string& root, OpenReport* report);

// A new tenant at ROOT (made here; its parent must exist): an empty data
// directory over the template's, and its instance restored from the
// template. Its layer list is durable before its first commit: owed to the
// instance's first durable write, or, when the caller renames ROOT before
// use (a pool slot, where paths owed a sync would be stale), written with
// `durable` now.
Result<std::unique_ptr<Instance>> create_tenant(const Template& tmpl, const std::string& root,
                                                bool durable, bool renamed_later);

// A data-directory archive (data_dir_archive.h) becomes the tenant at
// ROOT, which must not exist: its files are ROOT/data, with no lower layer
// and no snapshot, so open_tenant() boots it (recovering it if the
// database was not shut down cleanly). Nothing is left at ROOT on failure.
Status import_tenant(const std::string& archive, const std::string& root,
                     const ArchiveLimits& limits);
// The tenant's data directory (its merged view) as an archive PGlite's
// loadDataDir() reads. The tenant's instance, if any, must be idle.
Status export_tenant(const std::string& root, const std::string& out, bool gzip);

// After a thawed tenant's first reply: removes what is left of the
// snapshot it thawed from (consume_snapshot), off the thaw's path.
void finish_thaw(const std::string& root);

// Snapshots `instance` into ROOT/snapshot and releases it. On failure the
// instance is closed cleanly instead, so nothing is lost either way.
Status hibernate_tenant(std::unique_ptr<Instance> instance, const std::string& root);

// The most layers a tenant's overlay stacks (the template and frozen
// layers); a fork of a tenant at the bound is refused.
inline constexpr size_t kMaxLowerLayers = 16;

struct ForkPlan {
  std::string source_root, source_id;
  std::string staging_root, fork_id;  // staged here; the caller renames it into place
  std::string layer_root;             // the new layer's home (must not exist)
};
// Forks the tenant at plan.source_root, which has no live instance,
// without copying its files: they become the frozen layer under an empty
// data directory of the source's own and one of the fork's (staged, with
// the same layers and, if the source is hibernated, its snapshot by hard
// links). Crash-safe: the source is whole at every step (a fork cut short
// is finished or undone when the source next opens); a crash leaves at
// most the staged fork behind. ResourceExhausted past kMaxLowerLayers.
Status fork_tenant(const ForkPlan& plan, bool durable);
// Stacks deeper than this are flattened in the background after a fork.
inline constexpr size_t kCompactAbove = 6;

// The frozen layers of `layers` above the first one (frozen: with refs/;
// not the template) copied into one new layer at LAYER_ROOT (must not
// exist), for tenant `id`: the merged view of their files, and a whiteout
// log of every path they hide of the layers below them. Reads only frozen
// layers, so it runs outside the tenant's turn. Returns the tenant's new
// list (the template, the first frozen layer, the new one);
// InvalidArgument when there are fewer than two to merge; `stop` true gives
// up (Aborted, nothing left behind).
Result<std::vector<std::string>> flatten_layers(const std::vector<std::string>& layers,
                                                const std::string& layer_root,
                                                const std::string& id,
                                                const std::atomic<bool>& stop, bool durable);
// Puts `flat` (flatten_layers' list) in force for the tenant at ROOT, which
// has no live instance, if its layers still start with `layers` (forks
// since then only added layers on top, which stay on top), and releases
// those it no longer uses. False, and nothing changed, otherwise.
Result<bool> adopt_flattened(const std::string& root, const std::string& id,
                             const std::vector<std::string>& layers,
                             const std::vector<std::string>& flat, const std::string& trash,
                             bool durable);

// The tenant at ROOT's overlay layers, bottom first (empty: none).
std::vector<std::string> tenant_layers(const std::string& root);
// Tenant `id`, whose directory is gone, no longer uses `layers` (what
// tenant_layers() said before it went): each layer it was the last user of
// is removed (moved into `trash` first). A crash in between leaves a layer
// nobody uses, never a tenant without its layer.
Status release_layers(const std::vector<std::string>& layers, const std::string& id,
                      const std::string& trash);

}  // namespace pgthaw::engine
