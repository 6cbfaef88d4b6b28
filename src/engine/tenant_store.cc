#include "engine/tenant_store.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

namespace pgthaw::engine {

namespace fs = std::filesystem;

namespace {

std::string read_lower(const std::string& root) {
  std::ifstream in(root + "/lower");
  std::string lower;
  std::getline(in, lower);
  return lower;
}

Status write_lower(const std::string& root, const std::string& lower) {
  std::string tmp = root + "/lower.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << lower << "\n";
    out.flush();
    if (!out) return Status::IoError("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, root + "/lower", ec);
  return ec ? Status::FromErrno("rename " + tmp, ec.value()) : Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Instance>> open_tenant(const Engine& engine, const Template& tmpl,
                                              const std::string& root, OpenReport* report) {
  std::string data = root + "/data", snapshot = root + "/snapshot";
  std::error_code ec;
  if (fs::exists(snapshot + "/meta.json")) {
    auto thawed = Instance::Restore(engine, snapshot, data, /*consume=*/true);
    if (thawed.ok()) {
      report->kind = OpenReport::kThawed;
      return thawed;
    }
    report->fallback_reason = thawed.status().ToString();
    spdlog::warn("tenant {}: snapshot not used ({}); booting from files", root,
                 report->fallback_reason);
    fs::remove_all(snapshot, ec);
  } else if (fs::exists(snapshot)) {
    report->fallback_reason = "snapshot incomplete (no meta.json)";
    fs::remove_all(snapshot, ec);
  }
  std::string lower = read_lower(root);
  if (!lower.empty() || fs::exists(data + "/PG_VERSION")) {
    report->kind = OpenReport::kBooted;
    return Instance::Boot(engine, data, lower);
  }
  // A new tenant: its data directory is an overlay on the template's.
  fs::create_directories(data, ec);
  if (ec) return Status::FromErrno("mkdir " + data, ec.value());
  PGTHAW_RETURN_IF_ERROR(write_lower(root, tmpl.data_dir()));
  report->kind = OpenReport::kCreated;
  return tmpl.NewTenant(data);
}

Status import_tenant(const std::string& archive, const std::string& root,
                     const ArchiveLimits& limits) {
  std::error_code ec;
  if (fs::exists(root, ec)) return Status::AlreadyExists(root + " exists");
  fs::create_directory(root, ec);
  if (ec) return Status::FromErrno("mkdir " + root, ec.value());
  Status st = extract_data_dir(archive, root + "/data", limits);
  if (!st.ok()) {
    fs::remove_all(root, ec);
    return st;
  }
  return Status::Ok();
}

Status export_tenant(const std::string& root, const std::string& out, bool gzip) {
  return archive_data_dir(root + "/data", read_lower(root), out, gzip);
}

Status hibernate_tenant(std::unique_ptr<Instance> instance, const std::string& root) {
  Status st = instance->Snapshot(root + "/snapshot");
  if (st.ok()) {
    instance->Abandon();
    return st;
  }
  spdlog::warn("tenant {}: snapshot failed ({}); shutting down instead", root, st.ToString());
  return instance->Close();
}

}  // namespace pgthaw::engine
