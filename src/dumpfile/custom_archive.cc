#include "dumpfile/custom_archive.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dumpfile/archive_input.h"

namespace pgthaw::dumpfile {

namespace {

// Format facts from pg_dump's pg_backup_archiver.h and pg_backup_custom.c.
constexpr char kMagic[] = "PGDMP";
constexpr int kFormatCustom = 1;
constexpr int kFormatTar = 3;
constexpr int kFormatDirectory = 5;
constexpr int kBlockData = 1;   // BLK_DATA: a table's rows, in chunks
constexpr int kBlockBlobs = 3;  // BLK_BLOBS: large objects, each in chunks
constexpr uint8_t kOffsetNotSet = 1;
constexpr uint8_t kOffsetSet = 2;
constexpr uint8_t kOffsetNoData = 3;
constexpr int kOldestMinor = 14;  // pg_dump 15
constexpr int kNewestMinor = 16;  // pg_dump 17 and 18

constexpr int version_of(int major, int minor, int rev) {
  return (major << 16) | (minor << 8) | rev;
}
constexpr int kVersion1_15 = version_of(1, 15, 0);  // compression algorithm in the header
constexpr int kVersion1_16 = version_of(1, 16, 0);  // relkind in TOC entries

constexpr size_t kMaxStringBytes = size_t{1} << 30;
constexpr size_t kPieceBytes = 256 * 1024;  // ReadData's pieces
constexpr size_t kInputBytes = 64 * 1024;   // gzip input a reader holds
constexpr size_t kOutputStep = 64 * 1024;   // a reader's output grows by this much at a time

// "123" as an oid; pg_dump writes oids as decimal strings.
bool parse_unsigned(const std::string& text, uint64_t max, uint64_t& out) {
  if (text.empty() || text.size() > 10) return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > max) return false;
  out = value;
  return true;
}

Section section_of(int value) {
  switch (value) {
    case 2:
      return Section::kPreData;
    case 3:
      return Section::kData;
    case 4:
      return Section::kPostData;
    default:
      return Section::kNone;
  }
}

}  // namespace

