// runtime::Session: what a work item may do with its tenant's engine
// session. The runtime hands one to each work item (Runtime::Work) and to
// holders of a scratch instance (scratch.h); it is the only way server/
// reaches guest code. A view: valid for the duration of the work item.
//
// The runtime reads the session's state after each work item: a session
// left inside a transaction block or an extended-protocol exchange is kept
// for the item's holder (Runtime::SubmitHeld) and brought back (Reset) when
// the holder is gone; an item with no holder that leaves it so is reset at
// once. Work items never take or release holds themselves.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/instance.h"

namespace pgthaw::runtime {

class Session {
 public:
  explicit Session(engine::Instance& instance) : instance_(instance) {}

  struct Reply {
    std::string bytes;  // the backend's messages (what a sink did not take)
    // After it: a transaction block is open (BEGIN .. COMMIT/ROLLBACK).
    bool in_transaction = false;
    // After it: the session waits for a new exchange (the reply ended with
    // ReadyForQuery); false while an exchange a Flush left open continues,
    // or the backend skips to the next Sync after an error.
    bool at_ready = false;
  };
  // The reply cap and the streaming sink: engine::ExecOptions.
  using ExecOptions = engine::ExecOptions;
  // Settings as a startup packet carries them, in order: name, value.
  using SettingValues = engine::SettingValues;

  // Runs protocol messages (engine::Instance::Exec).
  Result<Reply> Exec(std::string_view messages, const ExecOptions& options = {});

  // The current value of each setting, nullopt for an unknown name
  // (engine::Instance::ReadSettings: no SQL, no snapshot; any time).
  Result<std::vector<std::optional<std::string>>> ReadSettings(
      const std::vector<std::string>& names) {
    return instance_.ReadSettings(names);
  }
  // A connection's startup options as the session's reset values, the
  // previous connection's put back to the server's (Idle() only;
  // engine::Instance::SetSessionDefaults). Returns the refused ones.
  Result<std::vector<pgwire::ErrorFields>> SetSessionDefaults(const SettingValues& settings) {
    return instance_.SetSessionDefaults(settings);
  }

  bool InTransaction() const { return instance_.InTransaction(); }
  bool AtReady() const { return instance_.AtReady(); }
  // At ReadyForQuery outside a transaction block: another user may come in.
  bool Idle() const { return AtReady() && !InTransaction(); }
  bool alive() const { return instance_.alive(); }
  // Changes when the tenant's engine session is replaced (a reboot, a thaw).
  const void* identity() const { return &instance_; }

  // Brings the session back to Idle() as its last user left it: an error
  // then a Sync end an extended exchange (aborting what it did, as a lost
  // connection does in Postgres; the error is skipped if the backend is
  // skipping to Sync already), ROLLBACK ends a transaction block. `why` is
  // the error's text. Replies are dropped. Used by the runtime; server/
  // has no need of it.
  Status Reset(std::string_view why);

  // For the runtime and its tests.
  engine::Instance& instance() { return instance_; }

 private:
  engine::Instance& instance_;
};

}  // namespace pgthaw::runtime
