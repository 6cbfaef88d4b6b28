// Tests of space quotas over real directories and MemDirs: the shared cap of
// /tmp and /dev/shm, and the disk quota of a host or overlay mount (growth
// refused with ENOSPC past it, space given back by truncate, unlink and
// rename over a file, copy-ups charged, files that may not be refused only
// counted, the starting usage walked once).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "vfs/filesystem.h"

namespace pgthaw::vfs {
namespace {

namespace abi = wasm_abi;
namespace err = wasm_errno;

constexpr int kRdwrCreat = abi::kO_RDWR | abi::kO_CREAT;
constexpr int64_t kKiB = 1024;

class QuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "quota_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    std::filesystem::create_directories(root_ + "/data");
    std::filesystem::create_directories(root_ + "/lower");
    std::filesystem::create_directories(root_ + "/upper");
  }
  void TearDown() override {
    fs_.reset();
    std::filesystem::remove_all(root_);
  }

  // /data (host dir) or /data as an overlay of lower/upper, with `disk`;
  // /tmp and /dev/shm sharing `mem`.
  void Make(bool overlay, std::shared_ptr<SpaceQuota> disk, std::shared_ptr<SpaceQuota> mem,
            std::function<bool(std::string_view)> may_refuse = nullptr) {
    FileSystemOptions o;
    if (overlay) {
      o.mounts.push_back(OverlayMount{"/data", {root_ + "/lower"}, root_ + "/upper"});
    } else {
      o.mounts.push_back(HostDirMount{"/data", root_ + "/data", false});
    }
    o.mounts.push_back(MemDirMount{"/tmp", std::make_shared<MemDir>(mem)});
    o.mounts.push_back(MemDirMount{"/dev/shm", std::make_shared<MemDir>(mem)});
    if (disk != nullptr) {
      DiskQuota q;
      q.virtual_prefix = "/data";
      q.quota = std::move(disk);
      q.may_refuse = std::move(may_refuse);
      o.disk_quotas.push_back(std::move(q));
    }
    auto fs = FileSystem::create(std::move(o));
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(fs).value();
  }

  int Open(const std::string& path, int flags = kRdwrCreat) {
    int fd = fs_->openat(abi::kAT_FDCWD, path, flags, 0644);
    EXPECT_GE(fd, 0) << path;
    return fd;
  }
  int64_t Write(int fd, int64_t bytes) {
    std::string data(static_cast<size_t>(bytes), 'x');
    return fs_->write(fd, data.data(), data.size());
  }
  int64_t HostSize(const std::string& rel) {
    std::error_code ec;
    auto n = std::filesystem::file_size(root_ + "/" + rel, ec);
    return ec ? -1 : static_cast<int64_t>(n);
  }
  static void WriteHost(const std::string& path, int64_t bytes) {
    std::ofstream(path, std::ios::binary) << std::string(static_cast<size_t>(bytes), 'l');
  }

  std::string root_;
  std::unique_ptr<FileSystem> fs_;
};

