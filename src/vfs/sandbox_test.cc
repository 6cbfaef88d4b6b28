// Tests of the sandbox rule (filesystem.h): no guest path reaches host files
// outside the mounts, symlinks in host directories are never followed, and
// read-only mounts refuse writes.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "vfs/test_fixture.h"

namespace pgthaw::vfs {
namespace {

TEST_F(VfsTest, DotDotFromDataDirCannotLeaveTheNamespace) {
  ASSERT_EQ(fs_->getcwd(), "/pglite/data");
  Stat st;
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "../../etc/passwd", abi::kO_RDONLY, 0), -err::kENOENT);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/etc/passwd", abi::kO_RDONLY, 0), -err::kENOENT);
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "../../outside/secret.txt", &st, 0), -err::kENOENT);
  // As many ".." as the host path has components still stops at "/".
  std::string up;
  for (size_t i = 0; i < 20; ++i) up += "../";
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, up + "outside/secret.txt", abi::kO_RDONLY, 0),
            -err::kENOENT);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, up + root_ + "/outside/secret.txt", abi::kO_RDONLY, 0),
            -err::kENOENT);
}

TEST_F(VfsTest, DotDotAboveMountIsTheVirtualRoot) {
  Stat st;
  ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, "/pglite/data/../../..", &st, 0), 0);
  EXPECT_EQ(st.mode & abi::kS_IFMT, abi::kS_IFDIR);
  int fd = open("/pglite/data/../../..", abi::kO_RDONLY | abi::kO_DIRECTORY);
  std::vector<std::string> names = list(fd);
  ASSERT_EQ(names.size(), 5u);
  EXPECT_EQ(names[0], ".");
  EXPECT_EQ(names[1], "..");
  std::sort(names.begin() + 2, names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "dev", "pglite", "tmp"}));
  // Creating files under no mount fails.
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/pglite/data/../../../etc/x",
                        abi::kO_CREAT | abi::kO_WRONLY, 0644),
            -err::kENOENT);
  EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "/etc", 0755), -err::kENOENT);
}

TEST_F(VfsTest, DirfdRelativePathsStayInside) {
  int dfd = open("/pglite/data", abi::kO_RDONLY | abi::kO_DIRECTORY);
  EXPECT_EQ(fs_->openat(dfd, "../../../outside/secret.txt", abi::kO_RDONLY, 0), -err::kENOENT);
  int fd = fs_->openat(dfd, "f", abi::kO_CREAT | abi::kO_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(std::filesystem::exists(root_ + "/data/f"));
  EXPECT_EQ(fs_->openat(fd, "x", abi::kO_RDONLY, 0), -err::kENOTDIR);  // dirfd not a dir
  EXPECT_EQ(fs_->openat(999, "x", abi::kO_RDONLY, 0), -err::kEBADF);
}

class SymlinkTest : public VfsTest, public ::testing::WithParamInterface<bool> {};

TEST_P(SymlinkTest, PlantedSymlinkIsNotFollowed) {
  HostDir::disable_openat2_for_test(GetParam());
  // A link planted in the data dir (the guest cannot make one) to outside.
  ASSERT_EQ(::symlink((root_ + "/outside/secret.txt").c_str(), (root_ + "/data/evil").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/outside").c_str(), (root_ + "/data/evildir").c_str()), 0);
  int fd = fs_->openat(abi::kAT_FDCWD, "evil", abi::kO_RDONLY, 0);
  EXPECT_LT(fd, 0);
  EXPECT_EQ(fd, -err::kELOOP);
  EXPECT_LT(fs_->openat(abi::kAT_FDCWD, "evildir/secret.txt", abi::kO_RDONLY, 0), 0);
  EXPECT_LT(fs_->openat(abi::kAT_FDCWD, "evildir/new", abi::kO_CREAT | abi::kO_WRONLY, 0644), 0);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/outside/new"));
  EXPECT_LT(fs_->mkdirat(abi::kAT_FDCWD, "evildir/sub", 0755), 0);
  EXPECT_LT(fs_->unlinkat(abi::kAT_FDCWD, "evildir/secret.txt", 0), 0);
  EXPECT_LT(fs_->fchmodat(abi::kAT_FDCWD, "evil", 0777, 0), 0);
  EXPECT_LT(fs_->truncate(abi::kAT_FDCWD, "evil", 0), 0);
  EXPECT_EQ(read_host(root_ + "/outside/secret.txt"), "secret");
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "evil", &st, 0), -err::kELOOP);
  ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, "evil", &st, abi::kAT_SYMLINK_NOFOLLOW), 0);
  EXPECT_EQ(st.mode & abi::kS_IFMT, abi::kS_IFLNK);
  // Unlinking the link itself is fine and leaves the target alone.
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "evil", 0), 0);
  EXPECT_TRUE(std::filesystem::exists(root_ + "/outside/secret.txt"));
}

