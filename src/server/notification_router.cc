#include "server/notification_router.h"

namespace pgthaw::server {

void NotificationRouter::Listen(const std::string& tenant, uint64_t connection,
                                const std::string& channel) {
  MutexLock lock(mutex_);
  listeners_[tenant][channel].insert(connection);
}

bool NotificationRouter::Unlisten(const std::string& tenant, uint64_t connection,
                                  const std::string& channel) {
  MutexLock lock(mutex_);
  auto t = listeners_.find(tenant);
  if (t == listeners_.end()) return false;
  auto c = t->second.find(channel);
  if (c == t->second.end()) return false;
  c->second.erase(connection);
  if (!c->second.empty()) return true;
  t->second.erase(c);
  if (t->second.empty()) listeners_.erase(t);
  return false;
}

std::vector<std::string> NotificationRouter::UnlistenAll(const std::string& tenant,
                                                         uint64_t connection) {
  MutexLock lock(mutex_);
  std::vector<std::string> unneeded;
  auto t = listeners_.find(tenant);
  if (t == listeners_.end()) return unneeded;
  for (auto c = t->second.begin(); c != t->second.end();) {
    if (c->second.erase(connection) != 0 && c->second.empty()) {
      unneeded.push_back(c->first);
      c = t->second.erase(c);
    } else {
      ++c;
    }
  }
  if (t->second.empty()) listeners_.erase(t);
  return unneeded;
}

std::set<std::string> NotificationRouter::Channels(const std::string& tenant) const {
  MutexLock lock(mutex_);
  std::set<std::string> out;
  auto t = listeners_.find(tenant);
  if (t == listeners_.end()) return out;
  for (const auto& [channel, connections] : t->second) out.insert(channel);
  return out;
}

std::set<uint64_t> NotificationRouter::Listeners(const std::string& tenant,
                                                 const std::string& channel) const {
  MutexLock lock(mutex_);
  auto t = listeners_.find(tenant);
  if (t == listeners_.end()) return {};
  auto c = t->second.find(channel);
  return c == t->second.end() ? std::set<uint64_t>{} : c->second;
}

bool NotificationRouter::Listens(const std::string& tenant, uint64_t connection,
                                 const std::string& channel) const {
  MutexLock lock(mutex_);
  auto t = listeners_.find(tenant);
  if (t == listeners_.end()) return false;
  auto c = t->second.find(channel);
  return c != t->second.end() && c->second.count(connection) != 0;
}

void NotificationRouter::Forget(const std::string& tenant) {
  MutexLock lock(mutex_);
  listeners_.erase(tenant);
}

}  // namespace pgthaw::server
