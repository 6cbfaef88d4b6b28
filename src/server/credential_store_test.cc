#include "server/credential_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace pgthaw::server {
namespace {

namespace fs = std::filesystem;

constexpr char kPassword[] = "correct horse battery staple";

class CredentialStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "credential_store_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = (dir_ / "credentials.json").string();
  }
  void TearDown() override {
    fs::permissions(dir_, fs::perms::owner_all);
    fs::remove_all(dir_);
  }

  std::unique_ptr<CredentialStore> OpenStore() {
    Result<std::unique_ptr<CredentialStore>> store = CredentialStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::string FileContents() const {
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  static scram::Verifier PasswordVerifier() {
    // Few iterations: the tests need a verifier, not a slow one.
    return scram::Verifier::FromPassword(kPassword, 16).value();
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(CredentialStoreTest, MissingFileStartsEmpty) {
  auto store = OpenStore();
  EXPECT_TRUE(store->Tenants().empty());
  EXPECT_TRUE(store->ListTokens(std::nullopt).empty());
  EXPECT_FALSE(fs::exists(path_));  // nothing written until a change
}

TEST_F(CredentialStoreTest, RolesSurviveReopening) {
  scram::Verifier verifier = PasswordVerifier();
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->AddTenant("acme").ok());
    EXPECT_EQ(store->AddTenant("acme").code(), StatusCode::kAlreadyExists);
    ASSERT_TRUE(store->SetRole("acme", "app", verifier).ok());
    ASSERT_TRUE(store->SetRole("acme", "reporter", verifier).ok());
    EXPECT_EQ(store->SetRole("nobody", "app", verifier).code(), StatusCode::kNotFound);
  }
  auto store = OpenStore();
  EXPECT_TRUE(store->HasTenant("acme"));
  EXPECT_EQ(store->Tenants(), std::vector<std::string>{"acme"});
  EXPECT_EQ(store->Roles("acme"), (std::vector<std::string>{"app", "reporter"}));
  std::optional<scram::Verifier> found = store->FindRole("acme", "app");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, verifier);
  EXPECT_FALSE(store->FindRole("acme", "ghost"));
  EXPECT_FALSE(store->FindRole("other", "app"));

  // Replace, drop, reopen.
  scram::Verifier replacement = scram::Verifier::FromPassword("another", 16).value();
  ASSERT_TRUE(store->SetRole("acme", "app", replacement).ok());
  ASSERT_TRUE(store->DropRole("acme", "reporter").ok());
  EXPECT_EQ(store->DropRole("acme", "reporter").code(), StatusCode::kNotFound);
  store = OpenStore();
  EXPECT_EQ(*store->FindRole("acme", "app"), replacement);
  EXPECT_EQ(store->Roles("acme"), std::vector<std::string>{"app"});
}

