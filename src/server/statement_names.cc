#include "server/statement_names.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "pgwire/frontend.h"
#include "pgwire/message.h"
#include "pgwire/wire_format.h"
#include "server/pg_sql_scan.h"
#include "server/sql_quote.h"

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

std::string_view StatementNames::QueryText(std::string_view client) const {
  auto found = statements_.find(client);
  if (found == statements_.end() || found->second.parse.size() < 5) return {};
  // `parse` is a whole message: Parse (name, query, ...) or Query (query).
  std::string_view payload = std::string_view(found->second.parse).substr(5);
  size_t at = 0;
  std::string_view name, query;
  if (!found->second.sql_level && !read_cstring(payload, at, name)) return {};
  if (!read_cstring(payload, at, query)) return {};
  return query;
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
      std::string_view query;
      if (!read_cstring(payload, at, first) || !read_cstring(payload, at, query)) {
        return malformed;
      }
      // The query may itself be a SQL-level PREPARE, EXECUTE, DEALLOCATE.
      std::string mapped = MapSql(query);
      std::string rest = mapped;
      rest.push_back('\0');
      rest.append(payload.substr(at));
      if (first.empty()) {
        pgwire::put_cstring(rewritten, "");
        rewritten += rest;
        pgwire::append_message(out, type, rewritten);
        return Status::Ok();
      }
      auto found = statements_.find(first);
      if (found != statements_.end()) {
        // Defined already: the engine answers 42P05 (after a re-prepare,
        // if the session lost it).
        used_.insert(std::string(first));
        pgwire::put_cstring(rewritten, found->second.session_name);
        rewritten += rest;
        pgwire::append_message(out, type, rewritten);
        return Status::Ok();
      }
      Statement s;
      s.session_name = prefix_ + "s" + std::to_string(next_++);
      pgwire::put_cstring(rewritten, s.session_name);
      rewritten += rest;
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

std::string StatementNames::MapSql(std::string_view sql) {
  position_shifts_.clear();
  // The usual query names no prepared statement: skip the scan.
  auto mentions = [&](std::string_view word) {
    return std::search(sql.begin(), sql.end(), word.begin(), word.end(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           }) != sql.end();
  };
  if (!mentions("prepare") && !mentions("execute") && !mentions("deallocate")) {
    return std::string(sql);
  }
  std::vector<SqlStatementName> names = sql_statement_names(sql);
  if (names.empty()) return std::string(sql);
  std::string out(sql);
  // From the last to the first, so the earlier offsets stay valid.
  std::vector<std::pair<size_t, int64_t>> shifts;  // (byte offset in `out`, change in bytes)
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    const SqlStatementName& n = *it;
    std::string session;
    switch (n.use) {
      case SqlStatementName::kDeallocateAll:
        continue;  // the tag tells (ForgetAll); others prepare theirs again
      case SqlStatementName::kPrepare: {
        if (auto found = statements_.find(n.name); found != statements_.end()) {
          used_.insert(n.name);  // the engine answers 42P05
          session = found->second.session_name;
          break;
        }
        Statement st;
        st.session_name = prefix_ + "s" + std::to_string(next_++);
        session = st.session_name;
        // What prepares it again: its own statement, under its session name.
        std::string text(sql.substr(n.statement_begin, n.statement_end - n.statement_begin));
        text.replace(n.begin - n.statement_begin, n.end - n.begin, quote_identifier(session));
        (void)pgwire::frontend::query(st.parse, text);
        st.sql_level = true;
        client_names_[st.session_name] = n.name;
        defined_.insert(n.name);
        statements_.emplace(n.name, std::move(st));
        break;
      }
      case SqlStatementName::kExecute:
        session = SessionStatementName(n.name);
        break;
      case SqlStatementName::kDeallocate:
        session = SessionStatementName(n.name);
        used_.erase(n.name);  // gone (DEALLOCATE of a lost one fails as it would)
        defined_.erase(n.name);
        statements_.erase(n.name);
        break;
    }
    std::string replacement = quote_identifier(session);
    shifts.emplace_back(
        n.begin, static_cast<int64_t>(replacement.size()) - static_cast<int64_t>(n.end - n.begin));
    out.replace(n.begin, n.end - n.begin, replacement);
  }
  // Error positions count characters of the text the engine saw: note
  // where each replacement starts there (in characters) and how much
  // longer it is, for RestoreNames. (Session names are ASCII.)
  std::sort(shifts.begin(), shifts.end());
  int64_t moved = 0;
  for (const auto& [at, delta] : shifts) {
    size_t rewritten_at = static_cast<size_t>(static_cast<int64_t>(at) + moved);
    size_t chars = 0;
    for (size_t i = 0; i < rewritten_at && i < out.size(); ++i) {
      if ((static_cast<unsigned char>(out[i]) & 0xC0) != 0x80) ++chars;
    }
    position_shifts_.emplace_back(chars, delta);
    moved += delta;
  }
  return out;
}

