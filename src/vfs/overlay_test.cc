// Tests of OverlayMount over real temp directories: zero-copy reads,
// copy-up on first write, description swaps, whiteouts that survive a new
// FileSystem, merged listings, and a lower tree that is never modified.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "vfs/filesystem.h"

namespace pgthaw::vfs {
namespace {

namespace abi = wasm_abi;
namespace err = wasm_errno;
namespace fs = std::filesystem;

constexpr char kData[] = "/pglite/data";

class OverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "overlay_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    lower_ = root_ + "/lower";
    upper_ = root_ + "/upper";
    fs::create_directories(lower_ + "/base/1");
    fs::create_directories(lower_ + "/global");
    fs::create_directories(lower_ + "/pg_wal");
    fs::create_directories(upper_);
    write_host(lower_ + "/PG_VERSION", "17\n");
    write_host(lower_ + "/base/1/1259", std::string(20000, 'r') + "tail");
    write_host(lower_ + "/base/1/1249", "attribute");
    write_host(lower_ + "/global/pg_control", "control-bytes");
    write_host(lower_ + "/pg_wal/000000010000000000000001", std::string(4096, 'w'));
    ::chmod((lower_ + "/base/1/1259").c_str(), 0600);
    ::chmod((lower_ + "/base/1").c_str(), 0700);
    fs_ = make_fs();
    ASSERT_NE(fs_, nullptr);
  }

  void TearDown() override {
    fs_.reset();
    fs::remove_all(root_);
  }

