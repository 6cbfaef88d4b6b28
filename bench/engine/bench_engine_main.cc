// bench_engine: pgthaw's engine benchmark. In one run it measures pgthaw's
// engine (C++ API), PGlite 0.5.16 in Node (bench/engine/pglite_node.mjs) and
// native PostgreSQL 15 on the same five rows, prints a markdown table and
// writes the raw figures as JSON (--out) with the table beside it (.md).
//
// A system whose dependency is missing is skipped with a message on stderr
// and a "skipped" column; a system that fails gets a "failed" column and the
// exit status is 1. Nothing here asserts on timings.
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "bench_rows.h"
#include "native_postgres.h"
#include "pglite_node_peer.h"
#include "pgthaw_engine.h"

namespace pgthaw::bench {
namespace {

// Defaults resolve against the source tree when the build tells us where it
// is, else against the current directory (run from the repository root).
#ifdef PGTHAW_SOURCE_DIR
constexpr const char* kSourceRoot = PGTHAW_SOURCE_DIR;
#else
constexpr const char* kSourceRoot = ".";
#endif

constexpr const char* kUsage =
    "usage: bench_engine [options]\n"
    "  --out PATH            raw JSON (default <src>/bench/out/engine.json; .md beside it)\n"
    "  --work-dir DIR        where the temp work dir goes (default $TMPDIR or /tmp)\n"
    "  --keep-work-dir       leave the databases behind\n"
    "  --only LIST           comma list of pgthaw,pglite,native (default all)\n"
    "  --node BIN            Node binary (default node)\n"
    "  --pglite-script PATH  default <src>/bench/engine/pglite_node.mjs\n"
    "  --node-modules DIR    default <src>/bench/node/node_modules\n"
    "  --pg-bindir DIR       default /usr/lib/postgresql/15/bin\n";

struct Flags {
  std::string out = std::string(kSourceRoot) + "/bench/out/engine.json";
  std::string work_parent;
  bool keep_work_dir = false;
  std::set<std::string> only = {"pgthaw", "pglite", "native"};
  PgliteNodeOptions node{"node", std::string(kSourceRoot) + "/bench/engine/pglite_node.mjs",
                         std::string(kSourceRoot) + "/bench/node/node_modules"};
  std::string pg_bindir = kDefaultPgBindir;
};

// Parses ARGV into *FLAGS; reports every problem, then returns false.
bool parse_flags(int argc, char** argv, Flags* flags) {
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string* into) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_engine: %s needs a value\n", arg.c_str());
        ok = false;
        return;
      }
      *into = argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--out") {
      value(&flags->out);
    } else if (arg == "--work-dir") {
      value(&flags->work_parent);
    } else if (arg == "--keep-work-dir") {
      flags->keep_work_dir = true;
    } else if (arg == "--node") {
      value(&flags->node.node);
    } else if (arg == "--pglite-script") {
      value(&flags->node.script);
    } else if (arg == "--node-modules") {
      value(&flags->node.node_modules);
    } else if (arg == "--pg-bindir") {
      value(&flags->pg_bindir);
    } else if (arg == "--only") {
      std::string list;
      value(&list);
      flags->only.clear();
      size_t start = 0;
      while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        std::string name = list.substr(start, end - start);
        if (name == "pgthaw" || name == "pglite" || name == "native") {
          flags->only.insert(name);
        } else {
          std::fprintf(stderr, "bench_engine: --only: unknown system '%s'\n", name.c_str());
          ok = false;
        }
        start = end + 1;
      }
    } else {
      std::fprintf(stderr, "bench_engine: unknown argument '%s'\n", arg.c_str());
      ok = false;
    }
  }
  if (!ok) std::fputs(kUsage, stderr);
  return ok;
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
  std::string templ = abs + "/pgthaw-bench-engine-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::fprintf(stderr, "bench_engine: mkdtemp %s: %s\n", templ.c_str(), std::strerror(errno));
    return "";
  }
  return buf.data();
}

EngineBenchRows not_measured(const char* system, Outcome outcome, std::string reason) {
  EngineBenchRows rows;
  rows.system = system;
  rows.outcome = outcome;
  rows.reason = std::move(reason);
  return rows;
}

// Turns one system's Result into a column; a failure is reported on stderr.
EngineBenchRows settle(const char* system, Result<EngineBenchRows> result) {
  if (result.ok()) return std::move(result).value();
  std::fprintf(stderr, "bench_engine: %s FAILED: %s\n", system, result.status().ToString().c_str());
  return not_measured(system, Outcome::kFailed, result.status().ToString());
}

