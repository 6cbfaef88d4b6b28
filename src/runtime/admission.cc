#include "runtime/admission.h"

#include <string_view>

namespace pgthaw::runtime {

namespace {

// Postgres says "too many requests queued" nowhere; these follow its
// "sorry, too many clients already" (53300).
constexpr std::string_view kQueueFull = "too many requests queued";
constexpr std::string_view kTooManyTenants = "sorry, too many tenants already";

bool has(const Status& status, std::string_view text) {
  return status.code() == StatusCode::kResourceExhausted &&
         status.message().find(text) != std::string::npos;
}

}  // namespace

Status QueueFullError(const std::string& tenant, uint64_t limit) {
  return Status::ResourceExhausted(std::string(kQueueFull) + " for tenant " + tenant + " (limit " +
                                   std::to_string(limit) + "); try again later");
}

Status TooManyTenantsError(uint64_t limit) {
  return Status::ResourceExhausted(std::string(kTooManyTenants) + " (limit " +
                                   std::to_string(limit) + ")");
}

bool IsQueueFull(const Status& status) { return has(status, kQueueFull); }

bool IsTooManyTenants(const Status& status) { return has(status, kTooManyTenants); }

}  // namespace pgthaw::runtime