  std::unique_ptr<FileSystem> make_fs(bool durable = false) {
    FileSystemOptions o;
    o.mounts.push_back(OverlayMount{kData, {lower_}, upper_});
    o.mounts.push_back(MemDirMount{"/dev/shm", std::make_shared<MemDir>()});
    o.durable = durable;
    o.cwd = kData;
    Result<std::unique_ptr<FileSystem>> r = FileSystem::create(std::move(o));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  static void write_host(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  static std::string read_host(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Regular files and directories under `dir`, minus the overlay metadata.
  static std::vector<std::string> tree(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      std::string rel = fs::relative(e.path(), dir).string();
      if (rel.starts_with(".pgthaw-overlay")) continue;
      out.push_back(rel + (e.is_directory() ? "/" : ""));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // Everything about a tree that a write could change: names, types, modes,
  // sizes, mtimes, bytes.
  static std::string fingerprint(const std::string& dir) {
    std::map<std::string, std::string> m;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      struct stat s;
      EXPECT_EQ(::lstat(e.path().c_str(), &s), 0);
      std::string v = std::to_string(s.st_mode) + "/" + std::to_string(s.st_size) + "/" +
                      std::to_string(s.st_mtim.tv_sec) + "." + std::to_string(s.st_mtim.tv_nsec) +
                      "/" + std::to_string(s.st_ino);
      if (S_ISREG(s.st_mode)) v += "/" + read_host(e.path());
      m[fs::relative(e.path(), dir).string()] = v;
    }
    std::string out;
    for (const auto& [k, v] : m) out += k + "=" + v + "\n";
    return out;
  }

  int open(const std::string& path, int flags, uint32_t mode = 0644) {
    int fd = fs_->openat(abi::kAT_FDCWD, path, flags, mode);
    EXPECT_GE(fd, 0) << path;
    return fd;
  }
  std::string pread_str(int fd, size_t n, int64_t off) {
    std::string buf(n, '\0');
    int64_t got = fs_->pread(fd, buf.data(), n, off);
    if (got < 0) return "ERR" + std::to_string(got);
    buf.resize(static_cast<size_t>(got));
    return buf;
  }
  std::vector<std::string> list(const std::string& path) {
    int fd = open(path, abi::kO_RDONLY | abi::kO_DIRECTORY);
    std::vector<std::string> names;
    std::vector<DirEntry> batch;
    while (fs_->getdents(fd, 4, &batch) == 0 && !batch.empty()) {
      for (const DirEntry& e : batch) names.push_back(e.name);
    }
    fs_->close(fd);
    return names;
  }

  std::string root_, lower_, upper_;
  std::unique_ptr<FileSystem> fs_;
};

TEST_F(OverlayTest, LowerFilesReadableWithZeroCopies) {
  int ro = open("base/1/1259", abi::kO_RDONLY);
  int rw = open("base/1/1259", abi::kO_RDWR | abi::kO_LARGEFILE);  // as md.c opens
  EXPECT_EQ(pread_str(ro, 4, 20000), "tail");
  EXPECT_EQ(pread_str(rw, 3, 0), "rrr");
  Stat st, lst;
  ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, "base/1/1259", &st, 0), 0);
  EXPECT_EQ(st.size, 20004);
  EXPECT_EQ(st.mode & 07777, 0600u);
  struct stat hs;
  ASSERT_EQ(::stat((lower_ + "/base/1/1259").c_str(), &hs), 0);
  EXPECT_EQ(st.ino, hs.st_ino);
  EXPECT_EQ(st.mtime.sec, hs.st_mtim.tv_sec);
  ASSERT_EQ(fs_->fstat(rw, &lst), 0);
  EXPECT_EQ(lst.ino, hs.st_ino);
  // fsync of a lower description: nothing of the tenant's to sync.
  EXPECT_EQ(fs_->fsync(rw), 0);
  EXPECT_EQ(fs_->fdatasync(rw), 0);
  auto durable = make_fs(true);
  int dfd = durable->openat(abi::kAT_FDCWD, "base/1/1249", abi::kO_RDWR, 0);
  ASSERT_GE(dfd, 0);
  EXPECT_EQ(durable->fsync(dfd), 0);
  EXPECT_EQ(fs_->faccessat(abi::kAT_FDCWD, "base/1/1259", abi::kW_OK, 0), 0);
  EXPECT_EQ(tree(upper_), std::vector<std::string>{});  // nothing copied
}

TEST_F(OverlayTest, FirstPwriteCopiesUpAndLeavesLowerUnchanged) {
  const std::string before = read_host(lower_ + "/base/1/1259");
  int fd = open("base/1/1259", abi::kO_RDWR);
  ASSERT_EQ(fs_->pwrite(fd, "XY", 2, 10), 2);
  EXPECT_EQ(read_host(lower_ + "/base/1/1259"), before);
  std::string expect = before;
  expect.replace(10, 2, "XY");
  EXPECT_EQ(read_host(upper_ + "/base/1/1259"), expect);
  EXPECT_EQ(pread_str(fd, 4, 9), "rXYr");
  struct stat s;
  ASSERT_EQ(::stat((upper_ + "/base/1/1259").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0600u);  // the file's mode is copied
  ASSERT_EQ(::stat((upper_ + "/base/1").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0700u);  // and the parent directory's
  ASSERT_EQ(::stat((upper_ + "/base/1/1259").c_str(), &s), 0);
  Stat st;
  ASSERT_EQ(fs_->fstat(fd, &st), 0);
  EXPECT_EQ(st.ino, s.st_ino);  // the description now holds the upper file
  EXPECT_EQ(tree(upper_), (std::vector<std::string>{"base/", "base/1/", "base/1/1259"}));
  // The next write does not copy again.
  ASSERT_EQ(fs_->pwrite(fd, "Z", 1, 0), 1);
  EXPECT_EQ(read_host(upper_ + "/base/1/1259")[0], 'Z');
  EXPECT_EQ(read_host(lower_ + "/base/1/1259"), before);
}

TEST_F(OverlayTest, DupsAndOtherDescriptionsSeeTheUpperFileAfterCopyUp) {
  int a = open("global/pg_control", abi::kO_RDWR);
  int b = fs_->dup(a);
  int c = open("global/pg_control", abi::kO_RDONLY);  // a separate description
  EXPECT_EQ(pread_str(c, 7, 0), "control");
  ASSERT_EQ(fs_->write(b, "CONTROL", 7), 7);      // write through the dup
  EXPECT_EQ(fs_->seek(a, 0, abi::kSEEK_CUR), 7);  // one shared offset
  EXPECT_EQ(pread_str(a, 7, 0), "CONTROL");
  EXPECT_EQ(pread_str(c, 13, 0), "CONTROL-bytes");
  struct stat s;
  ASSERT_EQ(::stat((upper_ + "/global/pg_control").c_str(), &s), 0);
  Stat sa, sc;
  ASSERT_EQ(fs_->fstat(a, &sa), 0);
  ASSERT_EQ(fs_->fstat(c, &sc), 0);
  EXPECT_EQ(sa.ino, s.st_ino);
  EXPECT_EQ(sc.ino, s.st_ino);
  EXPECT_EQ(read_host(lower_ + "/global/pg_control"), "control-bytes");
}

TEST_F(OverlayTest, OTruncCopiesUpAnEmptyFile) {
  int keep = open("PG_VERSION", abi::kO_RDONLY);
  int fd = open("PG_VERSION", abi::kO_WRONLY | abi::kO_TRUNC);
  Stat st;
  ASSERT_EQ(fs_->fstat(fd, &st), 0);
  EXPECT_EQ(st.size, 0);
  EXPECT_EQ(read_host(upper_ + "/PG_VERSION"), "");
  EXPECT_EQ(read_host(lower_ + "/PG_VERSION"), "17\n");
  EXPECT_EQ(pread_str(keep, 10, 0), "");  // the earlier open sees the truncation
  ASSERT_EQ(fs_->write(fd, "18\n", 3), 3);
  EXPECT_EQ(pread_str(keep, 10, 0), "18\n");
}

TEST_F(OverlayTest, CreateGoesToUpper) {
  int fd = open("base/1/16384", abi::kO_RDWR | abi::kO_CREAT | abi::kO_EXCL, 0600);
  ASSERT_EQ(fs_->write(fd, "new", 3), 3);
  EXPECT_EQ(read_host(upper_ + "/base/1/16384"), "new");
  EXPECT_FALSE(fs::exists(lower_ + "/base/1/16384"));
  EXPECT_EQ(
      fs_->openat(abi::kAT_FDCWD, "base/1/1259", abi::kO_RDWR | abi::kO_CREAT | abi::kO_EXCL, 0600),
      -err::kEEXIST);
  EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "base/1", 0700), -err::kEEXIST);
  EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "base/1/sub", 0700), 0);
  EXPECT_TRUE(fs::is_directory(upper_ + "/base/1/sub"));
}

