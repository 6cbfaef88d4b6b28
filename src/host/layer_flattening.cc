// host::copy_layers_as_one (layer_flattening.h).
#include "host/layer_flattening.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/durable_file.h"
#include "common/env.h"
#include "vfs/layer_stack.h"
#include "vfs/overlay_dir.h"
#include "vfs/wasm_abi.h"

namespace pgthaw::host {

namespace fs = std::filesystem;

namespace {

// Copies the bytes of `from` (whole or partial copy-up) into the new file
// `path`.
Status copy_out(const vfs::LayeredFile& from, int64_t size, const std::string& path, uint32_t mode,
                bool durable) {
  int to = env().Open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
  if (to < 0) return Status::FromErrno("create " + path, errno);
  Status st;
  if (int rc = from.copy_to(to, size); rc < 0) {
    st = Status::IoError("copy to " + path + " (wasm errno " + std::to_string(-rc) + ")");
  }
  if (st.ok() && durable && env().Fsync(to) != 0) st = Status::FromErrno("fsync " + path, errno);
  ::close(to);
  return st;
}

// Copies the stack's directory `rel` (merged) to `out`, reading the bytes
// of files through `all` (the whole stack `stack` tops): a partial copy in
// `stack` may rest on a layer under it.
Status copy_tree(const vfs::LayerStack& stack, const vfs::LayerStack& all, const std::string& rel,
                 const std::string& out, const std::atomic<bool>& stop, bool durable) {
  std::vector<vfs::DirEntry> entries;
  if (int rc = stack.list(rel, &entries); rc < 0) {
    return Status::IoError("list " + rel + " (wasm errno " + std::to_string(-rc) + ")");
  }
  for (const vfs::DirEntry& e : entries) {
    if (stop.load()) return Status::Aborted("flattening stopped");
    const std::string child = rel.empty() ? e.name : rel + "/" + e.name;
    const std::string target = out + "/" + child;
    vfs::Stat st;
    if (int rc = stack.stat(child, &st); rc < 0) return Status::IoError("stat " + child);
    const uint32_t type = st.mode & vfs::wasm_abi::kS_IFMT;
    if (type == vfs::wasm_abi::kS_IFDIR) {
      if (env().MkdirAt(AT_FDCWD, target.c_str(), st.mode & 07777) != 0) {
        return Status::FromErrno("mkdir " + target, errno);
      }
      PGTHAW_RETURN_IF_ERROR(copy_tree(stack, all, child, out, stop, durable));
    } else if (type == vfs::wasm_abi::kS_IFREG) {
      std::shared_ptr<vfs::LayeredFile> reader;
      if (int rc = all.open_reader(child, &reader); rc < 0) {
        return Status::IoError("open " + child + " (wasm errno " + std::to_string(-rc) + ")");
      }
      PGTHAW_RETURN_IF_ERROR(copy_out(*reader, st.size, target, st.mode, durable));
    } else {
      return Status::InvalidArgument("cannot flatten " + child + ": not a file or directory");
    }
  }
  return durable ? fsync_dir(rel.empty() ? out : out + "/" + rel) : Status::Ok();
}

}  // namespace

Status copy_layers_as_one(const std::vector<std::string>& layers,
                          const std::vector<std::string>& stack, const std::string& out,
                          const std::atomic<bool>& stop, bool durable) {
  auto merged = vfs::LayerStack::open(layers);
  if (!merged.ok()) return merged.status();
  auto all = vfs::LayerStack::open(stack);
  if (!all.ok()) return all.status();
  std::error_code ec;
  fs::create_directories(out + "/" + std::string(vfs::OverlayDir::kMetaDirName), ec);
  if (ec) return Status::FromErrno("mkdir " + out, ec.value());
  PGTHAW_RETURN_IF_ERROR(copy_tree(**merged, **all, "", out, stop, durable));
  // What the layers hid of the ones below them stays hidden.
  const std::string log = out + "/" + std::string(vfs::kWhiteoutLogName);
  return write_file_atomically(log, vfs::whiteout_log((*merged)->hidden_paths()), durable);
}

Status make_partial_copies_whole(const std::vector<std::string>& lower, const std::string& upper,
                                 bool durable) {
  auto overlay = vfs::OverlayDir::open(lower, upper, durable);
  if (!overlay.ok()) return overlay.status();
  if (int rc = (*overlay)->make_all_whole(); rc < 0) {
    return Status::IoError("make the partial copies of " + upper + " whole: wasm errno " +
                           std::to_string(-rc));
  }
  return Status::Ok();
}

}  // namespace pgthaw::host
