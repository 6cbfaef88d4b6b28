// CustomArchive (custom_archive.h) on archives a small writer below builds
// from the format's facts (pg_backup_archiver.c's WriteHead/WriteToc,
// pg_backup_custom.c's data blocks): header, TOC and data of versions 1.14
// to 1.16, uncompressed and gzip, with and without data offsets; and the
// errors of refused, truncated and garbled files.
#include "dumpfile/custom_archive.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace pgthaw::dumpfile {
namespace {

// Absent strings are written as NULL, as pg_dump writes them.
struct TestEntry {
  int dump_id = 0;
  std::string tag = "";
  std::string desc = "";
  int section = 2;  // SECTION_PRE_DATA
  std::optional<std::string> defn = {};
  std::optional<std::string> drop_stmt = {};
  std::optional<std::string> copy_stmt = {};
  std::optional<std::string> schema = {};
  std::optional<std::string> tablespace = {};
  std::optional<std::string> tableam = {};
  std::optional<std::string> owner = {};
  char relkind = 0;
  std::vector<int> dependencies = {};
  std::string table_oid = "0";
  std::string oid = "0";
  std::optional<std::string> data = {};  // a BLK_DATA block
  bool blobs = false;                    // a BLK_BLOBS block of two large objects
};

struct ArchiveOptions {
  int minor = 16;
  std::string compression = "none";  // none, gzip, lz4, zstd
  int int_size = 4;
  int offset_size = 8;
  bool offsets = true;  // false: written as to a pipe, offsets not set
  size_t chunk_bytes = 1000;
  int format = 1;
  size_t gzip_trim = 0;         // bytes cut from the end of each gzip stream
  std::string gzip_extra = "";  // bytes after each gzip stream
};

// Writes archives as pg_dump does.
class ArchiveWriter {
 public:
  explicit ArchiveWriter(const ArchiveOptions& options) : options_(options) {}

  std::string Write(const std::vector<TestEntry>& entries) {
    out_.clear();
    out_ += "PGDMP";
    Byte(1);
    Byte(options_.minor);
    Byte(0);
    Byte(options_.int_size);
    Byte(options_.offset_size);
    Byte(options_.format);
    const int algorithm = options_.compression == "none"   ? 0
                          : options_.compression == "gzip" ? 1
                          : options_.compression == "lz4"  ? 2
                                                           : 3;
    if (options_.minor >= 15) {
      Byte(algorithm);
    } else {
      Int(algorithm == 0 ? 0 : -1);  // pg_dump 15 writes Z_DEFAULT_COMPRESSION
    }
    for (int field : {56, 34, 12, 31, 11, 125, 0}) Int(field);  // 2025-12-31 12:34:56
    Str("shop");
    Str("18.1");
    Str("18.1 (pgthaw test)");

    Int(static_cast<int>(entries.size()));
    std::vector<size_t> offset_at(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      const TestEntry& e = entries[i];
      Int(e.dump_id);
      Int(e.data || e.blobs ? 1 : 0);
      Str(e.table_oid);
      Str(e.oid);
      Str(e.tag);
      Str(e.desc);
      Int(e.section);
      Str(e.defn);
      Str(e.drop_stmt);
      Str(e.copy_stmt);
      Str(e.schema);
      Str(e.tablespace);
      Str(e.tableam);
      if (options_.minor >= 16) Int(e.relkind);
      Str(e.owner);
      Str("false");
      for (int d : e.dependencies) Str(std::to_string(d));
      Str(std::nullopt);
      offset_at[i] = out_.size();
      Byte(e.data || e.blobs ? 1 : 3);  // K_OFFSET_POS_NOT_SET or K_OFFSET_NO_DATA
      for (int b = 0; b < options_.offset_size; ++b) Byte(0);
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      const TestEntry& e = entries[i];
      if (!e.data && !e.blobs) continue;
      if (options_.offsets) {
        uint64_t at = out_.size();
        out_[offset_at[i]] = 2;  // K_OFFSET_POS_SET
        for (int b = 0; b < options_.offset_size; ++b, at >>= 8) {
          out_[offset_at[i] + 1 + b] = static_cast<char>(at & 0xff);
        }
      }
      if (e.data) {
        Byte(1);  // BLK_DATA
        Int(e.dump_id);
        Chunks(*e.data);
      } else {
        Byte(3);  // BLK_BLOBS
        Int(e.dump_id);
        for (int oid : {16401, 16402}) {
          Int(oid);
          Chunks("large object " + std::to_string(oid));
        }
        Int(0);
      }
    }
    return out_;
  }

