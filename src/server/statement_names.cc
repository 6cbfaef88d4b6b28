#include "server/statement_names.h"

#include <sys/random.h>
#include <unistd.h>

#include <cstdio>

#include "pgwire/frontend.h"
#include "pgwire/message.h"
#include "pgwire/wire_format.h"

namespace pgthaw::server {

namespace {

// Unknown names the client refers to are given session names too (so the
// engine's "does not exist" quotes the client's name after RestoreNames);
// past this many, they are not remembered.
constexpr size_t kMaxRememberedNames = 4096;

// Distinguishes this process's names from those a snapshot of an earlier
// process may still hold (connection ids start again at 1).
std::string process_nonce() {
  static const std::string nonce = [] {
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint32_t>(getpid());
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", r);
    return std::string(buf);
  }();
  return nonce;
}

// The leading NUL-terminated string of `payload` at `at`; false if none.
bool read_cstring(std::string_view payload, size_t& at, std::string_view& out) {
  size_t end = payload.find('\0', at);
  if (end == std::string_view::npos) return false;
  out = payload.substr(at, end - at);
  at = end + 1;
  return true;
}

}  // namespace

StatementNames::StatementNames(uint64_t connection_id)
    : prefix_("pgthaw." + process_nonce() + "." + std::to_string(connection_id) + ".") {}

std::string StatementNames::SessionStatementName(std::string_view client) {
  if (auto found = statements_.find(client); found != statements_.end()) {
    used_.insert(std::string(client));
    return found->second.session_name;
  }
  // Not defined here: a name no one has, which reads as the client's.
  std::string name = prefix_ + "s" + std::to_string(next_++);
  if (client_names_.size() < kMaxRememberedNames) client_names_[name] = std::string(client);
  return name;
}

std::string StatementNames::SessionPortalName(std::string_view client) {
  if (auto found = portals_.find(client); found != portals_.end()) return found->second;
  std::string name = prefix_ + "p" + std::to_string(next_++);
  if (portals_.size() < kMaxRememberedNames) {
    portals_[std::string(client)] = name;
    client_names_[name] = std::string(client);
  }
  return name;
}

Status StatementNames::AppendForSession(char type, std::string_view payload, std::string& out) {
  const Status malformed =
      Status::InvalidArgument("malformed " + pgwire::describe_type(type) + " message");
  size_t at = 0;
  std::string_view first;
  std::string rewritten;
  switch (type) {
    case 'P': {  // statement, query, parameter types
      if (!read_cstring(payload, at, first)) return malformed;
      if (first.empty()) break;
      auto found = statements_.find(first);
      if (found != statements_.end()) {
        // Defined already: the engine answers 42P05 (after a re-prepare,
        // if the session lost it).
        used_.insert(std::string(first));
        pgwire::put_cstring(rewritten, found->second.session_name);
        rewritten.append(payload.substr(at));
        pgwire::append_message(out, type, rewritten);
        return Status::Ok();
      }
      Statement s;
      s.session_name = prefix_ + "s" + std::to_string(next_++);
      pgwire::put_cstring(rewritten, s.session_name);
      rewritten.append(payload.substr(at));
      pgwire::append_message(s.parse, type, rewritten);
      out += s.parse;
      client_names_[s.session_name] = std::string(first);
      defined_.insert(std::string(first));
      statements_.emplace(std::string(first), std::move(s));
      return Status::Ok();
    }
    case 'B': {  // portal, statement, the rest
      std::string_view statement;
      if (!read_cstring(payload, at, first) || !read_cstring(payload, at, statement)) {
        return malformed;
      }
      pgwire::put_cstring(rewritten, first.empty() ? std::string() : SessionPortalName(first));
      pgwire::put_cstring(rewritten,
                          statement.empty() ? std::string() : SessionStatementName(statement));
      rewritten.append(payload.substr(at));
      pgwire::append_message(out, type, rewritten);
      return Status::Ok();
    }
    case 'D':
    case 'C': {  // 'S' or 'P', then a name
      if (payload.empty()) return malformed;
      const char kind = payload[0];
      at = 1;
      if (!read_cstring(payload, at, first) || at != payload.size()) return malformed;
      if (first.empty() || (kind != 'S' && kind != 'P')) break;
      rewritten += kind;
      if (kind == 'S') {
        pgwire::put_cstring(rewritten, SessionStatementName(first));
        // Closed: the name is free again (Close of a name the session lacks
        // is no error, so a lost one needs no re-prepare).
        if (type == 'C') {
          used_.erase(std::string(first));
          defined_.erase(std::string(first));
          statements_.erase(std::string(first));
        }
      } else {
        pgwire::put_cstring(rewritten, SessionPortalName(first));
      }
      pgwire::append_message(out, type, rewritten);
      return Status::Ok();
    }
    case 'E': {  // portal, max rows
      if (!read_cstring(payload, at, first)) return malformed;
      if (first.empty()) break;
      pgwire::put_cstring(rewritten, SessionPortalName(first));
      rewritten.append(payload.substr(at));
      pgwire::append_message(out, type, rewritten);
      return Status::Ok();
    }
    default:
      break;
  }
  pgwire::append_message(out, type, payload);
  return Status::Ok();
}

std::string StatementNames::TakeReprepare(const SessionGeneration& now) {
  std::string out;
  for (const std::string& name : used_) {
    // The batch's own Parse prepares it.
    if (defined_.count(name) != 0) continue;
    auto found = statements_.find(name);
    if (found == statements_.end() || found->second.prepared_in == now) continue;
    out += found->second.parse;
    found->second.prepared_in = now;
  }
  used_.clear();
  return out;
}

void StatementNames::Prepared(const SessionGeneration& now) {
  for (const std::string& name : defined_) {
    if (auto found = statements_.find(name); found != statements_.end()) {
      found->second.prepared_in = now;
    }
  }
  defined_.clear();
  used_.clear();
}

void StatementNames::DropPending() {
  for (const std::string& name : defined_) {
    auto found = statements_.find(name);
    if (found == statements_.end()) continue;
    client_names_.erase(found->second.session_name);
    statements_.erase(found);
  }
  defined_.clear();
  used_.clear();
}

void StatementNames::ForgetAll() {
  for (const auto& [client, s] : statements_) client_names_.erase(s.session_name);
  statements_.clear();
  defined_.clear();
  used_.clear();
}

std::string StatementNames::CloseAll() const {
  std::string out;
  for (const auto& [client, s] : statements_) {
    (void)pgwire::frontend::close(out, 'S', s.session_name);
  }
  if (!out.empty()) pgwire::frontend::sync(out);
  return out;
}

bool StatementNames::Mentions(std::string_view reply) const {
  return reply.find(prefix_) != std::string_view::npos;
}

void StatementNames::RestoreNames(std::string& reply) const {
  if (!Mentions(reply)) return;  // the usual case: nothing to do
  auto messages = pgwire::split_messages(reply);
  if (!messages.ok()) return;
  std::string out;
  out.reserve(reply.size());
  for (const pgwire::MessageView& m : *messages) {
    if ((m.type != 'E' && m.type != 'N') || m.payload.find(prefix_) == std::string_view::npos) {
      pgwire::append_message(out, m.type, m.payload);
      continue;
    }
    std::string payload;
    size_t at = 0;
    for (;;) {
      size_t hit = m.payload.find(prefix_, at);
      if (hit == std::string_view::npos) break;
      // The session name: the prefix, 's' or 'p', digits.
      size_t end = hit + prefix_.size();
      if (end < m.payload.size() && (m.payload[end] == 's' || m.payload[end] == 'p')) ++end;
      while (end < m.payload.size() && m.payload[end] >= '0' && m.payload[end] <= '9') ++end;
      payload.append(m.payload.substr(at, hit - at));
      auto client = client_names_.find(m.payload.substr(hit, end - hit));
      payload.append(client != client_names_.end() ? std::string_view(client->second)
                                                   : m.payload.substr(hit, end - hit));
      at = end;
    }
    payload.append(m.payload.substr(at));
    pgwire::append_message(out, m.type, payload);
  }
  reply.swap(out);
}

}  // namespace pgthaw::server
