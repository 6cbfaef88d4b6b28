// TenantAdmin over a real runtime and a real credential store: the roles are
// real Postgres roles, deletions remove real directories.
#include "server/tenant_admin.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include "engine/test_support.h"
#include "server/scram.h"
#include "server/tenant_admin_json.h"

namespace pgthaw::server {
namespace {

namespace fs = std::filesystem;
using engine::testing::TempDir;
using namespace std::chrono_literals;

// One runtime for the suite (its template is built once); each test uses
// tenants of its own.
class TenantAdminTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    runtime::RuntimeOptions options;
    options.data_root = dir_->path();
    options.threads = 4;
    options.warm_pool_size = 0;
    options.create_on_first_use = false;
    auto rt = runtime::Runtime::Start(engine::testing::test_engine(), options);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value().release();
    auto store = CredentialStore::Open(dir_->sub("credentials.json"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value().release();
  }
  static void TearDownTestSuite() {
    delete runtime_;
    delete store_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_NE(runtime_, nullptr);
    ASSERT_NE(store_, nullptr);
    admin_ = std::make_unique<TenantAdmin>(*runtime_, *store_);
  }

  static std::string TenantDir(const std::string& tenant) { return dir_->sub("tenants/" + tenant); }

  // The single value of `sql` in `tenant` (the test fails on a SQL error).
  static Result<std::string> Scalar(const std::string& tenant, const std::string& sql) {
    auto done = std::make_shared<std::promise<Result<std::string>>>();
    auto result = done->get_future();
    Status st = runtime_->Submit(
        tenant, [done, sql](Result<runtime::Session*> session, const runtime::Timings&) {
          if (!session.ok()) return done->set_value(session.status());
          done->set_value(engine::testing::scalar((*session)->instance(), sql));
        });
    if (!st.ok()) return st;
    return result.get();
  }

  // Runs `sql` (statements that must succeed) in `tenant`.
  static Status Run(const std::string& tenant, const std::string& sql) {
    auto done = std::make_shared<std::promise<Status>>();
    auto result = done->get_future();
    Status st = runtime_->Submit(tenant, [done, sql](Result<runtime::Session*> session,
                                                     const runtime::Timings&) {
      if (!session.ok()) return done->set_value(session.status());
      for (const pgwire::StatementResult& r : engine::testing::run((*session)->instance(), sql)) {
        if (r.error) return done->set_value(Status::InvalidArgument(r.error->summary()));
      }
      done->set_value(Status::Ok());
    });
    if (!st.ok()) return st;
    return result.get();
  }

  // Runs `sql` for Postgres connection `holder`, which keeps the tenant while
  // the session is inside a transaction block (Runtime::SubmitHeld).
  static Status RunHeld(const std::string& tenant, uint64_t holder, const std::string& sql) {
    auto done = std::make_shared<std::promise<Status>>();
    auto result = done->get_future();
    Status st = runtime_->SubmitHeld(
        tenant, holder, [done, sql](Result<runtime::Session*> session, const runtime::Timings&) {
          if (!session.ok()) return done->set_value(session.status());
          engine::testing::run((*session)->instance(), sql);
          done->set_value(Status::Ok());
        });
    if (!st.ok()) return st;
    return result.get();
  }

  static bool Verifies(const scram::Verifier& verifier, const std::string& password) {
    auto again = scram::Verifier::FromPasswordAndSalt(password, verifier.salt, verifier.iterations);
    return again.ok() && *again == verifier;
  }

  static TempDir* dir_;
  static runtime::Runtime* runtime_;
  static CredentialStore* store_;
  std::unique_ptr<TenantAdmin> admin_;
};

TempDir* TenantAdminTest::dir_ = nullptr;
runtime::Runtime* TenantAdminTest::runtime_ = nullptr;
CredentialStore* TenantAdminTest::store_ = nullptr;

TEST_F(TenantAdminTest, CreateMakesANonSuperuserRoleOwningTheDatabase) {
  auto created = admin_->Create("acme", "app", std::nullopt);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->tenant, "acme");
  EXPECT_EQ(created->role, "app");
  ASSERT_TRUE(created->password.has_value());
  EXPECT_EQ(created->password->size(), 43u);  // 32 bytes, base64url unpadded