 private:
  void Byte(int b) { out_.push_back(static_cast<char>(b)); }
  void Int(int value) {
    Byte(value < 0 ? 1 : 0);
    auto magnitude = static_cast<uint64_t>(value < 0 ? -static_cast<int64_t>(value) : value);
    for (int b = 0; b < options_.int_size; ++b, magnitude >>= 8) Byte(magnitude & 0xff);
  }
  void Str(const std::optional<std::string>& s) {
    if (!s) return Int(-1);
    Int(static_cast<int>(s->size()));
    out_ += *s;
  }
  // The data as pg_dump's compressor hands it over: chunks, then length 0.
  void Chunks(const std::string& data) {
    std::string payload = data;
    if (options_.compression == "gzip") {
      uLongf size = compressBound(data.size());
      payload.assign(size, '\0');
      EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(payload.data()), &size,
                          reinterpret_cast<const Bytef*>(data.data()), data.size(), 6),
                Z_OK);
      payload.resize(size - std::min<size_t>(size, options_.gzip_trim));
      payload += options_.gzip_extra;
    }
    for (size_t at = 0; at < payload.size(); at += options_.chunk_bytes) {
      const std::string chunk = payload.substr(at, options_.chunk_bytes);
      Int(static_cast<int>(chunk.size()));
      out_ += chunk;
    }
    Int(0);
  }

  ArchiveOptions options_;
  std::string out_;
};

std::string write_file(const std::string& bytes) {
  static int counter = 0;
  const auto* test = testing::UnitTest::GetInstance()->current_test_info();
  std::string name = test->name();
  std::replace(name.begin(), name.end(), '/', '_');  // parameterised tests' names
  const std::string path = testing::TempDir() + "/custom_archive_test_" + name + "_" +
                           std::to_string(counter++) + ".dump";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  return path;
}

// Rows in COPY text format, with the characters COPY escapes, and enough of
// them for many chunks and zlib output buffers.
std::string table_rows(int rows) {
  std::string out;
  std::mt19937 random(7);
  for (int i = 0; i < rows; ++i) {
    out += std::to_string(i) + "\tname\\t" + std::to_string(random()) + "\t\\N\tback\\\\slash";
    out += std::string(random() % 40, static_cast<char>('a' + i % 26)) + "\n";
  }
  return out;
}

std::vector<TestEntry> shop_entries() {
  std::vector<TestEntry> entries(6);
  entries[0] = {.dump_id = 1,
                .tag = "ENCODING",
                .desc = "ENCODING",
                .section = 1,
                .defn = "SET client_encoding = 'UTF8';\n"};
  entries[1] = {.dump_id = 5,
                .tag = "app",
                .desc = "SCHEMA",
                .defn = "CREATE SCHEMA app;\n",
                .drop_stmt = "DROP SCHEMA app;\n",
                .owner = "alice",
                .table_oid = "2615",
                .oid = "16385"};
  entries[2] = {.dump_id = 7,
                .tag = "items",
                .desc = "TABLE",
                .defn = "CREATE TABLE app.items (\n    id integer,\n    body text\n);\n",
                .drop_stmt = "DROP TABLE app.items;\n",
                .schema = "app",
                .tablespace = "",
                .tableam = "heap",
                .owner = "alice",
                .relkind = 'r',
                .dependencies = {5},
                .table_oid = "1259",
                .oid = "16386"};
  entries[3] = {.dump_id = 9,
                .tag = "items",
                .desc = "TABLE DATA",
                .section = 3,
                .copy_stmt = "COPY app.items (id, body) FROM stdin;\n",
                .schema = "app",
                .owner = "alice",
                .dependencies = {7},
                .table_oid = "0",
                .oid = "16386",
                .data = table_rows(20000)};
  entries[4] = {.dump_id = 10,
                .tag = "empty",
                .desc = "TABLE DATA",
                .section = 3,
                .copy_stmt = "COPY app.empty (a) FROM stdin;\n",
                .schema = "app",
                .owner = "alice",
                .dependencies = {7},
                .data = ""};
  entries[5] = {.dump_id = 12,
                .tag = "items_pkey",
                .desc = "CONSTRAINT",
                .section = 4,
                .defn =
                    "ALTER TABLE ONLY app.items\n    ADD CONSTRAINT items_pkey PRIMARY KEY "
                    "(id);\n",
                .drop_stmt = "ALTER TABLE ONLY app.items DROP CONSTRAINT items_pkey;\n",
                .schema = "app",
                .owner = "alice",
                .dependencies = {7, 9}};
  return entries;
}

std::unique_ptr<CustomArchive> open_archive(const std::string& bytes) {
  auto archive = CustomArchive::Open(write_file(bytes));
  EXPECT_TRUE(archive.ok()) << archive.status().ToString();
  return archive.ok() ? std::move(archive).value() : nullptr;
}

