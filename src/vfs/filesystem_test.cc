// Tests of FileSystem file and fd operations over real host files and
// MemDirs: open flags, positional I/O, dup, rename/unlink, getdents, pipes,
// devices, fd limits, stdio, fcntl/poll.
#include <algorithm>
#include <chrono>

#include "vfs/test_fixture.h"

namespace pgthaw::vfs {
namespace {

constexpr int kRdwrCreat = abi::kO_RDWR | abi::kO_CREAT | abi::kO_LARGEFILE;

TEST_F(VfsTest, StdioIsOpenAtStart) {
  EXPECT_EQ(fs_->open_fd_count(), 3);
  EXPECT_EQ(fs_->fdstat_filetype(0), abi::kFiletypeCharacterDevice);
  EXPECT_EQ(fs_->isatty(2), 1);
  char c;
  EXPECT_EQ(fs_->read(0, &c, 1), 0);  // stdin is EOF
  EXPECT_EQ(fs_->seek(0, 0, abi::kSEEK_SET), -err::kESPIPE);
  EXPECT_EQ(write_str(2, "hello\nwor"), 9);
  EXPECT_EQ(write_str(1, "out\n"), 4);
  EXPECT_EQ(lines_, (std::vector<std::string>{"2:hello", "1:out"}));
  // Closing the last stderr fd flushes the partial line.
  int d = fs_->dup(2);
  EXPECT_EQ(fs_->close(2), 0);
  EXPECT_EQ(lines_.size(), 2u);
  EXPECT_EQ(fs_->close(d), 0);
  EXPECT_EQ(lines_.back(), "2:wor");
}

TEST_F(VfsTest, PartialStdoutLineFlushedAtDestruction) {
  write_str(1, "bye");
  fs_.reset();
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0], "1:bye");
}

TEST_F(VfsTest, OpenCreateExclTruncAppend) {
  int fd = fs_->openat(abi::kAT_FDCWD, "f", abi::kO_RDONLY, 0);
  EXPECT_EQ(fd, -err::kENOENT);
  fd = open("f", abi::kO_WRONLY | abi::kO_CREAT | abi::kO_EXCL, 0666);
  EXPECT_EQ(fd, 3);  // lowest free
  EXPECT_EQ(write_str(fd, "hello world"), 11);
  EXPECT_EQ(read_host(root_ + "/data/f"), "hello world");
  struct stat s;
  ASSERT_EQ(::stat((root_ + "/data/f").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0644u);  // umask 022 applied
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "f", abi::kO_WRONLY | abi::kO_CREAT | abi::kO_EXCL, 0644),
            -err::kEEXIST);
  EXPECT_EQ(read_str(fd, 1), "ERR-8");  // write-only
  int rd = open("f", abi::kO_RDONLY);
  EXPECT_EQ(write_str(rd, "x"), -err::kEBADF);
  EXPECT_EQ(read_str(rd, 5), "hello");
  EXPECT_EQ(read_str(rd, 100), " world");
  EXPECT_EQ(read_str(rd, 100), "");

  int ap = open("f", abi::kO_WRONLY | abi::kO_APPEND);
  EXPECT_EQ(write_str(ap, "!"), 1);
  EXPECT_EQ(fs_->seek(ap, 0, abi::kSEEK_CUR), 12);
  EXPECT_EQ(read_host(root_ + "/data/f"), "hello world!");

  int tr = open("f", abi::kO_RDWR | abi::kO_TRUNC);
  Stat st;
  ASSERT_EQ(fs_->fstat(tr, &st), 0);
  EXPECT_EQ(st.size, 0);
  EXPECT_EQ(st.mode & abi::kS_IFMT, abi::kS_IFREG);
  EXPECT_EQ(st.uid, 0u);
  EXPECT_EQ(fs_->fcntl(tr, abi::kF_GETFL, 0), abi::kO_RDWR);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "f", abi::kO_RDONLY | abi::kO_DIRECTORY, 0),
            -err::kENOTDIR);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "f/", abi::kO_RDONLY, 0), -err::kENOTDIR);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/pglite/data", abi::kO_RDWR, 0), -err::kEISDIR);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "", abi::kO_RDONLY, 0), -err::kENOENT);
}

