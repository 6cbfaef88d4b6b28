// thaw_measure: timing loops of bench_thaw's pgthaw sections. Only the
// engine calls are inside a Stopwatch; encoding requests, checking replies,
// Abandon() and directory clean-up are outside.
#include "thaw_measure.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <vector>

#include "../engine/stopwatch.h"
#include "engine/tenant_store.h"
#include "tenant_sql.h"

namespace pgthaw::bench {
namespace {

namespace fs = std::filesystem;
using engine::Instance;
using engine::OpenReport;

const char* kind_name(OpenReport::Kind kind) {
  switch (kind) {
    case OpenReport::kCreated:
      return "created";
    case OpenReport::kThawed:
      return "thawed";
    case OpenReport::kBooted:
      return "booted";
  }
  return "?";
}

Status expect_kind(const OpenReport& report, OpenReport::Kind want, const std::string& root) {
  if (report.kind == want) return Status::Ok();
  std::string msg = "open_tenant(" + root + ") " + kind_name(report.kind) +
                    " the tenant, expected " + kind_name(want);
  if (!report.fallback_reason.empty()) msg += " (" + report.fallback_reason + ")";
  return Status::Internal(msg);
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) std::fprintf(stderr, "bench_thaw: rm -r %s: %s\n", path.c_str(), ec.message().c_str());
}

// Bytes of the files under DIR: on disk (st_blocks) and apparent (st_size).
void tree_bytes(const std::string& dir, int64_t* on_disk, int64_t* apparent) {
  *on_disk = *apparent = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    *on_disk += static_cast<int64_t>(st.st_blocks) * 512;
    *apparent += st.st_size;
  }
}

// One new tenant at ROOT: open_tenant + first `select 1` (timed), then
// Abandon() unless KEEP receives the instance.
Status new_tenant(const engine::Engine& engine, const engine::Template& tmpl,
                  const std::string& root, const std::string& select1, double* open_ms,
                  double* query_ms, std::unique_ptr<Instance>* keep = nullptr) {
  OpenReport report;
  Stopwatch watch;
  auto instance = engine::open_tenant(engine, tmpl, root, &report);
  *open_ms = watch.ElapsedMs();
  if (!instance.ok()) return instance.status().Annotate("open_tenant(" + root + "): ");
  PGTHAW_RETURN_IF_ERROR(expect_kind(report, OpenReport::kCreated, root));
  watch.Restart();
  Result<std::string> reply = instance.value()->Exec(select1);
  *query_ms = watch.ElapsedMs();
  if (!reply.ok()) return reply.status().Annotate("select 1 in " + root + ": ");
  PGTHAW_RETURN_IF_ERROR(check_single_value(reply.value(), "select 1", "1"));
  if (keep != nullptr) {
    *keep = std::move(instance).value();
  } else {
    instance.value()->Abandon();
  }
  return Status::Ok();
}

// Timed indexed query with a key from RNG; checks the row afterwards.
Status timed_indexed_query(Instance& instance, std::mt19937& rng, const ThawConfig& config,
                           double* ms) {
  int id = std::uniform_int_distribution<int>(1, config.table_rows)(rng);
  Result<std::string> request = indexed_query(id);
  if (!request.ok()) return request.status();
  Stopwatch watch;
  Result<std::string> reply = instance.Exec(request.value());
  *ms = watch.ElapsedMs();
  if (!reply.ok()) return reply.status().Annotate(std::string(kIndexedQuerySql) + ": ");
  return check_indexed_reply(reply.value(), id, config.pad_bytes);
}

// Prints "label i/n" about ten times per loop.
void progress(const char* label, int done, int total) {
  if (total >= 10 && done % (total / 10) != 0 && done != total) return;
  std::fprintf(stderr, "bench_thaw:   %s %d/%d\n", label, done, total);
}

}  // namespace

