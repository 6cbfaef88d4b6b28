// Shared buffers out of a tenant's snapshot.
//
// A tenant's memory is its base image (the template's) plus the pages it has
// written, and a hibernation snapshot stores those pages (its delta). Most of
// a busy tenant's delta is shared buffers: copies of table and index pages
// its files already hold. evict_buffers() evicts the buffers whose blocks
// the tenant wrote, with Postgres' own EvictUnpinnedBuffer() (what
// pg_buffercache_evict() calls) inside a transaction of its own (it pins
// through the transaction's resource owner): a dirty buffer is written to
// its file first, so nothing is lost, and an evicted buffer is invalid in
// Postgres' descriptors. Its block's pages can then go back to the base
// image's bytes (host::GuestMemory::Revert): Postgres reads a block into an
// invalid buffer before it looks at its bytes. The thawed tenant reads the
// pages it uses from its files again, a few per query, instead of mapping
// every page it ever cached; buffers still shared with the base image (the
// template's catalogs the tenant only read) stay valid and cost nothing.
//
// Only at ReadyForQuery outside a transaction block, as a snapshot is.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "engine/export_recovery.h"

namespace pgthaw::host {
class Host;
}  // namespace pgthaw::host

namespace pgthaw::engine {

inline constexpr uint32_t kBufferBlockBytes = 8192;  // BLCKSZ

// Where the buffer pool's blocks are in linear memory: BufferBlocks, and
// NBuffers blocks of kBufferBlockBytes from there (buffer b, 1-based as
// Postgres' Buffer, at blocks_at + (b - 1) * kBufferBlockBytes).
struct BufferPool {
  uint32_t blocks_at = 0;
  uint32_t buffers = 0;
};
Result<BufferPool> buffer_pool(const host::Host& host);

// Evicts each of `buffers` (1-based) that is valid and unpinned; returns
// those it evicted, in order. An ERROR on the way (a dirty buffer that could
// not be written: a full disk, an I/O error) is recovered from (the instance
// is back at ReadyForQuery) and reported; the buffers not evicted keep
// their pages.
Result<std::vector<uint32_t>> evict_buffers(host::Host& host, const std::vector<uint32_t>& buffers,
                                            const ExportRecovery& recovery);

}  // namespace pgthaw::engine
