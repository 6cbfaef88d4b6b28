// Tests of lexical path normalisation (path.h), the base of the sandbox rule.
#include "vfs/path.h"

#include <gtest/gtest.h>

#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {
namespace {

TEST(NormalizePath, JoinsRelativeToBase) {
  EXPECT_EQ(normalize_path("/pglite/data", "base/5/1259"), "/pglite/data/base/5/1259");
  EXPECT_EQ(normalize_path("/pglite/data", "/dev/null"), "/dev/null");
  EXPECT_EQ(normalize_path("/", "x"), "/x");
}

TEST(NormalizePath, RemovesDotsAndDuplicateSlashes) {
  EXPECT_EQ(normalize_path("/", "//a/./b//c/"), "/a/b/c");
  EXPECT_EQ(normalize_path("/a", "."), "/a");
  EXPECT_EQ(normalize_path("/a/b", "../c"), "/a/c");
}

TEST(NormalizePath, DotDotStopsAtRoot) {
  EXPECT_EQ(normalize_path("/pglite/data", "../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(normalize_path("/pglite/data", "../../../../../../etc"), "/etc");
  EXPECT_EQ(normalize_path("/", "/pglite/data/../../.."), "/");
  EXPECT_EQ(normalize_path("/", ".."), "/");
}

TEST(PathIsUnder, MatchesWholeComponents) {
  EXPECT_TRUE(path_is_under("/pglite/data", "/pglite/data"));
  EXPECT_TRUE(path_is_under("/pglite/data/x", "/pglite/data"));
  EXPECT_FALSE(path_is_under("/pglite/database", "/pglite/data"));
  EXPECT_TRUE(path_is_under("/anything", "/"));
  EXPECT_EQ(path_remainder("/pglite/data/a/b", "/pglite/data"), "a/b");
  EXPECT_EQ(path_remainder("/pglite/data", "/pglite/data"), "");
  EXPECT_EQ(path_remainder("/a/b", "/"), "a/b");
}

TEST(SplitLast, Cases) {
  EXPECT_EQ(split_last("/a/b/c").first, "/a/b");
  EXPECT_EQ(split_last("/a/b/c").second, "c");
  EXPECT_EQ(split_last("/c").first, "/");
  EXPECT_EQ(split_last("c").first, "");
  EXPECT_EQ(split_last("/").second, "");
}

TEST(CheckPathLimits, RejectsLongNames) {
  EXPECT_EQ(check_path_limits("/a/b"), 0);
  EXPECT_EQ(check_path_limits(std::string(256, 'x')), -wasm_errno::kENAMETOOLONG);
  EXPECT_EQ(check_path_limits(std::string(255, 'x')), 0);
  std::string long_path;
  while (long_path.size() < 5000) long_path += "/abc";
  EXPECT_EQ(check_path_limits(long_path), -wasm_errno::kENAMETOOLONG);
}

TEST(ToWasmErrno, MapsCommonValues) {
  EXPECT_EQ(to_wasm_errno(ENOENT), 44);
  EXPECT_EQ(to_wasm_errno(EEXIST), 20);
  EXPECT_EQ(to_wasm_errno(EBADF), 8);
  EXPECT_EQ(to_wasm_errno(ENOTEMPTY), 55);
  EXPECT_EQ(to_wasm_errno(ENOSPC), 51);
  EXPECT_EQ(to_wasm_errno(EOPNOTSUPP), 138);
  EXPECT_EQ(to_wasm_errno(EWOULDBLOCK), 6);
  EXPECT_EQ(to_wasm_errno(ELOOP), 32);
  EXPECT_EQ(to_wasm_errno(EUCLEAN), 143);
  EXPECT_EQ(to_wasm_errno(123456), 29);  // unknown -> EIO
}

}  // namespace
}  // namespace pgthaw::vfs