std::string StatementNames::TakeReprepare(const SessionGeneration& now) {
  std::string out, queries;
  for (const std::string& name : used_) {
    // The batch's own Parse prepares it.
    if (defined_.count(name) != 0) continue;
    auto found = statements_.find(name);
    if (found == statements_.end() || found->second.prepared_in == now) continue;
    (found->second.sql_level ? queries : out) += found->second.parse;
    found->second.prepared_in = now;
  }
  used_.clear();
  // The Parses in an exchange of their own, then the PREPAREs.
  if (!out.empty()) pgwire::frontend::sync(out);
  return out + queries;
}

void StatementNames::Prepared(const SessionGeneration& now) {
  for (const std::string& name : defined_) {
    if (auto found = statements_.find(name); found != statements_.end()) {
      found->second.prepared_in = now;
    }
  }
  defined_.clear();
  used_.clear();
  position_shifts_.clear();
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
  position_shifts_.clear();
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
  return !position_shifts_.empty() || reply.find(prefix_) != std::string_view::npos;
}

std::string StatementNames::ShiftPosition(std::string_view fields) const {
  // Fields: a code byte and a NUL-terminated value each, then a NUL.
  std::string out;
  size_t at = 0;
  while (at < fields.size() && fields[at] != '\0') {
    char code = fields[at];
    size_t end = fields.find('\0', at + 1);
    if (end == std::string_view::npos) return std::string(fields);
    std::string_view value = fields.substr(at + 1, end - at - 1);
    out += code;
    int64_t position = 0;
    if (code == 'P' && !value.empty() &&
        value.find_first_not_of("0123456789") == std::string_view::npos && value.size() < 10) {
      position = std::stoll(std::string(value));
      int64_t original = position;
      for (const auto& [chars, delta] : position_shifts_) {
        if (static_cast<int64_t>(chars) < position - 1) original -= delta;
      }
      out += std::to_string(std::max<int64_t>(original, 1));
    } else {
      out.append(value);
    }
    out += '\0';
    at = end + 1;
  }
  out += '\0';
  return out;
}

std::string StatementNames::MapNamesBack(std::string_view payload) const {
  std::string out;
  size_t at = 0;
  for (;;) {
    size_t hit = payload.find(prefix_, at);
    if (hit == std::string_view::npos) break;
    // The session name: the prefix, 's' or 'p', digits.
    size_t end = hit + prefix_.size();
    if (end < payload.size() && (payload[end] == 's' || payload[end] == 'p')) ++end;
    while (end < payload.size() && payload[end] >= '0' && payload[end] <= '9') ++end;
    out.append(payload.substr(at, hit - at));
    auto client = client_names_.find(payload.substr(hit, end - hit));
    out.append(client != client_names_.end() ? std::string_view(client->second)
                                             : payload.substr(hit, end - hit));
    at = end;
  }
  out.append(payload.substr(at));
  return out;
}

void StatementNames::RestoreNames(std::string& reply) const {
  const bool shifted = !position_shifts_.empty();
  if (!shifted && !Mentions(reply)) return;  // the usual case: nothing to do
  auto messages = pgwire::split_messages(reply);
  if (!messages.ok()) return;
  std::string out;
  out.reserve(reply.size());
  for (const pgwire::MessageView& m : *messages) {
    if (m.type != 'E' && m.type != 'N') {
      pgwire::append_message(out, m.type, m.payload);
      continue;
    }
    std::string payload = shifted ? ShiftPosition(m.payload) : std::string(m.payload);
    if (payload.find(prefix_) != std::string::npos) payload = MapNamesBack(payload);
    pgwire::append_message(out, m.type, payload);
  }
  reply.swap(out);
}

}  // namespace pgthaw::server