EngineBenchRows skip(const char* system, const std::string& reason) {
  std::fprintf(stderr, "bench_engine: skipping %s: %s\n", system, reason.c_str());
  return not_measured(system, Outcome::kSkipped, reason);
}

nlohmann::json to_json(const std::vector<EngineBenchRows>& systems) {
  nlohmann::json doc;
  doc["benchmark"] = "engine";
  doc["machine"] = machine_info();
  doc["systems"] = nlohmann::json::array();
  for (const EngineBenchRows& s : systems) {
    nlohmann::json j;
    j["system"] = s.system;
    j["version"] = s.version;
    j["outcome"] = s.outcome == Outcome::kMeasured  ? "measured"
                   : s.outcome == Outcome::kSkipped ? "skipped"
                                                    : "failed";
    if (!s.reason.empty()) j["reason"] = s.reason;
    j["notes"] = s.notes;
    // NaN (not measured) becomes null.
    j["rows"] = {{"initdb_ms", s.initdb_ms},
                 {"boot_ms", s.boot_ms},
                 {"first_query_ms", s.first_query_ms},
                 {"warm_select1_us", s.warm_select1_us},
                 {"insert10k_ms", s.insert10k_ms}};
    j["extras"] = nlohmann::json::object();
    for (const auto& [name, value] : s.extras) j["extras"][name] = value;
    doc["systems"].push_back(std::move(j));
  }
  return doc;
}

bool write_file(const std::string& path, const std::string& text) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "bench_engine: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

int run(int argc, char** argv) {
  Flags flags;
  if (!parse_flags(argc, argv, &flags)) return 2;
  std::string work_dir = make_work_dir(flags.work_parent);
  if (work_dir.empty()) return 1;
  std::fprintf(stderr, "bench_engine: work dir %s\n", work_dir.c_str());

  std::vector<EngineBenchRows> systems;
  if (flags.only.count("pgthaw")) {
    std::fprintf(stderr, "bench_engine: measuring pgthaw...\n");
    systems.push_back(settle(kSystemPgthaw, measure_pgthaw(work_dir)));
  } else {
    systems.push_back(skip(kSystemPgthaw, "not selected (--only)"));
  }
  if (!flags.only.count("pglite")) {
    systems.push_back(skip(kSystemPgliteNode, "not selected (--only)"));
  } else if (std::optional<std::string> missing = pglite_node_missing(flags.node)) {
    systems.push_back(skip(kSystemPgliteNode, *missing));
  } else {
    std::fprintf(stderr, "bench_engine: measuring PGlite in Node...\n");
    systems.push_back(settle(kSystemPgliteNode, measure_pglite_node(work_dir, flags.node)));
  }
  if (!flags.only.count("native")) {
    systems.push_back(skip(kSystemNativePg, "not selected (--only)"));
  } else if (std::optional<std::string> missing = native_postgres_missing(flags.pg_bindir)) {
    systems.push_back(skip(kSystemNativePg, *missing));
  } else {
    std::fprintf(stderr, "bench_engine: measuring native PostgreSQL 15...\n");
    systems.push_back(settle(kSystemNativePg, measure_native_postgres(work_dir, flags.pg_bindir)));
  }

  std::string markdown = render_markdown(systems);
  std::fputs(markdown.c_str(), stdout);
  std::string json_text =
      to_json(systems).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  bool wrote = write_file(flags.out, json_text);
  std::filesystem::path md_path(flags.out);
  md_path.replace_extension(".md");
  wrote = write_file(md_path.string(), markdown) && wrote;
  if (wrote)
    std::fprintf(stderr, "bench_engine: wrote %s and %s\n", flags.out.c_str(), md_path.c_str());

  if (flags.keep_work_dir) {
    std::fprintf(stderr, "bench_engine: kept %s\n", work_dir.c_str());
  } else {
    std::error_code ec;
    std::filesystem::remove_all(work_dir, ec);
    if (ec)
      std::fprintf(stderr, "bench_engine: rm -r %s: %s\n", work_dir.c_str(), ec.message().c_str());
  }
  for (const EngineBenchRows& s : systems) {
    if (s.outcome == Outcome::kFailed) return 1;
  }
  return wrote ? 0 : 1;
}

}  // namespace
}  // namespace pgthaw::bench

int main(int argc, char** argv) { return pgthaw::bench::run(argc, argv); }