Result<std::string> read_data(CustomArchive& archive, const ArchiveEntry& entry) {
  std::string data;
  Status st = archive.ReadData(entry, [&](std::string_view piece) {
    EXPECT_LE(piece.size(), 256u * 1024u);
    data.append(piece);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return data;
}

// The data through OpenData, `max_bytes` at a time, checking Read's
// contract: max_bytes appended while more follows, at most that at the end,
// and nothing once it has ended.
Result<std::string> read_pulled(CustomArchive& archive, const ArchiveEntry& entry,
                                size_t max_bytes) {
  auto reader = archive.OpenData(entry);
  if (!reader.ok()) return reader.status();
  std::string data;
  for (;;) {
    const size_t before = data.size();
    auto more = (*reader)->Read(data, max_bytes);
    if (!more.ok()) {
      EXPECT_EQ(data.size(), before) << "a failed Read appended";
      return more.status();
    }
    if (*more) {
      EXPECT_EQ(data.size() - before, max_bytes);
      continue;
    }
    EXPECT_LE(data.size() - before, max_bytes);
    std::string after;
    auto again = (*reader)->Read(after, max_bytes);
    EXPECT_TRUE(again.ok() && !*again && after.empty()) << "a Read after the end";
    return data;
  }
}

const ArchiveEntry& entry_with_id(const CustomArchive& archive, int dump_id) {
  for (const ArchiveEntry& e : archive.entries()) {
    if (e.dump_id == dump_id) return e;
  }
  ADD_FAILURE() << "no entry " << dump_id;
  return archive.entries().front();
}

struct Variant {
  int minor;
  const char* compression;
};

class EachVersion : public testing::TestWithParam<Variant> {};

TEST_P(EachVersion, HeaderTocAndDataRoundTrip) {
  const Variant v = GetParam();
  ArchiveOptions options{.minor = v.minor, .compression = v.compression, .chunk_bytes = 777};
  const std::vector<TestEntry> written = shop_entries();
  auto archive = open_archive(ArchiveWriter(options).Write(written));
  ASSERT_NE(archive, nullptr);

  const ArchiveHeader& h = archive->header();
  EXPECT_EQ(h.version_major, 1);
  EXPECT_EQ(h.version_minor, v.minor);
  EXPECT_EQ(h.version_rev, 0);
  EXPECT_EQ(h.int_size, 4);
  EXPECT_EQ(h.offset_size, 8);
  EXPECT_EQ(h.compression, v.compression);
  EXPECT_EQ(h.created, "2025-12-31 12:34:56");
  EXPECT_EQ(h.database, "shop");
  EXPECT_EQ(h.server_version, "18.1");
  EXPECT_EQ(h.dump_version, "18.1 (pgthaw test)");

  ASSERT_EQ(archive->entries().size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    const TestEntry& w = written[i];
    const ArchiveEntry& e = archive->entries()[i];
    EXPECT_EQ(e.dump_id, w.dump_id);
    EXPECT_EQ(e.has_data, w.data.has_value());
    EXPECT_EQ(e.tag, w.tag);
    EXPECT_EQ(e.desc, w.desc);
    EXPECT_EQ(e.defn, w.defn.value_or(""));
    EXPECT_EQ(e.drop_stmt, w.drop_stmt.value_or(""));
    EXPECT_EQ(e.copy_stmt, w.copy_stmt.value_or(""));
    EXPECT_EQ(e.schema, w.schema.value_or(""));
    EXPECT_EQ(e.tablespace, w.tablespace.value_or(""));
    EXPECT_EQ(e.table_access_method, w.tableam.value_or(""));
    EXPECT_EQ(e.owner, w.owner.value_or(""));
    EXPECT_EQ(e.relkind, v.minor >= 16 ? w.relkind : 0);
    EXPECT_EQ(e.dependencies, w.dependencies);
    EXPECT_EQ(std::to_string(e.table_oid), w.table_oid);
    EXPECT_EQ(std::to_string(e.oid), w.oid);
  }
  EXPECT_EQ(archive->entries()[0].section, Section::kNone);
  EXPECT_EQ(archive->entries()[2].section, Section::kPreData);
  EXPECT_EQ(archive->entries()[3].section, Section::kData);
  EXPECT_EQ(archive->entries()[5].section, Section::kPostData);

  for (size_t i = 0; i < written.size(); ++i) {
    auto data = read_data(*archive, archive->entries()[i]);
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    EXPECT_EQ(*data, written[i].data.value_or("")) << "entry " << written[i].dump_id;
  }
  // Again, out of order: reads seek.
  auto again = read_data(*archive, entry_with_id(*archive, 9));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *written[3].data);

  // Pulled in small pieces: the same bytes.
  for (size_t max_bytes : {size_t{1}, size_t{7}, size_t{4096}}) {
    for (size_t i = 0; i < written.size(); ++i) {
      auto data = read_pulled(*archive, archive->entries()[i], max_bytes);
      ASSERT_TRUE(data.ok()) << data.status().ToString();
      EXPECT_EQ(*data, written[i].data.value_or(""))
          << "entry " << written[i].dump_id << ", max_bytes " << max_bytes;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(CustomArchive, EachVersion,
                         testing::Values(Variant{14, "none"}, Variant{14, "gzip"},
                                         Variant{15, "none"}, Variant{15, "gzip"},
                                         Variant{16, "none"}, Variant{16, "gzip"}),
                         [](const testing::TestParamInfo<Variant>& info) {
                           return "V1_" + std::to_string(info.param.minor) + "_" +
                                  info.param.compression;
                         });

TEST(CustomArchive, EightByteIntegersAndLargeChunks) {
  ArchiveOptions options{
      .compression = "gzip", .int_size = 8, .offset_size = 8, .chunk_bytes = 600 * 1024};
  const std::vector<TestEntry> written = shop_entries();
  auto archive = open_archive(ArchiveWriter(options).Write(written));
  ASSERT_NE(archive, nullptr);
  auto data = read_data(*archive, entry_with_id(*archive, 9));
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, *written[3].data);
}

TEST(CustomArchive, ArchivesWithoutOffsetsAreScannedInAnyOrder) {
  std::vector<TestEntry> written = shop_entries();
  // Large objects between the two tables' data: the scan skips them.
  written.insert(
      written.begin() + 4,
      TestEntry{.dump_id = 20, .tag = "BLOBS", .desc = "BLOBS", .section = 3, .blobs = true});
  for (const char* compression : {"none", "gzip"}) {
    ArchiveOptions options{.compression = compression, .offsets = false, .chunk_bytes = 500};
    auto archive = open_archive(ArchiveWriter(options).Write(written));
    ASSERT_NE(archive, nullptr);
    auto empty = read_data(*archive, entry_with_id(*archive, 10));  // after the BLOBS
    ASSERT_TRUE(empty.ok()) << empty.status().ToString();
    EXPECT_EQ(*empty, "");
    auto items = read_data(*archive, entry_with_id(*archive, 9));  // found during the scan
    ASSERT_TRUE(items.ok()) << items.status().ToString();
    EXPECT_EQ(*items, *written[3].data);
    EXPECT_TRUE(read_data(*archive, entry_with_id(*archive, 7)).ok());  // no data
  }
}

TEST(CustomArchive, PulledReadsOfAnArchiveWithoutOffsets) {
  std::vector<TestEntry> written = shop_entries();
  written.insert(
      written.begin() + 4,
      TestEntry{.dump_id = 20, .tag = "BLOBS", .desc = "BLOBS", .section = 3, .blobs = true});
  written.push_back(
      {.dump_id = 40, .tag = "last", .desc = "TABLE DATA", .section = 3, .data = table_rows(300)});
  for (const char* compression : {"none", "gzip"}) {
    ArchiveOptions options{.compression = compression, .offsets = false, .chunk_bytes = 300};
    const std::string bytes = ArchiveWriter(options).Write(written);
    for (size_t max_bytes : {size_t{1}, size_t{7}, size_t{4096}}) {
      auto archive = open_archive(bytes);
      ASSERT_NE(archive, nullptr);
      // The last block first: the scan passes the others, then finds them.
      for (int id : {40, 10, 9, 7}) {
        auto data = read_pulled(*archive, entry_with_id(*archive, id), max_bytes);
        ASSERT_TRUE(data.ok()) << data.status().ToString();
        const auto w = std::find_if(written.begin(), written.end(),
                                    [&](const TestEntry& e) { return e.dump_id == id; });
        EXPECT_EQ(*data, w->data.value_or("")) << compression << " " << id << " " << max_bytes;
      }
    }
  }
}

// Readers keep their own place in the file: two at once, and ReadData
// between their Reads, each get their entry's bytes.
TEST(CustomArchive, ReadersAreIndependent) {
  std::vector<TestEntry> written = shop_entries();
  written[3].data = table_rows(1500);
  written[4].data = table_rows(2000);
  for (bool offsets : {true, false}) {
    for (const char* compression : {"none", "gzip"}) {
      ArchiveOptions options{.compression = compression, .offsets = offsets, .chunk_bytes = 500};
      auto archive = open_archive(ArchiveWriter(options).Write(written));
      ASSERT_NE(archive, nullptr);
      auto items = archive->OpenData(entry_with_id(*archive, 9));
      auto other = archive->OpenData(entry_with_id(*archive, 10));
      ASSERT_TRUE(items.ok() && other.ok());
      std::string items_data, other_data;
      bool items_more = true, other_more = true;
      while (items_more || other_more) {
        if (items_more) {
          auto more = (*items)->Read(items_data, 5000);
          ASSERT_TRUE(more.ok()) << more.status().ToString();
          items_more = *more;
        }
        auto whole = read_data(*archive, entry_with_id(*archive, 9));
        ASSERT_TRUE(whole.ok()) << whole.status().ToString();
        ASSERT_EQ(*whole, *written[3].data);
        if (other_more) {
          auto more = (*other)->Read(other_data, 3000);
          ASSERT_TRUE(more.ok()) << more.status().ToString();
          other_more = *more;
        }
      }
      EXPECT_EQ(items_data, *written[3].data);
      EXPECT_EQ(other_data, *written[4].data);
    }
  }
}

// A table of several MiB in 64 KiB pieces: every piece but the last is
// 64 KiB, none larger, and Read appends to what the chunk holds.
TEST(CustomArchive, LargeTableInBoundedPieces) {
  std::vector<TestEntry> written = shop_entries();
  written[3].data = table_rows(120000);
  ASSERT_GT(written[3].data->size(), size_t{6} << 20);
  constexpr size_t kMax = 64 * 1024;
  for (const char* compression : {"none", "gzip"}) {
    // Small chunks as pg_dump writes uncompressed rows, large ones as gzip.
    for (size_t chunk_bytes : {size_t{90}, size_t{300 * 1024}}) {
      ArchiveOptions options{.compression = compression, .chunk_bytes = chunk_bytes};
      auto archive = open_archive(ArchiveWriter(options).Write(written));
      ASSERT_NE(archive, nullptr);
      auto reader = archive->OpenData(entry_with_id(*archive, 9));
      ASSERT_TRUE(reader.ok()) << reader.status().ToString();
      std::string data;
      std::string chunk = "kept";
      size_t largest = 0, reads = 0;
      for (bool more = true; more;) {
        chunk.resize(4);
        auto result = (*reader)->Read(chunk, kMax);
        ASSERT_TRUE(result.ok()) << result.status().ToString();
        more = *result;
        ASSERT_EQ(chunk.substr(0, 4), "kept");
        const size_t got = chunk.size() - 4;
        largest = std::max(largest, got);
        if (more) {
          EXPECT_EQ(got, kMax);
        }
        EXPECT_LE(chunk.capacity(), 2 * kMax + 64);
        data.append(chunk, 4);
        ++reads;
      }
      EXPECT_EQ(largest, kMax);
      EXPECT_EQ(data, *written[3].data) << compression << " " << chunk_bytes;
      EXPECT_LE(reads, written[3].data->size() / kMax + 2);
    }
  }
}

TEST(CustomArchive, OpenDataRefusesWhatReadDataRefuses) {
  std::vector<TestEntry> written = shop_entries();
  written.push_back({.dump_id = 31, .tag = "BLOBS", .desc = "BLOBS", .section = 3, .blobs = true});
  auto archive = open_archive(ArchiveWriter({}).Write(written));
  ASSERT_NE(archive, nullptr);
  auto blobs = archive->OpenData(entry_with_id(*archive, 31));
  ASSERT_FALSE(blobs.ok());
  EXPECT_EQ(blobs.status().code(), StatusCode::kInvalidArgument);
  ArchiveEntry unknown;
  unknown.dump_id = 99;
  EXPECT_EQ(archive->OpenData(unknown).status().code(), StatusCode::kInvalidArgument);

  auto zstd = open_archive(ArchiveWriter({.compression = "zstd"}).Write(shop_entries()));
  ASSERT_NE(zstd, nullptr);
  auto refused = zstd->OpenData(entry_with_id(*zstd, 9));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("compressed with zstd"), std::string::npos);

  // No data: a reader of nothing.
  auto none = zstd->OpenData(entry_with_id(*zstd, 7));
  ASSERT_TRUE(none.ok());
  std::string chunk;
  auto more = (*none)->Read(chunk, 10);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_EQ(chunk, "");

  // max_bytes 0 is the caller's mistake, not the reader's end.
  auto items = archive->OpenData(entry_with_id(*archive, 9));
  ASSERT_TRUE(items.ok());
  EXPECT_EQ((*items)->Read(chunk, 0).status().code(), StatusCode::kInvalidArgument);
  more = (*items)->Read(chunk, 10);
  ASSERT_TRUE(more.ok() && *more);
  EXPECT_EQ(chunk.size(), 10u);
}

// A block that is whole enough to open but not to read: Read fails, keeps
// the chunk as it was, and fails the same way again.
TEST(CustomArchive, TruncatedOrCorruptDataFailsInRead) {
  std::vector<TestEntry> written = shop_entries();
  written.erase(written.begin() + 4);  // items' block is the last one
  for (const char* compression : {"none", "gzip"}) {
    const std::string bytes =
        ArchiveWriter({.compression = compression, .chunk_bytes = 500}).Write(written);
    const size_t block = bytes.find(std::string("\x01\x00\x09\x00\x00\x00", 6));
    ASSERT_NE(block, std::string::npos);
    std::string corrupt = bytes;
    if (std::string(compression) == "gzip") {
      for (size_t i = block + 20000; i < block + 20040; ++i) corrupt[i] = ~corrupt[i];
    } else {
      corrupt[block + 6 + 4 * 505] = 7;  // a chunk length's sign byte
    }
    for (const std::string& damaged : {bytes.substr(0, block + 20000), corrupt}) {
      auto archive = open_archive(damaged);
      ASSERT_NE(archive, nullptr);
      auto reader = archive->OpenData(entry_with_id(*archive, 9));
      ASSERT_TRUE(reader.ok()) << reader.status().ToString();
      std::string chunk;
      Status failure;
      for (int reads = 0; reads < 10000 && failure.ok(); ++reads) {
        const std::string before = chunk;
        auto more = (*reader)->Read(chunk, 4096);
        if (!more.ok()) {
          failure = more.status();
          EXPECT_EQ(chunk, before);
        } else {
          ASSERT_TRUE(*more) << compression << ": the damaged data ended without an error";
        }
      }
      ASSERT_FALSE(failure.ok());
      EXPECT_EQ(failure.code(), StatusCode::kCorruption) << failure.ToString();
      EXPECT_LT(chunk.size(), written[3].data->size());
      auto again = (*reader)->Read(chunk, 4096);
      EXPECT_EQ(again.status().ToString(), failure.ToString());
    }
  }
}

TEST(CustomArchive, GzipStreamsThatEndEarlyOrLateAreCorruption) {
  std::vector<TestEntry> written = shop_entries();
  for (size_t max_bytes : {size_t{7}, size_t{256 * 1024}}) {
    auto early = open_archive(
        ArchiveWriter({.compression = "gzip", .gzip_trim = 4}).Write(written));  // no checksum
    ASSERT_NE(early, nullptr);
    auto data = read_pulled(*early, entry_with_id(*early, 9), max_bytes);
    ASSERT_FALSE(data.ok());
    EXPECT_NE(data.status().message().find("its gzip stream ends early"), std::string::npos)
        << data.status().message();

    auto late =
        open_archive(ArchiveWriter({.compression = "gzip", .gzip_extra = "junk"}).Write(written));
    ASSERT_NE(late, nullptr);
    data = read_pulled(*late, entry_with_id(*late, 9), max_bytes);
    ASSERT_FALSE(data.ok());
    EXPECT_NE(data.status().message().find("data after the end of its gzip stream"),
              std::string::npos)
        << data.status().message();
  }
}

TEST(CustomArchive, MissingBlockInAnArchiveWithoutOffsetsIsCorruption) {
  std::vector<TestEntry> written = shop_entries();
  std::string bytes = ArchiveWriter({.offsets = false}).Write(written);
  // Drop the data blocks, keep the TOC.
  auto full = open_archive(bytes);
  ASSERT_NE(full, nullptr);
  ASSERT_TRUE(read_data(*full, entry_with_id(*full, 9)).ok());
  const size_t toc_end = bytes.find(std::string("\x01\x00\x09\x00\x00\x00", 6));
  ASSERT_NE(toc_end, std::string::npos);
  auto archive = open_archive(bytes.substr(0, toc_end));
  ASSERT_NE(archive, nullptr);
  auto result = read_data(*archive, entry_with_id(*archive, 9));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kCorruption);
  EXPECT_NE(result.status().message().find("TOC entry 9 (TABLE DATA app.items)"), std::string::npos)
      << result.status().message();
}

TEST(CustomArchive, LargeObjectsAreListedButTheirDataRefused) {
  std::vector<TestEntry> written = shop_entries();
  written.push_back({.dump_id = 30,
                     .tag = "BLOB METADATA",
                     .desc = "BLOB METADATA",
                     .section = 3,
                     .defn = "16401\n16402\n",
                     .drop_stmt = "16401\n16402\n",
                     .owner = "alice"});
  written.push_back({.dump_id = 31,
                     .tag = "BLOBS",
                     .desc = "BLOBS",
                     .section = 3,
                     .dependencies = {30},
                     .blobs = true});
  auto archive = open_archive(ArchiveWriter({}).Write(written));
  ASSERT_NE(archive, nullptr);
  ASSERT_EQ(archive->entries().size(), written.size());
  const ArchiveEntry& blobs = entry_with_id(*archive, 31);
  EXPECT_TRUE(blobs.has_data);
  auto result = read_data(*archive, blobs);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("large objects are not supported"), std::string::npos)
      << result.status().message();
  EXPECT_TRUE(read_data(*archive, entry_with_id(*archive, 9)).ok());
}

