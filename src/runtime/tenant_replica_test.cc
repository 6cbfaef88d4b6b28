// Tenants through an object store: a real engine, real files, a real
// FileObjectStore (the S3 one speaks the same interface; objstore's own
// tests run it against s3rver).
#include "runtime/tenant_replica.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/zstd_frame.h"
#include "engine/test_support.h"
#include "objstore/file_object_store.h"
#include "pgwire/result.h"
#include "runtime/runtime.h"

namespace pgthaw::runtime {
namespace {

namespace fs = std::filesystem;
using engine::Instance;
using engine::testing::run;
using engine::testing::scalar;
using engine::testing::TempDir;
using engine::testing::test_engine;

const std::string kKey = "a fleet key of more than thirty-two bytes";

std::string first_error(Instance& db, const std::string& sql) {
  for (const pgwire::StatementResult& r : run(db, sql)) {
    if (r.error) return r.error->sqlstate() + ": " + r.error->message();
  }
  return "";
}

class TenantsThroughAStore : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = objstore::FileObjectStore::Open(store_dir_.path() + "/bucket");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::unique_ptr<Runtime> StartOn(const TempDir& root, const std::string& key = kKey,
                                   Status* failed = nullptr) {
    RuntimeOptions options;
    options.data_root = root.path();
    options.threads = 2;
    options.warm_pool_size = 0;
    options.create_on_first_use = false;
    options.store = store_;
    options.store_key = key;
    auto runtime = Runtime::Start(test_engine(), std::move(options));
    if (failed != nullptr) *failed = runtime.status();
    if (!runtime.ok()) return nullptr;
    return std::move(runtime).value();
  }

  // Runs `fn` on the tenant (may_create: a new one); the open's status.
  static Status On(Runtime& runtime, const std::string& tenant,
                   const std::function<void(Instance&)>& fn, bool may_create = false) {
    std::promise<Status> done;
    auto work = [&](Result<Session*> session, const Timings&) {
      if (session.ok()) fn(session.value()->instance());
      done.set_value(session.status());
    };
    if (may_create) {
      Status created = runtime.CreateTenant(tenant);
      if (!created.ok()) return created;
    }
    Status submitted = runtime.Submit(tenant, work);
    if (!submitted.ok()) return submitted;
    return done.get_future().get();
  }

  // The manifest of tenant `id` as the store holds it, and back.
  nlohmann::json Manifest(const std::string& id) {
    auto text = store_->Get("tenants/" + id + "/manifest");
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    return text.ok() ? nlohmann::json::parse(*text) : nlohmann::json();
  }
  void PutManifest(const std::string& id, const nlohmann::json& manifest) {
    ASSERT_TRUE(store_->Put("tenants/" + id + "/manifest", manifest.dump()).ok());
  }
  // `body` signed with `key`, as a node of that fleet would.
  static nlohmann::json Signed(const std::string& body, const std::string& key = kKey) {
    return {{"body", body},
            {"hmac", hex(hmac_sha256(key, std::string("pgthaw-manifest-v1\n") + body))}};
  }

  // A tenant with rows, made on node A and hibernated into the store.
  void MakeHibernatedTenant(const TempDir& node_a, const std::string& id, int rows) {
    auto a = StartOn(node_a);
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(On(
                    *a, id,
                    [&](Instance& db) {
                      ASSERT_EQ(first_error(db, "create table t (n int, pad text)"), "");
                      ASSERT_EQ(first_error(db,
                                            "insert into t select g, repeat('x', 200) from "
                                            "generate_series(1, " +
                                                std::to_string(rows) + ") g"),
                                "");
                    },
                    /*may_create=*/true)
                    .ok());
    ASSERT_TRUE(a->Hibernate(id).ok());
    EXPECT_EQ(a->stats().replica.pushes, 1u);
    EXPECT_EQ(a->stats().replica.failures, 0u);
    ASSERT_TRUE(a->Shutdown().ok());
  }