TEST_F(OverlayTest, UnlinkWhiteoutPersistsAcrossFileSystems) {
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "base/1/1249", 0), 0);
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "base/1/1249", &st, 0), -err::kENOENT);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "base/1/1249", abi::kO_RDONLY, 0), -err::kENOENT);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "base/1/1249", 0), -err::kENOENT);
  EXPECT_EQ(list("base/1"), (std::vector<std::string>{".", "..", "1259"}));
  // A copied-up file: the whiteout hides lower once upper is gone.
  int fd = open("base/1/1259", abi::kO_RDWR);
  ASSERT_EQ(fs_->pwrite(fd, "x", 1, 0), 1);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "base/1/1259", 0), 0);
  EXPECT_FALSE(fs::exists(upper_ + "/base/1/1259"));
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "base/1/1259", &st, 0), -err::kENOENT);
  // rmdir of a lower directory once it is empty in the merged view.
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "global", abi::kAT_REMOVEDIR), -err::kENOTEMPTY);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "global/pg_control", 0), 0);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "global", abi::kAT_REMOVEDIR), 0);

  fs_ = make_fs();
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "base/1/1249", &st, 0), -err::kENOENT);
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "base/1/1259", &st, 0), -err::kENOENT);
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "global", &st, 0), -err::kENOENT);
  EXPECT_EQ(list("base/1"), (std::vector<std::string>{".", ".."}));
  EXPECT_TRUE(fs::exists(lower_ + "/base/1/1249"));
  EXPECT_TRUE(fs::exists(lower_ + "/global/pg_control"));
}

TEST_F(OverlayTest, RecreateAfterWhiteout) {
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "PG_VERSION", 0), 0);
  int fd = open("PG_VERSION", abi::kO_WRONLY | abi::kO_CREAT | abi::kO_EXCL, 0600);
  ASSERT_EQ(fs_->write(fd, "99\n", 3), 3);
  fs_ = make_fs();
  fd = open("PG_VERSION", abi::kO_RDONLY);
  EXPECT_EQ(pread_str(fd, 10, 0), "99\n");
  // Removed again: the lower file stays hidden.
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "PG_VERSION", 0), 0);
  fs_ = make_fs();
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "PG_VERSION", &st, 0), -err::kENOENT);

  // A directory re-created over a removed lower one is opaque.
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "pg_wal/000000010000000000000001", 0), 0);
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "pg_wal", abi::kAT_REMOVEDIR), 0);
  ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "pg_wal", 0700), 0);
  EXPECT_EQ(list("pg_wal"), (std::vector<std::string>{".", ".."}));
  fs_ = make_fs();
  EXPECT_EQ(list("pg_wal"), (std::vector<std::string>{".", ".."}));
}