Status measure_new_tenants(const engine::Engine& engine, const engine::Template& tmpl,
                           const std::string& dir, const ThawConfig& config,
                           NewTenantFigures* out) {
  Result<std::string> select1 = simple_query("select 1");
  if (!select1.ok()) return select1.status();
  for (int i = 0; i < config.warmup_tenants; ++i) {
    std::string root = dir + "/warmup" + std::to_string(i);
    double open_ms = 0, query_ms = 0;
    PGTHAW_RETURN_IF_ERROR(new_tenant(engine, tmpl, root, select1.value(), &open_ms, &query_ms));
    if (i == 0) out->first_in_process_ms = open_ms + query_ms;
    remove_tree(root);
  }
  std::vector<double> total, open, query;
  for (int i = 0; i < config.new_tenants; ++i) {
    std::string root = dir + "/t" + std::to_string(i);
    double open_ms = 0, query_ms = 0;
    PGTHAW_RETURN_IF_ERROR(new_tenant(engine, tmpl, root, select1.value(), &open_ms, &query_ms));
    open.push_back(open_ms);
    query.push_back(query_ms);
    total.push_back(open_ms + query_ms);
    remove_tree(root);
    progress("new tenants", i + 1, config.new_tenants);
  }
  out->total_ms = summarize(total);
  out->open_ms = summarize(open);
  out->first_query_ms = summarize(query);
  return Status::Ok();
}

Status measure_memory(const engine::Engine& engine, const engine::Template& tmpl,
                      const std::string& dir, const ThawConfig& config, MemoryFigures* out) {
  Result<std::string> select1 = simple_query("select 1");
  if (!select1.ok()) return select1.status();
  Result<MemoryRollup> before = read_memory_rollup();
  if (!before.ok()) return before.status();
  out->before = before.value();

  std::vector<std::unique_ptr<Instance>> alive;
  Status st;
  for (int i = 0; i < config.memory_tenants && st.ok(); ++i) {
    std::unique_ptr<Instance> instance;
    double open_ms = 0, query_ms = 0;
    st = new_tenant(engine, tmpl, dir + "/t" + std::to_string(i), select1.value(), &open_ms,
                    &query_ms, &instance);
    if (st.ok()) alive.push_back(std::move(instance));
    progress("tenants alive", i + 1, config.memory_tenants);
  }
  Result<MemoryRollup> after = read_memory_rollup();
  for (std::unique_ptr<Instance>& instance : alive) instance->Abandon();
  size_t count = alive.size();
  alive.clear();
  remove_tree(dir);
  if (!st.ok()) return st.Annotate("after " + std::to_string(count) + " live tenants: ");
  if (!after.ok()) return after.status();
  out->after = after.value();
  Result<MemoryRollup> released = read_memory_rollup();
  if (released.ok()) out->released = released.value();

  out->tenants = static_cast<int>(count);
  double per = 1024.0 * static_cast<double>(count);
  out->pss_per_tenant_mb = static_cast<double>(out->after.pss_kb - out->before.pss_kb) / per;
  out->uss_per_tenant_mb = static_cast<double>(out->after.uss_kb - out->before.uss_kb) / per;
  out->rss_per_tenant_mb = static_cast<double>(out->after.rss_kb - out->before.rss_kb) / per;
  return Status::Ok();
}

