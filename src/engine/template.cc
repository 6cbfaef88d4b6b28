#include "engine/template.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>

#include "common/build_id.h"
#include "engine/connection_views.h"
#include "engine/snapshot.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"

namespace pgthaw::engine {

namespace fs = std::filesystem;

namespace {

// Runs `sql` (a simple Query) on the template's instance; any statement's
// error fails the build: a template short of its views or warm-up would be
// a silent regression for every tenant made from it.
Status run_template_sql(Instance& instance, const char* sql) {
  std::string query;
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(query, sql));
  auto reply = instance.Exec(query);
  if (!reply.ok()) return reply.status();
  auto results = pgwire::collect_results(*reply);
  if (!results.ok()) return results.status();
  for (const pgwire::StatementResult& result : *results) {
    if (result.error) return Status::Internal("template SQL: " + result.error->summary());
  }
  return Status::Ok();
}

}  // namespace

Template::Template(const Engine& engine, std::string dir)
    : engine_(&engine),
      dir_(std::move(dir)),
      data_dir_(dir_ + "/data"),
      snapshot_dir_(dir_ + "/snapshot") {}

std::string Template::HomeUnder(const std::string& root) { return root + "/template-" + build_id(); }

Result<Template> Template::Ensure(const Engine& engine, const std::string& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::FromErrno("mkdir " + root, ec.value());
  Template t(engine, HomeUnder(root));
  if (fs::exists(t.snapshot_dir_ + "/meta.json")) {
    // Its image is read and verified now, once per engine, so that the
    // first instance made from it (a warm proxy's first request, a pool
    // slot) does not wait for the hash of the whole image. A damaged one is
    // reported by that first restore, as before.
    (void)engine.snapshots().ReadKept(t.snapshot_dir_);
    return t;
  }

  std::string lock_path = root + "/.template.lock";
  int lock = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) return Status::FromErrno("open " + lock_path, errno);
  flock(lock, LOCK_EX);
  Status st;
  if (!fs::exists(t.snapshot_dir_ + "/meta.json")) {
    // A half-built template from a crash is rebuilt from scratch.
    fs::remove_all(t.dir_, ec);
    auto instance = Instance::Boot(engine, t.data_dir_);
    if (!instance.ok()) {
      st = instance.status();
    } else {
      st = run_template_sql(**instance, kConnectionViewsSql);
      if (st.ok()) st = run_template_sql(**instance, kTemplateWarmupSql);
      if (st.ok()) st = (*instance)->Snapshot(t.snapshot_dir_);
      (*instance)->Abandon();
    }
  }
  flock(lock, LOCK_UN);
  close(lock);
  if (!st.ok()) return st.Annotate("building the template: ");
  return t;
}

Result<std::unique_ptr<Instance>> Template::NewTenant(const std::string& data_dir) const {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return Status::FromErrno("mkdir " + data_dir, ec.value());
  return Instance::Restore(*engine_, snapshot_dir_, data_dir, /*consume=*/false, {data_dir_});
}

}  // namespace pgthaw::engine
