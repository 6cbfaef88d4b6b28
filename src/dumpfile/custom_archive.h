// CustomArchive: a reader of the custom-format archives pg_dump writes
// (`pg_dump -Fc`), archive versions 1.14 to 1.16, that is pg_dump 15 to 18.
//
// Open() reads the header and the whole table of contents (TOC); the
// entries come in TOC order, which is the order pg_restore runs them in
// (ACLs aside: pg_restore moves those after everything else). ReadData()
// streams one entry's data, decompressed, to a sink: for TABLE DATA the rows
// in COPY text format, exactly what "COPY ... FROM stdin" takes. Data is read
// from the file in chunks, never whole.
//
// The archive is hostile input: every length is checked against the file's
// size and a limit before anything is allocated, and a truncated or garbled
// file is Corruption naming what was being read. Refused with
// InvalidArgument: other archive versions and formats (directory, tar),
// data compressed with lz4 or zstd (none and gzip are read), and the data of
// large objects (BLOBS entries; their TOC entries are read).
//
// Not thread-safe: one caller at a time (ReadData moves the file position).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "dumpfile/archive_entry.h"

namespace pgthaw::dumpfile {

class ArchiveInput;

struct ArchiveHeader {
  int version_major = 0;  // 1
  int version_minor = 0;  // 14, 15 or 16
  int version_rev = 0;
  int int_size = 0;         // bytes of an integer in the archive
  int offset_size = 0;      // bytes of a file offset
  std::string compression;  // of the data: "none", "gzip", "lz4" or "zstd"
  // When pg_dump started, in the dumping machine's local time, as
  // "YYYY-MM-DD HH:MM:SS".
  std::string created;
  std::string database;        // the dumped database's name
  std::string server_version;  // of the dumped server, e.g. "18.1"
  std::string dump_version;    // of pg_dump, e.g. "18.1"
};

class CustomArchive {
 public:
  // Reads the header and TOC of the archive at `path`.
  static Result<std::unique_ptr<CustomArchive>> Open(const std::string& path);
  ~CustomArchive();
  CustomArchive(const CustomArchive&) = delete;
  CustomArchive& operator=(const CustomArchive&) = delete;

  const ArchiveHeader& header() const { return header_; }
  const std::vector<ArchiveEntry>& entries() const { return entries_; }

  // Streams the data of `entry` (one of entries(), found by its dump id),
  // decompressed, to `sink` in pieces of at most 256 KiB; a sink error
  // stops the read and is returned. Entries without data give nothing. The
  // data is located at the offset the TOC records; an archive written to a
  // pipe records none and is then scanned block by block from the end of
  // the TOC (each block found is remembered, so reading all entries in TOC
  // order scans the file once).
  Status ReadData(const ArchiveEntry& entry, const std::function<Status(std::string_view)>& sink);

 private:
  explicit CustomArchive(std::unique_ptr<ArchiveInput> input);
  Status ReadHeader();
  Status ReadToc();
  Status ReadTocEntry(ArchiveEntry& entry);
  Status LocateBlock(const ArchiveEntry& entry, uint64_t& offset);
  Status SkipBlock(int type);
  Status StreamChunks(const ArchiveEntry& entry,
                      const std::function<Status(std::string_view)>& sink);
  Status InflateChunks(const ArchiveEntry& entry,
                       const std::function<Status(std::string_view)>& sink);
  std::string Describe(const ArchiveEntry& entry) const;

  std::unique_ptr<ArchiveInput> input_;
  ArchiveHeader header_;
  int version_ = 0;  // (major << 16) | (minor << 8) | rev
  std::vector<ArchiveEntry> entries_;
  std::map<int, size_t> index_by_dump_id_;
  // For archives without data offsets: blocks found while scanning (dump id
  // to offset) and where the scan stopped.
  std::map<int, uint64_t> scanned_blocks_;
  uint64_t scan_position_ = 0;
};

}  // namespace pgthaw::dumpfile
