// bench_store: what an object store costs a tenant, in one run, against the
// same runtime without one:
//   1. push: a hibernation with the store (snapshot + push) vs without,
//   2. thaw: a hibernated tenant's first query on the node that hibernated
//      it (local thaw) vs on a node whose disk is empty (pull + thaw),
// each over N tenants holding a table of --table-kib. The store is
// `file:DIR` by default (a local disk: the protocol and verification cost
// alone) or any --store URL (s3://... with AWS_* set). Prints a markdown
// table; nothing is asserted.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "../engine/stopwatch.h"
#include "../thaw/latency.h"
#include "engine/engine.h"
#include "objstore/open_object_store.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"
#include "runtime/runtime.h"

namespace pgthaw::bench {
namespace {

namespace fs = std::filesystem;

struct Flags {
  int tenants = 20;
  int table_kib = 1024;
  std::string store;  // "" = file: in the work dir
  std::string work_parent = fs::temp_directory_path().string();
};

bool parse(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--tenants" && has_value) {
      f->tenants = std::atoi(argv[++i]);
    } else if (arg == "--table-kib" && has_value) {
      f->table_kib = std::atoi(argv[++i]);
    } else if (arg == "--store" && has_value) {
      f->store = argv[++i];
    } else if (arg == "--work-dir" && has_value) {
      f->work_parent = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: bench_store [--tenants N] [--table-kib K] [--store URL] "
                   "[--work-dir DIR]\n");
      return false;
    }
  }
  return f->tenants > 0 && f->table_kib > 0;
}

// Runs SQL on TENANT (simple protocol), the open's status.
Status exec(runtime::Runtime& rt, const std::string& tenant, const std::string& sql) {
  std::promise<Status> done;
  Status submitted = rt.Submit(tenant, [&](Result<runtime::Session*> s, const runtime::Timings&) {
    if (!s.ok()) return done.set_value(s.status());
    std::string request;
    Status encoded = pgwire::frontend::query(request, sql);
    if (!encoded.ok()) return done.set_value(encoded);
    auto reply = s.value()->instance().Exec(request);
    if (!reply.ok()) return done.set_value(reply.status());
    auto results = pgwire::collect_results(*reply);
    if (!results.ok()) return done.set_value(results.status());
    for (const pgwire::StatementResult& r : *results) {
      if (r.error) return done.set_value(Status::Internal(r.error->message()));
    }
    done.set_value(Status::Ok());
  });
  if (!submitted.ok()) return submitted;
  return done.get_future().get();
}

std::unique_ptr<runtime::Runtime> start(const engine::Engine& engine, const std::string& root,
                                        std::shared_ptr<objstore::ObjectStore> store) {
  runtime::RuntimeOptions o;
  o.data_root = root;
  o.threads = 2;
  o.warm_pool_size = 0;
  o.idle_timeout_ms = int64_t{1} << 40;  // hibernations are the benchmark's
  o.store = std::move(store);
  o.store_key = "bench_store's fleet key, thirty-two bytes or more";
  auto rt = runtime::Runtime::Start(engine, std::move(o));
  if (!rt.ok()) {
    std::fprintf(stderr, "bench_store: %s\n", rt.status().ToString().c_str());
    return nullptr;
  }
  return std::move(rt).value();
}

void row(const char* what, const Latency& with, const Latency& without) {
  std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.2fx |\n", what, with.p50, with.p95, without.p50,
              without.p95, with.p50 / without.p50);
}

int run(const Flags& f) {
  auto engine = engine::Engine::Open();
  if (!engine.ok()) {
    std::fprintf(stderr, "bench_store: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  const fs::path work = fs::path(f.work_parent) / ("bench_store." + std::to_string(::getpid()));
  fs::create_directories(work);
  const std::string url = f.store.empty() ? "file:" + (work / "bucket").string() : f.store;
  auto opened = objstore::open_object_store(url);
  if (!opened.ok()) {
    std::fprintf(stderr, "bench_store: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::shared_ptr<objstore::ObjectStore> store = std::move(opened).value();
  const std::string fill =
      "create table t (n int, pad text); insert into t select g, "
      "repeat('x', 1000) from generate_series(1, " +
      std::to_string(f.table_kib) + ") g; select count(*) from t";
  std::vector<double> push_with, push_without, thaw_local, thaw_pulled;
  {
    // Without a store: the peer rows.
    auto local = start(**engine, (work / "local").string(), nullptr);
    auto with = start(**engine, (work / "a").string(), store);
    if (local == nullptr || with == nullptr) return 1;
    for (int i = 0; i < f.tenants; ++i) {
      const std::string id = "t" + std::to_string(i);
      for (auto* rt : {local.get(), with.get()}) {
        if (Status st = rt->CreateTenant(id); !st.ok()) {
          std::fprintf(stderr, "bench_store: create %s: %s\n", id.c_str(), st.ToString().c_str());
          return 1;
        }
        if (Status st = exec(*rt, id, fill); !st.ok()) return 1;
        Stopwatch hibernate;
        if (Status st = rt->Hibernate(id); !st.ok()) return 1;
        (rt == with.get() ? push_with : push_without).push_back(hibernate.ElapsedMs());
      }
      Stopwatch thaw;
      if (!exec(*local, id, "select count(*) from t").ok()) return 1;
      thaw_local.push_back(thaw.ElapsedMs());
    }
    if (with->stats().replica.failures != 0) {
      std::fprintf(stderr, "bench_store: %lu pushes failed\n",
                   static_cast<unsigned long>(with->stats().replica.failures));
      return 1;
    }
  }
  // A node with an empty disk: the template, then each tenant, from the store.
  auto b = start(**engine, (work / "b").string(), store);
  if (b == nullptr) return 1;
  for (int i = 0; i < f.tenants; ++i) {
    Stopwatch thaw;
    if (Status st = exec(*b, "t" + std::to_string(i), "select count(*) from t"); !st.ok()) {
      std::fprintf(stderr, "bench_store: pulled thaw: %s\n", st.ToString().c_str());
      return 1;
    }
    thaw_pulled.push_back(thaw.ElapsedMs());
  }
  const runtime::ReplicaStats s = b->stats().replica;
  std::printf("bench_store: %d tenants, %d KiB table each, store %s\n\n", f.tenants, f.table_kib,
              f.store.empty() ? "file: (local disk)" : f.store.c_str());
  std::printf("| ms | with store p50 | p95 | without p50 | p95 | ratio p50 |\n");
  std::printf("|---|---|---|---|---|---|\n");
  row("hibernation (snapshot + push)", summarize(push_with), summarize(push_without));
  row("first query: pulled on an empty node vs local thaw", summarize(thaw_pulled),
      summarize(thaw_local));
  std::printf("\npulled %lu tenants, %.1f MiB read from the store\n",
              static_cast<unsigned long>(s.pulls), static_cast<double>(s.bytes_down) / (1 << 20));
  b.reset();
  std::error_code ec;
  fs::remove_all(work, ec);
  return 0;
}

}  // namespace
}  // namespace pgthaw::bench

int main(int argc, char** argv) {
  pgthaw::bench::Flags flags;
  if (!pgthaw::bench::parse(argc, argv, &flags)) return 2;
  return pgthaw::bench::run(flags);
}
