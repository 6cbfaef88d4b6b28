// bench_thaw: how fast pgthaw gives a tenant a live database, in one run:
//   1. a new tenant from the template (open_tenant + first `select 1`),
//   2. a hibernated tenant with a 10 MiB table (thaw + indexed query),
//   3. the same tenant booted from its files without a snapshot,
//   4. private memory per warm idle tenant (smaps_rollup, 200 alive),
//   5. PGlite 0.5.16 in Node start-up (bench/engine/pglite_node.mjs) as peer.
// Progress goes to stderr, the markdown report to stdout, raw JSON to --out
// with the .md beside it. Targets are printed as met/missed, never asserted.
// Exit status 1 when a section failed (a skipped peer is not a failure).
#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "../engine/pglite_node_peer.h"
#include "../engine/stopwatch.h"
#include "engine/engine.h"
#include "engine/template.h"
#include "thaw_measure.h"
#include "thaw_report.h"

namespace pgthaw::bench {
namespace {

#ifdef PGTHAW_SOURCE_DIR
constexpr const char* kSourceRoot = PGTHAW_SOURCE_DIR;
#else
constexpr const char* kSourceRoot = ".";
#endif

constexpr const char* kUsage =
    "usage: bench_thaw [options]\n"
    "  --tenants N           new tenants timed in section 1 (default 1000)\n"
    "  --thaw-cycles N       hibernate/thaw cycles in section 2 (default 50)\n"
    "  --boot-repeats N      boots without snapshot in section 3 (default 20)\n"
    "  --memory-tenants N    tenants kept alive in section 4 (default 200)\n"
    "  --quick               100 tenants, 10 thaws, 5 boots, 100 alive (flags above win)\n"
    "  --out PATH            raw JSON (default <src>/bench/out/thaw.json; .md beside it)\n"
    "  --work-dir DIR        where the temp work dir goes (default $TMPDIR or /tmp)\n"
    "  --keep                leave the work dir behind\n"
    "  --no-peer             do not run PGlite in Node (reported as skipped)\n"
    "  --node BIN            Node binary (default node)\n"
    "  --pglite-script PATH  default <src>/bench/engine/pglite_node.mjs\n"
    "  --node-modules DIR    default <src>/bench/node/node_modules\n";

struct Flags {
  ThawConfig config;
  bool quick = false;
  std::optional<int> tenants, thaw_cycles, boot_repeats, memory_tenants;
  std::string out = std::string(kSourceRoot) + "/bench/out/thaw.json";
  std::string work_parent;
  bool keep = false;
  bool peer = true;
  PgliteNodeOptions node{"node", std::string(kSourceRoot) + "/bench/engine/pglite_node.mjs",
                         std::string(kSourceRoot) + "/bench/node/node_modules"};
};

// Parses ARGV into *FLAGS; reports every problem, then returns false.
bool parse_flags(int argc, char** argv, Flags* flags) {
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string* into) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_thaw: %s needs a value\n", arg.c_str());
        ok = false;
        return;
      }
      *into = argv[++i];
    };
    auto count = [&](std::optional<int>* into) {
      std::string text;
      value(&text);
      char* end = nullptr;
      long n = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || n < 1 || n > 1000000) {
        std::fprintf(stderr, "bench_thaw: %s wants a count from 1 to 1000000, got '%s'\n",
                     arg.c_str(), text.c_str());
        ok = false;
        return;
      }
      *into = static_cast<int>(n);
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--tenants") {
      count(&flags->tenants);
    } else if (arg == "--thaw-cycles") {
      count(&flags->thaw_cycles);
    } else if (arg == "--boot-repeats") {
      count(&flags->boot_repeats);
    } else if (arg == "--memory-tenants") {
      count(&flags->memory_tenants);
    } else if (arg == "--quick") {
      flags->quick = true;
    } else if (arg == "--out") {
      value(&flags->out);
    } else if (arg == "--work-dir") {
      value(&flags->work_parent);
    } else if (arg == "--keep") {
      flags->keep = true;
    } else if (arg == "--no-peer") {
      flags->peer = false;
    } else if (arg == "--node") {
      value(&flags->node.node);
    } else if (arg == "--pglite-script") {
      value(&flags->node.script);
    } else if (arg == "--node-modules") {
      value(&flags->node.node_modules);
    } else {
      std::fprintf(stderr, "bench_thaw: unknown argument '%s'\n", arg.c_str());
      ok = false;
    }
  }
  if (!ok) {
    std::fputs(kUsage, stderr);
    return false;
  }
  ThawConfig& c = flags->config;
  if (flags->quick) {
    c.new_tenants = 100;
    c.thaw_cycles = 10;
    c.boot_repeats = 5;
    c.memory_tenants = 100;
  }
  c.new_tenants = flags->tenants.value_or(c.new_tenants);
  c.thaw_cycles = flags->thaw_cycles.value_or(c.thaw_cycles);
  c.boot_repeats = flags->boot_repeats.value_or(c.boot_repeats);
  c.memory_tenants = flags->memory_tenants.value_or(c.memory_tenants);
  flags->node.extra_args = {"--extra-initdb"};
  return true;
}

std::string make_work_dir(const std::string& parent_flag) {
  std::string parent = parent_flag;
  if (parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  std::error_code ec;
  std::string abs = std::filesystem::absolute(parent, ec).string();
  if (ec) abs = parent;
  std::string templ = abs + "/pgthaw-bench-thaw-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    std::fprintf(stderr, "bench_thaw: mkdtemp %s: %s\n", templ.c_str(), std::strerror(errno));
    return "";
  }
  return templ;
}

bool write_file(const std::string& path, const std::string& text) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "bench_thaw: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