TEST_F(VfsTest, PreadPwriteAndSeekEnd) {
  for (const char* path : {"/pglite/data/rel", "/dev/shm/rel"}) {
    SCOPED_TRACE(path);
    int fd = open(path, kRdwrCreat, 0600);
    std::string page(8192, 'a');
    EXPECT_EQ(fs_->pwrite(fd, page.data(), page.size(), 8192), 8192);
    EXPECT_EQ(fs_->seek(fd, 0, abi::kSEEK_CUR), 0);  // pwrite leaves the offset
    EXPECT_EQ(fs_->seek(fd, 0, abi::kSEEK_END), 16384);
    char buf[4] = {1, 1, 1, 1};
    EXPECT_EQ(fs_->pread(fd, buf, 4, 0), 4);  // the hole reads as zeros
    EXPECT_EQ(buf[0], 0);
    EXPECT_EQ(fs_->pread(fd, buf, 4, 16382), 2);
    EXPECT_EQ(fs_->pread(fd, buf, 4, 20000), 0);
    EXPECT_EQ(fs_->pread(fd, buf, 4, -1), -err::kEINVAL);
    EXPECT_EQ(fs_->seek(fd, -10, abi::kSEEK_SET), -err::kEINVAL);
    EXPECT_EQ(fs_->seek(fd, 0, 7), -err::kEINVAL);
    EXPECT_EQ(fs_->seek(fd, -2, abi::kSEEK_END), 16382);
    EXPECT_EQ(read_str(fd, 10), "aa");
    EXPECT_EQ(fs_->ftruncate(fd, 100), 0);
    EXPECT_EQ(fs_->seek(fd, 0, abi::kSEEK_END), 100);
    EXPECT_EQ(fs_->fallocate(fd, 0, 0, 4096), 0);
    EXPECT_EQ(fs_->seek(fd, 0, abi::kSEEK_END), 4096);
    EXPECT_EQ(fs_->fallocate(fd, 1, 0, 4096), -err::kEOPNOTSUPP);
    EXPECT_EQ(fs_->truncate(abi::kAT_FDCWD, path, 10), 0);
    Stat st;
    ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, path, &st, 0), 0);
    EXPECT_EQ(st.size, 10);
  }
}

TEST_F(VfsTest, DupSharesTheDescriptionAndIsCheap) {
  int fd = open("shared", kRdwrCreat);
  write_str(fd, "0123456789");
  fs_->seek(fd, 0, abi::kSEEK_SET);
  int d = fs_->dup(fd);
  EXPECT_EQ(read_str(fd, 3), "012");
  EXPECT_EQ(read_str(d, 3), "345");  // shared offset
  EXPECT_EQ(fs_->close(fd), 0);
  EXPECT_EQ(read_str(d, 3), "678");  // still open through the dup
  EXPECT_EQ(fs_->close(fd), -err::kEBADF);

  // Postgres' count_usable_fds: 1,000 dups of stderr, then close them all.
  auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 10; ++round) {
    std::vector<int> fds;
    for (int i = 0; i < 1000; ++i) {
      int n = fs_->dup(2);
      ASSERT_GE(n, 0);
      fds.push_back(n);
    }
    for (int n : fds) ASSERT_EQ(fs_->close(n), 0);
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  EXPECT_LT(ms, 2000);  // ~ a few ms in practice, even under sanitizers
  EXPECT_EQ(fs_->open_fd_count(), 4);
}

