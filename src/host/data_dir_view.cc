// host::DataDirView (data_dir_view.h).
#include "host/data_dir_view.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/env.h"

namespace pgthaw::host {

namespace fs = std::filesystem;

namespace {

Status errno_status(const std::string& what) {
  return Status::IoError(what + ": " + std::strerror(errno));
}

}  // namespace

Result<DataDirView> DataDirView::Open(const std::string& data,
                                      const std::vector<std::string>& lower) {
  DataDirView view;
  view.data_ = data;
  if (!lower.empty()) {
    auto overlay = vfs::OverlayDir::open(lower, data, /*durable=*/false);
    if (!overlay.ok()) return overlay.status();
    view.overlay_ = std::move(overlay).value();
  }
  return view;
}

Status DataDirView::List(const std::string& rel, std::vector<Member>* out) const {
  if (overlay_ == nullptr) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(data_ + (rel.empty() ? "" : "/" + rel), ec)) {
      std::string name = e.path().filename().string();
      if (rel.empty() && name == vfs::OverlayDir::kMetaDirName) continue;
      std::string child = rel.empty() ? name : rel + "/" + name;
      struct stat st {};
      if (::lstat(e.path().c_str(), &st) != 0) return errno_status("stat " + e.path().string());
      if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
      out->push_back({child, S_ISDIR(st.st_mode), st.st_size, st.st_mtime});
    }
    if (ec) return Status::IoError("list " + data_ + "/" + rel + ": " + ec.message());
    return Status::Ok();
  }
  std::vector<vfs::DirEntry> entries;
  if (int rc = overlay_->list(rel, &entries); rc < 0) {
    return Status::IoError("list " + rel + ": wasm errno " + std::to_string(-rc));
  }
  for (const vfs::DirEntry& e : entries) {
    if (e.name == "." || e.name == "..") continue;
    std::string child = rel.empty() ? e.name : rel + "/" + e.name;
    vfs::Stat st;
    if (int rc = overlay_->stat(child, &st); rc < 0) {
      return Status::IoError("stat " + child + ": wasm errno " + std::to_string(-rc));
    }
    if (!S_ISDIR(st.mode) && !S_ISREG(st.mode)) continue;
    out->push_back({child, S_ISDIR(st.mode), st.size, st.mtime.sec});
  }
  return Status::Ok();
}

Result<std::shared_ptr<vfs::LayeredFile>> DataDirView::OpenFile(const std::string& rel) const {
  std::shared_ptr<vfs::LayeredFile> reader;
  if (overlay_ == nullptr) {
    int fd = env().Open((data_ + "/" + rel).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno_status("open " + rel);
    std::vector<vfs::LayeredFile::Part> parts(1);
    parts[0].fd = fd;
    return std::make_shared<vfs::LayeredFile>(std::move(parts));
  }
  if (int rc = overlay_->open_reader(rel, &reader); rc < 0) {
    return Status::IoError("open " + rel + ": wasm errno " + std::to_string(-rc));
  }
  return reader;
}

}  // namespace pgthaw::host