// A gzip block's zlib stream and the compressed bytes read for it.
struct ArchiveDataReader::Inflater {
  Inflater() : input(kInputBytes) { ok = inflateInit(&stream) == Z_OK; }
  ~Inflater() {
    if (ok) inflateEnd(&stream);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  z_stream stream{};
  bool ok = false;
  std::vector<unsigned char> input;  // stream.next_in points into it
  bool had_input = false;
  bool stream_ended = false;  // inflate returned Z_STREAM_END
};

CustomArchive::CustomArchive(std::unique_ptr<ArchiveInput> input) : input_(std::move(input)) {}

CustomArchive::~CustomArchive() = default;

Result<std::unique_ptr<CustomArchive>> CustomArchive::Open(const std::string& path) {
  auto input = ArchiveInput::Open(path);
  if (!input.ok()) return input.status();
  std::unique_ptr<CustomArchive> archive(new CustomArchive(std::move(input).value()));
  PGTHAW_RETURN_IF_ERROR(archive->ReadHeader());
  PGTHAW_RETURN_IF_ERROR(archive->ReadToc());
  return archive;
}

Status CustomArchive::ReadHeader() {
  ArchiveInput& in = *input_;
  char magic[5] = {};
  const size_t head = static_cast<size_t>(std::min<uint64_t>(in.size(), sizeof magic));
  PGTHAW_RETURN_IF_ERROR(in.ReadBytes(magic, head, "the magic string"));
  if (head < sizeof magic || std::memcmp(magic, kMagic, sizeof magic) != 0) {
    if (head >= 2 && magic[0] == '-' && magic[1] == '-') {
      return Status::InvalidArgument(in.path() +
                                     ": a plain SQL script (pg_dump -Fp), not a custom-format "
                                     "archive");
    }
    return Status::InvalidArgument(in.path() +
                                   ": not a pg_dump custom-format archive (no PGDMP magic)");
  }
  uint8_t version[3] = {};
  PGTHAW_RETURN_IF_ERROR(in.ReadBytes(version, sizeof version, "the archive version"));
  header_.version_major = version[0];
  header_.version_minor = version[1];
  header_.version_rev = version[2];
  if (version[0] != 1 || version[1] < kOldestMinor || version[1] > kNewestMinor) {
    return Status::InvalidArgument(in.path() + ": unsupported archive version " +
                                   std::to_string(version[0]) + "." + std::to_string(version[1]) +
                                   " (pgthaw reads 1.14 to 1.16, written by pg_dump 15 to 18)");
  }
  version_ = version_of(version[0], version[1], version[2]);

  auto int_size = in.ReadByte("the integer size");
  if (!int_size.ok()) return int_size.status();
  auto offset_size = in.ReadByte("the offset size");
  if (!offset_size.ok()) return offset_size.status();
  if (*int_size < 4 || *int_size > 8 || *offset_size < 4 || *offset_size > 8) {
    return Status::Corruption(in.path() + ": integer size " + std::to_string(*int_size) +
                              " and offset size " + std::to_string(*offset_size) +
                              "; an archive has 4 to 8 for each");
  }
  header_.int_size = *int_size;
  header_.offset_size = *offset_size;
  in.set_int_size(*int_size);
  in.set_offset_size(*offset_size);

  auto format = in.ReadByte("the archive format");
  if (!format.ok()) return format.status();
  if (*format == kFormatDirectory) {
    return Status::InvalidArgument(in.path() +
                                   ": the TOC of a directory-format archive (pg_dump -Fd); only "
                                   "custom-format archives (pg_dump -Fc) are read");
  }
  if (*format == kFormatTar) {
    return Status::InvalidArgument(in.path() +
                                   ": the TOC of a tar-format archive (pg_dump -Ft); only "
                                   "custom-format archives (pg_dump -Fc) are read");
  }
  if (*format != kFormatCustom) {
    return Status::Corruption(in.path() + ": unknown archive format " + std::to_string(*format));
  }

  if (version_ >= kVersion1_15) {
    auto algorithm = in.ReadByte("the compression algorithm");
    if (!algorithm.ok()) return algorithm.status();
    static const char* const kAlgorithms[] = {"none", "gzip", "lz4", "zstd"};
    if (*algorithm > 3) {
      return Status::Corruption(in.path() + ": unknown compression algorithm " +
                                std::to_string(*algorithm));
    }
    header_.compression = kAlgorithms[*algorithm];
  } else {
    // Before 1.15 the header held a zlib level: 0 for none, else gzip.
    auto level = in.ReadInt("the compression level");
    if (!level.ok()) return level.status();
    header_.compression = *level == 0 ? "none" : "gzip";
  }

  int tm[7] = {};  // sec, min, hour, mday, mon (0-11), year - 1900, isdst
  for (int& field : tm) {
    auto value = in.ReadInt("the creation time");
    if (!value.ok()) return value.status();
    field = *value;
  }
  char created[96];
  std::snprintf(created, sizeof created, "%04lld-%02d-%02d %02d:%02d:%02d",
                static_cast<long long>(tm[5]) + 1900, tm[4] + 1, tm[3], tm[2], tm[1], tm[0]);
  header_.created = created;

  struct {
    std::string* field;
    const char* what;
  } const strings[] = {{&header_.database, "the database name"},
                       {&header_.server_version, "the server version"},
                       {&header_.dump_version, "the pg_dump version"}};
  for (const auto& s : strings) {
    auto text = in.ReadString(s.what, kMaxStringBytes);
    if (!text.ok()) return text.status();
    *s.field = text->value_or("");
  }
  return Status::Ok();
}

Status CustomArchive::ReadToc() {
  ArchiveInput& in = *input_;
  auto count = in.ReadInt("the TOC entry count");
  if (!count.ok()) return count.status();
  // Every entry holds at least 16 integers (or string lengths) and an offset.
  const uint64_t smallest_entry =
      16 * (static_cast<uint64_t>(header_.int_size) + 1) + 1 + header_.offset_size;
  if (*count < 0 || static_cast<uint64_t>(*count) > in.remaining() / smallest_entry) {
    return Status::Corruption(in.path() + ": the TOC claims " + std::to_string(*count) +
                              " entries, more than the file can hold");
  }
  entries_.reserve(std::min(*count, 4096));
  for (int i = 0; i < *count; ++i) {
    ArchiveEntry entry;
    Status st = ReadTocEntry(entry);
    if (!st.ok()) {
      return st.Annotate("TOC entry " + std::to_string(i + 1) + " of " + std::to_string(*count) +
                         ": ");
    }
    if (!index_by_dump_id_.emplace(entry.dump_id, entries_.size()).second) {
      return Status::Corruption(in.path() + ": two TOC entries have dump id " +
                                std::to_string(entry.dump_id));
    }
    entries_.push_back(std::move(entry));
  }
  scan_position_ = in.position();
  return Status::Ok();
}

Status CustomArchive::ReadTocEntry(ArchiveEntry& entry) {
  ArchiveInput& in = *input_;
  auto dump_id = in.ReadInt("a dump id");
  if (!dump_id.ok()) return dump_id.status();
  if (*dump_id <= 0) {
    return Status::Corruption(in.path() + ": dump id " + std::to_string(*dump_id) +
                              " out of range");
  }
  entry.dump_id = *dump_id;
  auto had_dumper = in.ReadInt("the has-data flag");
  if (!had_dumper.ok()) return had_dumper.status();
  entry.has_data = *had_dumper != 0;

  auto read_string = [&](const char* what, std::string& out) -> Status {
    auto text = in.ReadString(what, kMaxStringBytes);
    if (!text.ok()) return text.status();
    out = text->value_or("");
    return Status::Ok();
  };
  auto read_oid = [&](const char* what, uint32_t& out) -> Status {
    std::string text;
    PGTHAW_RETURN_IF_ERROR(read_string(what, text));
    uint64_t value = 0;
    if (!parse_unsigned(text, UINT32_MAX, value)) {
      return Status::Corruption(in.path() + ": " + what + " \"" + text.substr(0, 32) +
                                "\" is not an oid");
    }
    out = static_cast<uint32_t>(value);
    return Status::Ok();
  };
  PGTHAW_RETURN_IF_ERROR(read_oid("the catalog oid", entry.table_oid));
  PGTHAW_RETURN_IF_ERROR(read_oid("the object oid", entry.oid));
  PGTHAW_RETURN_IF_ERROR(read_string("the tag", entry.tag));
  PGTHAW_RETURN_IF_ERROR(read_string("the description", entry.desc));
  auto section = in.ReadInt("the section");
  if (!section.ok()) return section.status();
  if (*section < 1 || *section > 4) {
    return Status::Corruption(in.path() + ": section " + std::to_string(*section) + " of dump id " +
                              std::to_string(entry.dump_id) + " out of range");
  }
  entry.section = section_of(*section);
  PGTHAW_RETURN_IF_ERROR(read_string("the definition", entry.defn));
  PGTHAW_RETURN_IF_ERROR(read_string("the drop statement", entry.drop_stmt));
  PGTHAW_RETURN_IF_ERROR(read_string("the COPY statement", entry.copy_stmt));
  PGTHAW_RETURN_IF_ERROR(read_string("the schema", entry.schema));
  PGTHAW_RETURN_IF_ERROR(read_string("the tablespace", entry.tablespace));
  PGTHAW_RETURN_IF_ERROR(read_string("the table access method", entry.table_access_method));
  if (version_ >= kVersion1_16) {
    auto relkind = in.ReadInt("the relkind");
    if (!relkind.ok()) return relkind.status();
    if (*relkind < 0 || *relkind > 127) {
      return Status::Corruption(in.path() + ": relkind " + std::to_string(*relkind) +
                                " out of range");
    }
    entry.relkind = static_cast<char>(*relkind);
  }
  PGTHAW_RETURN_IF_ERROR(read_string("the owner", entry.owner));
  // "with oids": pg_dump 12 and later always write "false".
  std::string with_oids;
  PGTHAW_RETURN_IF_ERROR(read_string("the WITH OIDS flag", with_oids));

  for (;;) {
    auto dependency = in.ReadString("a dependency", kMaxStringBytes);
    if (!dependency.ok()) return dependency.status();
    if (!dependency->has_value()) break;
    uint64_t id = 0;
    if (!parse_unsigned(**dependency, INT_MAX, id) || id == 0) {
      return Status::Corruption(in.path() + ": dependency \"" + (*dependency)->substr(0, 32) +
                                "\" is not a dump id");
    }
    entry.dependencies.push_back(static_cast<int>(id));
  }

  auto offset = in.ReadOffset("the data offset");
  if (!offset.ok()) return offset.status();
  switch (offset->flag) {
    case kOffsetNotSet:
      entry.data_state_ = ArchiveEntry::DataState::kOffsetNotSet;
      break;
    case kOffsetSet:
      if (offset->value >= in.size()) {
        return Status::Corruption(in.path() + ": the data of dump id " +
                                  std::to_string(entry.dump_id) + " is at offset " +
                                  std::to_string(offset->value) + ", beyond the end of the file");
      }
      entry.data_state_ = ArchiveEntry::DataState::kOffsetSet;
      entry.data_offset_ = offset->value;
      break;
    case kOffsetNoData:
      entry.data_state_ = ArchiveEntry::DataState::kNoData;
      break;
    default:
      return Status::Corruption(in.path() + ": unknown data offset flag " +
                                std::to_string(offset->flag));
  }
  return Status::Ok();
}

std::string CustomArchive::Describe(const ArchiveEntry& entry) const {
  std::string name = entry.schema.empty() ? entry.tag : entry.schema + "." + entry.tag;
  return input_->path() + ": TOC entry " + std::to_string(entry.dump_id) + " (" + entry.desc + " " +
         name + ")";
}

Result<std::unique_ptr<ArchiveDataReader>> CustomArchive::OpenData(const ArchiveEntry& requested) {
  auto found = index_by_dump_id_.find(requested.dump_id);
  if (found == index_by_dump_id_.end()) {
    return Status::InvalidArgument(input_->path() + ": no TOC entry has dump id " +
                                   std::to_string(requested.dump_id));
  }
  const ArchiveEntry& entry = entries_[found->second];
  if (entry.desc == "BLOBS") {
    return Status::InvalidArgument(Describe(entry) +
                                   ": large objects are not supported (dump without them: "
                                   "pg_dump --no-blobs)");
  }
  if (!entry.has_data || entry.data_state_ == ArchiveEntry::DataState::kNoData) {
    return std::unique_ptr<ArchiveDataReader>(new ArchiveDataReader(*this, nullptr, 0, nullptr));
  }
  if (header_.compression != "none" && header_.compression != "gzip") {
    return Status::InvalidArgument(input_->path() + ": the data is compressed with " +
                                   header_.compression +
                                   "; pgthaw reads archives compressed with gzip or not at all "
                                   "(pg_dump --compress=gzip or --compress=none)");
  }
  uint64_t offset = 0;
  PGTHAW_RETURN_IF_ERROR(LocateBlock(entry, offset));
  ArchiveInput& in = *input_;
  PGTHAW_RETURN_IF_ERROR(in.Seek(offset));
  auto type = in.ReadByte("a data block's type");
  if (!type.ok()) return type.status();
  auto id = in.ReadInt("a data block's dump id");
  if (!id.ok()) return id.status();
  if (*id != entry.dump_id) {
    return Status::Corruption(Describe(entry) + ": the data block at offset " +
                              std::to_string(offset) + " belongs to dump id " +
                              std::to_string(*id));
  }
  if (*type == kBlockBlobs) {
    return Status::InvalidArgument(Describe(entry) +
                                   ": its data are large objects, which are not supported");
  }
  if (*type != kBlockData) {
    return Status::Corruption(Describe(entry) + ": unknown data block type " +
                              std::to_string(*type) + " at offset " + std::to_string(offset));
  }
  std::unique_ptr<ArchiveDataReader::Inflater> inflater;
  if (header_.compression == "gzip") {
    inflater = std::make_unique<ArchiveDataReader::Inflater>();
    if (!inflater->ok) return Status::ResourceExhausted("zlib: cannot start inflating");
  }
  return std::unique_ptr<ArchiveDataReader>(
      new ArchiveDataReader(*this, &entry, in.position(), std::move(inflater)));
}

Status CustomArchive::ReadData(const ArchiveEntry& entry,
                               const std::function<Status(std::string_view)>& sink) {
  auto reader = OpenData(entry);
  if (!reader.ok()) return reader.status();
  std::string piece;
  for (;;) {
    piece.clear();
    auto more = (*reader)->Read(piece, kPieceBytes);
    if (!more.ok()) return more.status();
    if (!piece.empty()) PGTHAW_RETURN_IF_ERROR(sink(piece));
    if (!*more) return Status::Ok();
  }
}

Status CustomArchive::LocateBlock(const ArchiveEntry& entry, uint64_t& offset) {
  if (entry.data_state_ == ArchiveEntry::DataState::kOffsetSet) {
    offset = entry.data_offset_;
    return Status::Ok();
  }
  // No offsets (pg_dump wrote to a pipe): walk the blocks, which follow the
  // TOC in the order pg_dump wrote them.
  if (auto known = scanned_blocks_.find(entry.dump_id); known != scanned_blocks_.end()) {
    offset = known->second;
    return Status::Ok();
  }
  ArchiveInput& in = *input_;
  PGTHAW_RETURN_IF_ERROR(in.Seek(scan_position_));
  for (;;) {
    const uint64_t start = in.position();
    auto type = in.ReadByteOrEnd("a data block's type");
    if (!type.ok()) return type.status();
    if (!type->has_value()) {
      return Status::Corruption(Describe(entry) +
                                ": no data block for it in the archive (which has no data "
                                "offsets, so its blocks were searched in order)");
    }
    auto id = in.ReadInt("a data block's dump id");
    if (!id.ok()) return id.status();
    // Remembered for the entries that need it only: a hostile file may hold
    // millions of blocks.
    if (auto other = index_by_dump_id_.find(*id);
        other != index_by_dump_id_.end() &&
        entries_[other->second].data_state_ == ArchiveEntry::DataState::kOffsetNotSet) {
      scanned_blocks_.emplace(*id, start);
    }
    if (*id == entry.dump_id) {
      scan_position_ = start;
      offset = start;
      return Status::Ok();
    }
    PGTHAW_RETURN_IF_ERROR(SkipBlock(**type));
    scan_position_ = in.position();
  }
}

Status CustomArchive::SkipBlock(int type) {
  ArchiveInput& in = *input_;
  auto skip_chunks = [&]() -> Status {
    for (;;) {
      auto length = in.ReadInt("a data chunk's length");
      if (!length.ok()) return length.status();
      if (*length < 0) {
        return Status::Corruption(in.path() + ": negative data chunk length at offset " +
                                  std::to_string(in.position()));
      }
      if (*length == 0) return Status::Ok();
      PGTHAW_RETURN_IF_ERROR(in.Skip(static_cast<uint64_t>(*length), "a data chunk"));
    }
  };
  if (type == kBlockData) return skip_chunks();
  if (type == kBlockBlobs) {
    // Each large object: its oid, then its chunks; oid 0 ends the block.
    for (;;) {
      auto oid = in.ReadInt("a large object's oid");
      if (!oid.ok()) return oid.status();
      if (*oid == 0) return Status::Ok();
      PGTHAW_RETURN_IF_ERROR(skip_chunks());
    }
  }
  return Status::Corruption(in.path() + ": unknown data block type " + std::to_string(type) +
                            " at offset " + std::to_string(in.position()));
}

ArchiveDataReader::ArchiveDataReader(CustomArchive& archive, const ArchiveEntry* entry,
                                     uint64_t position, std::unique_ptr<Inflater> inflater)
    : archive_(archive), entry_(entry), position_(position), inflater_(std::move(inflater)) {}

ArchiveDataReader::~ArchiveDataReader() = default;

Result<bool> ArchiveDataReader::Read(std::string& chunk, size_t max_bytes) {
  if (!failed_.ok()) return failed_;
  if (ended_) return false;
  if (max_bytes == 0) return Status::InvalidArgument("ArchiveDataReader::Read: max_bytes is 0");
  if (entry_ == nullptr) {
    ended_ = true;
    return false;
  }
  // The archive's input is shared: every Read goes back to its own place.
  ArchiveInput& in = *archive_.input_;
  const size_t old_size = chunk.size();
  Status st = in.Seek(position_);
  Result<bool> more = !st.ok()    ? Result<bool>(st)
                      : inflater_ ? ReadInflated(chunk, max_bytes)
                                  : ReadStored(chunk, max_bytes);
  if (!more.ok()) {
    chunk.resize(old_size);
    failed_ = more.status();
    return failed_;
  }
  position_ = in.position();
  if (!*more) ended_ = true;
  return more;
}

// The length of the block's next chunk, into chunk_left_; or its end.
Status ArchiveDataReader::NextChunk() {
  ArchiveInput& in = *archive_.input_;
  auto length = in.ReadInt("a data chunk's length");
  if (!length.ok()) return length.status();
  if (*length < 0) {
    return Status::Corruption(archive_.Describe(*entry_) + ": negative data chunk length");
  }
  if (*length == 0) {
    chunks_ended_ = true;
    return Status::Ok();
  }
  // Checked before anything is allocated for it.
  if (static_cast<uint64_t>(*length) > in.remaining()) {
    return Status::Corruption(
        archive_.Describe(*entry_) + ": a data chunk of " + std::to_string(*length) +
        " bytes at offset " + std::to_string(in.position()) +
        " runs past the end of the archive (" + std::to_string(in.size()) + " bytes)");
  }
  chunk_left_ = static_cast<uint64_t>(*length);
  return Status::Ok();
}

// Uncompressed data: the chunks are the data. The next chunk's length is
// read ahead, so the data's last bytes come with false.
Result<bool> ArchiveDataReader::ReadStored(std::string& chunk, size_t max_bytes) {
  ArchiveInput& in = *archive_.input_;
  size_t room = max_bytes;
  for (;;) {
    if (chunk_left_ == 0) {
      PGTHAW_RETURN_IF_ERROR(NextChunk());
      if (chunks_ended_) return false;
    }
    if (room == 0) return true;
    const size_t take = static_cast<size_t>(std::min<uint64_t>(room, chunk_left_));
    const size_t at = chunk.size();
    chunk.resize(at + take);
    PGTHAW_RETURN_IF_ERROR(in.ReadBytes(chunk.data() + at, take, "a data chunk"));
    chunk_left_ -= take;
    room -= take;
  }
}

// Reads chunks into the inflater's input until it is full or the block's
// chunks end.
Status ArchiveDataReader::FillInput() {
  ArchiveInput& in = *archive_.input_;
  Inflater& z = *inflater_;
  size_t filled = 0;
  while (filled < z.input.size()) {
    if (chunk_left_ == 0) {
      if (chunks_ended_) break;
      PGTHAW_RETURN_IF_ERROR(NextChunk());
      continue;
    }
    const size_t take =
        static_cast<size_t>(std::min<uint64_t>(z.input.size() - filled, chunk_left_));
    PGTHAW_RETURN_IF_ERROR(in.ReadBytes(z.input.data() + filled, take, "a data chunk"));
    filled += take;
    chunk_left_ -= take;
  }
  z.stream.next_in = z.input.data();
  z.stream.avail_in = static_cast<uInt>(filled);
  if (filled > 0) z.had_input = true;
  return Status::Ok();
}

// gzip: the chunks are one zlib stream (deflateInit's format, with the
// zlib header), cut wherever pg_dump's output buffer filled. Inflated
// straight into the caller's chunk, which grows a step at a time.
Result<bool> ArchiveDataReader::ReadInflated(std::string& chunk, size_t max_bytes) {
  Inflater& z = *inflater_;
  z_stream& zs = z.stream;
  const size_t start = chunk.size();
  size_t produced = 0;
  auto data_after_end = [&] {
    return Status::Corruption(archive_.Describe(*entry_) +
                              ": data after the end of its gzip stream");
  };
  while (produced < max_bytes) {
    if (zs.avail_in == 0) {
      PGTHAW_RETURN_IF_ERROR(FillInput());
      if (zs.avail_in == 0) {  // the chunks ended
        if (z.had_input && !z.stream_ended) {
          return Status::Corruption(archive_.Describe(*entry_) + ": its gzip stream ends early");
        }
        return false;
      }
    }
    const size_t step = std::min(max_bytes - produced, kOutputStep);
    chunk.resize(start + produced + step);
    zs.next_out = reinterpret_cast<Bytef*>(chunk.data() + start + produced);
    zs.avail_out = static_cast<uInt>(step);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += step - zs.avail_out;
    chunk.resize(start + produced);
    if (rc == Z_STREAM_END) {
      z.stream_ended = true;
      // pg_dump ends the block with the stream: the rest must be empty.
      if (zs.avail_in > 0) return data_after_end();
      PGTHAW_RETURN_IF_ERROR(FillInput());
      if (zs.avail_in > 0) return data_after_end();
      return false;
    }
    // Z_BUF_ERROR: no progress without more input, which the loop reads.
    if (rc == Z_BUF_ERROR && zs.avail_in > 0) {
      return Status::Corruption(archive_.Describe(*entry_) + ": zlib stalls on its gzip data");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Status::Corruption(archive_.Describe(*entry_) + ": bad gzip data (" +
                                (zs.msg != nullptr ? zs.msg : "zlib error " + std::to_string(rc)) +
                                ")");
    }
  }
  return true;
}

}  // namespace pgthaw::dumpfile