TEST_F(VfsTest, Dup3AndFcntlDupfd) {
  int fd = open("/tmp/pgstdout", kRdwrCreat);
  EXPECT_EQ(fs_->dup3(fd, fd, 0), -err::kEINVAL);
  EXPECT_EQ(fs_->dup3(fd, 1, 1), -err::kEINVAL);
  EXPECT_EQ(fs_->dup3(fd, FileSystem::kMaxFds, 0), -err::kEBADF);
  EXPECT_EQ(fs_->dup3(77, 1, 0), -err::kEBADF);
  EXPECT_EQ(fs_->dup3(fd, 1, abi::kO_CLOEXEC), 1);  // replaces stdout
  EXPECT_EQ(write_str(1, "to file\n"), 8);
  EXPECT_TRUE(lines_.empty());
  EXPECT_EQ(tmp_->get_file("pgstdout").value(), "to file\n");
  EXPECT_EQ(fs_->dup3(fd, 100, 0), 100);
  EXPECT_EQ(fs_->fcntl(fd, abi::kF_DUPFD, 50), 50);
  EXPECT_EQ(fs_->fcntl(fd, abi::kF_DUPFD, 100), 101);
  EXPECT_EQ(fs_->fcntl(fd, abi::kF_GETFD, 0), 0);
  EXPECT_EQ(fs_->fcntl(fd, abi::kF_SETFL, abi::kO_APPEND | abi::kO_TRUNC), 0);
  EXPECT_EQ(fs_->fcntl(fd, abi::kF_GETFL, 0), kRdwrCreat | abi::kO_APPEND);
  EXPECT_EQ(fs_->fcntl(fd, abi::kF_GETLK, 0), 0);
  EXPECT_EQ(fs_->fcntl(fd, abi::kF_SETLKW, 0), 0);
  EXPECT_EQ(fs_->fcntl(fd, 99, 0), -err::kEINVAL);
}

TEST_F(VfsTest, RenameUnlinkRmdir) {
  for (const char* dir : {"/pglite/data", "/dev/shm"}) {
    SCOPED_TRACE(dir);
    std::string d = dir;
    ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, d + "/sub", 0700), 0);
    EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, d + "/sub", 0700), -err::kEEXIST);
    EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, d + "/nope/sub", 0700), -err::kENOENT);
    int fd = open(d + "/sub/a", kRdwrCreat);
    write_str(fd, "A");
    fs_->close(fd);
    EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, d + "/sub/a", abi::kAT_FDCWD, d + "/sub/b"), 0);
    Stat st;
    EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, d + "/sub/a", &st, 0), -err::kENOENT);
    ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, d + "/sub/b", &st, 0), 0);
    EXPECT_EQ(st.size, 1);
    // rename over an existing file replaces it.
    fd = open(d + "/c", kRdwrCreat);
    fs_->close(fd);
    EXPECT_EQ(fs_->renameat(abi::kAT_FDCWD, d + "/sub/b", abi::kAT_FDCWD, d + "/c"), 0);
    ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, d + "/c", &st, 0), 0);
    EXPECT_EQ(st.size, 1);
    fd = open(d + "/sub/x", kRdwrCreat);
    fs_->close(fd);
    EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, d + "/sub", abi::kAT_REMOVEDIR), -err::kENOTEMPTY);
    EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, d + "/sub", 0), -err::kEISDIR);
    EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, d + "/sub/x", abi::kAT_REMOVEDIR), -err::kENOTDIR);
    EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, d + "/sub/x", 7), -err::kEINVAL);
    EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, d + "/sub/x", 0), 0);
    EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, d + "/sub/x", 0), -err::kENOENT);
    EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, d + "/sub", abi::kAT_REMOVEDIR), 0);
    EXPECT_EQ(fs_->linkat(abi::kAT_FDCWD, d + "/c", abi::kAT_FDCWD, d + "/c2", 0), 0);
    ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, d + "/c2", &st, 0), 0);
    EXPECT_EQ(st.nlink, 2u);
  }
}

TEST_F(VfsTest, UnlinkedMemFileStaysReadableWhileOpen) {
  int fd = open("/dev/shm/PostgreSQL.1", abi::kO_RDWR | abi::kO_CREAT | abi::kO_EXCL, 0600);
  write_str(fd, "segment");
  EXPECT_EQ(fs_->unlinkat(abi::kAT_FDCWD, "/dev/shm/PostgreSQL.1", 0), 0);
  char buf[7];
  EXPECT_EQ(fs_->pread(fd, buf, 7, 0), 7);
  EXPECT_EQ(std::string(buf, 7), "segment");
}