// Records a section's failure in its figures and on stderr.
void settle(const char* section, const Status& st, std::string* error) {
  if (st.ok()) return;
  *error = st.ToString();
  std::fprintf(stderr, "bench_thaw: %s FAILED: %s\n", section, error->c_str());
}

// Sections 1-4. Without an engine or a template every section fails alike.
void measure_pgthaw(const std::string& work_dir, ThawReport* report) {
  const ThawConfig& c = report->config;
  std::fprintf(stderr, "bench_thaw: opening the engine and building the template...\n");
  Stopwatch watch;
  Result<std::unique_ptr<engine::Engine>> engine = engine::Engine::Open();
  Result<engine::Template> tmpl =
      engine.ok() ? engine::Template::Ensure(*engine.value(), work_dir + "/templates")
                  : Result<engine::Template>(engine.status());
  if (!tmpl.ok()) {
    Status st = tmpl.status().Annotate("engine or template: ");
    for (std::string* error : {&report->new_tenant.error, &report->hibernated.error,
                               &report->boot.error, &report->memory.error}) {
      settle("setup", st, error);
    }
    return;
  }
  report->new_tenant.template_ensure_ms = watch.ElapsedMs();
  const engine::Engine& e = *engine.value();
  const engine::Template& t = tmpl.value();

  std::fprintf(stderr, "bench_thaw: 1. %d new tenants from the template...\n", c.new_tenants);
  settle("1. new tenants", measure_new_tenants(e, t, work_dir + "/new", c, &report->new_tenant),
         &report->new_tenant.error);
  std::fprintf(stderr, "bench_thaw: 4. memory of %d warm idle tenants...\n", c.memory_tenants);
  settle("4. memory", measure_memory(e, t, work_dir + "/memory", c, &report->memory),
         &report->memory.error);
  std::fprintf(stderr, "bench_thaw: 2. %d hibernate/thaw cycles of a 10 MiB tenant...\n",
               c.thaw_cycles);
  const std::string root = work_dir + "/big-tenant";
  settle("2. hibernated tenant", measure_hibernated(e, t, root, c, &report->hibernated),
         &report->hibernated.error);
  if (!report->hibernated.error.empty()) {
    report->boot.error = "not run: section 2 (which builds its tenant) failed";
    return;
  }
  std::fprintf(stderr, "bench_thaw: 3. %d boots of that tenant without a snapshot...\n",
               c.boot_repeats);
  settle("3. boot without snapshot", measure_boot(e, t, root, c, &report->boot),
         &report->boot.error);
}

// Section 5; a missing dependency is a skip, said on stderr and in the report.
void measure_peer(const Flags& flags, const std::string& work_dir, PeerFigures* peer) {
  std::optional<std::string> missing =
      flags.peer ? pglite_node_missing(flags.node) : std::optional<std::string>("--no-peer");
  if (missing) {
    peer->outcome = Outcome::kSkipped;
    peer->reason = *missing;
    std::fprintf(stderr, "bench_thaw: 5. skipping PGlite in Node: %s\n", missing->c_str());
    return;
  }
  std::fprintf(stderr, "bench_thaw: 5. PGlite 0.5.16 in Node...\n");
  std::string dir = work_dir + "/pglite-peer";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  Result<EngineBenchRows> rows = measure_pglite_node(dir, flags.node);
  if (!rows.ok()) {
    peer->outcome = Outcome::kFailed;
    peer->reason = rows.status().ToString();
    std::fprintf(stderr, "bench_thaw: PGlite in Node FAILED: %s\n", peer->reason.c_str());
    return;
  }
  peer->outcome = Outcome::kMeasured;
  peer->version = rows->version;
  peer->initdb_ms = rows->initdb_ms;
  peer->boot_ms = rows->boot_ms;
  for (const auto& [name, value] : rows->extras) {
    if (name == "initdb_warm_ms") peer->initdb_warm_ms = value;
  }
}

int run(int argc, char** argv) {
  Flags flags;
  if (!parse_flags(argc, argv, &flags)) return 2;
  std::string work_dir = make_work_dir(flags.work_parent);
  if (work_dir.empty()) return 1;
  std::fprintf(stderr, "bench_thaw: work dir %s\n", work_dir.c_str());

  ThawReport report;
  report.config = flags.config;
  report.quick = flags.quick;
  Stopwatch watch;
  measure_pgthaw(work_dir, &report);
  measure_peer(flags, work_dir, &report.peer);
  std::fprintf(stderr, "bench_thaw: measured in %.1f s\n", watch.ElapsedMs() / 1000);

  std::string markdown = render_thaw_markdown(report);
  std::fputs(markdown.c_str(), stdout);
  std::string json_text =
      thaw_to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  bool wrote = write_file(flags.out, json_text);
  std::filesystem::path md_path(flags.out);
  md_path.replace_extension(".md");
  wrote = write_file(md_path.string(), markdown) && wrote;
  if (wrote) {
    std::fprintf(stderr, "bench_thaw: wrote %s and %s\n", flags.out.c_str(), md_path.c_str());
  }

  if (flags.keep) {
    std::fprintf(stderr, "bench_thaw: kept %s\n", work_dir.c_str());
  } else {
    std::error_code ec;
    std::filesystem::remove_all(work_dir, ec);
    if (ec) {
      std::fprintf(stderr, "bench_thaw: rm -r %s: %s\n", work_dir.c_str(), ec.message().c_str());
    }
  }
  return any_failed(report) || !wrote ? 1 : 0;
}

}  // namespace
}  // namespace pgthaw::bench

int main(int argc, char** argv) { return pgthaw::bench::run(argc, argv); }
