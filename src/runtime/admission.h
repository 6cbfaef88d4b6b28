// runtime admission refusals: the errors of the runtime's own limits.
//
//   RuntimeOptions::max_queued_per_tenant  Submit beyond it: QueueFull
//   RuntimeOptions::max_tenants            a new tenant beyond it: TooManyTenants
//
// Both are kResourceExhausted (HTTP 503 `resource_exhausted`); the Postgres
// listener tells them apart from other resource errors with the predicates
// below and answers SQLSTATE 53300 (too_many_connections): a full queue as
// an ERROR on a connection that stays open, too many tenants as a FATAL at
// startup. The predicates look for the fixed message text, which survives
// Status::Annotate (a prefix) on the way to the caller.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace pgthaw::runtime {

Status QueueFullError(const std::string& tenant, uint64_t limit);
Status TooManyTenantsError(uint64_t limit);

bool IsQueueFull(const Status& status);
bool IsTooManyTenants(const Status& status);

}  // namespace pgthaw::runtime