TEST_F(CredentialStoreTest, NamesAreValidated) {
  auto store = OpenStore();
  for (std::string bad : {std::string(""), std::string(64, 'a'), std::string("a/b"),
                          std::string("a b"), std::string("..")}) {
    EXPECT_EQ(store->AddTenant(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  ASSERT_TRUE(store->AddTenant(std::string(63, 'a')).ok());
  ASSERT_TRUE(store->AddTenant("t_1-X").ok());
  scram::Verifier verifier = PasswordVerifier();
  for (std::string bad :
       {std::string(""), std::string(64, 'r'), std::string("a\0b", 3), std::string("postgres"),
        std::string("pg_monitor"), std::string("bad\xff")}) {
    EXPECT_EQ(store->SetRole("t_1-X", bad, verifier).code(), StatusCode::kInvalidArgument) << bad;
  }
  for (std::string good : {std::string(63, 'r'), std::string("Postgres"), std::string("pgadmin"),
                           std::string("app user"), std::string("rôle")}) {
    EXPECT_TRUE(store->SetRole("t_1-X", good, verifier).ok()) << good;
  }
  EXPECT_EQ(store->SetRole("t_1-X", "app", scram::Verifier{}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->DropTenant("absent").code(), StatusCode::kNotFound);
}

TEST_F(CredentialStoreTest, TokensAuthenticateUntilRevoked) {
  auto store = OpenStore();
  ASSERT_TRUE(store->AddTenant("acme").ok());
  int64_t before = time(nullptr);
  Result<IssuedToken> admin = store->IssueToken(TokenScope::Admin(), "ops");
  Result<IssuedToken> reader = store->IssueToken(TokenScope::Tenant("acme", true), "dashboard");
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(store->IssueToken(TokenScope::Tenant("nobody"), "x").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(
      store->IssueToken(TokenScope{TokenScope::Kind::kAdmin, "acme", false}, "x").status().code(),
      StatusCode::kInvalidArgument);

  // pgt_<16 hex>_<43 base64url>
  EXPECT_EQ(admin->bearer.size(), 64u);
  EXPECT_TRUE(admin->bearer.starts_with("pgt_" + admin->info.id + "_"));
  EXPECT_EQ(admin->info.id.size(), 16u);
  EXPECT_NE(admin->info.id, reader->info.id);
  EXPECT_GE(admin->info.created_unix_s, before);
  EXPECT_LE(admin->info.created_unix_s, time(nullptr));

  EXPECT_EQ(store->Authenticate(admin->bearer), TokenScope::Admin());
  EXPECT_EQ(store->Authenticate(reader->bearer), TokenScope::Tenant("acme", true));

  std::vector<TokenInfo> all = store->ListTokens(std::nullopt);
  ASSERT_EQ(all.size(), 2u);
  std::vector<TokenInfo> acme = store->ListTokens("acme");
  ASSERT_EQ(acme.size(), 1u);
  EXPECT_EQ(acme[0].id, reader->info.id);
  EXPECT_EQ(acme[0].label, "dashboard");
  EXPECT_TRUE(store->ListTokens("other").empty());

  // Survives reopening.
  store = OpenStore();
  EXPECT_EQ(store->Authenticate(admin->bearer), TokenScope::Admin());
  EXPECT_EQ(store->Authenticate(reader->bearer), TokenScope::Tenant("acme", true));

  ASSERT_TRUE(store->RevokeToken(admin->info.id).ok());
  EXPECT_EQ(store->RevokeToken(admin->info.id).code(), StatusCode::kNotFound);
  EXPECT_FALSE(store->Authenticate(admin->bearer));
  store = OpenStore();
  EXPECT_FALSE(store->Authenticate(admin->bearer));
  EXPECT_TRUE(store->Authenticate(reader->bearer));
}

TEST_F(CredentialStoreTest, WrongOrMalformedTokensFail) {
  auto store = OpenStore();
  IssuedToken token = store->IssueToken(TokenScope::Admin(), "ops").value();
  std::string wrong_secret = token.bearer;
  wrong_secret.back() = wrong_secret.back() == 'A' ? 'B' : 'A';
  std::string wrong_id = token.bearer;
  wrong_id[4] = wrong_id[4] == '0' ? '1' : '0';
  std::string upper_id = token.bearer;
  for (size_t i = 4; i < 20; ++i) upper_id[i] = static_cast<char>(toupper(upper_id[i]));
  for (std::string bad :
       {wrong_secret, wrong_id, std::string(""), std::string("pgt_"), token.bearer + "A",
        token.bearer.substr(0, 63), "Bearer " + token.bearer, "pgx" + token.bearer.substr(3),
        token.bearer.substr(0, 20) + "-" + token.bearer.substr(21),
        token.bearer.substr(0, 63) + "=", token.bearer.substr(0, 63) + "+"}) {
    EXPECT_FALSE(store->Authenticate(bad)) << bad;
  }
  if (upper_id != token.bearer) {
    EXPECT_FALSE(store->Authenticate(upper_id));
  }
  EXPECT_TRUE(store->Authenticate(token.bearer));
}

TEST_F(CredentialStoreTest, DroppingATenantDropsItsRolesAndTokens) {
  auto store = OpenStore();
  ASSERT_TRUE(store->AddTenant("acme").ok());
  ASSERT_TRUE(store->AddTenant("other").ok());
  ASSERT_TRUE(store->SetRole("acme", "app", PasswordVerifier()).ok());
  IssuedToken acme = store->IssueToken(TokenScope::Tenant("acme"), "").value();
  IssuedToken other = store->IssueToken(TokenScope::Tenant("other"), "").value();
  IssuedToken admin = store->IssueToken(TokenScope::Admin(), "").value();
  ASSERT_TRUE(store->DropTenant("acme").ok());
  EXPECT_FALSE(store->HasTenant("acme"));
  EXPECT_FALSE(store->Authenticate(acme.bearer));
  EXPECT_TRUE(store->Authenticate(other.bearer));
  EXPECT_TRUE(store->Authenticate(admin.bearer));

  // A tenant of the same name later is a new tenant: nothing comes back.
  ASSERT_TRUE(store->AddTenant("acme").ok());
  EXPECT_TRUE(store->Roles("acme").empty());
  EXPECT_FALSE(store->Authenticate(acme.bearer));
  store = OpenStore();
  EXPECT_FALSE(store->Authenticate(acme.bearer));
  EXPECT_EQ(store->ListTokens(std::nullopt).size(), 2u);
}

TEST_F(CredentialStoreTest, OwnerAndCreationTimeSurviveReopening) {
  const int64_t before = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->AddTenant("acme", "app").ok());
    ASSERT_TRUE(store->SetRole("acme", "app", PasswordVerifier()).ok());
    ASSERT_TRUE(store->AddTenant("plain").ok());
    EXPECT_EQ(store->AddTenant("bad", "pg_owner").code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(store->HasTenant("bad"));
  }
  auto store = OpenStore();
  EXPECT_EQ(store->OwnerRole("acme"), "app");
  EXPECT_EQ(store->OwnerRole("plain"), std::nullopt);
  EXPECT_EQ(store->OwnerRole("nobody"), std::nullopt);
  ASSERT_TRUE(store->CreatedUnixS("acme").has_value());
  EXPECT_GE(*store->CreatedUnixS("acme"), before);
  EXPECT_EQ(store->CreatedUnixS("nobody"), std::nullopt);

  // Dropping the owner role leaves the tenant without an owner.
  ASSERT_TRUE(store->DropRole("acme", "app").ok());
  EXPECT_EQ(store->OwnerRole("acme"), std::nullopt);
}

TEST_F(CredentialStoreTest, FileWithoutOwnerOrCreatedStillLoads) {
  {
    std::ofstream out(path_, std::ios::trunc);
    out << R"({"version": 1, "tenants": {"old": {"roles": {}}}, "tokens": []})";
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->HasTenant("old"));
  EXPECT_EQ(store->OwnerRole("old"), std::nullopt);
  EXPECT_EQ(store->CreatedUnixS("old"), 0);
  // A change rewrites it in the new form, which loads again.
  ASSERT_TRUE(store->SetRole("old", "app", PasswordVerifier()).ok());
  EXPECT_TRUE(OpenStore()->FindRole("old", "app").has_value());
}

TEST_F(CredentialStoreTest, FileIsPrivateAndHoldsNoSecret) {
  auto store = OpenStore();
  ASSERT_TRUE(store->AddTenant("acme").ok());
  ASSERT_TRUE(store->SetRole("acme", "app", PasswordVerifier()).ok());
  IssuedToken token = store->IssueToken(TokenScope::Tenant("acme"), "ci").value();

  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));

  std::string contents = FileContents();
  std::string secret = token.bearer.substr(21);  // after pgt_<16 hex>_
  ASSERT_EQ(secret.size(), 43u);
  EXPECT_EQ(contents.find(secret), std::string::npos);
  EXPECT_EQ(contents.find(token.bearer), std::string::npos);
  EXPECT_EQ(contents.find(kPassword), std::string::npos);
  EXPECT_NE(contents.find(token.info.id), std::string::npos);
  EXPECT_NE(contents.find("SCRAM-SHA-256$16:"), std::string::npos);
}

TEST_F(CredentialStoreTest, CorruptFileIsAnErrorNamingIt) {
  for (std::string text : {std::string("{not json"), std::string("[]"), std::string("{}"),
                           std::string(R"({"version": 2, "tenants": {}, "tokens": []})"),
                           std::string(R"({"version": 1, "tenants": {"a/b": {"roles": {}}},
                                           "tokens": []})"),
                           std::string(R"({"version": 1, "tenants": {"a": {"roles":
                                           {"app": "md5abc"}}}, "tokens": []})"),
                           std::string(R"({"version": 1, "tenants": {"a": {"roles": {},
                                           "owner": 7}}, "tokens": []})"),
                           std::string(R"({"version": 1, "tenants": {}, "tokens": [
                                           {"id": "0011223344556677", "scope": "tenant",
                                            "tenant": "gone", "read_only": false,
                                            "label": "", "created": 1,
                                            "secret_sha256": "00"}]})")}) {
    {
      std::ofstream out(path_, std::ios::trunc);
      out << text;
    }
    Result<std::unique_ptr<CredentialStore>> store = CredentialStore::Open(path_);
    ASSERT_FALSE(store.ok()) << text;
    EXPECT_EQ(store.status().code(), StatusCode::kCorruption) << text;
    EXPECT_NE(store.status().message().find(path_), std::string::npos) << store.status().ToString();
  }
}

