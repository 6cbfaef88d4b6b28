// engine::Template: the blank database every new tenant starts from.
//
// Built once per build of pgthaw under ROOT/template-<build id>/: initdb into
// data/, boot, run a first query (so catalog caches are warm), snapshot to
// snapshot/, and abandon the instance without shutting it down, so data/
// stays exactly as the snapshot's memory expects. From then on data/ is only
// ever read: each tenant's data directory is an overlay on it and each
// tenant's memory maps the snapshot's image copy-on-write. Creating a tenant
// copies no files and runs no guest code.
//
// Thread-safe after Ensure().
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "engine/instance.h"

namespace pgthaw::engine {

class Template {
 public:
  // Opens the template of this build under `root`, building it if missing.
  // Several processes may race: building happens under a file lock.
  static Result<Template> Ensure(const Engine& engine, const std::string& root);

  // A new tenant whose (empty or absent) data directory is `data_dir`.
  Result<std::unique_ptr<Instance>> NewTenant(const std::string& data_dir) const;

  const std::string& data_dir() const { return data_dir_; }
  const std::string& snapshot_dir() const { return snapshot_dir_; }
  const std::string& dir() const { return dir_; }
  // Where Ensure(engine, root) keeps this build's template.
  static std::string HomeUnder(const std::string& root);

 private:
  Template(const Engine& engine, std::string dir);
  const Engine* engine_;
  std::string dir_, data_dir_, snapshot_dir_;
};

// The SQL run before the template is captured: what a first query needs
// cached (relation and type lookups, the planner's catalogs).
// Also drops the encoding conversions: every conversion module of PGlite's
// build needs helpers its main module does not export (LocalToUtf,
// latin2mic, pg_utf8_islegal...), so a client encoding other than UTF8 would
// fail on every message. Without them Postgres refuses such an encoding
// when it is set, and convert() reports the missing conversion, in its own
// words.
inline constexpr const char* kTemplateWarmupSql =
    "delete from pg_conversion;"
    " select 1; select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace;"
    " select oid, typname from pg_type where oid = 23";

}  // namespace pgthaw::engine