TEST(CustomArchive, Lz4AndZstdDataIsRefusedClearly) {
  for (const char* compression : {"lz4", "zstd"}) {
    std::vector<TestEntry> written = shop_entries();
    // Uncompressed bytes stand in for the data: it is refused unread.
    auto archive = open_archive(ArchiveWriter({.compression = compression}).Write(written));
    ASSERT_NE(archive, nullptr);
    EXPECT_EQ(archive->header().compression, compression);
    auto result = read_data(*archive, entry_with_id(*archive, 9));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find(std::string("compressed with ") + compression),
              std::string::npos)
        << result.status().message();
    EXPECT_TRUE(read_data(*archive, entry_with_id(*archive, 7)).ok());  // no data to read
  }
}

TEST(CustomArchive, UnsupportedVersionsAreRefused) {
  for (int minor : {12, 13, 17}) {
    std::string bytes = ArchiveWriter({.minor = 16}).Write(shop_entries());
    bytes[6] = static_cast<char>(minor);
    auto archive = CustomArchive::Open(write_file(bytes));
    ASSERT_FALSE(archive.ok());
    EXPECT_EQ(archive.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(
        archive.status().message().find("unsupported archive version 1." + std::to_string(minor)),
        std::string::npos)
        << archive.status().message();
  }
  std::string bytes = ArchiveWriter({}).Write(shop_entries());
  bytes[5] = 2;
  auto archive = CustomArchive::Open(write_file(bytes));
  ASSERT_FALSE(archive.ok());
  EXPECT_NE(archive.status().message().find("unsupported archive version 2.16"), std::string::npos);
}

TEST(CustomArchive, OtherFormatsAndFilesAreRefused) {
  auto directory = CustomArchive::Open(write_file(ArchiveWriter({.format = 5}).Write({})));
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(directory.status().message().find("directory-format"), std::string::npos);

  auto plain = CustomArchive::Open(write_file("--\n-- PostgreSQL database dump\n--\n"));
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(plain.status().message().find("plain SQL script"), std::string::npos);

  for (const char* bytes : {"", "PGD", "PK\x03\x04 not a dump"}) {
    auto other = CustomArchive::Open(write_file(bytes));
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.status().code(), StatusCode::kInvalidArgument) << bytes;
  }
  auto missing = CustomArchive::Open(testing::TempDir() + "/custom_archive_test_missing.dump");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
  auto dir = CustomArchive::Open(testing::TempDir());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kInvalidArgument);
}

