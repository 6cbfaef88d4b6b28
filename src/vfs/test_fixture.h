// Test-only: a temporary host tree and a FileSystem over it, shared by the
// vfs *_test.cc files. Real files, no mocks.
//
//   <tmp>/bundle/pglite/{bin,share}  -> /pglite/bin, /pglite/share (read-only)
//   <tmp>/data                       -> /pglite/data (read-write), the cwd
//   <tmp>/outside/secret.txt         reachable by no guest path
//   MemDir shm_, tmp_                -> /dev/shm, /tmp
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "vfs/filesystem.h"

namespace pgthaw::vfs {

namespace abi = wasm_abi;
namespace err = wasm_errno;

class VfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "vfs_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    std::filesystem::create_directories(root_ + "/bundle/pglite/bin");
    std::filesystem::create_directories(root_ + "/bundle/pglite/share/postgresql");
    std::filesystem::create_directories(root_ + "/data");
    std::filesystem::create_directories(root_ + "/outside");
    write_host(root_ + "/bundle/pglite/bin/postgres", "PGlite is the best!");
    ::chmod((root_ + "/bundle/pglite/bin/postgres").c_str(), 0555);
    write_host(root_ + "/bundle/pglite/share/postgresql/postgres.bki", "bki");
    write_host(root_ + "/outside/secret.txt", "secret");
    shm_ = std::make_shared<MemDir>();
    tmp_ = std::make_shared<MemDir>();
    fs_ = make_fs(false);
    ASSERT_NE(fs_, nullptr);
  }

  void TearDown() override {
    fs_.reset();
    HostDir::disable_openat2_for_test(false);
    std::filesystem::remove_all(root_);
  }

  std::unique_ptr<FileSystem> make_fs(bool durable) {
    FileSystemOptions o;
    o.mounts.push_back(HostDirMount{"/pglite/bin", root_ + "/bundle/pglite/bin", true});
    o.mounts.push_back(HostDirMount{"/pglite/share", root_ + "/bundle/pglite/share", true});
    o.mounts.push_back(HostDirMount{"/pglite/data", root_ + "/data", false});
    o.mounts.push_back(MemDirMount{"/dev/shm", shm_});
    o.mounts.push_back(MemDirMount{"/tmp", tmp_});
    o.durable = durable;
    o.cwd = "/pglite/data";
    o.stdio_sink = [this](int fd, std::string_view line) {
      lines_.push_back(std::to_string(fd) + ":" + std::string(line));
    };
    Result<std::unique_ptr<FileSystem>> fs = FileSystem::create(std::move(o));
    EXPECT_TRUE(fs.ok()) << fs.status().ToString();
    return fs.ok() ? std::move(fs).value() : nullptr;
  }

  static void write_host(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  static std::string read_host(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Opens, checking success.
  int open(const std::string& path, int flags, uint32_t mode = 0644) {
    int fd = fs_->openat(abi::kAT_FDCWD, path, flags, mode);
    EXPECT_GE(fd, 0) << path;
    return fd;
  }
  int64_t write_str(int fd, const std::string& s) { return fs_->write(fd, s.data(), s.size()); }
  std::string read_str(int fd, size_t n) {
    std::string buf(n, '\0');
    int64_t got = fs_->read(fd, buf.data(), n);
    if (got < 0) return "ERR" + std::to_string(got);
    buf.resize(static_cast<size_t>(got));
    return buf;
  }
  std::vector<std::string> list(int fd) {
    std::vector<std::string> names;
    std::vector<DirEntry> batch;
    while (fs_->getdents(fd, 3, &batch) == 0 && !batch.empty()) {
      for (const DirEntry& e : batch) names.push_back(e.name);
    }
    return names;
  }

  std::string root_;
  std::shared_ptr<MemDir> shm_, tmp_;
  std::unique_ptr<FileSystem> fs_;
  std::vector<std::string> lines_;
};

}  // namespace pgthaw::vfs