TEST_F(VfsTest, GetdentsListsDotsFirstAndRewinds) {
  for (const char* dir : {"/pglite/data", "/tmp"}) {
    SCOPED_TRACE(dir);
    std::string d = dir;
    for (const char* n : {"x", "y", "z"}) fs_->close(open(d + "/" + n, kRdwrCreat));
    ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, d + "/sub", 0700), 0);
    int fd = open(d, abi::kO_RDONLY | abi::kO_DIRECTORY | abi::kO_CLOEXEC);
    EXPECT_EQ(fs_->fdstat_filetype(fd), abi::kFiletypeDirectory);
    std::vector<DirEntry> batch;
    ASSERT_EQ(fs_->getdents(fd, 2, &batch), 0);
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch[0].name, ".");
    EXPECT_EQ(batch[1].name, "..");
    EXPECT_EQ(batch[1].index, 1);
    std::vector<std::string> rest = list(fd);
    std::sort(rest.begin(), rest.end());
    EXPECT_EQ(rest, (std::vector<std::string>{"sub", "x", "y", "z"}));
    ASSERT_EQ(fs_->getdents(fd, 10, &batch), 0);
    EXPECT_TRUE(batch.empty());
    // Rewind sees changes made since.
    fs_->close(open(d + "/w", kRdwrCreat));
    EXPECT_EQ(fs_->seek(fd, 0, abi::kSEEK_SET), 0);
    std::vector<std::string> all = list(fd);
    EXPECT_EQ(all.size(), 7u);
    EXPECT_EQ(all[0], ".");
    EXPECT_NE(std::find(all.begin(), all.end(), "w"), all.end());
    ASSERT_EQ(fs_->getdents(fd, 10, &batch), 0);
    EXPECT_TRUE(batch.empty());
    // Types.
    fs_->seek(fd, 0, abi::kSEEK_SET);
    ASSERT_EQ(fs_->getdents(fd, 100, &batch), 0);
    for (const DirEntry& e : batch) {
      EXPECT_EQ(e.type,
                e.name == "sub" || e.name == "." || e.name == ".." ? abi::kDT_DIR : abi::kDT_REG)
          << e.name;
    }
    EXPECT_EQ(fs_->read(fd, nullptr, 0), -err::kEISDIR);
  }
  int f = open("/pglite/data/x", abi::kO_RDONLY);
  std::vector<DirEntry> batch;
  EXPECT_EQ(fs_->getdents(f, 10, &batch), -err::kENOTDIR);
}

TEST_F(VfsTest, AncestorDirectoriesListMounts) {
  Stat st;
  for (const char* p : {"/", "/pglite", "/dev"}) {
    ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, p, &st, 0), 0) << p;
    EXPECT_EQ(st.mode & abi::kS_IFMT, abi::kS_IFDIR) << p;
  }
  int fd = open("/pglite", abi::kO_RDONLY | abi::kO_DIRECTORY);
  std::vector<std::string> names = list(fd);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "bin", "data", "share"}));
  fd = open("/dev", abi::kO_RDONLY | abi::kO_DIRECTORY);
  names = list(fd);
  for (const char* n : {"null", "urandom", "random", "blob", "shm", "stdin", "stdout", "stderr"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/pglite", abi::kO_RDWR, 0), -err::kEISDIR);
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "/pglite/nothing", &st, 0), -err::kENOENT);
  EXPECT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "/pglite", 0755), -err::kEEXIST);
}

TEST_F(VfsTest, MemDirSharedBetweenFileSystems) {
  std::unique_ptr<FileSystem> other = make_fs(false);
  ASSERT_NE(other, nullptr);
  int w = open("/tmp/pgstdin", abi::kO_WRONLY | abi::kO_CREAT | abi::kO_TRUNC);
  int r = other->openat(abi::kAT_FDCWD, "/tmp/pgstdin", abi::kO_RDONLY, 0);
  ASSERT_GE(r, 0);
  EXPECT_EQ(write_str(w, "select 1;\n"), 10);
  char buf[32];
  EXPECT_EQ(other->read(r, buf, sizeof(buf)), 10);
  EXPECT_EQ(write_str(w, "select 2;\n"), 10);
  EXPECT_EQ(other->read(r, buf, sizeof(buf)), 10);  // its own offset continues
  EXPECT_EQ(std::string(buf, 10), "select 2;\n");
  EXPECT_EQ(other->unlinkat(abi::kAT_FDCWD, "/tmp/pgstdin", 0), 0);
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "/tmp/pgstdin", &st, 0), -err::kENOENT);
  // The shm MemDir of this fixture is shared too; a different one is not.
  auto separate = std::make_shared<MemDir>();
  FileSystemOptions o;
  o.mounts.push_back(MemDirMount{"/tmp", separate});
  auto third = FileSystem::create(std::move(o));
  ASSERT_TRUE(third.ok());
  fs_->close(open("/tmp/only_here", kRdwrCreat));
  EXPECT_EQ((*third)->stat(abi::kAT_FDCWD, "/tmp/only_here", &st, 0), -err::kENOENT);
}

