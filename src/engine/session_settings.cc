// engine::SessionSettings: GUCs read and set through the engine's exports
// (session_settings.h says what and why).
#include "engine/session_settings.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "host/host.h"
#include "pgwire/wire_format.h"

namespace pgthaw::engine {

namespace {

// Postgres 18's enums and flags (utils/guc.h, utils/elog.h).
constexpr uint32_t kPgcSuBackend = 3;  // GucContext: a superuser's startup packet
constexpr uint32_t kPgcSClient = 9;    // GucSource: "from client connection request"
constexpr uint32_t kPgcSSession = 13;  // GucSource: a SET command
constexpr uint32_t kGucActionSet = 0;
constexpr uint32_t kInfo = 17;  // sent to the client whatever client_min_messages says
constexpr uint32_t kGucNoReset = 0x000008;
constexpr uint32_t kGucSuperuserOnly = 0x000400;

// struct config_generic and its per-type extensions (utils/guc_tables.h) as
// laid out by wasm32: 4-byte pointers and enums, doubles aligned to 8. Only
// read, never written; session_settings_test checks every reset value read
// this way against pg_settings.
constexpr uint32_t kGenName = 0;
constexpr uint32_t kGenFlags = 20;
constexpr uint32_t kGenVartype = 24;
constexpr uint32_t kGenSource = 32;
enum Vartype : uint32_t { kBool = 0, kInt = 1, kReal = 2, kString = 3, kEnum = 4 };
constexpr uint32_t kBoolResetVal = 112;
constexpr uint32_t kIntResetVal = 120;
constexpr uint32_t kRealResetVal = 136;
constexpr uint32_t kStringResetVal = 112;
constexpr uint32_t kEnumOptions = 100;
constexpr uint32_t kEnumResetVal = 116;
constexpr uint32_t kEnumEntryBytes = 12;  // struct config_enum_entry {name, val, hidden}

// Past this much text (names and values together) a call is refused: it all
// goes on the guest stack. Postgres caps a whole startup packet at 10000.
constexpr size_t kMaxTextBytes = 64 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The record's reset value as text set_config_option takes back: base units
// for numbers (no unit suffix), full precision for reals, the enum's name.
Result<std::string> reset_value(const host::Host& host, uint32_t record) {
  if (host.Bytes(record, kRealResetVal + 8) == nullptr || host.Load<uint32_t>(record) == 0) {
    return Status::Internal("GUC record out of bounds");
  }
  switch (host.Load<uint32_t>(record + kGenVartype)) {
    case kBool:
      return std::string(host.Load<uint8_t>(record + kBoolResetVal) != 0 ? "on" : "off");
    case kInt:
      return std::to_string(host.Load<int32_t>(record + kIntResetVal));
    case kReal: {
      char text[40];
      std::snprintf(text, sizeof text, "%.17g", host.Load<double>(record + kRealResetVal));
      return std::string(text);
    }
    case kString: {
      uint32_t value = host.Load<uint32_t>(record + kStringResetVal);
      return std::string(value == 0 ? std::string_view() : host.CString(value));
    }
    case kEnum: {
      int32_t value = host.Load<int32_t>(record + kEnumResetVal);
      uint32_t entry = host.Load<uint32_t>(record + kEnumOptions);
      for (int i = 0; entry != 0 && i < 1000; ++i, entry += kEnumEntryBytes) {
        uint32_t name = host.Load<uint32_t>(entry);
        if (name == 0) break;
        if (host.Load<int32_t>(entry + 4) == value) return std::string(host.CString(name));
      }
      return Status::Internal("enum GUC has no name for its reset value");
    }
    default:
      return Status::Internal("GUC record of unknown type (layout changed?)");
  }
}

// A refused startup option, as Postgres reports one: FATAL.
pgwire::ErrorFields as_startup_error(pgwire::ErrorFields fields) {
  fields.fields['S'] = "FATAL";
  fields.fields['V'] = "FATAL";
  return fields;
}

pgwire::ErrorFields startup_error(const std::string& sqlstate, const std::string& message) {
  pgwire::ErrorFields fields;
  fields.fields['C'] = sqlstate;
  fields.fields['M'] = message;
  return as_startup_error(std::move(fields));
}

}  // namespace

Status SessionSettings::Resolve(host::Host& host) {
  if (fn_.host == &host) return Status::Ok();
  Exports fn;
  fn.host = &host;
  fn.find_option = host.ExportFunction("find_option");
  fn.get_by_name = host.ExportFunction("GetConfigOptionByName");
  fn.get_option = host.ExportFunction("GetConfigOption");
  fn.set_option = host.ExportFunction("set_config_option");
  fn.pfree = host.ExportFunction("pfree");
  fn.stack_alloc = host.ExportFunction("_emscripten_stack_alloc");
  fn.start_xact = host.ExportFunction("StartTransactionCommand");
  fn.commit_xact = host.ExportFunction("CommitTransactionCommand");
  fn.flush = host.ExportFunction("pgl_pq_flush");
  for (wasm_rt_function_ptr_t f :
       {fn.find_option, fn.get_by_name, fn.get_option, fn.set_option, fn.pfree, fn.stack_alloc,
        fn.start_xact, fn.commit_xact, fn.flush}) {
    if (f == nullptr) return Status::Internal("the engine lacks an export SessionSettings needs");
  }
  fn_ = fn;
  return Status::Ok();
}

Result<std::vector<std::optional<std::string>>> SessionSettings::Read(
    host::Host& host, const std::vector<std::string>& names, const Recovery& recovery) {
  PGTHAW_RETURN_IF_ERROR(Resolve(host));
  size_t text = 0;
  for (const std::string& name : names) {
    if (name.find('\0') != std::string::npos) {
      return Status::InvalidArgument("a setting name holds a NUL byte");
    }
    text += name.size() + 1;
  }
  if (text > kMaxTextBytes) return Status::InvalidArgument("too many setting names at once");
  std::vector<std::optional<std::string>> values(names.size());
  const uint32_t sp = host.stack_pointer();
  host::CallOutcome out = host.Call([&] {
    uint32_t at = host.Invoke<uint32_t>(fn_.stack_alloc, static_cast<uint32_t>(text));
    for (size_t i = 0; i < names.size(); ++i) {
      uint32_t name = at;
      std::memcpy(host.Bytes(name, names[i].size() + 1), names[i].c_str(), names[i].size() + 1);
      at += static_cast<uint32_t>(names[i].size() + 1);
      uint32_t record = host.Invoke<uint32_t>(fn_.find_option, name, 0u, 1u, kInfo);
      if (record == 0) continue;  // unknown: nullopt
      if ((host.Load<uint32_t>(record + kGenFlags) & kGucSuperuserOnly) != 0) {
        // GetConfigOptionByName would check the role's privileges in the
        // catalogs, which needs a live transaction: read the raw value.
        uint32_t value = host.Invoke<uint32_t>(fn_.get_option, name, 1u, 0u);
        if (value != 0) values[i] = std::string(host.CString(value));
        continue;
      }
      uint32_t value = host.Invoke<uint32_t>(fn_.get_by_name, name, 0u, 1u);
      if (value == 0) continue;
      values[i] = std::string(host.CString(value));
      host.Invoke<void>(fn_.pfree, value);
    }
  });
  host.set_stack_pointer(sp);
  if (out.kind == host::CallOutcome::kReturned) return values;
  // Nothing above raises an ERROR but running out of memory.
  host.wire().output().clear();
  auto reports = recover_export_call(host, out, recovery, "settings");
  if (!reports.ok()) return reports.status();
  return Status::EngineError("reading settings failed: " + (reports->empty()
                                                                ? std::string("(no message)")
                                                                : reports->back().message()));
}

Status SessionSettings::RecordServerValues(host::Host& host, const std::vector<std::string>& names,
                                           const Recovery& recovery) {
  std::vector<std::string> missing;
  size_t text = 0;
  for (const std::string& name : names) {
    if (server_values_.count(lower(name)) != 0) continue;
    missing.push_back(name);
    text += name.size() + 1;
  }
  if (missing.empty()) return Status::Ok();
  std::vector<uint32_t> records(missing.size());
  const uint32_t sp = host.stack_pointer();
  host::CallOutcome out = host.Call([&] {
    uint32_t at = host.Invoke<uint32_t>(fn_.stack_alloc, static_cast<uint32_t>(text));
    for (size_t i = 0; i < missing.size(); ++i) {
      std::memcpy(host.Bytes(at, missing[i].size() + 1), missing[i].c_str(), missing[i].size() + 1);
      records[i] = host.Invoke<uint32_t>(fn_.find_option, at, 0u, 1u, kInfo);
      at += static_cast<uint32_t>(missing[i].size() + 1);
    }
  });
  host.set_stack_pointer(sp);
  if (out.kind != host::CallOutcome::kReturned) {
    auto recovered = recover_export_call(host, out, recovery, "settings");
    if (!recovered.ok()) return recovered.status();
    return Status::EngineError("looking settings up failed");
  }
  for (size_t i = 0; i < missing.size(); ++i) {
    // An unknown name has no server value; one that becomes a placeholder
    // (a custom "x.y" name) goes back to empty.
    if (records[i] == 0) {
      if (missing[i].find('.') != std::string::npos) server_values_[lower(missing[i])] = "";
      continue;
    }
    auto value = reset_value(host, records[i]);
    if (!value.ok()) return value.status().Annotate(missing[i] + ": ");
    server_values_[lower(missing[i])] = std::move(value).value();
  }
  return Status::Ok();
}

Result<std::vector<pgwire::ErrorFields>> SessionSettings::SetDefaults(host::Host& host,
                                                                      const SettingValues& settings,
                                                                      const Recovery& recovery) {
  PGTHAW_RETURN_IF_ERROR(Resolve(host));
  std::vector<std::string> names;
  size_t text = 0;
  for (const auto& [name, value] : settings) {
    if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return Status::InvalidArgument("a setting holds a NUL byte");
    }
    names.push_back(name);
  }
  PGTHAW_RETURN_IF_ERROR(RecordServerValues(host, names, recovery));

