// One entry of a pg_dump archive's table of contents (TOC): an object to
// create (its SQL), or the data of one (TABLE DATA, SEQUENCE SET, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pgthaw::dumpfile {

class CustomArchive;

// Where pg_restore runs an entry; kNone for comments, ACLs and the like,
// which follow their object.
enum class Section { kNone, kPreData, kData, kPostData };

struct ArchiveEntry {
  int dump_id = 0;         // unique in the archive, > 0
  bool has_data = false;   // pg_dump had data for it (TABLE DATA, BLOBS, ...)
  uint32_t table_oid = 0;  // catalog of the object on the dumped server (pg_class, ...)
  uint32_t oid = 0;        // the object's oid there
  std::string tag;         // its name; for functions, name and argument types
  std::string desc;        // its kind: "TABLE", "TABLE DATA", "FUNCTION", "ACL", ...
  Section section = Section::kNone;
  std::string defn;                 // SQL that creates it ("" for none)
  std::string drop_stmt;            // SQL that drops it ("" for none)
  std::string copy_stmt;            // for TABLE DATA: "COPY schema.table (cols) FROM stdin;"
  std::string schema;               // namespace; "" for objects outside a schema
  std::string tablespace;           // "" for none or the default
  std::string table_access_method;  // for tables; "" otherwise
  std::string owner;                // role name; "" when the kind has none
  char relkind = 0;                 // pg_class.relkind for TABLE entries of 1.16 archives, else 0
  std::vector<int> dependencies;    // dump ids this entry depends on

 private:
  friend class CustomArchive;
  // Where the entry's data block is (pg_backup_custom.c's K_OFFSET_*).
  enum class DataState { kNoData, kOffsetSet, kOffsetNotSet };
  DataState data_state_ = DataState::kNoData;
  uint64_t data_offset_ = 0;  // file offset of the block when kOffsetSet
};

}  // namespace pgthaw::dumpfile