TEST(CustomArchive, BadIntegerAndOffsetSizesAreCorruption) {
  for (int index : {8, 9}) {
    for (int size : {0, 2, 9, 255}) {
      std::string bytes = ArchiveWriter({}).Write(shop_entries());
      bytes[index] = static_cast<char>(size);
      auto archive = CustomArchive::Open(write_file(bytes));
      ASSERT_FALSE(archive.ok());
      EXPECT_EQ(archive.status().code(), StatusCode::kCorruption);
    }
  }
}

// The offset of the TOC entry count: magic, 3 version bytes, 3 size and
// format bytes, the algorithm, 7 time ints, 3 strings.
size_t toc_count_offset() { return 5 + 3 + 3 + 1 + 7 * 5 + (5 + 4) + (5 + 4) + (5 + 18); }

TEST(CustomArchive, HugeCountsAndLengthsAreRefusedWithoutAllocating) {
  const std::string bytes = ArchiveWriter({}).Write(shop_entries());
  const size_t count_at = toc_count_offset();
  ASSERT_EQ(bytes.substr(count_at, 5), std::string("\x00\x06\x00\x00\x00", 5));
  std::string many = bytes;
  many.replace(count_at, 5, std::string("\x00\xff\xff\xff\x7f", 5));
  auto archive = CustomArchive::Open(write_file(many));
  ASSERT_FALSE(archive.ok());
  EXPECT_EQ(archive.status().code(), StatusCode::kCorruption);
  EXPECT_NE(archive.status().message().find("more than the file can hold"), std::string::npos);

  // The first entry's catalog oid string: after its dump id and flag.
  std::string long_string = bytes;
  long_string.replace(count_at + 15, 5, std::string("\x00\xff\xff\xff\x7f", 5));
  archive = CustomArchive::Open(write_file(long_string));
  ASSERT_FALSE(archive.ok());
  EXPECT_EQ(archive.status().code(), StatusCode::kCorruption);
  EXPECT_NE(archive.status().message().find("TOC entry 1 of 6"), std::string::npos)
      << archive.status().message();

  std::string negative = bytes;
  negative.replace(count_at, 5, std::string("\x01\x06\x00\x00\x00", 5));
  EXPECT_FALSE(CustomArchive::Open(write_file(negative)).ok());
}

