// runtime::ScratchTemplate: instances that belong to no tenant (throwaway
// cold starts, the warm proxy's one instance), restored from a data root's
// template with the server's statement limit, used through a Session.
// Thread-safe; each ScratchInstance has one user at a time.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "engine/template.h"
#include "runtime/session.h"

namespace pgthaw::runtime {

class ScratchInstance {
 public:
  explicit ScratchInstance(std::unique_ptr<engine::Instance> instance)
      : instance_(std::move(instance)), session_(*instance_) {}
  Session& session() { return session_; }
  // Drops it without a shutdown checkpoint: nothing of it is worth keeping.
  void Abandon() { instance_->Abandon(); }

 private:
  std::unique_ptr<engine::Instance> instance_;
  Session session_;
};

class ScratchTemplate {
 public:
  // Builds DATA_ROOT's template the first time (engine::Template::Ensure).
  static Result<ScratchTemplate> Ensure(const engine::Engine& engine, const std::string& root);

  // A new instance over DATA_DIR, stopped after `statement_timeout_ms` per
  // exchange (0: no limit).
  Result<std::unique_ptr<ScratchInstance>> New(const std::string& data_dir,
                                               int64_t statement_timeout_ms) const;

 private:
  explicit ScratchTemplate(engine::Template tmpl) : template_(std::move(tmpl)) {}
  engine::Template template_;
};

}  // namespace pgthaw::runtime
