// Tests of FileSystem::save_state() / restore_state(): a round trip into a
// fresh FileSystem keeps fd numbers, shared descriptions, offsets, flags,
// listings, pipes with data, MemDir contents (byte for byte) and unlinked
// open MemDir files; a missing host file fails the restore cleanly.
#include <random>

#include "vfs/test_fixture.h"

namespace pgthaw::vfs {
namespace {

constexpr int kRdwrCreat = abi::kO_RDWR | abi::kO_CREAT | abi::kO_LARGEFILE;

class SnapshotStateTest : public VfsTest {
 protected:
  // A fresh FileSystem over the same host directories with new MemDirs, as
  // a restoring process would build it.
  std::unique_ptr<FileSystem> fresh_fs() {
    shm_ = std::make_shared<MemDir>();
    tmp_ = std::make_shared<MemDir>();
    return make_fs(false);
  }
  static std::string random_bytes(size_t n) {
    std::mt19937 gen(42);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(gen());
    return s;
  }
};

TEST_F(SnapshotStateTest, RoundTrip) {
  // A relation file: one description behind three fds, another separately.
  int rel = open("/pglite/data/rel", kRdwrCreat | abi::kO_APPEND, 0600);
  ASSERT_EQ(write_str(rel, "0123456789"), 10);
  ASSERT_EQ(fs_->seek(rel, 4, abi::kSEEK_SET), 4);
  int rel_dup = fs_->dup(rel);
  ASSERT_EQ(fs_->dup3(rel, 100, 0), 100);
  int rel2 = open("rel", abi::kO_RDONLY);
  ASSERT_EQ(fs_->seek(rel2, 7, abi::kSEEK_SET), 7);
  // A DSM segment in /dev/shm, and one unlinked while open.
  const std::string seg = random_bytes(200000);
  int shm = open("/dev/shm/PostgreSQL.123", kRdwrCreat, 0600);
  ASSERT_EQ(write_str(shm, seg), static_cast<int64_t>(seg.size()));
  int gone = open("/dev/shm/PostgreSQL.456", kRdwrCreat, 0600);
  ASSERT_EQ(write_str(gone, "orphan bytes"), 12);
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/dev/shm/PostgreSQL.456", 0), 0);
  ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "/dev/shm/sub", 0700), 0);
  ASSERT_TRUE(shm_->put_file("sub/deep", "deep bytes").ok());
  // The latch self-pipe with a byte in it; a closed stdin.
  std::array<int, 2> p;
  ASSERT_EQ(fs_->pipe2(abi::kO_NONBLOCK, &p), 0);
  ASSERT_EQ(fs_->write(p[1], "L", 1), 1);
  ASSERT_EQ(fs_->close(0), 0);
  // A directory read half-way.
  open("/pglite/data/a", kRdwrCreat);
  open("/pglite/data/b", kRdwrCreat);
  int dir = open("/pglite/data", abi::kO_RDONLY | abi::kO_DIRECTORY);
  std::vector<DirEntry> first;
  ASSERT_EQ(fs_->getdents(dir, 3, &first), 0);
  ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "/tmp/work", 0700), 0);
  ASSERT_EQ(fs_->chdir("/tmp/work"), 0);
  fs_->umask(077);
  const std::vector<OpenFileInfo> before = fs_->describe_open_files();
  const int rel_flags = fs_->fcntl(rel_dup, abi::kF_GETFL, 0);
  EXPECT_TRUE(rel_flags & abi::kO_APPEND);

  Result<std::string> state = fs_->save_state();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  std::vector<DirEntry> rest_expected;
  {
    std::vector<DirEntry> batch;
    while (fs_->getdents(dir, 100, &batch) == 0 && !batch.empty()) {
      rest_expected.insert(rest_expected.end(), batch.begin(), batch.end());
    }
  }
  std::shared_ptr<MemDir> old_shm = shm_;
  fs_ = fresh_fs();
  Status st = fs_->restore_state(*state);
  ASSERT_TRUE(st.ok()) << st.ToString();

  // Same fds, kinds, paths, flags, offsets.
  std::vector<OpenFileInfo> after = fs_->describe_open_files();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    SCOPED_TRACE(before[i].path);
    EXPECT_EQ(after[i].fd, before[i].fd);
    EXPECT_EQ(after[i].kind, before[i].kind);
    EXPECT_EQ(after[i].path, before[i].path);
    EXPECT_EQ(after[i].flags, before[i].flags);
    EXPECT_EQ(after[i].offset, before[i].offset);
    EXPECT_EQ(after[i].pipe_id, before[i].pipe_id);
  }
  EXPECT_EQ(fs_->isatty(1), 1);
  EXPECT_EQ(fs_->getcwd(), "/tmp/work");
  EXPECT_EQ(fs_->current_umask(), 077u);
  EXPECT_EQ(fs_->fcntl(rel_dup, abi::kF_GETFL, 0), rel_flags);

  // Shared description: reading through one fd moves the others.
  EXPECT_EQ(read_str(rel_dup, 2), "45");
  EXPECT_EQ(fs_->seek(100, 0, abi::kSEEK_CUR), 6);
  EXPECT_EQ(fs_->seek(rel, 0, abi::kSEEK_CUR), 6);
  EXPECT_EQ(read_str(rel2, 10), "789");  // its own offset

  // /dev/shm byte for byte, via the fd and in the new MemDir.
  std::string buf(seg.size(), '\0');
  EXPECT_EQ(fs_->pread(shm, buf.data(), buf.size(), 0), static_cast<int64_t>(seg.size()));
  EXPECT_EQ(buf, seg);
  Result<std::string> in_tree = shm_->get_file("PostgreSQL.123");
  ASSERT_TRUE(in_tree.ok());
  EXPECT_EQ(*in_tree, seg);
  EXPECT_EQ(shm_->get_file("sub/deep").value(), "deep bytes");
  EXPECT_NE(shm_, old_shm);
  // Writes through the fd reach the tree (the fd holds the tree's node).
  ASSERT_EQ(fs_->pwrite(shm, "Z", 1, 0), 1);
  EXPECT_EQ(shm_->get_file("PostgreSQL.123").value()[0], 'Z');
  Stat s;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "/dev/shm/PostgreSQL.456", &s, 0), -err::kENOENT);
  EXPECT_EQ(fs_->pread(gone, buf.data(), 100, 0), 12);
  EXPECT_EQ(buf.substr(0, 12), "orphan bytes");

  // The pipe still holds its byte and both ends are open.
  char c = 0;
  EXPECT_EQ(fs_->read(p[0], &c, 1), 1);
  EXPECT_EQ(c, 'L');
  EXPECT_EQ(fs_->read(p[0], &c, 1), -err::kEAGAIN);  // a writer is still open
  ASSERT_EQ(fs_->write(p[1], "M", 1), 1);
  std::array<int, 2> q;
  ASSERT_EQ(fs_->pipe2(0, &q), 0);
  Stat ps, qs;
  ASSERT_EQ(fs_->fstat(p[0], &ps), 0);
  ASSERT_EQ(fs_->fstat(q[0], &qs), 0);
  EXPECT_NE(ps.ino, qs.ino);  // new pipes get new ids

  // The directory continues where it was.
  std::vector<DirEntry> rest, batch;
  while (fs_->getdents(dir, 100, &batch) == 0 && !batch.empty()) {
    rest.insert(rest.end(), batch.begin(), batch.end());
  }
  ASSERT_EQ(rest.size(), rest_expected.size());
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].name, rest_expected[i].name);
}