  // What to apply: first every name in force back to the server's value,
  // then the new set (a name in both ends up with its new value, or with the
  // server's if the new one is refused).
  struct Op {
    std::string name, value;
    bool given;  // from `settings` (else a server value put back)
    // set_config_option's: 0 refused; 1 applied, -1 applied to the reset
    // value only (a SET of higher priority is the current value)
    int32_t result = 0;
    size_t output_end = 0;
  };
  std::vector<Op> ops;
  for (const std::string& key : in_force_) {
    auto server = server_values_.find(key);
    if (server != server_values_.end()) ops.push_back({key, server->second, false});
  }
  for (const auto& [name, value] : settings) ops.push_back({name, value, true});
  // One stretch of guest stack, reused by each setting in turn.
  for (const Op& op : ops) text = std::max(text, op.name.size() + op.value.size() + 2);
  if (text > kMaxTextBytes) return Status::InvalidArgument("settings too long");

  std::vector<pgwire::ErrorFields> errors;
  auto refused = [&](const Op& op, std::vector<pgwire::ErrorFields> reports) {
    pgwire::ErrorFields error =
        reports.empty() ? startup_error("22023", "invalid value for parameter \"" + op.name +
                                                     "\": \"" + op.value + "\"")
                        : as_startup_error(std::move(reports.back()));
    if (op.given) {
      errors.push_back(std::move(error));
    } else {
      spdlog::warn("putting setting {} back to the server's value \"{}\" failed: {}", op.name,
                   op.value, error.message());
    }
  };