  EXPECT_EQ(Scalar("acme", "select rolsuper from pg_roles where rolname = 'app'").value(), "f");
  EXPECT_EQ(Scalar("acme", "select rolcanlogin from pg_roles where rolname = 'app'").value(), "t");
  EXPECT_EQ(
      Scalar("acme", "select nspowner::regrole from pg_namespace where nspname = 'public'").value(),
      "app");
  EXPECT_EQ(
      Scalar("acme", "select datdba::regrole from pg_database where datname = 'postgres'").value(),
      "app");

  // The password is returned once and is what the stored verifier proves.
  std::optional<scram::Verifier> verifier = store_->FindRole("acme", "app");
  ASSERT_TRUE(verifier.has_value());
  EXPECT_TRUE(Verifies(*verifier, *created->password));
  EXPECT_FALSE(Verifies(*verifier, "not the password"));
  EXPECT_EQ(store_->OwnerRole("acme"), "app");
  EXPECT_GT(store_->CreatedUnixS("acme").value_or(0), 0);

  auto shown = admin_->Show("acme");
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ(tenant_details_json(*shown).dump().find(*created->password), std::string::npos);
  EXPECT_EQ(shown->summary.owner, "app");
  EXPECT_EQ(shown->summary.roles, std::vector<std::string>{"app"});
  EXPECT_GT(shown->summary.disk_bytes, 0u);
  EXPECT_GT(shown->summary.last_used_unix_s, 0);
}

TEST_F(TenantAdminTest, CreateWithAPasswordReturnsNone) {
  auto created = admin_->Create("given", "owner", std::string("s3cret-given"));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_FALSE(created->password.has_value());
  EXPECT_TRUE(Verifies(store_->FindRole("given", "owner").value(), "s3cret-given"));
}

TEST_F(TenantAdminTest, CreateTwiceIsAlreadyExists) {
  ASSERT_TRUE(admin_->Create("twice", "app", std::nullopt).ok());
  auto again = admin_->Create("twice", "other", std::nullopt);
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();
  EXPECT_EQ(store_->Roles("twice"), std::vector<std::string>{"app"});
}

TEST_F(TenantAdminTest, RefusedCreateLeavesNothingBehind) {
  // Postgres' own role names are refused before anything is made.
  for (const char* role : {"pg_monitor", "postgres"}) {
    EXPECT_EQ(admin_->Create("badrole", role, std::nullopt).status().code(),
              StatusCode::kInvalidArgument)
        << role;
  }
  EXPECT_EQ(admin_->Create("bad/id", "app", std::nullopt).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(admin_->Create("badpw", "app", std::string()).status().code(),
            StatusCode::kInvalidArgument);
  for (const char* tenant : {"badrole", "badpw"}) {
    EXPECT_FALSE(fs::exists(TenantDir(tenant))) << tenant;
    EXPECT_FALSE(store_->HasTenant(tenant)) << tenant;
  }
}

TEST_F(TenantAdminTest, DeleteRemovesFilesAndCredentials) {
  ASSERT_TRUE(admin_->Create("gone", "app", std::nullopt).ok());
  auto token = admin_->IssueToken(TokenScope::Tenant("gone"), "ci");
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(fs::exists(TenantDir("gone")));

  ASSERT_TRUE(admin_->Delete("gone", /*force=*/false).ok());
  EXPECT_FALSE(fs::exists(TenantDir("gone")));
  EXPECT_FALSE(store_->HasTenant("gone"));
  EXPECT_FALSE(store_->Authenticate(token->bearer).has_value());
  EXPECT_FALSE(runtime_->TenantExists("gone"));
  // Auto-create is off: a later query names a database that does not exist.
  Status later = runtime_->Submit("gone", [](Result<runtime::Session*>, const runtime::Timings&) {
    ADD_FAILURE() << "work ran for a deleted tenant";
  });
  EXPECT_EQ(later.code(), StatusCode::kNotFound) << later.ToString();
  EXPECT_EQ(admin_->Delete("gone", false).code(), StatusCode::kNotFound);
  for (const TenantSummary& t : admin_->List()) EXPECT_NE(t.tenant, "gone");
}

TEST_F(TenantAdminTest, DeleteWaitsForAnOpenTransaction) {
  ASSERT_TRUE(admin_->Create("held", "app", std::nullopt).ok());
  constexpr uint64_t kHolder = 41;
  ASSERT_TRUE(RunHeld("held", kHolder, "begin; create table t(x int)").ok());

  // Within the timeout the transaction does not end: nothing changes.
  Status timed_out = admin_->Delete("held", /*force=*/false, 300ms);
  EXPECT_EQ(timed_out.code(), StatusCode::kUnavailable) << timed_out.ToString();
  EXPECT_TRUE(fs::exists(TenantDir("held")));
  EXPECT_TRUE(store_->HasTenant("held"));

  auto deleting =
      std::async(std::launch::async, [&] { return admin_->Delete("held", /*force=*/false, 30s); });
  EXPECT_EQ(deleting.wait_for(300ms), std::future_status::timeout);
  // Meanwhile other work is refused; the holder's own goes on.
  EXPECT_EQ(
      runtime_->Submit("held", [](Result<runtime::Session*>, const runtime::Timings&) {}).code(),
      StatusCode::kNotFound);
  EXPECT_TRUE(RunHeld("held", kHolder, "commit").ok());
  ASSERT_EQ(deleting.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(deleting.get().ok());
  EXPECT_FALSE(fs::exists(TenantDir("held")));
  EXPECT_FALSE(store_->HasTenant("held"));
}

TEST_F(TenantAdminTest, ForcedDeleteCutsTheHolderOff) {
  ASSERT_TRUE(admin_->Create("forced", "app", std::nullopt).ok());
  constexpr uint64_t kHolder = 42;
  ASSERT_TRUE(RunHeld("forced", kHolder, "begin; create table t(x int)").ok());
  auto started = std::chrono::steady_clock::now();
  Status deleted = admin_->Delete("forced", /*force=*/true, 30s);
  EXPECT_TRUE(deleted.ok()) << deleted.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_FALSE(fs::exists(TenantDir("forced")));
  EXPECT_EQ(RunHeld("forced", kHolder, "commit").code(), StatusCode::kNotFound);
  runtime_->Release("forced", kHolder);
}

TEST_F(TenantAdminTest, RotateReplacesTheVerifier) {
  ASSERT_TRUE(admin_->Create("rotated", "app", std::string("first-password")).ok());
  scram::Verifier before = store_->FindRole("rotated", "app").value();
  auto rotated = admin_->RotatePassword("rotated", "app", std::nullopt);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  ASSERT_TRUE(rotated->has_value());
  scram::Verifier after = store_->FindRole("rotated", "app").value();
  EXPECT_FALSE(after == before);
  EXPECT_TRUE(Verifies(after, **rotated));
  EXPECT_FALSE(Verifies(after, "first-password"));
  EXPECT_EQ(admin_->RotatePassword("rotated", "nobody", std::nullopt).status().code(),
            StatusCode::kNotFound);
}

TEST_F(TenantAdminTest, RolesAreAddedAndDropped) {
  ASSERT_TRUE(admin_->Create("roles", "app", std::nullopt).ok());
  auto added = admin_->AddRole("roles", "reader", std::string("reader-password"));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_FALSE(added->has_value());
  EXPECT_EQ(Scalar("roles", "select rolsuper from pg_roles where rolname = 'reader'").value(), "f");
  EXPECT_EQ(admin_->AddRole("roles", "reader", std::nullopt).status().code(),
            StatusCode::kAlreadyExists);
  // The owner cannot go; another role can, with what it owned.
  EXPECT_EQ(admin_->DropRole("roles", "app").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(admin_->DropRole("roles", "reader").ok());
  EXPECT_EQ(Scalar("roles", "select count(*) from pg_roles where rolname = 'reader'").value(), "0");
  EXPECT_FALSE(store_->FindRole("roles", "reader").has_value());
  EXPECT_EQ(admin_->DropRole("roles", "reader").code(), StatusCode::kNotFound);
}

TEST_F(TenantAdminTest, TokensAreIssuedListedAndRevoked) {
  ASSERT_TRUE(admin_->Create("tokens", "app", std::nullopt).ok());
  auto admin_token = admin_->IssueToken(TokenScope::Admin(), "ops");
  auto tenant_token = admin_->IssueToken(TokenScope::Tenant("tokens", true), "reports");
  ASSERT_TRUE(admin_token.ok() && tenant_token.ok());
  EXPECT_EQ(store_->Authenticate(tenant_token->bearer), TokenScope::Tenant("tokens", true));
  EXPECT_EQ(admin_->IssueToken(TokenScope::Tenant("no-such-tenant"), "").status().code(),
            StatusCode::kNotFound);

  auto shown = admin_->Show("tokens");
  ASSERT_TRUE(shown.ok());
  ASSERT_EQ(shown->tokens.size(), 1u);
  EXPECT_EQ(shown->tokens[0].id, tenant_token->info.id);
  EXPECT_EQ(tenant_details_json(*shown).dump().find(tenant_token->bearer), std::string::npos);
  bool listed = false;
  for (const TokenInfo& t : admin_->ListTokens()) listed |= t.id == admin_token->info.id;
  EXPECT_TRUE(listed);

  ASSERT_TRUE(admin_->RevokeToken(tenant_token->info.id).ok());
  EXPECT_FALSE(store_->Authenticate(tenant_token->bearer).has_value());
  EXPECT_EQ(admin_->RevokeToken(tenant_token->info.id).code(), StatusCode::kNotFound);
  ASSERT_TRUE(admin_->RevokeToken(admin_token->info.id).ok());
}

TEST_F(TenantAdminTest, ListShowsStateAndHibernateColdsATenant) {
  ASSERT_TRUE(admin_->Create("listed", "app", std::nullopt).ok());
  auto find = [&]() -> std::optional<TenantSummary> {
    for (TenantSummary& t : admin_->List()) {
      if (t.tenant == "listed") return t;
    }
    return std::nullopt;
  };
  ASSERT_TRUE(find().has_value());
  EXPECT_EQ(find()->state, "warm");
  EXPECT_GT(find()->created_unix_s, 0);
  ASSERT_TRUE(admin_->Hibernate("listed").ok());
  EXPECT_EQ(find()->state, "hibernated");
  EXPECT_EQ(admin_->Hibernate("nobody-here").code(), StatusCode::kNotFound);
}

// The checksums a dump must carry over: every row of the table (the vector
// column included), the function's result, the index's definition.
std::vector<std::string> fingerprint(const std::function<Result<std::string>(std::string)>& q) {
  std::vector<std::string> out;
  for (const char* sql :
       {"select md5(string_agg(id || ':' || coalesce(name, '~') || ':' || embedding::text, ','"
        " order by id)) from items",
        "select count(*) from items", "select twice(21)",
        "select indexdef from pg_indexes where indexname = 'items_name'",
        "select last_value from items_id_seq"}) {
    auto v = q(sql);
    out.push_back(v.ok() ? *v : "error: " + v.status().ToString());
  }
  return out;
}

TEST_F(TenantAdminTest, DumpOfATenantRestoresIdenticallyPlainAndCustom) {
  ASSERT_TRUE(admin_->Create("dumped", "dumped", "pw-dumped-1").ok());
  auto scalar = [](std::string tenant) {
    return [tenant](std::string sql) { return Scalar(tenant, sql); };
  };
  Status filled = Run("dumped",
                      "create extension vector;"
                      "create table items (id serial primary key, name text, embedding vector(3));"
                      "insert into items (name, embedding) select case when i % 7 = 0 then null"
                      " else 'item ' || i || E' tab\\there' end,"
                      " ('[' || i % 10 || ',' || i % 3 || ',' || (i * 0.5) || ']')::vector"
                      " from generate_series(1, 100000) i;"
                      "create index items_name on items (name);"
                      "create function twice(x int) returns int language plpgsql as"
                      " $$ begin return 2 * x; end $$;");
  ASSERT_TRUE(filled.ok()) << filled.ToString();
  const std::vector<std::string> expected = fingerprint(scalar("dumped"));
  ASSERT_EQ(expected[1], "100000");
  ASSERT_EQ(expected[2], "42");
  const std::string search_path = Scalar("dumped", "show search_path").value();

  for (const char* format : {"plain", "custom"}) {
    SCOPED_TRACE(format);
    runtime::DumpOptions options;
    options.format = runtime::parse_dump_format(format).value();
    const std::string file = dir_->sub(std::string("dumped.") + format);
    Status dumped = admin_->Dump("dumped", options, file);
    ASSERT_TRUE(dumped.ok()) << dumped.ToString();
    const std::string copy = std::string("restored-") + format;
    ASSERT_TRUE(admin_->Create(copy, "dumped", "pw-copy-1").ok());
    Status restored = admin_->Restore(copy, file);
    ASSERT_TRUE(restored.ok()) << restored.ToString();
    EXPECT_EQ(fingerprint(scalar(copy)), expected);
    // The source's session is as the dump found it.
    EXPECT_EQ(Scalar("dumped", "show search_path").value(), search_path);
    EXPECT_EQ(Scalar("dumped", "select count(*) from pg_prepared_statements").value(), "0");
  }
}

TEST_F(TenantAdminTest, AForkHasTheSourcesDataAndRolesButNotItsTokens) {
  ASSERT_TRUE(admin_->Create("fork-src", "owner", "pw-owner-1").ok());
  ASSERT_TRUE(admin_->AddRole("fork-src", "reader", std::string("pw-reader-1")).ok());
  ASSERT_TRUE(admin_->IssueToken(TokenScope::Tenant("fork-src"), "t").ok());
  ASSERT_TRUE(Run("fork-src", "create table kept (v int); insert into kept values (7)").ok());
  Status forked = admin_->Fork("fork-src", "fork-dst");
  ASSERT_TRUE(forked.ok()) << forked.ToString();
  EXPECT_EQ(Scalar("fork-dst", "select v from kept").value(), "7");
  EXPECT_EQ(Scalar("fork-dst",
                   "select count(*) from pg_roles where rolname in "
                   "('owner', 'reader')")
                .value(),
            "2");
  EXPECT_EQ(store_->OwnerRole("fork-dst"), std::optional<std::string>("owner"));
  auto verifier = store_->FindRole("fork-dst", "reader");
  ASSERT_TRUE(verifier.has_value());
  EXPECT_TRUE(Verifies(*verifier, "pw-reader-1"));
  for (const TokenInfo& token : admin_->ListTokens()) {
    EXPECT_FALSE(token.scope.kind == TokenScope::Kind::kTenant && token.scope.tenant == "fork-dst");
  }
  ASSERT_TRUE(Run("fork-dst", "insert into kept values (8)").ok());
  EXPECT_EQ(Scalar("fork-src", "select count(*) from kept").value(), "1");

  EXPECT_EQ(admin_->Fork("fork-src", "fork-dst").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(admin_->Fork("no-such", "fork-x").code(), StatusCode::kNotFound);
  EXPECT_EQ(admin_->Fork("fork-src", "Bad/Id").code(), StatusCode::kInvalidArgument);
}

TEST_F(TenantAdminTest, AFailedRestoreChangesNothingAndSaysWhere) {
  ASSERT_TRUE(admin_->Create("restore-bad", "restore-bad", "pw-bad-1").ok());
  const std::string script = dir_->sub("bad.sql");
  {
    std::ofstream out(script);
    out << "create table kept (a int);\n"
           "COPY public.kept (a) FROM stdin;\n1\n2\n\\.\n"
           "insert into no_such_table values (1);\n";
  }
  Status st = admin_->Restore("restore-bad", script);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bad.sql:6"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("no_such_table"), std::string::npos) << st.ToString();
  EXPECT_EQ(Scalar("restore-bad", "select count(*) from pg_class where relname = 'kept'").value(),
            "0");

  {
    std::ofstream out(script);
    out << "\\connect other\n";
  }
  st = admin_->Restore("restore-bad", script);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--create"), std::string::npos) << st.ToString();
  EXPECT_EQ(admin_->Restore("no-such-tenant", script).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace pgthaw::server