TEST_F(SnapshotStateTest, HostFilesReopenOnFirstUseAndAMissingOneFailsThere) {
  int fd = open("/pglite/data/16384", kRdwrCreat);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fs_->pwrite(fd, "page", 4, 0), 4);
  int kept = open("/pglite/data/16385", kRdwrCreat);
  ASSERT_GE(kept, 0);
  ASSERT_EQ(fs_->pwrite(kept, "kept", 4, 0), 4);
  Result<std::string> state = fs_->save_state();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  std::filesystem::remove(root_ + "/data/16384");
  fs_ = fresh_fs();
  // The restore opens no host file: it cannot see the missing one.
  ASSERT_TRUE(fs_->restore_state(*state).ok());
  char buf[8] = {};
  EXPECT_EQ(fs_->pread(fd, buf, sizeof buf, 0), -err::kEBADF);  // gone: every use fails
  EXPECT_EQ(fs_->pread(fd, buf, sizeof buf, 0), -err::kEBADF);
  EXPECT_EQ(fs_->pread(kept, buf, sizeof buf, 0), 4);
  EXPECT_EQ(std::string(buf, 4), "kept");
  EXPECT_EQ(fs_->close(fd), 0);  // closes without opening
}

TEST_F(SnapshotStateTest, ADeferredFileKeepsItsFileThroughARenameAndAnUnlink) {
  int a = open("/pglite/data/a", kRdwrCreat);
  int b = open("/pglite/data/b", kRdwrCreat);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(fs_->pwrite(a, "AAAA", 4, 0), 4);
  ASSERT_EQ(fs_->pwrite(b, "BBBB", 4, 0), 4);
  Result<std::string> state = fs_->save_state();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  fs_ = fresh_fs();
  ASSERT_TRUE(fs_->restore_state(*state).ok());
  // As with descriptions opened before: they follow their files, not names.
  ASSERT_EQ(fs_->renameat(abi::kAT_FDCWD, "/pglite/data/a", abi::kAT_FDCWD, "/pglite/data/c"), 0);
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/pglite/data/b", 0), 0);
  char buf[4] = {};
  EXPECT_EQ(fs_->pread(a, buf, 4, 0), 4);
  EXPECT_EQ(std::string(buf, 4), "AAAA");
  EXPECT_EQ(fs_->pread(b, buf, 4, 0), 4);
  EXPECT_EQ(std::string(buf, 4), "BBBB");
}