Status measure_hibernated(const engine::Engine& engine, const engine::Template& tmpl,
                          const std::string& root, const ThawConfig& config,
                          HibernatedFigures* out) {
  // The tenant: new from the template, then the table, then hibernated.
  {
    OpenReport report;
    auto instance = engine::open_tenant(engine, tmpl, root, &report);
    if (!instance.ok()) return instance.status().Annotate("open_tenant(" + root + "): ");
    PGTHAW_RETURN_IF_ERROR(expect_kind(report, OpenReport::kCreated, root));
    Instance& db = *instance.value();
    auto created = run_sql(db, "create table big (id int primary key, pad text)");
    if (!created.ok()) return created.status();
    std::string load = "insert into big select i, left(repeat(md5(i::text), " +
                       std::to_string(config.pad_bytes / 32 + 1) + "), " +
                       std::to_string(config.pad_bytes) + ") from generate_series(1, " +
                       std::to_string(config.table_rows) + ") i";
    Stopwatch watch;
    auto loaded = run_sql(db, load);
    out->load_ms = watch.ElapsedMs();
    if (!loaded.ok()) return loaded.status();
    auto analyzed = run_sql(db, "analyze big");
    if (!analyzed.ok()) return analyzed.status();
    Result<std::string> size = run_scalar(db, "select pg_total_relation_size('big')");
    if (!size.ok()) return size.status();
    out->relation_bytes = std::strtoll(size.value().c_str(), nullptr, 10);
    PGTHAW_RETURN_IF_ERROR(engine::hibernate_tenant(std::move(instance).value(), root)
                               .Annotate("hibernate_tenant(" + root + "): "));
  }

  std::mt19937 rng(20240611);
  std::vector<double> total, thaw, query, hibernate;
  for (int i = 0; i < config.thaw_cycles; ++i) {
    OpenReport report;
    Stopwatch watch;
    auto instance = engine::open_tenant(engine, tmpl, root, &report);
    double thaw_ms = watch.ElapsedMs();
    if (!instance.ok()) return instance.status().Annotate("open_tenant(" + root + "): ");
    PGTHAW_RETURN_IF_ERROR(expect_kind(report, OpenReport::kThawed, root));
    double query_ms = 0;
    PGTHAW_RETURN_IF_ERROR(timed_indexed_query(*instance.value(), rng, config, &query_ms));
    thaw.push_back(thaw_ms);
    query.push_back(query_ms);
    total.push_back(thaw_ms + query_ms);
    watch.Restart();
    Status st = engine::hibernate_tenant(std::move(instance).value(), root);
    hibernate.push_back(watch.ElapsedMs());
    PGTHAW_RETURN_IF_ERROR(st.Annotate("hibernate_tenant(" + root + "): "));
    progress("hibernate/thaw cycles", i + 1, config.thaw_cycles);
  }
  tree_bytes(root + "/snapshot", &out->snapshot_bytes, &out->snapshot_apparent_bytes);
  out->total_ms = summarize(total);
  out->thaw_ms = summarize(thaw);
  out->query_ms = summarize(query);
  out->hibernate_ms = summarize(hibernate);
  return Status::Ok();
}

Status measure_boot(const engine::Engine& engine, const engine::Template& tmpl,
                    const std::string& root, const ThawConfig& config, BootFigures* out) {
  // Thaw once and shut down cleanly: from here on only the files exist.
  {
    OpenReport report;
    auto instance = engine::open_tenant(engine, tmpl, root, &report);
    if (!instance.ok()) return instance.status().Annotate("open_tenant(" + root + "): ");
    PGTHAW_RETURN_IF_ERROR(instance.value()->Close().Annotate("Close(" + root + "): "));
  }
  if (fs::exists(root + "/snapshot")) {
    return Status::Internal(root + "/snapshot still exists after a thaw and Close()");
  }
  const std::string data = root + "/data";
  const std::vector<std::string> lower = engine::tenant_layers(root);

  std::mt19937 rng(20240612);
  std::vector<double> total, boot, query, close;
  for (int i = 0; i < config.boot_repeats; ++i) {
    Stopwatch watch;
    auto instance = Instance::Boot(engine, data, lower);
    double boot_ms = watch.ElapsedMs();
    if (!instance.ok()) return instance.status().Annotate("Instance::Boot(" + data + "): ");
    double query_ms = 0;
    PGTHAW_RETURN_IF_ERROR(timed_indexed_query(*instance.value(), rng, config, &query_ms));
    boot.push_back(boot_ms);
    query.push_back(query_ms);
    total.push_back(boot_ms + query_ms);
    watch.Restart();
    Status st = instance.value()->Close();
    close.push_back(watch.ElapsedMs());
    PGTHAW_RETURN_IF_ERROR(st.Annotate("Close(" + data + "): "));
    progress("boots", i + 1, config.boot_repeats);
  }
  out->total_ms = summarize(total);
  out->boot_ms = summarize(boot);
  out->query_ms = summarize(query);
  out->close_ms = summarize(close);
  return Status::Ok();
}

}  // namespace pgthaw::bench