TEST(CustomArchive, TruncatedArchivesFailAtEveryLength) {
  for (const char* compression : {"none", "gzip"}) {
    std::vector<TestEntry> written = shop_entries();
    written[3].data = table_rows(50);
    const std::string bytes =
        ArchiveWriter({.compression = compression, .chunk_bytes = 64}).Write(written);
    for (size_t length = 0; length < bytes.size(); ++length) {
      auto archive = CustomArchive::Open(write_file(bytes.substr(0, length)));
      if (!archive.ok()) {
        EXPECT_TRUE(archive.status().code() == StatusCode::kCorruption ||
                    archive.status().code() == StatusCode::kInvalidArgument)
            << length << ": " << archive.status().ToString();
        continue;
      }
      // The TOC is whole: then some entry's data is not.
      bool failed = false;
      for (const ArchiveEntry& e : (*archive)->entries()) {
        auto data = read_data(**archive, e);
        if (!data.ok()) {
          EXPECT_EQ(data.status().code(), StatusCode::kCorruption) << data.status().ToString();
          failed = true;
        }
      }
      EXPECT_TRUE(failed) << "length " << length << " of " << bytes.size();
    }
  }
}

TEST(CustomArchive, GarbledArchivesNeverCrash) {
  for (const char* compression : {"none", "gzip"}) {
    std::vector<TestEntry> written = shop_entries();
    written[3].data = table_rows(300);
    const std::string bytes =
        ArchiveWriter({.compression = compression, .chunk_bytes = 100}).Write(written);
    std::mt19937 random(42);
    for (int round = 0; round < 1500; ++round) {
      std::string garbled = bytes;
      for (int flips = 1 + random() % 4; flips > 0; --flips) {
        garbled[random() % garbled.size()] = static_cast<char>(random());
      }
      auto archive = CustomArchive::Open(write_file(garbled));
      if (!archive.ok()) continue;
      for (const ArchiveEntry& e : (*archive)->entries()) {
        if (round % 2 == 0) {
          (void)read_data(**archive, e);
        } else {
          (void)read_pulled(**archive, e, 7);
        }
      }
    }
  }
}