INSTANTIATE_TEST_SUITE_P(Openat2AndFallback, SymlinkTest, ::testing::Values(false, true));

TEST_P(SymlinkTest, FrozenLayerCachesParentsButFollowsNoSymlink) {
  HostDir::disable_openat2_for_test(GetParam());
  const std::string layer = root_ + "/layer";
  std::filesystem::create_directories(layer + "/base/5");
  write_host(layer + "/base/5/1259", "catalog");
  ASSERT_EQ(::symlink((root_ + "/outside/secret.txt").c_str(), (layer + "/base/5/evil").c_str()),
            0);
  ASSERT_EQ(::symlink((root_ + "/outside").c_str(), (layer + "/base/evildir").c_str()), 0);
  auto dir = HostDir::open(layer, HostDir::Mutability::kFrozen);
  ASSERT_TRUE(dir.ok());
  for (int round = 0; round < 2; ++round) {  // the second one through the cached parents
    Stat st;
    ASSERT_EQ((*dir)->stat("base/5/1259", &st), 0);
    EXPECT_EQ(st.size, 7);
    int fd = (*dir)->open_file("base/5/1259", O_RDONLY, 0);
    ASSERT_GE(fd, 0);
    ::close(fd);
    EXPECT_EQ((*dir)->open_file("base/5/evil", O_RDONLY, 0), -err::kELOOP);
    ASSERT_EQ((*dir)->stat("base/5/evil", &st), 0);  // lstat: the link itself
    EXPECT_EQ(st.mode & abi::kS_IFMT, abi::kS_IFLNK);
    EXPECT_LT((*dir)->open_file("base/evildir/secret.txt", O_RDONLY, 0), 0);
    EXPECT_LT((*dir)->stat("base/evildir/secret.txt", &st), 0);
    EXPECT_EQ((*dir)->stat("base/6/1259", &st), -err::kENOENT);
  }
}

TEST_F(VfsTest, SymlinkatIsRefusedInHostDirsAllowedInMemDirs) {
  EXPECT_EQ(fs_->symlinkat("/outside", abi::kAT_FDCWD, "/pglite/data/link"), -err::kEPERM);
  ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "/tmp/real", 0755), 0);
  ASSERT_EQ(fs_->symlinkat("real", abi::kAT_FDCWD, "/tmp/link"), 0);
  int fd = open("/tmp/link/f", abi::kO_CREAT | abi::kO_WRONLY);
  EXPECT_EQ(write_str(fd, "x"), 1);
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "/tmp/real/f", &st, 0), 0);
  std::string target;
  EXPECT_EQ(fs_->readlinkat(abi::kAT_FDCWD, "/tmp/link", &target), 4);
  EXPECT_EQ(target, "real");
  EXPECT_EQ(fs_->readlinkat(abi::kAT_FDCWD, "/tmp/real", &target), -err::kEINVAL);
  EXPECT_EQ(fs_->readlinkat(abi::kAT_FDCWD, "/pglite/bin/postgres", &target), -err::kEINVAL);
  EXPECT_EQ(fs_->readlinkat(abi::kAT_FDCWD, "/pglite", &target), -err::kEINVAL);
  // A memdir link pointing at the host can only reach what the mounts show.
  ASSERT_EQ(fs_->symlinkat("../../" + root_ + "/outside/secret.txt", abi::kAT_FDCWD, "/tmp/esc"),
            0);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/tmp/esc", abi::kO_RDONLY, 0), -err::kENOENT);
  ASSERT_EQ(fs_->symlinkat("/pglite/share/postgresql", abi::kAT_FDCWD, "/tmp/share"), 0);
  fd = open("/tmp/share/postgres.bki", abi::kO_RDONLY);
  EXPECT_EQ(read_str(fd, 10), "bki");
  // Loops end.
  ASSERT_EQ(fs_->symlinkat("/tmp/loop", abi::kAT_FDCWD, "/tmp/loop"), 0);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/tmp/loop", abi::kO_RDONLY, 0), -err::kELOOP);
}