TEST_F(VfsTest, PipesNeverBlock) {
  std::array<int, 2> p;
  ASSERT_EQ(fs_->pipe2(abi::kO_NONBLOCK | abi::kO_CLOEXEC, &p), 0);
  EXPECT_EQ(p[0], 3);
  EXPECT_EQ(p[1], 4);
  char c = 0;
  EXPECT_EQ(fs_->read(p[0], &c, 1), -err::kEAGAIN);
  std::array<PollFd, 3> pfds = {PollFd{p[0], abi::kPOLLIN, 0}, PollFd{p[1], abi::kPOLLOUT, 0},
                                PollFd{99, abi::kPOLLIN, 0}};
  EXPECT_EQ(fs_->poll(pfds), 2);
  EXPECT_EQ(pfds[0].revents, 0);
  EXPECT_EQ(pfds[1].revents, abi::kPOLLOUT);
  EXPECT_EQ(pfds[2].revents, abi::kPOLLNVAL);
  EXPECT_EQ(fs_->write(p[1], "x", 1), 1);
  EXPECT_EQ(fs_->poll(std::span(pfds).first(1)), 1);
  EXPECT_EQ(pfds[0].revents, abi::kPOLLIN);
  EXPECT_EQ(fs_->read(p[0], &c, 1), 1);
  EXPECT_EQ(c, 'x');
  EXPECT_EQ(fs_->seek(p[0], 0, abi::kSEEK_SET), -err::kESPIPE);
  EXPECT_EQ(fs_->fadvise(p[0]), -err::kESPIPE);
  EXPECT_EQ(fs_->write(p[0], "x", 1), -err::kEBADF);
  // Fill it: the write that does not fit is EAGAIN.
  std::string big(Pipe::kCapacityBytes, 'y');
  EXPECT_EQ(fs_->write(p[1], big.data(), big.size()), static_cast<int64_t>(big.size()));
  EXPECT_EQ(fs_->write(p[1], "z", 1), -err::kEAGAIN);
  std::string drain(Pipe::kCapacityBytes, '\0');
  EXPECT_EQ(fs_->read(p[0], drain.data(), drain.size()), static_cast<int64_t>(drain.size()));
  // Blocking mode on an empty pipe with a writer: EAGAIN too (documented).
  ASSERT_EQ(fs_->fcntl(p[0], abi::kF_SETFL, 0), 0);
  EXPECT_EQ(fs_->read(p[0], &c, 1), -err::kEAGAIN);
  // Writer gone: EOF and POLLHUP.
  EXPECT_EQ(fs_->close(p[1]), 0);
  EXPECT_EQ(fs_->read(p[0], &c, 1), 0);
  EXPECT_EQ(fs_->poll(std::span(pfds).first(1)), 1);
  EXPECT_EQ(pfds[0].revents, abi::kPOLLIN | abi::kPOLLHUP);
  EXPECT_EQ(fs_->pipe2(abi::kO_TRUNC, &p), -err::kEINVAL);
}

TEST_F(VfsTest, WriteToPipeWithoutReaderIsEpipe) {
  std::array<int, 2> p;
  ASSERT_EQ(fs_->pipe2(0, &p), 0);
  fs_->close(p[0]);
  EXPECT_EQ(fs_->write(p[1], "x", 1), -err::kEPIPE);
}