  size_t next = 0;
  while (next < ops.size()) {
    // Volatile: an ERROR leaves the call below by longjmp, and these say
    // where it was.
    enum Phase { kStart, kApply, kCommit };
    volatile Phase phase = kStart;
    volatile size_t current = next;
    host.wire().output().clear();
    const uint32_t sp = host.stack_pointer();
    host::CallOutcome out = host.Call([&] {
      uint32_t at = host.Invoke<uint32_t>(fn_.stack_alloc, static_cast<uint32_t>(text));
      host.Invoke<void>(fn_.start_xact);
      phase = kApply;
      for (size_t i = next; i < ops.size(); ++i) {
        current = i;
        Op& op = ops[i];
        uint32_t name = at, value = at + static_cast<uint32_t>(op.name.size() + 1);
        std::memcpy(host.Bytes(name, op.name.size() + 1), op.name.c_str(), op.name.size() + 1);
        std::memcpy(host.Bytes(value, op.value.size() + 1), op.value.c_str(), op.value.size() + 1);
        op.result = static_cast<int32_t>(host.Invoke<uint32_t>(
            fn_.set_option, name, value, kPgcSuBackend, kPgcSClient, kGucActionSet, 1u, kInfo, 0u));
        if (op.result != 0) {
          // A SET made since is still the current value: RESET it to the
          // new default (its source then is "client" again).
          uint32_t record = host.Invoke<uint32_t>(fn_.find_option, name, 0u, 1u, kInfo);
          if (record != 0 && host.Load<uint32_t>(record + kGenSource) > kPgcSClient &&
              (host.Load<uint32_t>(record + kGenFlags) & kGucNoReset) == 0) {
            host.Invoke<uint32_t>(fn_.set_option, name, 0u, kPgcSuBackend, kPgcSSession,
                                  kGucActionSet, 1u, kInfo, 0u);
          }
        }
        host.Invoke<void>(fn_.flush);
        op.output_end = host.wire().output().size();
      }
      current = ops.size();
      phase = kCommit;
      host.Invoke<void>(fn_.commit_xact);
    });
    host.set_stack_pointer(sp);
    if (out.kind == host::CallOutcome::kTrapped) {
      return Status::EngineTrap("setting session defaults trapped: " + out.trap);
    }
    // The reports of the settings that ran to the end.
    size_t done_end = phase == kStart ? next : phase == kApply ? current : ops.size();
    size_t begin = 0;
    for (size_t i = next; i < done_end; ++i) {
      if (ops[i].result == 0) {
        refused(
            ops[i],
            reports_in(
                std::string_view(host.wire().output()).substr(begin, ops[i].output_end - begin)));
      }
      begin = ops[i].output_end;
    }
    if (out.kind == host::CallOutcome::kReturned) break;

    // An ERROR of its own (or the backend exited): our transaction is
    // aborted; the setting that raised it is refused with its words, the
    // rest go on in a new transaction.
    host.wire().output().clear();
    auto recovered = recover_export_call(host, out, recovery, "settings");
    if (!recovered.ok()) return recovered.status();
    std::vector<pgwire::ErrorFields> reports = std::move(recovered).value();
    if (phase != kApply) {
      std::string what = reports.empty() ? std::string("(no message)") : reports.back().message();
      return Status::EngineError(std::string(phase == kStart ? "starting" : "committing") +
                                 " the settings' transaction failed: " + what);
    }
    ops[current].result = 0;
    refused(ops[current], std::move(reports));
    next = current + 1;
  }
  host.wire().output().clear();