TEST_F(VfsTest, ReadOnlyMountRefusesWrites) {
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/pglite/share/postgresql/postgres.bki", abi::kO_RDWR, 0),
            -err::kEROFS);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/pglite/share/new", abi::kO_CREAT | abi::kO_WRONLY, 0644),
            -err::kEROFS);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/pglite/share/postgresql/postgres.bki",
                        abi::kO_CREAT | abi::kO_EXCL | abi::kO_RDONLY, 0644),
            -err::kEEXIST);
  EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "/pglite/share/d", 0755), -err::kEROFS);
  EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "/pglite/share/postgresql", 0755), -err::kEEXIST);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/pglite/share/postgresql/postgres.bki", 0),
            -err::kEROFS);
  EXPECT_EQ(fs_->fchmodat(abi::kAT_FDCWD, "/pglite/bin/postgres", 0777, 0), -err::kEROFS);
  EXPECT_EQ(fs_->truncate(abi::kAT_FDCWD, "/pglite/bin/postgres", 0), -err::kEROFS);
  EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, "/pglite/bin/postgres", abi::kAT_FDCWD, "/pglite/bin/p"),
            -err::kEROFS);
  EXPECT_EQ(fs_->utimensat(abi::kAT_FDCWD, "/pglite/bin/postgres", nullptr, 0), -err::kEROFS);
  // Reading works; access() says executable but not writable.
  int fd = open("/pglite/share/postgresql/postgres.bki", abi::kO_RDONLY);
  EXPECT_EQ(read_str(fd, 100), "bki");
  EXPECT_EQ(fs_->fchmod(fd, 0777), -err::kEROFS);
  EXPECT_EQ(fs_->faccessat(abi::kAT_FDCWD, "/pglite/bin/postgres", abi::kX_OK, 0), 0);
  EXPECT_EQ(fs_->faccessat(abi::kAT_FDCWD, "/pglite/bin/postgres", abi::kR_OK | abi::kX_OK, 0), 0);
  EXPECT_EQ(fs_->faccessat(abi::kAT_FDCWD, "/pglite/bin/postgres", abi::kW_OK, 0), -err::kEACCES);
  EXPECT_EQ(fs_->faccessat(abi::kAT_FDCWD, "/pglite/bin/initdb", abi::kF_OK, 0), -err::kENOENT);
  EXPECT_EQ(fs_->faccessat(abi::kAT_FDCWD, "/pglite/data", abi::kW_OK, 0), 0);
  EXPECT_EQ(read_host(root_ + "/bundle/pglite/share/postgresql/postgres.bki"), "bki");
}

TEST_F(VfsTest, CrossMountRenameAndLinkAreExdev) {
  int fd = open("/pglite/data/a", abi::kO_CREAT | abi::kO_WRONLY);
  fs_->close(fd);
  EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, "/pglite/data/a", abi::kAT_FDCWD, "/tmp/a"),
            -err::kEXDEV);
  EXPECT_EQ(fs_->linkat(abi::kAT_FDCWD, "/pglite/data/a", abi::kAT_FDCWD, "/dev/shm/a", 0),
            -err::kEXDEV);
  // Mount roots cannot be renamed or removed.
  EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, "/pglite/data", abi::kAT_FDCWD, "/pglite/data/x"),
            -err::kEBUSY);
  EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, "/pglite/data", abi::kAT_FDCWD, "/pglite/data2"),
            -err::kENOENT);
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/pglite/data", abi::kAT_REMOVEDIR), -err::kEBUSY);
}

}  // namespace
}  // namespace pgthaw::vfs