TEST_F(VfsTest, Devices) {
  int n = open("/dev/null", abi::kO_RDWR);
  char buf[64];
  EXPECT_EQ(fs_->read(n, buf, sizeof(buf)), 0);
  EXPECT_EQ(fs_->write(n, buf, sizeof(buf)), 64);
  EXPECT_EQ(fs_->seek(n, 0, abi::kSEEK_SET), -err::kESPIPE);
  Stat st;
  ASSERT_EQ(fs_->fstat(n, &st), 0);
  EXPECT_EQ(st.mode & abi::kS_IFMT, abi::kS_IFCHR);

  int u = open("/dev/urandom", abi::kO_RDONLY);
  std::string a(32, '\0'), b(32, '\0');
  EXPECT_EQ(fs_->read(u, a.data(), 32), 32);
  EXPECT_EQ(fs_->read(u, b.data(), 32), 32);
  EXPECT_NE(a, b);
  EXPECT_NE(a, std::string(32, '\0'));
  int r = open("/dev/random", abi::kO_RDONLY);
  EXPECT_EQ(fs_->read(r, a.data(), 32), 32);

  fs_->set_blob_input("line1\nline2\n");
  int blob = open("/dev/blob", abi::kO_RDWR);
  EXPECT_EQ(read_str(blob, 6), "line1\n");
  EXPECT_EQ(fs_->seek(blob, 0, abi::kSEEK_END), 12);
  EXPECT_EQ(read_str(blob, 6), "");
  EXPECT_EQ(fs_->seek(blob, 6, abi::kSEEK_SET), 6);
  EXPECT_EQ(read_str(blob, 100), "line2\n");
  EXPECT_EQ(write_str(blob, "out1,"), 5);
  EXPECT_EQ(write_str(blob, "out2"), 4);
  EXPECT_EQ(fs_->take_blob_output(), "out1,out2");
  EXPECT_EQ(fs_->take_blob_output(), "");
  ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, "/dev/blob", &st, 0), 0);
  EXPECT_EQ(st.size, 12);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/dev/null", abi::kO_RDONLY | abi::kO_DIRECTORY, 0),
            -err::kENOTDIR);
  int e = open("/dev/stderr", abi::kO_WRONLY);
  write_str(e, "via path\n");
  EXPECT_EQ(lines_.back(), "2:via path");
}

TEST_F(VfsTest, ConnectionsReportIsReadAtOpenAndSeekable) {
  // No report set: an empty file.
  int none = open("/dev/pgthaw-connections", abi::kO_RDONLY);
  EXPECT_EQ(read_str(none, 10), "");
  int calls = 0;
  fs_->set_connections_report([&calls] { return "report " + std::to_string(++calls); });
  int a = open("/dev/pgthaw-connections", abi::kO_RDONLY);
  EXPECT_EQ(read_str(a, 3), "rep");
  // A reader that seeks (Postgres' pg_read_file does) gets the same text.
  EXPECT_EQ(fs_->seek(a, 0, abi::kSEEK_SET), 0);
  EXPECT_EQ(read_str(a, 100), "report 1");
  EXPECT_EQ(read_str(a, 100), "");
  // Each open asks again; an open description keeps what it read.
  int b = open("/dev/pgthaw-connections", abi::kO_RDONLY);
  EXPECT_EQ(read_str(b, 100), "report 2");
  EXPECT_EQ(fs_->seek(a, 0, abi::kSEEK_SET), 0);
  EXPECT_EQ(read_str(a, 100), "report 1");
  EXPECT_EQ(calls, 2);
  // The guest cannot write it.
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/dev/pgthaw-connections", abi::kO_WRONLY, 0),
            -err::kEACCES);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/dev/pgthaw-connections", abi::kO_RDWR, 0), -err::kEACCES);
  EXPECT_EQ(write_str(a, "x"), -err::kEBADF);
  fs_->set_connections_report(nullptr);
  int c = open("/dev/pgthaw-connections", abi::kO_RDONLY);
  EXPECT_EQ(read_str(c, 10), "");
}

TEST_F(VfsTest, EmfileAtTheLimit) {
  int opened = 0;
  while (true) {
    int fd = fs_->dup(0);
    if (fd < 0) {
      EXPECT_EQ(fd, -err::kEMFILE);
      break;
    }
    ++opened;
  }
  EXPECT_EQ(opened, FileSystem::kMaxFds - 3);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/dev/null", abi::kO_RDONLY, 0), -err::kEMFILE);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "new", kRdwrCreat, 0644), -err::kEMFILE);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/data/new"));  // nothing created
  std::array<int, 2> p;
  EXPECT_EQ(fs_->pipe2(0, &p), -err::kEMFILE);
  EXPECT_EQ(fs_->close(4000), 0);
  EXPECT_EQ(fs_->openat(abi::kAT_FDCWD, "/dev/null", abi::kO_RDONLY, 0), 4000);
}