TEST_F(OverlayTest, RenameOfALowerFile) {
  int held = open("global/pg_control", abi::kO_RDONLY);
  ASSERT_EQ(fs_->renameat(abi::kAT_FDCWD, "global/pg_control", abi::kAT_FDCWD, "global/moved"), 0);
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "global/pg_control", &st, 0), -err::kENOENT);
  int fd = open("global/moved", abi::kO_RDONLY);
  EXPECT_EQ(pread_str(fd, 100, 0), "control-bytes");
  EXPECT_EQ(pread_str(held, 7, 0), "control");  // the open description follows the file
  // Rename over a lower file: the target's lower copy is hidden by upper.
  ASSERT_EQ(fs_->renameat(abi::kAT_FDCWD, "global/moved", abi::kAT_FDCWD, "PG_VERSION"), 0);
  fs_ = make_fs();
  fd = open("PG_VERSION", abi::kO_RDONLY);
  EXPECT_EQ(pread_str(fd, 100, 0), "control-bytes");
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "global/moved", &st, 0), -err::kENOENT);
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "global/pg_control", &st, 0), -err::kENOENT);
  EXPECT_EQ(read_host(lower_ + "/global/pg_control"), "control-bytes");
  EXPECT_EQ(read_host(lower_ + "/PG_VERSION"), "17\n");
  // A directory with lower contents cannot move (as overlayfs).
  EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, "base", abi::kAT_FDCWD, "base2"), -err::kEXDEV);
  // An upper-only one can.
  ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "pg_replslot.tmp", 0700), 0);
  EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, "pg_replslot.tmp", abi::kAT_FDCWD, "pg_replslot"), 0);
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "pg_replslot", &st, 0), 0);
}

TEST_F(OverlayTest, MergedGetdents) {
  int fd = open("base/1/1249", abi::kO_RDWR);
  ASSERT_EQ(fs_->pwrite(fd, "A", 1, 0), 1);  // now in both layers
  open("base/1/2000", abi::kO_RDWR | abi::kO_CREAT, 0600);
  std::vector<std::string> names = list("base/1");
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], ".");
  EXPECT_EQ(names[1], "..");
  std::sort(names.begin() + 2, names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "1249", "1259", "2000"}));
  std::vector<std::string> top = list(kData);
  std::sort(top.begin() + 2, top.end());
  EXPECT_EQ(top, (std::vector<std::string>{".", "..", "PG_VERSION", "base", "global", "pg_wal"}));
}

TEST_F(OverlayTest, MetadataDirectoryIsInvisible) {
  // Made lazily: a new overlay writes nothing until its first whiteout.
  EXPECT_FALSE(fs::exists(upper_ + "/.pgthaw-overlay"));
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "PG_VERSION", 0), 0);
  EXPECT_TRUE(fs::is_directory(upper_ + "/.pgthaw-overlay"));
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, ".pgthaw-overlay", &st, 0), -err::kENOENT);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, ".pgthaw-overlay/whiteouts", abi::kO_RDONLY, 0),
            -err::kENOENT);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/pglite/data/base/../.pgthaw-overlay/whiteouts",
                        abi::kO_RDWR | abi::kO_CREAT, 0600),
            -err::kEACCES);
  EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, ".pgthaw-overlay", 0700), -err::kEACCES);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, ".pgthaw-overlay", abi::kAT_REMOVEDIR), -err::kENOENT);
  write_host(upper_ + "/mine", "x");
  EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, "mine", abi::kAT_FDCWD, ".pgthaw-overlay/x"),
            -err::kEACCES);
}

TEST_F(OverlayTest, SymlinksInEitherLayerAreNotFollowed) {
  fs::create_symlink(root_ + "/upper", lower_ + "/escape");
  fs::create_symlink("/etc", upper_ + "/escape2");
  write_host(upper_ + "/x", "upper's own file");
  // ELOOP or ENOTDIR, as for HostDirMount: never the target.
  EXPECT_LT(fs_->openat(abi::kAT_FDCWD, "escape/x", abi::kO_RDONLY, 0), 0);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "escape", abi::kO_RDONLY, 0), -err::kELOOP);
  EXPECT_LT(fs_->openat(abi::kAT_FDCWD, "escape2/passwd", abi::kO_RDONLY, 0), 0);
  Stat st;
  EXPECT_LT(fs_->stat(abi::kAT_FDCWD, "escape2/passwd", &st, 0), 0);
  EXPECT_EQ(fs_->symlinkat("/x", abi::kAT_FDCWD, "link"), -err::kEPERM);
}