TEST_F(SnapshotStateTest, SaveFailsForAnUnlinkedHostFile) {
  open("/pglite/data/t", kRdwrCreat);
  ASSERT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/pglite/data/t", 0), 0);
  Result<std::string> state = fs_->save_state();
  EXPECT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), StatusCode::kNotFound);
}

TEST_F(SnapshotStateTest, CorruptStateIsRejected) {
  Result<std::string> state = fs_->save_state();
  ASSERT_TRUE(state.ok());
  std::string s = *state;
  EXPECT_EQ(fs_->restore_state(s.substr(0, s.size() - 1)).code(), StatusCode::kCorruption);
  EXPECT_EQ(fs_->restore_state("nonsense").code(), StatusCode::kCorruption);
  s[8] = 99;  // version
  EXPECT_EQ(fs_->restore_state(s).code(), StatusCode::kCorruption);
  EXPECT_TRUE(fs_->restore_state(*state).ok());
}

TEST_F(SnapshotStateTest, SharedMemDirIsRestoredByPath) {
  auto shared = std::make_shared<MemDir>();
  ASSERT_TRUE(shared->put_file("pgstdin", "query").ok());
  auto make = [&](std::shared_ptr<MemDir> shm) {
    FileSystemOptions o;
    o.mounts.push_back(HostDirMount{"/pglite/data", root_ + "/data", false});
    o.mounts.push_back(MemDirMount{"/dev/shm", std::move(shm)});
    MemDirMount m{"/pglite/io", shared};
    m.save_contents = false;
    o.mounts.push_back(m);
    return std::move(FileSystem::create(std::move(o))).value();
  };
  auto a = make(std::make_shared<MemDir>());
  int fd = a->openat(abi::kAT_FDCWD, "/pglite/io/pgstdin", abi::kO_RDONLY, 0);
  ASSERT_GE(fd, 0);
  char buf[2];
  ASSERT_EQ(a->read(fd, buf, 2), 2);
  Result<std::string> state = a->save_state();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  ASSERT_TRUE(shared->put_file("other", "o").ok());
  auto b = make(std::make_shared<MemDir>());
  ASSERT_TRUE(b->restore_state(*state).ok());
  EXPECT_TRUE(shared->get_file("other").ok());  // the shared tree was left alone
  char rest[10];
  EXPECT_EQ(b->read(fd, rest, sizeof(rest)), 3);
  EXPECT_EQ(std::string(rest, 3), "ery");
}

TEST_F(SnapshotStateTest, OverlayDescriptionsRestoreIntoANewUpper) {
  // Template (lower) shared; the snapshot is restored over a copy of upper.
  std::filesystem::create_directories(root_ + "/lower/base");
  write_host(root_ + "/lower/base/1259", "template");
  std::filesystem::create_directories(root_ + "/upper1");
  std::filesystem::create_directories(root_ + "/upper2");
  auto make = [&](const std::string& upper) {
    FileSystemOptions o;
    o.mounts.push_back(OverlayMount{"/pglite/data", {root_ + "/lower"}, upper});
    return std::move(FileSystem::create(std::move(o))).value();
  };
  auto a = make(root_ + "/upper1");
  int lower_fd = a->openat(abi::kAT_FDCWD, "/pglite/data/base/1259", abi::kO_RDWR, 0);
  int new_fd = a->openat(abi::kAT_FDCWD, "/pglite/data/base/2000", kRdwrCreat, 0600);
  ASSERT_EQ(a->write(new_fd, "abc", 3), 3);
  ASSERT_EQ(a->seek(lower_fd, 2, abi::kSEEK_SET), 2);
  Result<std::string> state = a->save_state();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  std::filesystem::copy(
      root_ + "/upper1", root_ + "/upper2",
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  auto b = make(root_ + "/upper2");
  ASSERT_TRUE(b->restore_state(*state).ok());
  char buf[16];
  EXPECT_EQ(b->read(lower_fd, buf, sizeof(buf)), 6);
  EXPECT_EQ(std::string(buf, 6), "mplate");
  EXPECT_EQ(b->seek(new_fd, 0, abi::kSEEK_CUR), 3);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/upper2/base/1259"));  // still not copied
  ASSERT_EQ(b->pwrite(lower_fd, "T", 1, 0), 1);
  EXPECT_EQ(read_host(root_ + "/upper2/base/1259"), "Template");
  EXPECT_EQ(read_host(root_ + "/lower/base/1259"), "template");
  EXPECT_FALSE(std::filesystem::exists(root_ + "/upper1/base/1259"));
}

}  // namespace
}  // namespace pgthaw::vfs
