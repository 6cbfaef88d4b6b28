#include "server/connection_activity.h"

#include <time.h>

#include <cstdio>
#include <nlohmann/json.hpp>

namespace pgthaw::server {

namespace {

using Clock = std::chrono::system_clock;

// ISO 8601 in UTC with microseconds, as timestamptz input takes it
// whatever the session's DateStyle; null for "none".
nlohmann::json timestamp(Clock::time_point t) {
  if (t == Clock::time_point{}) return nullptr;
  const int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  const time_t seconds = static_cast<time_t>(us / 1'000'000);
  struct tm utc;
  gmtime_r(&seconds, &utc);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(us % 1'000'000));
  return text;
}

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// `query` cut to at most `max` bytes, not inside a UTF-8 character.
std::string clip(std::string_view query, size_t max) {
  if (query.size() <= max) return std::string(query);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(query[end]) & 0xC0) == 0x80) --end;
  return std::string(query.substr(0, end));
}

}  // namespace

void ConnectionActivity::Account(Counters& t, const Connection& c, Clock::time_point now) {
  const double ms = ms_between(c.state_change, now);
  switch (c.state) {
    case State::kActive:
    case State::kFunctionCall:
      t.active_ms += ms;
      break;
    case State::kIdleInTransaction:
    case State::kAborted:
      t.idle_in_transaction_ms += ms;
      break;
    case State::kIdle:
      break;
  }
}

void ConnectionActivity::Opened(const std::string& tenant, int32_t pid, std::string user,
                                std::string application_name, std::string client_addr,
                                int client_port) {
  const auto now = Clock::now();
  MutexLock lock(mutex_);
  Tenant& t = tenants_[tenant];
  ++t.sessions;
  Connection& c = t.connections[pid];
  c = Connection{};
  c.user = std::move(user);
  c.application_name = std::move(application_name);
  c.client_addr = std::move(client_addr);
  c.client_port = client_port;
  c.backend_start = c.state_change = now;
}

ConnectionActivity::Connection* ConnectionActivity::Find(const std::string& tenant, int32_t pid,
                                                         Tenant** owner) {
  auto t = tenants_.find(tenant);
  if (t == tenants_.end()) return nullptr;
  auto c = t->second.connections.find(pid);
  if (c == t->second.connections.end()) return nullptr;
  if (owner != nullptr) *owner = &t->second;
  return &c->second;
}

void ConnectionActivity::Enter(Tenant& t, Connection& c, State state, Clock::time_point now) {
  Account(t, c, now);
  c.state = state;
  c.state_change = now;
}

void ConnectionActivity::Submitted(const std::string& tenant, int32_t pid, std::string_view query,
                                   bool function_call) {
  const auto now = Clock::now();
  MutexLock lock(mutex_);
  Tenant* t = nullptr;
  Connection* c = Find(tenant, pid, &t);
  if (c == nullptr) return;
  if (c->state == State::kIdle) c->xact_start = now;  // a transaction of its own
  Enter(*t, *c, function_call ? State::kFunctionCall : State::kActive, now);
  c->query_start = now;
  c->waiting = true;
  if (!function_call) c->query = clip(query, kMaxQueryBytes);
}

void ConnectionActivity::Running(const std::string& tenant, int32_t pid) {
  MutexLock lock(mutex_);
  if (Connection* c = Find(tenant, pid, nullptr); c != nullptr) c->waiting = false;
}

void ConnectionActivity::Finished(const std::string& tenant, int32_t pid, char transaction_status,
                                  std::string_view application_name) {
  const auto now = Clock::now();
  MutexLock lock(mutex_);
  Tenant* t = nullptr;
  Connection* c = Find(tenant, pid, &t);
  if (c == nullptr) return;
  Enter(*t, *c,
        transaction_status == 'T'   ? State::kIdleInTransaction
        : transaction_status == 'E' ? State::kAborted
                                    : State::kIdle,
        now);
  if (c->state == State::kIdle) c->xact_start = {};
  c->waiting = false;
  c->application_name = application_name;
}

void ConnectionActivity::Closed(const std::string& tenant, int32_t pid, End how) {
  const auto now = Clock::now();
  MutexLock lock(mutex_);
  Tenant* t = nullptr;
  Connection* c = Find(tenant, pid, &t);
  if (c == nullptr) return;
  Account(*t, *c, now);
  t->session_ms += ms_between(c->backend_start, now);
  switch (how) {
    case End::kNormal:
      break;
    case End::kAbandoned:
      ++t->abandoned;
      break;
    case End::kFatal:
      ++t->fatal;
      break;
    case End::kKilled:
      ++t->killed;
      break;
  }
  t->connections.erase(pid);
}

std::string ConnectionActivity::Report(const std::string& tenant, int32_t current_pid) const {
  static constexpr const char* kStateNames[] = {"idle", "active", "idle in transaction",
                                                "idle in transaction (aborted)",
                                                "fastpath function call"};
  const auto now = Clock::now();
  nlohmann::json connections = nlohmann::json::array();
  Counters totals;
  size_t open = 0;
  {
    MutexLock lock(mutex_);
    auto t = tenants_.find(tenant);
    if (t != tenants_.end()) {
      totals = t->second;  // the counters only, not the connections
      open = t->second.connections.size();
      for (const auto& [pid, c] : t->second.connections) {
        // Counters include the time of connections still open.
        Account(totals, c, now);
        totals.session_ms += ms_between(c.backend_start, now);
        nlohmann::json row = {
            {"pid", pid},
            {"usename", c.user},
            {"application_name", c.application_name},
            {"client_addr",
             c.client_addr.empty() ? nlohmann::json() : nlohmann::json(c.client_addr)},
            {"client_port", c.client_port < 0 ? nlohmann::json() : nlohmann::json(c.client_port)},
            {"backend_start", timestamp(c.backend_start)},
            {"xact_start", timestamp(c.xact_start)},
            {"query_start", timestamp(c.query_start)},
            {"state_change", timestamp(c.state_change)},
            {"state", kStateNames[static_cast<int>(c.state)]},
            {"query", c.query},
        };
        // As Postgres shows its backends: idle ones wait for their client;
        // one whose work waits for another's turn on the session waits
        // for the tenant (no Postgres event names that).
        if (c.waiting && pid != current_pid) {
          row["wait_event_type"] = "Extension";
          row["wait_event"] = "TenantTurn";
        } else if (c.state != State::kActive && c.state != State::kFunctionCall) {
          row["wait_event_type"] = "Client";
          row["wait_event"] = "ClientRead";
        }
        connections.push_back(std::move(row));
      }
    }
  }
  nlohmann::json report = {
      {"current_pid", current_pid},
      {"connections", std::move(connections)},
      {"database",
       {
           {"numbackends", open},
           {"sessions", totals.sessions},
           {"sessions_abandoned", totals.abandoned},
           {"sessions_fatal", totals.fatal},
           {"sessions_killed", totals.killed},
           {"session_time", totals.session_ms},
           {"active_time", totals.active_ms},
           {"idle_in_transaction_time", totals.idle_in_transaction_ms},
       }},
  };
  // Client text need not be UTF-8 (client_encoding): never throw on it.
  return report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace pgthaw::server
