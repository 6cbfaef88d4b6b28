// host::AuthenticatedAsSessionUser: for the length of one client exchange,
// Postgres' authenticated user is the session's current session user.
//
// A backend's AuthenticatedUserId is who logged in; SET and RESET SESSION
// AUTHORIZATION may move only a superuser's session away from it. The
// tenant's instance boots as its superuser, and the server gives each
// client's exchanges that client's role (SET SESSION AUTHORIZATION, run as
// the superuser between exchanges). While the client's messages run, the
// authenticated user is that role too, so nothing the client sends (SET or
// RESET SESSION AUTHORIZATION, set_config, DISCARD ALL) can take the session
// back to the superuser; the destructor puts the superuser back for the
// server's own statements. The statics' addresses come from the artifact's
// generated code (scripts/guest_statics.py).
#pragma once

#include <cstdint>

namespace pgthaw::host {

class Host;

class AuthenticatedAsSessionUser {
 public:
  // `enabled` false: does nothing (trust mode: the superuser throughout).
  AuthenticatedAsSessionUser(Host& host, bool enabled);
  ~AuthenticatedAsSessionUser();
  AuthenticatedAsSessionUser(const AuthenticatedAsSessionUser&) = delete;
  AuthenticatedAsSessionUser& operator=(const AuthenticatedAsSessionUser&) = delete;

  // The host is gone (the backend exited during the exchange): nothing to
  // restore.
  void Forget() { host_ = nullptr; }

  // The oid Postgres now holds as the authenticated user (tests).
  static uint32_t Current(const Host& host);

 private:
  Host* host_ = nullptr;  // null: nothing to restore
  uint32_t saved_ = 0;
};

}  // namespace pgthaw::host