TEST_F(CredentialStoreTest, FailedWriteLeavesFileAndStateUnchanged) {
  auto store = OpenStore();
  ASSERT_TRUE(store->AddTenant("acme").ok());
  IssuedToken token = store->IssueToken(TokenScope::Admin(), "").value();
  std::string before = FileContents();

  // The temp file's name taken by a directory: open(2) fails even for root.
  fs::create_directory(path_ + ".tmp");
  EXPECT_EQ(store->AddTenant("second").code(), StatusCode::kIoError);
  EXPECT_EQ(store->DropTenant("acme").code(), StatusCode::kIoError);
  EXPECT_EQ(store->RevokeToken(token.info.id).code(), StatusCode::kIoError);
  EXPECT_FALSE(store->IssueToken(TokenScope::Admin(), "").ok());
  EXPECT_EQ(store->Tenants(), std::vector<std::string>{"acme"});
  EXPECT_TRUE(store->Authenticate(token.bearer));
  EXPECT_EQ(store->ListTokens(std::nullopt).size(), 1u);
  EXPECT_EQ(FileContents(), before);
  fs::remove(path_ + ".tmp");
  ASSERT_TRUE(store->AddTenant("second").ok());
  EXPECT_EQ(store->Tenants(), (std::vector<std::string>{"acme", "second"}));
}