TEST_F(VfsTest, DurableFsync) {
  std::unique_ptr<FileSystem> durable = make_fs(true);
  for (FileSystem* fs : {fs_.get(), durable.get()}) {
    int fd = fs->openat(abi::kAT_FDCWD, "wal", kRdwrCreat | abi::kO_DSYNC | abi::kO_APPEND, 0600);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(fs->write(fd, "rec", 3), 3);
    EXPECT_EQ(fs->fsync(fd), 0);
    EXPECT_EQ(fs->fdatasync(fd), 0);
    int dfd = fs->openat(abi::kAT_FDCWD, ".", abi::kO_RDONLY | abi::kO_DIRECTORY, 0);
    EXPECT_EQ(fs->fsync(dfd), 0);  // directory fsync, as durable_rename does
    int mem = fs->openat(abi::kAT_FDCWD, "/dev/shm/x", kRdwrCreat, 0600);
    EXPECT_EQ(fs->fsync(mem), 0);
    EXPECT_EQ(fs->fsync(2), 0);
    EXPECT_EQ(fs->fsync(1234), -err::kEBADF);
    fs->close(fd);
  }
  EXPECT_EQ(read_host(root_ + "/data/wal"), "recrec");
}

TEST_F(VfsTest, ChdirAndGetcwd) {
  EXPECT_EQ(fs_->getcwd(), "/pglite/data");
  ASSERT_EQ(fs_->mkdirat(abi::kAT_FDCWD, "base", 0700), 0);
  EXPECT_EQ(fs_->chdir("base"), 0);
  EXPECT_EQ(fs_->getcwd(), "/pglite/data/base");
  fs_->close(open("1259", kRdwrCreat));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/data/base/1259"));
  EXPECT_EQ(fs_->chdir("1259"), -err::kENOTDIR);
  EXPECT_EQ(fs_->chdir("/nowhere"), -err::kENOENT);
  EXPECT_EQ(fs_->chdir("../../.."), 0);
  EXPECT_EQ(fs_->getcwd(), "/");
  EXPECT_EQ(fs_->chdir("/dev/shm"), 0);
  EXPECT_EQ(fs_->getcwd(), "/dev/shm");
  int dfd = open("/pglite/data/base", abi::kO_RDONLY | abi::kO_DIRECTORY);
  EXPECT_EQ(fs_->fchdir(dfd), 0);
  EXPECT_EQ(fs_->getcwd(), "/pglite/data/base");
  Stat st;
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "", &st, abi::kAT_EMPTY_PATH), 0);
  EXPECT_EQ(st.mode & abi::kS_IFMT, abi::kS_IFDIR);
  EXPECT_EQ(fs_->stat(abi::kAT_FDCWD, "", &st, 0), -err::kENOENT);
}

TEST_F(VfsTest, UmaskChmodUtimens) {
  EXPECT_EQ(fs_->umask(077), 022u);
  EXPECT_EQ(fs_->umask(077), 077u);
  fs_->close(open("/dev/shm/m", kRdwrCreat, 0666));
  Stat st;
  ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, "/dev/shm/m", &st, 0), 0);
  EXPECT_EQ(st.mode & 0777, 0600u);
  EXPECT_EQ(fs_->fchmodat(abi::kAT_FDCWD, "/dev/shm/m", 0640, 0), 0);
  ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, "/dev/shm/m", &st, 0), 0);
  EXPECT_EQ(st.mode & 0777, 0640u);
  fs_->close(open("h", kRdwrCreat, 0666));
  EXPECT_EQ(fs_->fchmodat(abi::kAT_FDCWD, "h", 0604, 0), 0);
  struct stat s;
  ASSERT_EQ(::stat((root_ + "/data/h").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0604u);
  Timespec times[2] = {{1000, 0}, {2000, 5}};
  for (const char* p : {"h", "/dev/shm/m"}) {
    ASSERT_EQ(fs_->utimensat(abi::kAT_FDCWD, p, times, 0), 0) << p;
    ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, p, &st, 0), 0);
    EXPECT_EQ(st.mtime.sec, 2000);
    EXPECT_EQ(st.atime.sec, 1000);
    Timespec omit_now[2] = {{0, abi::kUTIME_OMIT}, {0, abi::kUTIME_NOW}};
    ASSERT_EQ(fs_->utimensat(abi::kAT_FDCWD, p, omit_now, 0), 0);
    ASSERT_EQ(fs_->stat(abi::kAT_FDCWD, p, &st, 0), 0);
    EXPECT_EQ(st.atime.sec, 1000);
    EXPECT_GT(st.mtime.sec, 2000);
  }
  EXPECT_EQ(fs_->fchownat(abi::kAT_FDCWD, "h", 0), 0);
  EXPECT_EQ(fs_->fchownat(abi::kAT_FDCWD, "missing", 0), -err::kENOENT);
  EXPECT_EQ(fs_->fchown(1), 0);
}

