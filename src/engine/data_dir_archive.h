// A data directory as a tar archive, in the form PGlite's dumpDataDir()
// writes and loadDataDir() reads: the files of PGDATA, paths relative to it
// (PGlite writes them with a leading '/'), regular files and directories
// only, optionally gzipped. libarchive reads and writes the tar.
//
// Reading an archive from outside is reading hostile input. extract_data_dir
// takes only regular files and directories whose normalised path stays
// inside the destination ("..", links, devices, sparse members, duplicate
// members: refused), only the names a Postgres data directory holds at its
// top (PG_VERSION, base/, global/, pg_*, postgresql*.conf, postmaster.*,
// backup_label, tablespace_map, current_logfiles), at most `max_bytes` of
// file data and `max_members` members, and an archive whose PG_VERSION is
// the engine's major version. Any failure removes what it wrote: the
// destination exists afterwards only if the whole archive was good, with
// every file and directory fsynced.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgthaw::engine {

struct ArchiveLimits {
  uint64_t max_bytes = uint64_t{10} << 30;  // sum of the members' sizes
  uint64_t max_members = 1'000'000;
};

// Extracts `archive` (.tar or .tar.gz, detected from its bytes) into
// `dest`, which must not exist. InvalidArgument naming the member and the
// rule it broke for an archive that is not a data directory or breaks the
// rules above; IoError for the host's failures.
Status extract_data_dir(const std::string& archive, const std::string& dest,
                        const ArchiveLimits& limits = {});

// Writes the data directory `data` as a tar (gzipped if `gzip`) to `out`
// (replaced atomically). With `lower` (layers, bottom first), `data` is the
// upper layer of an overlay on them (vfs/overlay_dir.h) and the merged view
// is written. The caller keeps the directory still meanwhile (no instance
// writes to it).
Status archive_data_dir(const std::string& data, const std::vector<std::string>& lower,
                        const std::string& out, bool gzip);

}  // namespace pgthaw::engine
