// CustomArchive: a reader of the custom-format archives pg_dump writes
// (`pg_dump -Fc`), archive versions 1.14 to 1.16, that is pg_dump 15 to 18.
//
// Open() reads the header and the whole table of contents (TOC); the
// entries come in TOC order, which is the order pg_restore runs them in
// (ACLs aside: pg_restore moves those after everything else). OpenData()
// gives a reader that pulls one entry's data, decompressed, a chunk at a time
// (ReadData() pushes it to a sink instead): for TABLE DATA the rows in COPY
// text format, exactly what "COPY ... FROM stdin" takes. Data is read from
// the file in pieces, never whole.
//
// The archive is hostile input: every length is checked against the file's
// size and a limit before anything is allocated, and a truncated or garbled
// file is Corruption naming what was being read. Refused with
// InvalidArgument: other archive versions and formats (directory, tar),
// data compressed with lz4 or zstd (none and gzip are read), and the data of
// large objects (BLOBS entries; their TOC entries are read).
//
// Not thread-safe: one thread at a time, for the archive and its readers.
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
class CustomArchive;

// Reads one entry's data in order, decompressed, a piece at a time; from
// CustomArchive::OpenData. It refers to its archive, which must outlive it.
// Readers keep their own place in the file: several may be open on one
// archive (used by one thread), and ReadData may run between two Reads.
//
// Memory: the piece the caller asks for, plus for gzip data 64 KiB of
// compressed input and zlib's state (about 40 KiB); nothing grows with the
// entry or with the archive's chunks.
class ArchiveDataReader {
 public:
  ~ArchiveDataReader();
  ArchiveDataReader(const ArchiveDataReader&) = delete;
  ArchiveDataReader& operator=(const ArchiveDataReader&) = delete;

  // Appends the next `max_bytes` (> 0) of the data to `chunk`, or what is
  // left of it when that is less. True: max_bytes were appended and more may
  // follow. False: the data ended, in this call (which may have appended its
  // last bytes) or before; later calls append nothing and return false. An
  // error (Corruption for a truncated or garbled block, IoError) leaves
  // `chunk` as it was and is returned again by every later call.
  Result<bool> Read(std::string& chunk, size_t max_bytes);

 private:
  friend class CustomArchive;
  struct Inflater;
  ArchiveDataReader(CustomArchive& archive, const ArchiveEntry* entry, uint64_t position,
                    std::unique_ptr<Inflater> inflater);
  Result<bool> ReadStored(std::string& chunk, size_t max_bytes);
  Result<bool> ReadInflated(std::string& chunk, size_t max_bytes);
  Status NextChunk();
  Status FillInput();

  CustomArchive& archive_;
  const ArchiveEntry* entry_;           // in archive_.entries(); null for an entry without data
  uint64_t position_;                   // file offset of the next byte of the block
  uint64_t chunk_left_ = 0;             // bytes of the current archive chunk not read yet
  bool chunks_ended_ = false;           // the block's closing zero-length chunk was read
  bool ended_ = false;                  // Read returned false
  Status failed_;                       // what Read returned, once it failed
  std::unique_ptr<Inflater> inflater_;  // gzip data only
};

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

  // A reader of the data of `entry` (one of entries(), found by its dump
  // id); entries without data give a reader of nothing. The data is located
  // at the offset the TOC records; an archive written to a pipe records none
  // and is then scanned block by block from the end of the TOC (each block
  // found is remembered, so reading all entries in TOC order scans the file
  // once). Refused here, before any data: an unknown dump id, large objects
  // and lz4/zstd data (InvalidArgument), a block that is missing or belongs
  // to another entry (Corruption).
  Result<std::unique_ptr<ArchiveDataReader>> OpenData(const ArchiveEntry& entry);

  // The data of `entry` through OpenData, pushed to `sink` in pieces of at
  // most 256 KiB; a sink error stops the read and is returned.
  Status ReadData(const ArchiveEntry& entry, const std::function<Status(std::string_view)>& sink);

 private:
  explicit CustomArchive(std::unique_ptr<ArchiveInput> input);
  Status ReadHeader();
  Status ReadToc();
  Status ReadTocEntry(ArchiveEntry& entry);
  Status LocateBlock(const ArchiveEntry& entry, uint64_t& offset);
  Status SkipBlock(int type);
  std::string Describe(const ArchiveEntry& entry) const;

  friend class ArchiveDataReader;

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
