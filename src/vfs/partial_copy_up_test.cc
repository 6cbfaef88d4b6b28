// Tests of partial copy-up (chunk_map.h, layered_file.h) over real temp
// directories: a write to a big lower file copies up only the chunks it
// touches, every read sees the merged bytes, truncation and rename keep
// them right, a frozen partial copy serves the layers above it, a crash
// after fsync loses nothing, and a random workload matches a model.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "vfs/filesystem.h"

namespace pgthaw::vfs {
namespace {

namespace abi = wasm_abi;
namespace err = wasm_errno;
namespace fs = std::filesystem;

constexpr char kData[] = "/pglite/data";
constexpr char kRel[] = "base/5/16388";
constexpr int64_t kChunk = ChunkMap::kChunkBytes;
constexpr int64_t kBig = 4 << 20;  // 512 chunks

std::string pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 gen(seed);
  for (char& c : s) c = static_cast<char>('a' + gen() % 26);
  return s;
}

class PartialCopyUpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "partial_copy_up_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    lower_ = root_ + "/lower";
    upper_ = root_ + "/upper";
    fs::create_directories(lower_ + "/base/5");
    fs::create_directories(upper_);
    lower_bytes_ = pattern(kBig, 1);
    write_host(lower_ + "/" + kRel, lower_bytes_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<FileSystem> make_fs(std::vector<std::string> lowers, const std::string& upper,
                                      bool durable = false) {
    FileSystemOptions o;
    o.mounts.push_back(OverlayMount{kData, std::move(lowers), upper});
    o.durable = durable;
    o.cwd = kData;
    auto r = FileSystem::create(std::move(o));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::unique_ptr<FileSystem> make_fs(bool durable = false) {
    return make_fs({lower_}, upper_, durable);
  }

  static void write_host(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  static std::string read_host(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static int64_t allocated(const std::string& path) {
    struct stat s {};
    return ::stat(path.c_str(), &s) == 0 ? static_cast<int64_t>(s.st_blocks) * 512 : -1;
  }
  // The whole file as the guest reads it.
  static std::string read_all(FileSystem& fs, const std::string& rel = kRel) {
    int fd = fs.openat(abi::kAT_FDCWD, rel, abi::kO_RDONLY, 0);
    if (fd < 0) return "ERR" + std::to_string(fd);
    std::string out;
    std::string buf(1 << 20, '\0');
    for (int64_t off = 0;;) {
      int64_t n = fs.pread(fd, buf.data(), buf.size(), off);
      if (n <= 0) break;
      out.append(buf.data(), static_cast<size_t>(n));
      off += n;
    }
    fs.close(fd);
    return out;
  }
  static void pwrite_str(FileSystem& fs, int fd, const std::string& s, int64_t off) {
    ASSERT_EQ(fs.pwrite(fd, s.data(), s.size(), off), static_cast<int64_t>(s.size()));
  }

  std::string root_, lower_, upper_, lower_bytes_;
};

TEST_F(PartialCopyUpTest, OnePageWriteCopiesUpOneChunk) {
  std::string want = lower_bytes_;
  {
    auto fs = make_fs();
    int fd = fs->openat(abi::kAT_FDCWD, kRel, abi::kO_RDWR, 0);
    ASSERT_GE(fd, 0);
    const std::string page = pattern(kChunk, 2);
    pwrite_str(*fs, fd, page, 100 * kChunk);
    want.replace(100 * kChunk, kChunk, page);
    Stat st;
    ASSERT_EQ(fs->fstat(fd, &st), 0);
    EXPECT_EQ(st.size, kBig);
    EXPECT_EQ(read_all(*fs), want);
    fs->close(fd);
  }
  // The upper copy holds one chunk (plus the filesystem's rounding), and a
  // new FileSystem (the map as saved) reads the same bytes.
  EXPECT_LE(allocated(upper_ + "/" + kRel), 64 * 1024);
  EXPECT_EQ(fs::file_size(upper_ + "/" + kRel), static_cast<uintmax_t>(kBig));
  EXPECT_EQ(read_host(lower_ + "/" + kRel), lower_bytes_);
  auto again = make_fs();
  EXPECT_EQ(read_all(*again), want);
}

TEST_F(PartialCopyUpTest, UnalignedWritesKeepTheBytesAroundThem) {
  std::string want = lower_bytes_;
  auto fs = make_fs();
  int fd = fs->openat(abi::kAT_FDCWD, kRel, abi::kO_RDWR, 0);
  ASSERT_GE(fd, 0);
  // Inside one chunk, across a boundary, across several chunks, at the end.
  const std::vector<std::pair<int64_t, size_t>> writes = {{5 * kChunk + 17, 100},
                                                          {9 * kChunk - 50, 200},
                                                          {20 * kChunk + 1, 3 * kChunk},
                                                          {kBig - 10, 30}};
  uint32_t seed = 10;
  for (auto [off, len] : writes) {
    const std::string s = pattern(len, seed++);
    pwrite_str(*fs, fd, s, off);
    if (want.size() < off + len) want.resize(off + len, '\0');
    want.replace(off, len, s);
  }
  EXPECT_EQ(read_all(*fs), want);
  fs->close(fd);
  fs.reset();
  EXPECT_EQ(read_all(*make_fs()), want);
}

TEST_F(PartialCopyUpTest, TruncationNeverShowsLowerBytesAgain) {
  auto fs = make_fs();
  int fd = fs->openat(abi::kAT_FDCWD, kRel, abi::kO_RDWR, 0);
  ASSERT_GE(fd, 0);
  pwrite_str(*fs, fd, "x", 0);  // now partial
  const int64_t cut = 10 * kChunk + 123;
  ASSERT_EQ(fs->ftruncate(fd, cut), 0);
  ASSERT_EQ(fs->ftruncate(fd, kBig), 0);  // extended again: zeros past the cut
  std::string want = "x" + lower_bytes_.substr(1, cut - 1) + std::string(kBig - cut, '\0');
  EXPECT_EQ(read_all(*fs), want);
  // By path too.
  ASSERT_EQ(fs->truncate(abi::kAT_FDCWD, kRel, 5 * kChunk), 0);
  want.resize(5 * kChunk);
  EXPECT_EQ(read_all(*fs), want);
  fs->close(fd);
  fs.reset();
  EXPECT_EQ(read_all(*make_fs()), want);
}

TEST_F(PartialCopyUpTest, RenameMovesTheWholeFileAndUnlinkRetiresTheMap) {
  std::string want = lower_bytes_;
  auto fs = make_fs();
  int fd = fs->openat(abi::kAT_FDCWD, kRel, abi::kO_RDWR, 0);
  ASSERT_GE(fd, 0);
  pwrite_str(*fs, fd, "renamed", 3 * kChunk);
  want.replace(3 * kChunk, 7, "renamed");
  ASSERT_EQ(fs->renameat(abi::kAT_FDCWD, kRel, abi::kAT_FDCWD, "base/5/moved"), 0);
  EXPECT_EQ(read_all(*fs, "base/5/moved"), want);
  // The open description still reads and writes the same file.
  pwrite_str(*fs, fd, "again", 0);
  want.replace(0, 5, "again");
  fs->close(fd);
  EXPECT_EQ(read_all(*fs, "base/5/moved"), want);
  EXPECT_EQ(read_host(upper_ + "/base/5/moved"), want);  // whole on the host

  // A partial copy unlinked and re-created shows none of its old bytes.
  fs.reset();
  write_host(lower_ + "/base/5/other", lower_bytes_);
  fs = make_fs();
  fd = fs->openat(abi::kAT_FDCWD, "base/5/other", abi::kO_RDWR, 0);
  ASSERT_GE(fd, 0);
  pwrite_str(*fs, fd, "p", kChunk);
  fs->close(fd);
  ASSERT_EQ(fs->unlinkat(abi::kAT_FDCWD, "base/5/other", 0), 0);
  fd = fs->openat(abi::kAT_FDCWD, "base/5/other", abi::kO_RDWR | abi::kO_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fs->ftruncate(fd, kBig), 0);
  fs->close(fd);
  EXPECT_EQ(read_all(*fs, "base/5/other"), std::string(kBig, '\0'));
  fs.reset();
  EXPECT_EQ(read_all(*make_fs(), "base/5/other"), std::string(kBig, '\0'));
}

TEST_F(PartialCopyUpTest, AFrozenPartialCopyServesTheLayersAboveIt) {
  std::string want = lower_bytes_;
  {
    auto fs = make_fs();
    int fd = fs->openat(abi::kAT_FDCWD, kRel, abi::kO_RDWR, 0);
    ASSERT_GE(fd, 0);
    pwrite_str(*fs, fd, "first", 7 * kChunk);
    fs->close(fd);
  }
  want.replace(7 * kChunk, 5, "first");
  // Freeze the upper as a layer (a fork) and put a new upper on top.
  const std::string frozen = root_ + "/frozen";
  fs::rename(upper_, frozen);
  const std::string top = root_ + "/top";
  fs::create_directories(top);
  {
    auto fs = make_fs({lower_, frozen}, top);
    EXPECT_EQ(read_all(*fs), want);
    int fd = fs->openat(abi::kAT_FDCWD, kRel, abi::kO_RDWR, 0);
    ASSERT_GE(fd, 0);
    pwrite_str(*fs, fd, "second", 7 * kChunk + 2);
    pwrite_str(*fs, fd, "third", 200 * kChunk);
    fs->close(fd);
    want.replace(7 * kChunk + 2, 6, "second");
    want.replace(200 * kChunk, 5, "third");
    EXPECT_EQ(read_all(*fs), want);
  }
  EXPECT_LE(allocated(top + "/" + kRel), 64 * 1024);
  EXPECT_EQ(read_all(*make_fs({lower_, frozen}, top)), want);
  // The frozen layer and the template are as they were.
  std::string frozen_view = lower_bytes_;
  frozen_view.replace(7 * kChunk, 5, "first");
  fs::create_directories(root_ + "/empty");
  EXPECT_EQ(read_all(*make_fs({lower_, frozen}, root_ + "/empty")), frozen_view);
  EXPECT_EQ(read_host(lower_ + "/" + kRel), lower_bytes_);
}

TEST_F(PartialCopyUpTest, ACrashAfterFsyncLosesNothing) {
  const std::string synced = pattern(3 * kChunk, 7);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child writes and syncs, writes more without a sync, and dies
    // without running a destructor.
    auto fs = make_fs(/*durable=*/true);
    int fd = fs->openat(abi::kAT_FDCWD, kRel, abi::kO_RDWR, 0);
    if (fd < 0 || fs->pwrite(fd, synced.data(), synced.size(), 40 * kChunk) < 0 ||
        fs->fdatasync(fd) != 0) {
      ::_exit(1);
    }
    const std::string later(kChunk, 'L');
    fs->pwrite(fd, later.data(), later.size(), 90 * kChunk);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string got = read_all(*make_fs(true));
  ASSERT_EQ(got.size(), static_cast<size_t>(kBig));
  EXPECT_EQ(got.substr(40 * kChunk, synced.size()), synced);
  // The unsynced chunk is either the old bytes or the new, never a hole.
  const std::string later = got.substr(90 * kChunk, kChunk);
  EXPECT_TRUE(later == std::string(kChunk, 'L') ||
              later == lower_bytes_.substr(90 * kChunk, kChunk));
  EXPECT_EQ(got.substr(0, 40 * kChunk), lower_bytes_.substr(0, 40 * kChunk));
}

TEST_F(PartialCopyUpTest, RandomWorkloadMatchesAModel) {
  std::string want = lower_bytes_;
  std::mt19937 gen(42);
  auto fs = make_fs();
  int fd = fs->openat(abi::kAT_FDCWD, kRel, abi::kO_RDWR, 0);
  ASSERT_GE(fd, 0);
  for (int step = 0; step < 400; ++step) {
    const int op = static_cast<int>(gen() % 20);
    if (op < 14) {
      const int64_t off = gen() % (want.size() + 2 * kChunk);
      const size_t len = 1 + gen() % (3 * kChunk);
      const std::string s = pattern(len, gen());
      pwrite_str(*fs, fd, s, off);
      if (want.size() < off + len) want.resize(off + len, '\0');
      want.replace(off, len, s);
    } else if (op < 16) {
      const int64_t len = gen() % (kBig + kChunk);
      ASSERT_EQ(fs->ftruncate(fd, len), 0);
      want.resize(len, '\0');
    } else if (op < 19) {
      const int64_t off = gen() % (want.size() + 1);
      const size_t len = 1 + gen() % (4 * kChunk);
      std::string buf(len, '\0');
      int64_t n = fs->pread(fd, buf.data(), len, off);
      ASSERT_EQ(n, static_cast<int64_t>(std::min<size_t>(len, want.size() - off)));
      ASSERT_EQ(buf.substr(0, n), want.substr(off, n)) << "step " << step;
    } else {
      // Hibernate and thaw: a new FileSystem over the same upper.
      ASSERT_EQ(fs->fsync(fd), 0);
      fs->close(fd);
      fs = make_fs();
      fd = fs->openat(abi::kAT_FDCWD, kRel, abi::kO_RDWR, 0);
      ASSERT_GE(fd, 0);
    }
  }
  fs->close(fd);
  EXPECT_EQ(read_all(*fs), want);
  fs.reset();
  EXPECT_EQ(read_all(*make_fs()), want);
  EXPECT_EQ(read_host(lower_ + "/" + kRel), lower_bytes_);
}

}  // namespace
}  // namespace pgthaw::vfs