  TempDir store_dir_;
  std::shared_ptr<objstore::ObjectStore> store_;
};

TEST_F(TenantsThroughAStore, ANodeWithAnEmptyDiskThawsAHibernatedTenant) {
  TempDir node_a, node_b;
  MakeHibernatedTenant(node_a, "acme", 500);
  // B has never seen the tenant: its template comes from the store (so the
  // snapshot's base is the one the tenant was made on), then the tenant.
  auto b = StartOn(node_b);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(fs::exists(engine::Template::HomeUnder(node_b.path()) + "/in-store"));
  EXPECT_FALSE(fs::exists(node_b.path() + "/tenants/acme"));
  std::string count, sum;
  Status opened = On(*b, "acme", [&](Instance& db) {
    count = scalar(db, "select count(*) from t");
    sum = scalar(db, "select sum(n) from t");
    EXPECT_EQ(first_error(db, "insert into t values (501, 'b')"), "");
  });
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  EXPECT_EQ(count, "500");
  EXPECT_EQ(sum, "125250");
  EXPECT_EQ(b->stats().replica.pulls, 1u);
  EXPECT_EQ(b->stats().cold_starts_thawed, 1u) << "thawed from the pulled snapshot, not booted";
  // B's hibernation goes back to the store; A, emptied, sees B's row.
  ASSERT_TRUE(b->Hibernate("acme").ok());
  ASSERT_TRUE(b->Shutdown().ok());
  fs::remove_all(node_a.path());
  fs::create_directories(node_a.path());
  auto a = StartOn(node_a);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(
      On(*a, "acme", [&](Instance& db) { count = scalar(db, "select count(*) from t"); }).ok());
  EXPECT_EQ(count, "501");
  // A tenant nobody has is still no tenant.
  EXPECT_EQ(On(*a, "nobody", [](Instance&) {}).code(), StatusCode::kNotFound);
}

TEST_F(TenantsThroughAStore, AManifestThatDoesNotVerifyIsRefusedAndNothingIsWritten) {
  TempDir node_a, node_b;
  MakeHibernatedTenant(node_a, "acme", 10);
  const nlohmann::json good = Manifest("acme");
  // One byte of the body changed: the MAC no longer matches.
  nlohmann::json forged = good;
  std::string body = good["body"].get<std::string>();
  body[body.find("\"acme\"") + 1] = 'A';
  forged["body"] = body;
  PutManifest("acme", forged);
  auto b = StartOn(node_b);
  ASSERT_NE(b, nullptr);
  Status opened = On(*b, "acme", [](Instance&) { ADD_FAILURE() << "a forged tenant opened"; });
  EXPECT_EQ(opened.code(), StatusCode::kUnauthenticated) << opened.ToString();
  EXPECT_FALSE(fs::exists(node_b.path() + "/tenants/acme"));
  // Signed under another fleet's key: the same.
  PutManifest("acme", Signed(good["body"].get<std::string>(), std::string(40, 'k')));
  opened = On(*b, "acme", [](Instance&) { ADD_FAILURE() << "another fleet's tenant opened"; });
  EXPECT_EQ(opened.code(), StatusCode::kUnauthenticated) << opened.ToString();
  // The genuine one opens.
  PutManifest("acme", good);
  EXPECT_TRUE(On(*b, "acme", [](Instance&) {}).ok());
}

TEST_F(TenantsThroughAStore, ASignedManifestStillCannotNameAPathOutsideTheTenant) {
  TempDir node_a, node_b;
  MakeHibernatedTenant(node_a, "acme", 10);
  nlohmann::json body = nlohmann::json::parse(Manifest("acme")["body"].get<std::string>());
  // A node of the fleet is compromised, or a bug: the layout check holds.
  for (const std::string path : {"../../escaped", "data/../../escaped", "/etc/escaped",
                                 "data/.pgthaw-overlay/chunks/x", "bin/escaped"}) {
    nlohmann::json bad = body;
    bad["files"].push_back({{"path", path}, {"dir", true}});
    PutManifest("acme", Signed(bad.dump()));
    auto b = StartOn(node_b);
    ASSERT_NE(b, nullptr);
    Status opened = On(*b, "acme", [](Instance&) { ADD_FAILURE() << "opened"; });
    EXPECT_EQ(opened.code(), StatusCode::kCorruption) << path << ": " << opened.ToString();
    EXPECT_FALSE(fs::exists(node_b.path() + "/escaped"));
    EXPECT_FALSE(fs::exists(node_b.path() + "/tenants/acme"));
  }
}

TEST_F(TenantsThroughAStore, ABlobThatIsNotWhatItsManifestNamesIsRefused) {
  TempDir node_a, node_b;
  MakeHibernatedTenant(node_a, "acme", 10);
  nlohmann::json body = nlohmann::json::parse(Manifest("acme")["body"].get<std::string>());
  // Every blob the tenant names replaced by other bytes of the same size.
  for (const auto& f : body["files"]) {
    if (f.value("dir", false)) continue;
    const std::string key = "blobs/" + f["sha256"].get<std::string>();
    auto frame = store_->Get(key);
    ASSERT_TRUE(frame.ok());
    auto stream = zstd_decompress(*frame, uint64_t{1} << 32, key);
    ASSERT_TRUE(stream.ok());
    if (stream->size() < 24) continue;
    std::string changed = *stream;
    changed.back() = static_cast<char>(changed.back() ^ 1);
    ASSERT_TRUE(store_->Put(key, zstd_compress(changed)).ok());
  }
  auto b = StartOn(node_b);
  ASSERT_NE(b, nullptr);
  Status opened = On(*b, "acme", [](Instance&) { ADD_FAILURE() << "opened"; });
  EXPECT_EQ(opened.code(), StatusCode::kCorruption) << opened.ToString();
  EXPECT_FALSE(fs::exists(node_b.path() + "/tenants/acme"));
}

TEST_F(TenantsThroughAStore, ANodeWithATemplateOfItsOwnRefusesTheStoreAndSaysWhy) {
  TempDir node_a, node_c;
  MakeHibernatedTenant(node_a, "acme", 10);
  {
    // C made its template before it was given the store.
    RuntimeOptions options;
    options.data_root = node_c.path();
    options.warm_pool_size = 0;
    auto c = Runtime::Start(test_engine(), options);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
  }
  Status failed;
  EXPECT_EQ(StartOn(node_c, kKey, &failed), nullptr);
  EXPECT_EQ(failed.code(), StatusCode::kAlreadyExists) << failed.ToString();
  EXPECT_NE(failed.message().find("template of its own"), std::string::npos) << failed.ToString();
}

// A fleet node opens only the tenants it owns, whatever asks for them.
TEST(Runtime, ATenantTheNodeMayNotOpenIsRefusedNamingWhyAndNothingIsMade) {
  TempDir root;
  RuntimeOptions options;
  options.data_root = root.path();
  options.warm_pool_size = 0;
  options.create_on_first_use = true;
  std::atomic<int> asked{0};
  options.may_open_tenant = [&](const std::string& tenant) -> Status {
    ++asked;
    if (tenant == "theirs") return Status::Unavailable("tenant theirs is served by node b");
    return Status::Ok();
  };
  auto started = Runtime::Start(test_engine(), options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  Runtime& rt = **started;
  auto open = [&](const std::string& tenant) {
    std::promise<Status> done;
    Status submitted =
        rt.Submit(tenant, [&](Result<Session*> s, const Timings&) { done.set_value(s.status()); });
    return submitted.ok() ? done.get_future().get() : submitted;
  };
  Status refused = open("theirs");
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable) << refused.ToString();
  EXPECT_NE(refused.message().find("served by node b"), std::string::npos) << refused.ToString();
  EXPECT_FALSE(fs::exists(root.path() + "/tenants/theirs"));
  EXPECT_TRUE(open("ours").ok());
  const int asked_once = asked.load();
  // Warm: not asked again.
  EXPECT_TRUE(open("ours").ok());
  EXPECT_EQ(asked.load(), asked_once);
}

TEST(TenantReplica, AShortKeyIsRefused) {
  TempDir dir;
  auto store = objstore::FileObjectStore::Open(dir.path() + "/bucket");
  ASSERT_TRUE(store.ok());
  auto replica = TenantReplica::Create(std::move(store).value(), "short",
                                       engine::TenantStore(dir.path()), false);
  EXPECT_EQ(replica.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pgthaw::runtime
