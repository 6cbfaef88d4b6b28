// A tenant's directory and its life cycle: create, hibernate, thaw.
//
//   ROOT/data       the tenant's data directory (an overlay on the template's)
//   ROOT/lower      the overlay's lower directory, one line (absent: none)
//   ROOT/snapshot/  present while the tenant is hibernated
//
// open_tenant() thaws a hibernated tenant from its snapshot; if the snapshot
// is missing, truncated, corrupt or from another build it boots the tenant
// from its files instead (Postgres' crash recovery replays the WAL) and logs
// why. A tenant with no database yet starts from the template.
// hibernate_tenant() snapshots an idle tenant and releases its memory.
#pragma once

#include <memory>
#include <string>

#include "engine/data_dir_archive.h"
#include "engine/instance.h"
#include "engine/template.h"

namespace pgthaw::engine {

struct OpenReport {
  enum Kind { kCreated, kThawed, kBooted };
  Kind kind = kCreated;
  std::string fallback_reason;  // why a snapshot was not used (kBooted)
};

Result<std::unique_ptr<Instance>> open_tenant(const Engine& engine, const Template& tmpl,
                                              const std::string& root, OpenReport* report);

// A data-directory archive (data_dir_archive.h) becomes the tenant at
// ROOT, which must not exist: its files are ROOT/data, with no lower layer
// and no snapshot, so open_tenant() boots it (recovering it if the
// database was not shut down cleanly). Nothing is left at ROOT on failure.
Status import_tenant(const std::string& archive, const std::string& root,
                     const ArchiveLimits& limits);
// The tenant's data directory (its merged view) as an archive PGlite's
// loadDataDir() reads. The tenant's instance, if any, must be idle.
Status export_tenant(const std::string& root, const std::string& out, bool gzip);

// Snapshots `instance` into ROOT/snapshot and releases it. On failure the
// instance is closed cleanly instead, so nothing is lost either way.
Status hibernate_tenant(std::unique_ptr<Instance> instance, const std::string& root);

}  // namespace pgthaw::engine
