// Data-directory archives (data_dir_archive.h) on real files: a tenant's
// merged view written and extracted again boots with its data; hostile or
// foreign archives are refused and leave nothing behind.
#include "engine/data_dir_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "engine/template.h"
#include "engine/tenant_store.h"
#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// An archive at `path` whose members `add` writes (ustar, or pax for
// sparse files).
void write_archive(const std::string& path, const std::function<void(archive*)>& add,
                   bool pax = false) {
  archive* a = archive_write_new();
  if (pax) {
    archive_write_set_format_pax_restricted(a);
  } else {
    archive_write_set_format_ustar(a);
  }
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  add(a);
  archive_write_close(a);
  archive_write_free(a);
}

void add_file(archive* a, const std::string& name, const std::string& data,
              mode_t type = AE_IFREG) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, 0600);
  archive_entry_set_size(e, type == AE_IFREG ? static_cast<int64_t>(data.size()) : 0);
  if (type == AE_IFLNK) archive_entry_set_symlink(e, data.c_str());
  archive_write_header(a, e);
  if (type == AE_IFREG) archive_write_data(a, data.data(), data.size());
  archive_entry_free(e);
}

// The minimum extract_data_dir takes for a data directory.
void add_minimal(archive* a) {
  add_file(a, "/PG_VERSION", "18\n");
  add_file(a, "/global/pg_control", std::string(8192, '\0'));
}

class DataDirArchive : public ::testing::Test {
 protected:
  // Expects `archive` refused with a message containing `why`, and no `dest`.
  void ExpectRefused(const std::string& archive, const std::string& why) {
    const std::string dest = tmp_.sub("dest");
    Status st = extract_data_dir(archive, dest);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
    EXPECT_FALSE(fs::exists(dest));
  }
  TempDir tmp_;
};

TEST_F(DataDirArchive, ATenantWrittenAndExtractedBootsWithItsRows) {
  auto tmpl = Template::Ensure(testing::test_engine(), tmp_.sub("root"));
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
  const std::string root = tmp_.sub("tenant");
  fs::create_directories(root);
  {
    OpenReport report;
    auto db = open_tenant(testing::test_engine(), *tmpl, root, &report);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    testing::run(**db,
                 "create table kept (n int); insert into kept select generate_series(1, 500)");
    ASSERT_TRUE((*db)->Close().ok());
  }
  // The tenant is an overlay on the template: the archive is the merged view.
  for (bool gzip : {false, true}) {
    const std::string out = tmp_.sub(gzip ? "t.tar.gz" : "t.tar");
    ASSERT_TRUE(export_tenant(root, out, gzip).ok());
    const std::string copy = tmp_.sub(gzip ? "copy-gz" : "copy");
    Status imported = import_tenant(out, copy, {});
    ASSERT_TRUE(imported.ok()) << imported.ToString();
    EXPECT_FALSE(fs::exists(copy + "/lower"));
    OpenReport report;
    auto db = open_tenant(testing::test_engine(), *tmpl, copy, &report);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    EXPECT_EQ(report.kind, OpenReport::kBooted);
    EXPECT_EQ(testing::scalar(**db, "select sum(n) from kept"), "125250");
    (void)(*db)->Close();
  }
}

TEST_F(DataDirArchive, MembersOutsideTheDataDirectoryAreRefused) {
  const std::string path = tmp_.sub("evil.tar");
  write_archive(path, [](archive* a) {
    add_minimal(a);
    add_file(a, "base/../../escaped", "x");
  });
  ExpectRefused(path, "leaves the data directory");
  write_archive(path, [](archive* a) {
    add_minimal(a);
    add_file(a, "base/link", "/etc/passwd", AE_IFLNK);
  });
  ExpectRefused(path, "is a link");
  write_archive(path, [](archive* a) {
    add_minimal(a);
    add_file(a, "/etc/passwd", "root::0:0::/:/bin/sh\n");
  });
  ExpectRefused(path, "not part of a Postgres data directory");
  write_archive(path, [](archive* a) {
    add_minimal(a);
    add_file(a, "base/fifo", "", AE_IFIFO);
  });
  ExpectRefused(path, "neither a file nor a directory");
  write_archive(path, [](archive* a) {
    add_minimal(a);
    add_file(a, "./PG_VERSION", "18\n");
  });
  ExpectRefused(path, "appears twice");
}

TEST_F(DataDirArchive, SparseHugeAndForeignArchivesAreRefused) {
  const std::string path = tmp_.sub("sparse.tar");
  write_archive(
      path,
      [](archive* a) {
        add_minimal(a);
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, "base/huge");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0600);
        archive_entry_set_size(e, int64_t{10} << 30);
        archive_entry_sparse_add_entry(e, 0, 4096);
        archive_write_header(a, e);
        std::string block(4096, 'x');
        archive_write_data(a, block.data(), block.size());
        archive_entry_free(e);
      },
      /*pax=*/true);
  ExpectRefused(path, "sparse");

  write_archive(path, [](archive* a) {
    add_minimal(a);
    add_file(a, "base/big", std::string(64 << 10, 'x'));
  });
  const std::string dest = tmp_.sub("dest");
  ArchiveLimits small;
  small.max_bytes = 32 << 10;
  Status st = extract_data_dir(path, dest, small);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("larger than"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(dest));

  write_archive(path, [](archive* a) {
    add_file(a, "PG_VERSION", "16\n");
    add_file(a, "global/pg_control", "x");
  });
  ExpectRefused(path, "PostgreSQL 16");
  write_archive(path, [](archive* a) { add_file(a, "base/1/1259", "x"); });
  ExpectRefused(path, "no PG_VERSION");
  {
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("this is not a tar archive at all, just some text that is long enough", f);
    std::fclose(f);
  }
  ExpectRefused(path, "tar");
}

}  // namespace
}  // namespace pgthaw::engine