TEST(CustomArchive, CorruptGzipDataAndWrongBlocksAreCorruption) {
  std::vector<TestEntry> written = shop_entries();
  const std::string bytes = ArchiveWriter({.compression = "gzip"}).Write(written);
  auto archive = open_archive(bytes);
  ASSERT_NE(archive, nullptr);

  // Inside the items data: flip bytes of the deflate stream.
  const std::string block_start("\x01\x00\x09\x00\x00\x00", 6);
  const size_t block = bytes.find(block_start);
  ASSERT_NE(block, std::string::npos);
  std::string corrupt = bytes;
  for (size_t i = block + 20; i < block + 60; ++i) corrupt[i] = static_cast<char>(~corrupt[i]);
  auto bad = open_archive(corrupt);
  auto data = read_data(*bad, entry_with_id(*bad, 9));
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kCorruption);

  // The block at the recorded offset names another entry.
  std::string wrong = bytes;
  wrong[block + 2] = 10;
  auto misplaced = open_archive(wrong);
  data = read_data(*misplaced, entry_with_id(*misplaced, 9));
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kCorruption);
  EXPECT_NE(data.status().message().find("belongs to dump id 10"), std::string::npos);
}

TEST(CustomArchive, SinkErrorsStopTheRead) {
  auto archive = open_archive(ArchiveWriter({.compression = "gzip"}).Write(shop_entries()));
  int calls = 0;
  Status st = archive->ReadData(entry_with_id(*archive, 9), [&](std::string_view) {
    ++calls;
    return Status::Aborted("client went away");
  });
  EXPECT_EQ(st.code(), StatusCode::kAborted);
  EXPECT_EQ(calls, 1);
}

TEST(CustomArchive, UnknownDumpIdIsRefused) {
  auto archive = open_archive(ArchiveWriter({}).Write(shop_entries()));
  ArchiveEntry other;
  other.dump_id = 99;
  auto data = read_data(*archive, other);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kInvalidArgument);
}

TEST(CustomArchive, DuplicateDumpIdsAreCorruption) {
  std::vector<TestEntry> written = shop_entries();
  written[2].dump_id = 5;
  auto archive = CustomArchive::Open(write_file(ArchiveWriter({}).Write(written)));
  ASSERT_FALSE(archive.ok());
  EXPECT_EQ(archive.status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace pgthaw::dumpfile
