#include "runtime/scratch.h"

namespace pgthaw::runtime {

Result<ScratchTemplate> ScratchTemplate::Ensure(const engine::Engine& engine,
                                                const std::string& root) {
  auto tmpl = engine::Template::Ensure(engine, root);
  if (!tmpl.ok()) return tmpl.status();
  return ScratchTemplate(std::move(tmpl).value());
}

Result<std::unique_ptr<ScratchInstance>> ScratchTemplate::New(const std::string& data_dir,
                                                              int64_t statement_timeout_ms) const {
  auto instance = template_.NewTenant(data_dir);
  if (!instance.ok()) return instance.status();
  (*instance)->set_statement_timeout_ms(statement_timeout_ms);
  return std::make_unique<ScratchInstance>(std::move(instance).value());
}

}  // namespace pgthaw::runtime
