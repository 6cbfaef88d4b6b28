// NotificationRouter: which of a tenant's Postgres connections listens on
// which channel.
//
// A tenant's connections share one engine session, which listens on the
// union of their channels; a NotificationResponse the session produces
// comes out in the reply of whichever connection runs at that moment. The
// listener takes it out of that reply and hands it to the connections that
// LISTEN on its channel (PgConnection::Deliver), so a connection that did
// not LISTEN never gets one and a listening one gets it even while idle,
// as from a Postgres backend of its own.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/thread_annotations.h"

namespace pgthaw::server {

class NotificationRouter {
 public:
  void Listen(const std::string& tenant, uint64_t connection, const std::string& channel);
  // True if another connection still listens on `channel` (so the session
  // must go on listening).
  bool Unlisten(const std::string& tenant, uint64_t connection, const std::string& channel);
  // Every channel of `connection`; returns those no other connection
  // listens on (the session may stop listening on them).
  std::vector<std::string> UnlistenAll(const std::string& tenant, uint64_t connection);
  // The session's channels: the union of its connections'.
  std::set<std::string> Channels(const std::string& tenant) const;
  std::set<uint64_t> Listeners(const std::string& tenant, const std::string& channel) const;
  bool Listens(const std::string& tenant, uint64_t connection, const std::string& channel) const;
  // The tenant's session was discarded (DISCARD ALL by its last connection).
  void Forget(const std::string& tenant);

 private:
  mutable Mutex mutex_;
  // tenant -> channel -> connections
  std::map<std::string, std::map<std::string, std::set<uint64_t>>> listeners_ GUARDED_BY(mutex_);
};

}  // namespace pgthaw::server