TEST_F(QuotaTest, TmpAndShmShareOneCap) {
  auto mem = std::make_shared<SpaceQuota>(100 * kKiB);
  Make(false, nullptr, mem);
  int a = Open("/tmp/a");
  int b = Open("/dev/shm/b");
  EXPECT_EQ(Write(a, 60 * kKiB), 60 * kKiB);
  EXPECT_EQ(Write(b, 60 * kKiB), -err::kENOSPC);  // would make 120 KiB
  EXPECT_EQ(fs_->fallocate(b, 0, 0, 60 * kKiB), -err::kENOSPC);
  EXPECT_EQ(fs_->ftruncate(b, 60 * kKiB), -err::kENOSPC);
  EXPECT_EQ(Write(b, 40 * kKiB), 40 * kKiB);  // exactly the cap
  EXPECT_EQ(mem->used(), 100 * kKiB);
  EXPECT_EQ(fs_->memdir_bytes(), 100 * kKiB);
  // Truncation gives bytes back at once; an unlinked file when its last fd
  // closes.
  EXPECT_EQ(fs_->ftruncate(a, 10 * kKiB), 0);
  EXPECT_EQ(mem->used(), 50 * kKiB);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/dev/shm/b", 0), 0);
  EXPECT_EQ(mem->used(), 50 * kKiB);
  EXPECT_EQ(fs_->close(b), 0);
  EXPECT_EQ(mem->used(), 10 * kKiB);
  EXPECT_EQ(fs_->seek(a, 0, abi::kSEEK_END), 10 * kKiB);
  EXPECT_EQ(Write(a, 90 * kKiB), 90 * kKiB);
  // O_TRUNC at open gives the bytes back too.
  int again = Open("/tmp/a", abi::kO_RDWR | abi::kO_TRUNC);
  EXPECT_EQ(mem->used(), 0);
  fs_->close(again);
  fs_->close(a);
}

TEST_F(QuotaTest, TmpCapSurvivesASnapshotRoundTrip) {
  auto mem = std::make_shared<SpaceQuota>(100 * kKiB);
  Make(false, nullptr, mem);
  int a = Open("/dev/shm/seg");
  EXPECT_EQ(Write(a, 70 * kKiB), 70 * kKiB);
  auto state = fs_->save_state();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  auto restored_quota = std::make_shared<SpaceQuota>(100 * kKiB);
  auto saved = std::move(fs_);
  Make(false, nullptr, restored_quota);
  ASSERT_TRUE(fs_->restore_state(*state).ok());
  EXPECT_EQ(restored_quota->used(), 70 * kKiB);
  int b = Open("/tmp/more");
  EXPECT_EQ(Write(b, 40 * kKiB), -err::kENOSPC);
  EXPECT_EQ(Write(b, 30 * kKiB), 30 * kKiB);
}

TEST_F(QuotaTest, DiskQuotaRefusesGrowthAndRecoversAfterDeletes) {
  WriteHost(root_ + "/data/existing", 100 * kKiB);  // counted by the first walk
  auto disk = std::make_shared<SpaceQuota>(300 * kKiB);
  Make(false, disk, nullptr);
  int f = Open("/data/f");
  EXPECT_EQ(Write(f, 150 * kKiB), 150 * kKiB);
  EXPECT_EQ(disk->used(), 250 * kKiB);
  // Past the quota: refused whole, the file untouched.
  EXPECT_EQ(Write(f, 51 * kKiB), -err::kENOSPC);
  EXPECT_EQ(HostSize("data/f"), 150 * kKiB);
  EXPECT_EQ(fs_->fallocate(f, 0, 0, 251 * kKiB), -err::kENOSPC);
  EXPECT_EQ(fs_->ftruncate(f, 251 * kKiB), -err::kENOSPC);
  EXPECT_EQ(fs_->truncate(abi::kAT_FDCWD, "/data/f", 251 * kKiB), -err::kENOSPC);
  EXPECT_EQ(HostSize("data/f"), 150 * kKiB);
  // Overwriting in place does not grow anything.
  EXPECT_EQ(fs_->pwrite(f, std::string(1000, 'y').data(), 1000, 0), 1000);
  EXPECT_EQ(disk->used(), 250 * kKiB);
  // Unlink frees.
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/data/existing", 0), 0);
  EXPECT_EQ(disk->used(), 150 * kKiB);
  EXPECT_EQ(Write(f, 100 * kKiB), 100 * kKiB);
  // Truncate frees.
  EXPECT_EQ(fs_->ftruncate(f, 50 * kKiB), 0);
  EXPECT_EQ(disk->used(), 50 * kKiB);
  // A rename over a file frees the file it replaced.
  int g = Open("/data/g");
  EXPECT_EQ(Write(g, 200 * kKiB), 200 * kKiB);
  EXPECT_EQ(disk->used(), 250 * kKiB);
  EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, "/data/g", abi::kAT_FDCWD, "/data/f"), 0);
  EXPECT_EQ(disk->used(), 200 * kKiB);
  // O_TRUNC frees.
  int t = Open("/data/f", abi::kO_RDWR | abi::kO_TRUNC);
  EXPECT_EQ(disk->used(), 0);
  fs_->close(t);
  fs_->close(g);
  fs_->close(f);
}