TEST_F(OverlayTest, CopyUpAndConfinementWithoutOpenat2) {
  HostDir::disable_openat2_for_test(true);
  fs::create_symlink("/etc", lower_ + "/base/escape");
  EXPECT_LT(fs_->openat(abi::kAT_FDCWD, "base/escape/passwd", abi::kO_RDONLY, 0), 0);
  int fd = open("base/1/1249", abi::kO_RDWR);
  EXPECT_EQ(fs_->pwrite(fd, "A", 1, 0), 1);
  EXPECT_EQ(read_host(upper_ + "/base/1/1249"), "Attribute");
  EXPECT_EQ(read_host(lower_ + "/base/1/1249"), "attribute");
  HostDir::disable_openat2_for_test(false);
}

TEST_F(OverlayTest, WritesThroughAnUnlinkedLowerDescriptionStayPrivate) {
  int fd = open("base/1/1249", abi::kO_RDWR);
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "base/1/1249", 0), 0);
  EXPECT_EQ(pread_str(fd, 9, 0), "attribute");
  ASSERT_EQ(fs_->pwrite(fd, "A", 1, 0), 1);
  EXPECT_EQ(pread_str(fd, 9, 0), "Attribute");
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "base/1/1249", &st, 0), -err::kENOENT);
  EXPECT_FALSE(fs::exists(upper_ + "/base/1/1249"));
  EXPECT_EQ(read_host(lower_ + "/base/1/1249"), "attribute");
}

TEST_F(OverlayTest, DurableCopyUpAndDirectoryFsync) {
  fs_ = make_fs(true);
  int dir = open("base/1", abi::kO_RDONLY | abi::kO_DIRECTORY);
  EXPECT_EQ(fs_->fsync(dir), 0);  // lower-only directory: nothing to sync
  int fd = open("base/1/1259", abi::kO_RDWR);
  ASSERT_EQ(fs_->pwrite(fd, "D", 1, 0), 1);
  EXPECT_EQ(fs_->fsync(fd), 0);
  EXPECT_EQ(fs_->fsync(dir), 0);  // now syncs the upper twin
  EXPECT_EQ(read_host(upper_ + "/base/1/1259")[0], 'D');
}

// Every mutating operation, then the lower tree compared byte for byte
// (names, modes, sizes, mtimes, inodes, contents).
TEST_F(OverlayTest, LowerIsNeverModified) {
  const std::string before = fingerprint(lower_);
  int fd = open("base/1/1259", abi::kO_RDWR);
  EXPECT_EQ(fs_->write(fd, "w", 1), 1);
  fd = open("base/1/1249", abi::kO_RDWR);
  EXPECT_EQ(fs_->ftruncate(fd, 3), 0);
  fd = open("global/pg_control", abi::kO_RDWR);
  EXPECT_EQ(fs_->fallocate(fd, 0, 0, 100000), 0);
  fd = open("pg_wal/000000010000000000000001", abi::kO_RDONLY);
  EXPECT_EQ(fs_->fchmod(fd, 0644), 0);
  int dfd = open("pg_wal", abi::kO_RDONLY | abi::kO_DIRECTORY);
  Timespec times[2] = {{1, 0}, {2, 0}};
  EXPECT_EQ(fs_->utimensat(dfd, "", times, abi::kAT_EMPTY_PATH), 0);
  EXPECT_EQ(fs_->truncate(abi::kAT_FDCWD, "PG_VERSION", 1), 0);
  EXPECT_EQ(fs_->fchmodat(abi::kAT_FDCWD, "base", 0755, 0), 0);
  EXPECT_EQ(fs_->utimensat(abi::kAT_FDCWD, "global", times, 0), 0);
  EXPECT_EQ(fs_->utimensat(abi::kAT_FDCWD, "base", times, 0), 0);
  EXPECT_EQ(fs_->linkat(abi::kAT_FDCWD, "pg_wal/000000010000000000000001", abi::kAT_FDCWD,
                        "pg_wal/link", 0),
            0);
  EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, "base/1/1249", abi::kAT_FDCWD, "base/1/renamed"), 0);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "global/pg_control", 0), 0);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "global", abi::kAT_REMOVEDIR), 0);
  EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "global", 0700), 0);
  open("base/1/new", abi::kO_RDWR | abi::kO_CREAT | abi::kO_TRUNC, 0600);
  open("base/1/1259", abi::kO_RDWR | abi::kO_TRUNC);
  EXPECT_EQ(fs_->chdir("base"), 0);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "1/1259", 0), 0);
  EXPECT_EQ(fingerprint(lower_), before);
  Stat st;
  ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, "/pglite/data/PG_VERSION", &st, 0), 0);
  EXPECT_EQ(st.size, 1);
  ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, "/pglite/data/base", &st, 0), 0);
  EXPECT_EQ(st.mtime.sec, 2);
}

