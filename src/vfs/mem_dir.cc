// In-memory directory trees (see mem_dir.h).
#include "vfs/mem_dir.h"

#include <time.h>

#include <algorithm>
#include <atomic>

#include "vfs/wasm_abi.h"
#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {
namespace {

std::atomic<uint64_t> next_ino{1'000'000};
std::atomic<uint64_t> next_memdir_id{1};

}  // namespace

Timespec now_timespec() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return Timespec{ts.tv_sec, ts.tv_nsec};
}

MemNode::MemNode(Type t, uint32_t p, std::shared_ptr<SpaceQuota> q)
    : type(t), perms(p & 07777), ino(next_ino++), quota(std::move(q)) {
  atime = mtime = ctime = now_timespec();
}

MemNode::~MemNode() {
  if (quota != nullptr) quota->release(static_cast<int64_t>(data.size()));
}

int MemNode::resize_data(size_t size) {
  if (size > static_cast<size_t>(kMaxMemFileBytes)) return -wasm_errno::kENOSPC;
  int64_t growth = static_cast<int64_t>(size) - static_cast<int64_t>(data.size());
  if (quota != nullptr && !quota->try_charge(growth)) return -wasm_errno::kENOSPC;
  data.resize(size);
  // Shrinking gives the bytes back, and their memory too.
  if (growth < 0) {
    data.shrink_to_fit();
    if (quota != nullptr) quota->release(-growth);
  }
  return 0;
}

void MemNode::touch_modified() { mtime = ctime = now_timespec(); }

Stat MemNode::stat(uint32_t dev) const {
  Stat st;
  st.dev = dev;
  st.ino = ino;
  switch (type) {
    case Type::kFile:
      st.mode = wasm_abi::kS_IFREG | perms;
      st.size = static_cast<int64_t>(data.size());
      st.nlink = nlink;
      break;
    case Type::kDir:
      st.mode = wasm_abi::kS_IFDIR | perms;
      st.size = 4096;
      st.nlink = 2;
      break;
    case Type::kSymlink:
      st.mode = wasm_abi::kS_IFLNK | perms;
      st.size = static_cast<int64_t>(target.size());
      break;
  }
  st.blocks = (st.size + 511) / 512;
  st.atime = atime;
  st.mtime = mtime;
  st.ctime = ctime;
  return st;
}

MemDir::MemDir(std::shared_ptr<SpaceQuota> quota)
    : id_(next_memdir_id++),
      quota_(std::move(quota)),
      root_(std::make_shared<MemNode>(MemNode::Type::kDir, 0777)) {}

int MemDir::lookup(std::string_view rel, std::shared_ptr<MemNode>* out) const {
  std::shared_ptr<MemNode> cur = root_;
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    if (!cur->is_dir()) return -wasm_errno::kENOTDIR;
    auto it = cur->children.find(rel.substr(i, j - i));
    if (it == cur->children.end()) return -wasm_errno::kENOENT;
    cur = it->second;
    i = j + 1;
  }
  *out = std::move(cur);
  return 0;
}

int MemDir::lookup_parent(std::string_view rel, std::shared_ptr<MemNode>* dir,
                          std::string_view* name) const {
  if (rel.empty()) return -wasm_errno::kEBUSY;
  size_t slash = rel.rfind('/');
  std::string_view parent =
      slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash);
  *name = slash == std::string_view::npos ? rel : rel.substr(slash + 1);
  int rc = lookup(parent, dir);
  if (rc < 0) return rc;
  if (!(*dir)->is_dir()) return -wasm_errno::kENOTDIR;
  return 0;
}

int MemDir::find_symlink(std::string_view rel, bool follow_last, size_t* consumed,
                         std::string* target) const {
  const MemNode* cur = root_.get();
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    if (!cur->is_dir()) return 0;  // the operation itself reports ENOTDIR
    auto it = cur->children.find(rel.substr(i, j - i));
    if (it == cur->children.end()) return 0;
    const MemNode* next = it->second.get();
    bool last = j == rel.size();
    if (next->type == MemNode::Type::kSymlink && (!last || follow_last)) {
      *consumed = j;
      *target = next->target;
      return 1;
    }
    cur = next;
    i = j + 1;
  }
  return 0;
}

Status MemDir::put_file(std::string_view rel, std::string_view bytes, uint32_t perms) {
  std::shared_ptr<MemNode> cur = root_;
  size_t i = 0;
  while (true) {
    size_t j = rel.find('/', i);
    if (j == std::string_view::npos) break;
    std::string_view part = rel.substr(i, j - i);
    auto it = cur->children.find(part);
    if (it == cur->children.end()) {
      it = cur->children
               .emplace(std::string(part), std::make_shared<MemNode>(MemNode::Type::kDir, 0755))
               .first;
    }
    if (!it->second->is_dir())
      return Status::InvalidArgument("not a directory: " + std::string(rel));
    cur = it->second;
    i = j + 1;
  }
  std::string_view name = rel.substr(i);
  if (name.empty()) return Status::InvalidArgument("empty file name: " + std::string(rel));
  auto node = new_node(MemNode::Type::kFile, perms);
  if (node->resize_data(bytes.size()) < 0) {
    return Status::ResourceExhausted("no space for memdir file " + std::string(rel));
  }
  std::copy(bytes.begin(), bytes.end(), node->data.begin());
  cur->children[std::string(name)] = std::move(node);
  return Status::Ok();
}

Result<std::string> MemDir::get_file(std::string_view rel) const {
  std::shared_ptr<MemNode> node;
  if (lookup(rel, &node) < 0 || node->type != MemNode::Type::kFile) {
    return Status::NotFound("no such memdir file: " + std::string(rel));
  }
  return std::string(node->data.begin(), node->data.end());
}

}  // namespace pgthaw::vfs
