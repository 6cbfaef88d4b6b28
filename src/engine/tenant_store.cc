#include "engine/tenant_store.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "common/durable_file.h"
#include "common/env.h"
#include "engine/snapshot.h"
#include "host/layer_flattening.h"

namespace pgthaw::engine {

namespace fs = std::filesystem;

namespace {

const char* staging_name(TenantStore::Staging what) {
  switch (what) {
    case TenantStore::Staging::kDeleted:
      return "deleted";
    case TenantStore::Staging::kFork:
      return "fork";
    case TenantStore::Staging::kImport:
      return "import";
    case TenantStore::Staging::kWork:
      return "work";
    case TenantStore::Staging::kPull:
      return "pull";
  }
  return "staged";
}

}  // namespace

TenantStore::TenantStore(const std::string& data_root)
    : data_root_(data_root),
      tenants_(data_root + "/tenants"),
      layers_(data_root + "/layers"),
      pool_(data_root + "/pool"),
      trash_(data_root + "/trash") {}

bool TenantStore::exists(const std::string& id) const {
  std::error_code ec;
  return fs::exists(root(id), ec);
}

std::string TenantStore::pool_slot(uint64_t n) const {
  return pool_ + "/slot-" + std::to_string(n);
}

std::string TenantStore::staging_path(Staging what, const std::string& id, uint64_t seq) const {
  return trash_ + "/" + staging_name(what) + "." + id + "." + std::to_string(seq);
}

// The pid tells apart the layers of processes that used the data root
// before (a layer outlives the process that made it).
std::string TenantStore::fork_layer_root(const std::string& id, uint64_t seq) const {
  return layers_ + "/" + id + "." + std::to_string(seq) + "." + std::to_string(::getpid());
}

std::string TenantStore::flat_layer_root(const std::string& id, uint64_t seq) const {
  return layers_ + "/" + id + ".flat." + std::to_string(seq) + "." + std::to_string(::getpid());
}

Status TenantStore::MakeStagingDirs() const {
  std::error_code ec;
  fs::create_directories(trash_, ec);
  if (!ec) fs::create_directories(layers_, ec);
  if (ec) return Status::FromErrno("mkdir " + layers_ + " or " + trash_, ec.value());
  return Status::Ok();
}

bool TenantStore::hibernated(const std::string& root) {
  std::error_code ec;
  return fs::exists(root + "/snapshot/meta.json", ec);
}

bool TenantStore::has_data_dir(const std::string& root) {
  std::error_code ec;
  return fs::is_directory(root + "/data", ec);
}

std::string TenantStore::settings_file(const std::string& root) { return root + "/settings.json"; }

namespace {

// Every directory that holds a layer list (tenants/<id>, pool/slot-N,
// trash/<staging>) is two levels below its data root, and so are the layers
// it names (template-<build>/data, layers/<name>): the list names them
// relative to the data root, so that a data root restored elsewhere (another
// path, another machine) still finds them. Absolute entries (older lists,
// layers outside the root) are kept as they are.
std::string data_root_of_list(const std::string& list_path) {
  return fs::path(list_path).parent_path().parent_path().parent_path().string();
}

// A layer list file: one layer per line, bottom first (none: no file). A
// list that is there but cannot be read is an error, never "no layers":
// the tenant's data directory would read as a plain one, without the
// template and frozen layers below it.
Result<std::vector<std::string>> read_layers(const std::string& path) {
  std::vector<std::string> layers;
  auto text = read_whole_file(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return layers;
    return text.status();
  }
  const std::string data_root = data_root_of_list(path);
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t end = std::min(rest.find('\n'), rest.size());
    const std::string_view entry = rest.substr(0, end);
    if (!entry.empty()) {
      layers.push_back(entry.front() == '/' ? std::string(entry)
                                            : data_root + "/" + std::string(entry));
    }
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  return layers;
}

// The overlay's layers of the tenant at `root`, bottom first (none: its
// data directory is a plain one).
Result<std::vector<std::string>> read_lower(const std::string& root) {
  return read_layers(root + "/lower");
}

// Writes the layer list to `path` through a temp file and a rename, synced
// when `durable`.
Status write_layers(const std::string& path, const std::vector<std::string>& layers, bool durable) {
  const std::string under_root = data_root_of_list(path) + "/";
  std::string text;
  for (const std::string& l : layers) {
    const bool relative =
        l.size() > under_root.size() && l.compare(0, under_root.size(), under_root) == 0;
    text += (relative ? l.substr(under_root.size()) : l) + "\n";
  }
  return write_file_atomically(path, text, durable);
}

// A fork cut short (fork_tenant's steps 2-4): finished if the source's files
// already became the frozen layer, else undone. Whether they did is told by
// the frozen layer alone: step 4 may have made the new, empty `data`
// already (and failed at the list's rename), and undoing then would leave
// the tenant an empty upper over its old list, its files lost in a layer
// no list names.
Status recover_fork(const std::string& root, bool durable, bool quiet = false) {
  const std::string next = root + "/lower.fork";
  std::error_code ec;
  if (!fs::exists(next, ec)) return Status::Ok();
  auto read = read_layers(next);
  if (!read.ok()) return read.status();
  const std::vector<std::string>& layers = *read;
  if (layers.empty() || !fs::exists(layers.back(), ec)) {
    fs::remove(next, ec);
    return Status::Ok();
  }
  if (!quiet) spdlog::warn("tenant {}: finishing a fork cut short", root);
  fs::create_directory(root + "/data", ec);
  if (ec) return Status::FromErrno("mkdir " + root + "/data", ec.value());
  if (env().Rename(next.c_str(), (root + "/lower").c_str()) != 0) {
    return Status::FromErrno("rename " + next, errno);
  }
  return durable ? fsync_dir(root) : Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Instance>> open_tenant(const Engine& engine, const Template& tmpl,
                                              const std::string& root, OpenReport* report) {
  std::string data = root + "/data", snapshot = root + "/snapshot";
  std::error_code ec;
  PGTHAW_RETURN_IF_ERROR(recover_fork(root, engine.options().durable));
  // The layers in force now (a fork adds one below a snapshot's).
  auto listed = read_lower(root);
  if (!listed.ok()) return listed.status();
  const std::vector<std::string>& lower = *listed;
  if (fs::exists(snapshot + "/meta.json")) {
    auto thawed = Instance::Restore(engine, snapshot, data, /*consume=*/true, lower);
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
  if (!lower.empty() || fs::exists(data + "/PG_VERSION")) {
    report->kind = OpenReport::kBooted;
    return Instance::Boot(engine, data, lower);
  }
  auto created = create_tenant(tmpl, root, engine.options().durable, /*renamed_later=*/false);
  if (created.ok()) report->kind = OpenReport::kCreated;
  return created;
}

Result<std::unique_ptr<Instance>> create_tenant(const Template& tmpl, const std::string& root,
                                                bool durable, bool renamed_later) {
  // Its data directory is an overlay on the template's.
  const std::string data = root + "/data";
  std::error_code ec;
  fs::create_directories(data, ec);
  if (ec) return Status::FromErrno("mkdir " + data, ec.value());
  PGTHAW_RETURN_IF_ERROR(
      write_layers(root + "/lower", {tmpl.data_dir()}, durable && renamed_later));
  auto created = tmpl.NewTenant(data);
  if (!created.ok() || renamed_later) return created;
  // Without its layer list the tenant's files would read as a plain data
  // directory: the list, and the tenant's entry in its parent, are durable
  // before the tenant's first commit, not before it answers.
  (*created)->OweHostSync(root + "/lower");
  (*created)->OweHostSync(root);
  (*created)->OweHostSync(fs::path(root).parent_path().string());
  return created;
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

void finish_thaw(const std::string& root) { remove_consumed_snapshot(root + "/snapshot"); }

Status export_tenant(const std::string& root, const std::string& out, bool gzip) {
  auto lower = read_lower(root);
  if (!lower.ok()) return lower.status();
  return archive_data_dir(root + "/data", *lower, out, gzip);
}

namespace {

// fork_tenant's freezing of the source's files into plan.layer_root, which
// `layers` (the source's list) gains on top.
Status freeze_upper(const ForkPlan& plan, std::vector<std::string>& layers, bool durable) {
  const std::string src_data = plan.source_root + "/data";
  const std::string frozen = plan.layer_root + "/data";
  std::error_code ec;
  layers.push_back(frozen);
  // 1. The layer's home, with the source as a user (refs/, one empty file
  //    per tenant; the last to go removes the layer).
  fs::create_directories(plan.layer_root + "/refs", ec);
  if (ec) return Status::FromErrno("mkdir " + plan.layer_root, ec.value());
  PGTHAW_RETURN_IF_ERROR(create_marker_file(plan.layer_root + "/refs/" + plan.source_id, durable));
  // 2. The source's next layer list, beside the current one (the intent).
  PGTHAW_RETURN_IF_ERROR(write_layers(plan.source_root + "/lower.fork", layers, durable));
  // 3. The source's files become the frozen layer: a rename, no copy.
  if (env().Rename(src_data.c_str(), frozen.c_str()) != 0) {
    Status failed = Status::FromErrno("rename " + src_data + " to " + frozen, errno);
    fs::remove(plan.source_root + "/lower.fork", ec);
    return failed;
  }
  if (durable) {
    PGTHAW_RETURN_IF_ERROR(fsync_dir(plan.layer_root));
    PGTHAW_RETURN_IF_ERROR(fsync_dir(plan.source_root));
  }
  // 4. An empty upper over it, and the list in force (recover_fork redoes
  //    this after a crash).
  return recover_fork(plan.source_root, durable, /*quiet=*/true);
}

}  // namespace

Status fork_tenant(const ForkPlan& plan, bool durable) {
  const std::string src_data = plan.source_root + "/data";
  std::error_code ec;
  PGTHAW_RETURN_IF_ERROR(recover_fork(plan.source_root, durable));
  auto listed = read_lower(plan.source_root);
  if (!listed.ok()) return listed.status();
  std::vector<std::string> layers = std::move(listed).value();
  if (fs::exists(plan.layer_root, ec) || fs::exists(plan.staging_root, ec)) {
    return Status::AlreadyExists("fork: " + plan.layer_root + " or " + plan.staging_root);
  }
  // A source that wrote nothing since its last fork has nothing to freeze:
  // the fork shares its layers as they are, so forking an idle tenant again
  // and again does not deepen its stack.
  const bool nothing_new = !layers.empty() && fs::is_empty(src_data, ec) && !ec;
  if (!nothing_new) {
    if (layers.size() + 1 > kMaxLowerLayers) {
      return Status::ResourceExhausted("tenant " + plan.source_id + " has " +
                                       std::to_string(layers.size()) +
                                       " layers already, the most a fork may stack on");
    }
    PGTHAW_RETURN_IF_ERROR(freeze_upper(plan, layers, durable));
  }
  // The fork uses every layer of the source.
  for (const std::string& layer : layers) {
    const fs::path refs = fs::path(layer).parent_path() / "refs";
    if (!fs::is_directory(refs, ec)) continue;  // the template's
    PGTHAW_RETURN_IF_ERROR(create_marker_file((refs / plan.fork_id).string(), durable));
  }

  // The fork, staged: an empty upper on the same layers, the source's
  // snapshot (hard links: both restore it, neither writes it).
  fs::create_directories(plan.staging_root + "/data", ec);
  if (ec) return Status::FromErrno("mkdir " + plan.staging_root, ec.value());
  PGTHAW_RETURN_IF_ERROR(write_layers(plan.staging_root + "/lower", layers, durable));
  const std::string snapshot = plan.source_root + "/snapshot";
  if (fs::exists(snapshot + "/meta.json", ec)) {
    const std::string copy = plan.staging_root + "/snapshot";
    fs::create_directory(copy, ec);
    for (const fs::directory_entry& e : fs::directory_iterator(snapshot, ec)) {
      fs::create_hard_link(e.path(), copy + "/" + e.path().filename().string(), ec);
      if (ec) return Status::FromErrno("link " + e.path().string(), ec.value());
    }
    if (durable) PGTHAW_RETURN_IF_ERROR(fsync_dir(copy));
  }
  if (durable) PGTHAW_RETURN_IF_ERROR(fsync_dir(plan.staging_root));
  return Status::Ok();
}

std::vector<std::string> tenant_layers(const std::string& root) {
  auto layers = read_lower(root);
  return layers.ok() ? std::move(layers).value() : std::vector<std::string>{};
}

namespace {

// The overlay's bookkeeping in a data directory's own layer: its whiteouts
// travel (they are paths), its chunk maps and copy-up temporaries do not.
constexpr std::string_view kOverlayMeta = "data/.pgthaw-overlay";
constexpr std::string_view kWhiteouts = "data/.pgthaw-overlay/whiteouts";

bool is_frozen_layer(const std::string& layer);  // below

bool under(std::string_view rel, std::string_view dir) {
  return rel.size() > dir.size() && rel.compare(0, dir.size(), dir) == 0 && rel[dir.size()] == '/';
}

// Regular files and directories under `dir`, relative to it, parents first;
// anything else (a symlink, a socket) is an error: nothing of the kind
// belongs in a tenant.
Status walk_tree(const fs::path& dir, const std::function<bool(const std::string&)>& keep,
                 std::vector<TenantStore::PortableEntry>* out) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string rel = it->path().lexically_relative(dir).string();
    if (!keep(rel)) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    const fs::file_status st = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(st)) {
      out->push_back({rel, true});
    } else if (fs::is_regular_file(st)) {
      out->push_back({rel, false});
    } else {
      return Status::InvalidArgument(it->path().string() + " is neither a file nor a directory");
    }
  }
  if (ec) return Status::FromErrno("list " + dir.string(), ec.value());
  return Status::Ok();
}

}  // namespace

Result<std::vector<TenantStore::PortableEntry>> TenantStore::PortableFiles(const std::string& root,
                                                                           bool durable) const {
  if (!hibernated(root)) return Status::InvalidArgument(root + " is not hibernated");
  auto listed = read_lower(root);
  if (!listed.ok()) return listed.status();
  const std::vector<std::string>& lower = *listed;
  for (const std::string& layer : lower) {
    if (is_frozen_layer(layer)) {
      return Status::InvalidArgument(root + " stacks on fork layers, which are not portable yet");
    }
  }
  if (!lower.empty()) {
    PGTHAW_RETURN_IF_ERROR(host::make_partial_copies_whole(lower, root + "/data", durable));
    // Written again: a list from before lists were relative names this
    // machine's paths.
    PGTHAW_RETURN_IF_ERROR(write_layers(root + "/lower", lower, durable));
  }
  std::vector<PortableEntry> files;
  PGTHAW_RETURN_IF_ERROR(walk_tree(
      root, [](const std::string& rel) { return portable_tenant_path(rel); }, &files));
  return files;
}

Result<std::vector<TenantStore::PortableEntry>> TenantStore::TreeFiles(const std::string& dir) {
  std::vector<PortableEntry> files;
  PGTHAW_RETURN_IF_ERROR(walk_tree(
      dir, [](const std::string&) { return true; }, &files));
  return files;
}

bool TenantStore::portable_tenant_path(const std::string& rel) {
  if (rel.empty() || rel.front() == '/' || rel.find('\0') != std::string::npos) return false;
  for (const auto& part : fs::path(rel)) {
    if (part == "." || part == ".." || part.empty()) return false;
  }
  if (rel == kOverlayMeta || rel == kWhiteouts) return true;
  if (rel == "data") return true;
  if (under(rel, "data")) return !under(rel, kOverlayMeta);
  return rel == "lower" || rel == "settings.json" || rel == "snapshot" || under(rel, "snapshot");
}

namespace {

bool is_frozen_layer(const std::string& layer) {
  std::error_code ec;
  return fs::is_directory(fs::path(layer).parent_path() / "refs", ec);
}

}  // namespace

Result<std::vector<std::string>> flatten_layers(const std::vector<std::string>& layers,
                                                const std::string& layer_root,
                                                const std::string& id,
                                                const std::atomic<bool>& stop, bool durable) {
  // The template and the first frozen layer stay: the first fork's layer
  // holds what the tenant had then (the bulk of it, as a rule), the layers
  // above only what changed since, which is what gets copied.
  std::vector<std::string> kept, frozen;
  for (const std::string& layer : layers) {
    (is_frozen_layer(layer) && std::find_if(kept.begin(), kept.end(), is_frozen_layer) != kept.end()
         ? frozen
         : kept)
        .push_back(layer);
  }
  if (frozen.size() < 2) return Status::InvalidArgument("nothing to flatten");
  const std::string data = layer_root + "/data";
  std::error_code ec;
  fs::create_directories(layer_root + "/refs", ec);
  if (ec) return Status::FromErrno("mkdir " + layer_root, ec.value());
  Status st = host::copy_layers_as_one(frozen, layers, data, stop, durable);
  if (st.ok()) st = create_marker_file(layer_root + "/refs/" + id, durable);
  if (st.ok() && durable) st = fsync_dir(fs::path(layer_root).parent_path().string());
  if (!st.ok()) {
    fs::remove_all(layer_root, ec);
    return st;
  }
  kept.push_back(data);
  return kept;
}

Result<bool> adopt_flattened(const std::string& root, const std::string& id,
                             const std::vector<std::string>& layers,
                             const std::vector<std::string>& flat, const std::string& trash,
                             bool durable) {
  PGTHAW_RETURN_IF_ERROR(recover_fork(root, durable));
  // Forks since the copy only added layers on top: they stay on top.
  auto listed = read_lower(root);
  if (!listed.ok()) return listed.status();
  const std::vector<std::string>& now = *listed;
  if (now.size() < layers.size() || !std::equal(layers.begin(), layers.end(), now.begin())) {
    return false;
  }
  std::vector<std::string> next = flat;
  next.insert(next.end(), now.begin() + static_cast<std::ptrdiff_t>(layers.size()), now.end());
  PGTHAW_RETURN_IF_ERROR(write_layers(root + "/lower", next, durable));
  std::vector<std::string> dropped;
  for (const std::string& layer : layers) {
    if (std::find(flat.begin(), flat.end(), layer) == flat.end()) dropped.push_back(layer);
  }
  PGTHAW_RETURN_IF_ERROR(release_layers(dropped, id, trash));
  return true;
}

Status release_layers(const std::vector<std::string>& layers, const std::string& id,
                      const std::string& trash) {
  std::error_code ec;
  for (const std::string& layer : layers) {
    const fs::path home = fs::path(layer).parent_path();
    const fs::path refs = home / "refs";
    if (!fs::is_directory(refs, ec)) continue;  // the template: nobody's to remove
    fs::remove(refs / id, ec);
    if (!fs::is_empty(refs, ec) || ec) continue;
    // The last user is gone: out of the way in one rename, then deleted.
    const std::string gone = trash + "/layer." + home.filename().string();
    if (env().Rename(home.c_str(), gone.c_str()) != 0) {
      return Status::FromErrno("rename " + home.string(), errno);
    }
    fs::remove_all(gone, ec);
  }
  return Status::Ok();
}

Status hibernate_tenant(std::unique_ptr<Instance> instance, const std::string& root) {
  remove_consumed_snapshot(root + "/snapshot");  // if the thaw's was left
  Status st = instance->Snapshot(root + "/snapshot");
  if (st.ok()) {
    instance->Abandon();
    return st;
  }
  spdlog::warn("tenant {}: snapshot failed ({}); shutting down instead", root, st.ToString());
  return instance->Close();
}

}  // namespace pgthaw::engine
