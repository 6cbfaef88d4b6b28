#include "host/guest_identity.h"

#include "guest_statics.h"
#include "host/host.h"

namespace pgthaw::host {

AuthenticatedAsSessionUser::AuthenticatedAsSessionUser(Host& host, bool enabled) {
  if (!enabled || host.dead()) return;
  const uint32_t session_user = host.Load<uint32_t>(PGTHAW_GUEST_SESSION_USER_ID);
  if (session_user == 0) return;  // not logged in yet (boot)
  saved_ = host.Load<uint32_t>(PGTHAW_GUEST_AUTHENTICATED_USER_ID);
  if (!host.Store<uint32_t>(PGTHAW_GUEST_AUTHENTICATED_USER_ID, session_user)) return;
  host_ = &host;
}

AuthenticatedAsSessionUser::~AuthenticatedAsSessionUser() {
  if (host_ != nullptr && !host_->dead()) {
    host_->Store<uint32_t>(PGTHAW_GUEST_AUTHENTICATED_USER_ID, saved_);
  }
}

uint32_t AuthenticatedAsSessionUser::Current(const Host& host) {
  return host.Load<uint32_t>(PGTHAW_GUEST_AUTHENTICATED_USER_ID);
}

}  // namespace pgthaw::host