TEST_F(VfsTest, DescribeOpenFilesForSnapshots) {
  int fd = open("/dev/shm/seg", kRdwrCreat);
  write_str(fd, "abc");
  std::array<int, 2> p;
  ASSERT_EQ(fs_->pipe2(abi::kO_NONBLOCK, &p), 0);
  std::vector<OpenFileInfo> info = fs_->describe_open_files();
  ASSERT_EQ(info.size(), 6u);
  EXPECT_EQ(info[3].path, "/dev/shm/seg");
  EXPECT_EQ(info[3].kind, FileKind::kMemFile);
  EXPECT_EQ(info[3].offset, 3);
  EXPECT_EQ(info[3].memdir_id, shm_->id());
  EXPECT_EQ(info[4].kind, FileKind::kPipeRead);
  EXPECT_EQ(info[4].pipe_id, info[5].pipe_id);
  EXPECT_EQ(info[2].path, "/dev/stderr");
}

TEST(FileSystemCreate, RejectsBadMounts) {
  FileSystemOptions o;
  o.mounts.push_back(HostDirMount{"/x", "/definitely/not/here", false});
  EXPECT_FALSE(FileSystem::create(std::move(o)).ok());
  FileSystemOptions o2;
  o2.mounts.push_back(MemDirMount{"relative", std::make_shared<MemDir>()});
  EXPECT_FALSE(FileSystem::create(std::move(o2)).ok());
  FileSystemOptions o3;
  o3.cwd = "/pglite/data";  // no such mount
  EXPECT_FALSE(FileSystem::create(std::move(o3)).ok());
  FileSystemOptions o4;
  auto root = std::make_shared<MemDir>();
  ASSERT_TRUE(root->put_file("pglite/locale-a", "C\nC.UTF-8\nPOSIX\n").ok());
  o4.mounts.push_back(MemDirMount{"/", root});
  auto fs = FileSystem::create(std::move(o4));
  ASSERT_TRUE(fs.ok());
  int fd = (*fs)->openat(abi::kAT_FDCWD, "/pglite/locale-a", abi::kO_RDONLY, 0);
  ASSERT_GE(fd, 0);
  char buf[64];
  EXPECT_EQ((*fs)->read(fd, buf, sizeof(buf)), 16);
  Stat st;
  EXPECT_EQ((*fs)->stat(abi::kAT_FDCWD, "/dev/null", &st, 0), 0);  // devices beat "/"
  ASSERT_EQ((*fs)->stat(abi::kAT_FDCWD, "/dev", &st, 0), 0);       // not in the MemDir: synthesised
  EXPECT_EQ(st.mode & abi::kS_IFMT, abi::kS_IFDIR);
  int dev = (*fs)->openat(abi::kAT_FDCWD, "/dev", abi::kO_RDONLY | abi::kO_DIRECTORY, 0);
  ASSERT_GE(dev, 0);
  std::vector<DirEntry> entries;
  ASSERT_EQ((*fs)->getdents(dev, 100, &entries), 0);
  EXPECT_EQ(entries.size(), 2u + all_devices().size());  // ".", "..", the devices
  // The root lists the MemDir's own entries plus "dev".
  int rootfd = (*fs)->openat(abi::kAT_FDCWD, "/", abi::kO_RDONLY | abi::kO_DIRECTORY, 0);
  ASSERT_EQ((*fs)->getdents(rootfd, 100, &entries), 0);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[2].name, "pglite");
  EXPECT_EQ(entries[3].name, "dev");
}

}  // namespace
}  // namespace pgthaw::vfs