TEST_F(CredentialStoreTest, FailedWriteInReadOnlyDirectoryLeavesStateUnchanged) {
  if (geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
  auto store = OpenStore();
  ASSERT_TRUE(store->AddTenant("acme").ok());
  std::string before = FileContents();
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_EQ(store->AddTenant("second").code(), StatusCode::kIoError);
  EXPECT_EQ(store->SetRole("acme", "app", PasswordVerifier()).code(), StatusCode::kIoError);
  fs::permissions(dir_, fs::perms::owner_all);
  EXPECT_EQ(store->Tenants(), std::vector<std::string>{"acme"});
  EXPECT_TRUE(store->Roles("acme").empty());
  EXPECT_EQ(FileContents(), before);
}

TEST_F(CredentialStoreTest, ConcurrentChangesAndReadsAllLand) {
  auto store = OpenStore();
  ASSERT_TRUE(store->AddTenant("acme").ok());
  scram::Verifier verifier = PasswordVerifier();
  IssuedToken token = store->IssueToken(TokenScope::Admin(), "").value();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        EXPECT_TRUE(store->SetRole("acme", "r" + std::to_string(t * 10 + i), verifier).ok());
        EXPECT_TRUE(store->Authenticate(token.bearer));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(store->Roles("acme").size(), 20u);
  EXPECT_EQ(OpenStore()->Roles("acme").size(), 20u);
}

}  // namespace
}  // namespace pgthaw::server