  std::vector<std::string> in_force;
  for (const Op& op : ops) {
    if (!op.given || op.result == 0) continue;
    std::string key = lower(op.name);
    if (std::find(in_force.begin(), in_force.end(), key) == in_force.end()) {
      in_force.push_back(std::move(key));
    }
  }
  in_force_ = std::move(in_force);
  return errors;
}

std::string SessionSettings::Save() const {
  if (server_values_.empty()) return "";
  nlohmann::json j = {{"server_values", server_values_}, {"in_force", in_force_}};
  return j.dump();
}

Status SessionSettings::Load(const std::string& saved) {
  server_values_.clear();
  in_force_.clear();
  if (saved.empty()) return Status::Ok();
  auto j = nlohmann::json::parse(saved, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j["server_values"].is_object() ||
      !j["in_force"].is_array()) {
    return Status::Corruption("unreadable session settings");
  }
  for (const auto& [name, value] : j["server_values"].items()) {
    if (!value.is_string()) return Status::Corruption("unreadable session settings");
    server_values_[name] = value.get<std::string>();
  }
  for (const auto& name : j["in_force"]) {
    if (!name.is_string()) return Status::Corruption("unreadable session settings");
    in_force_.push_back(name.get<std::string>());
  }
  return Status::Ok();
}

}  // namespace pgthaw::engine