TEST_F(OverlayTest, TornWhiteoutRecordIsCutOff) {
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "PG_VERSION", 0), 0);
  fs_.reset();
  const std::string log = upper_ + "/.pgthaw-overlay/whiteouts";
  const std::string good = read_host(log);
  {
    std::ofstream out(log, std::ios::binary | std::ios::app);
    out << std::string("\x20\0\0\0base/1/12", 12);  // a record cut short by a crash
  }
  write_host(upper_ + "/.pgthaw-overlay/copyup-1-0", "half a copy");
  fs_ = make_fs();
  EXPECT_EQ(read_host(log), good);
  EXPECT_FALSE(fs::exists(upper_ + "/.pgthaw-overlay/copyup-1-0"));
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "PG_VERSION", &st, 0), -err::kENOENT);
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "base/1/1259", &st, 0), 0);
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "base/1/1249", 0), 0);
  fs_ = make_fs();
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "base/1/1249", &st, 0), -err::kENOENT);
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "PG_VERSION", &st, 0), -err::kENOENT);
}

TEST_F(OverlayTest, AFrozenUpperIsALayerWithItsWhiteoutsUnderNewUppers) {
  // What the tenant did before the fork: a whiteout, a copy-up, a new file.
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "base/1/1249", 0), 0);
  int fd = open("base/1/1259", abi::kO_RDWR);
  ASSERT_EQ(fs_->pwrite(fd, "NEW", 3, 0), 3);
  fs_->close(fd);
  fd = open("base/1/16384", abi::kO_RDWR | abi::kO_CREAT);
  ASSERT_EQ(fs_->pwrite(fd, "mine", 4, 0), 4);
  fs_->close(fd);
  fs_.reset();
  // The fork: upper frozen as a layer, two empty uppers over the stack.
  const std::string frozen = root_ + "/frozen";
  fs::rename(upper_, frozen);
  const std::string before = fingerprint(frozen) + fingerprint(lower_);
  auto over = [&](const std::string& upper) {
    fs::create_directories(upper);
    FileSystemOptions o;
    o.mounts.push_back(OverlayMount{kData, {lower_, frozen}, upper});
    o.cwd = kData;
    auto r = FileSystem::create(std::move(o));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  };
  auto a = over(root_ + "/a");
  auto b = over(root_ + "/b");
  ASSERT_TRUE(a && b);
  for (FileSystem* side : {a.get(), b.get()}) {
    Stat st;
    EXPECT_EQ(side->stat(abi::kAT_FDCWD, "base/1/1249", &st, 0), -err::kENOENT);
    int f = side->openat(abi::kAT_FDCWD, "base/1/1259", abi::kO_RDONLY, 0);
    ASSERT_GE(f, 0);
    std::string head(3, '\0');
    EXPECT_EQ(side->pread(f, head.data(), 3, 0), 3);
    EXPECT_EQ(head, "NEW");
    side->close(f);
  }
  fs_ = std::move(a);
  EXPECT_EQ(list("base/1"), (std::vector<std::string>{".", "..", "1259", "16384"}));
  // Writes on one side: a copy-up from the frozen layer, a whiteout of a
  // frozen file, a file of the template's.
  fd = open("base/1/16384", abi::kO_RDWR);
  ASSERT_EQ(fs_->pwrite(fd, "A", 1, 0), 1);
  fs_->close(fd);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "base/1/1259", 0), 0);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "PG_VERSION", 0), 0);
  EXPECT_EQ(list("base/1"), (std::vector<std::string>{".", "..", "16384"}));
  // ... are not the other's, and no layer changed.
  fs_ = std::move(b);
  EXPECT_EQ(list("base/1"), (std::vector<std::string>{".", "..", "1259", "16384"}));
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "PG_VERSION", &st, 0), 0);
  fd = open("base/1/16384", abi::kO_RDONLY);
  EXPECT_EQ(pread_str(fd, 4, 0), "mine");
  fs_->close(fd);
  EXPECT_EQ(fingerprint(frozen) + fingerprint(lower_), before);
}

TEST_F(OverlayTest, MissingLayerFailsCreate) {
  FileSystemOptions o;
  o.mounts.push_back(OverlayMount{kData, {root_ + "/nope"}, upper_});
  EXPECT_FALSE(FileSystem::create(std::move(o)).ok());
}

}  // namespace
}  // namespace pgthaw::vfs