TEST_F(QuotaTest, FilesThatMayNotBeRefusedAreCountedButAlwaysGrow) {
  auto disk = std::make_shared<SpaceQuota>(100 * kKiB);
  Make(false, disk, nullptr, [](std::string_view rel) { return rel.starts_with("base/"); });
  ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "/data/base", 0755), 0);
  ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "/data/pg_wal", 0755), 0);
  int wal = Open("/data/pg_wal/000000010000000000000001");
  EXPECT_EQ(Write(wal, 150 * kKiB), 150 * kKiB);  // past the quota, allowed
  EXPECT_EQ(disk->used(), 150 * kKiB);
  int rel = Open("/data/base/16384");
  EXPECT_EQ(Write(rel, 8 * kKiB), -err::kENOSPC);
  EXPECT_EQ(fs_->ftruncate(wal, 0), 0);
  EXPECT_EQ(Write(rel, 8 * kKiB), 8 * kKiB);
  fs_->close(rel);
  fs_->close(wal);
}

TEST_F(QuotaTest, OverlayCopyUpCountsOnlyTheTenantsFiles) {
  WriteHost(root_ + "/lower/big", 400 * kKiB);   // the template's: not counted
  WriteHost(root_ + "/lower/small", 50 * kKiB);  // copied up when written
  auto disk = std::make_shared<SpaceQuota>(200 * kKiB);
  Make(true, disk, nullptr);
  int small = Open("/data/small", abi::kO_RDWR);
  EXPECT_EQ(fs_->pwrite(small, "z", 1, 0), 1);  // copy-up: 50 KiB charged
  EXPECT_EQ(disk->used(), 50 * kKiB);
  EXPECT_EQ(HostSize("upper/small"), 50 * kKiB);
  // Copying `big` up would pass the quota: refused, the lower file still
  // served, nothing left in upper.
  int big = Open("/data/big", abi::kO_RDWR);
  EXPECT_EQ(fs_->pwrite(big, "z", 1, 0), -err::kENOSPC);
  EXPECT_EQ(HostSize("upper/big"), -1);
  EXPECT_EQ(disk->used(), 50 * kKiB);
  char c = 0;
  EXPECT_EQ(fs_->pread(big, &c, 1, 0), 1);
  EXPECT_EQ(c, 'l');
  // Removing the upper copy frees it; a whiteout of a lower-only file frees
  // nothing.
  EXPECT_EQ(fs_->close(small), 0);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/data/small", 0), 0);
  EXPECT_EQ(disk->used(), 0);
  EXPECT_EQ(fs_->close(big), 0);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/data/big", 0), 0);
  EXPECT_EQ(disk->used(), 0);
}

TEST_F(QuotaTest, UsageIsWalkedOnceAtTheFirstChange) {
  std::filesystem::create_directories(root_ + "/data/sub/deeper");
  WriteHost(root_ + "/data/sub/a", 10 * kKiB);
  WriteHost(root_ + "/data/sub/deeper/b", 20 * kKiB);
  auto disk = std::make_shared<SpaceQuota>(0);  // no limit: counts only
  Make(false, disk, nullptr);
  EXPECT_EQ(disk->used(), 0);  // nothing written yet: not walked
  int f = Open("/data/f");
  EXPECT_EQ(Write(f, kKiB), kKiB);
  EXPECT_EQ(disk->used(), 31 * kKiB);
  fs_->close(f);
}

}  // namespace
}  // namespace pgthaw::vfs
