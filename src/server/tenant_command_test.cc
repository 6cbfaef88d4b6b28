// `pgthaw tenant` (tools/tenant_command.h) as an operator runs it: the real
// binary (PGTHAW_BINARY, set by CMake) over a temporary data directory.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/test_support.h"

namespace pgthaw::server {
namespace {

using nlohmann::json;

struct Ran {
  int code = -1;
  std::string out;  // stdout; stderr (audit lines, errors) is dropped
  json parsed() const { return json::parse(out, nullptr, false); }
};

// Runs a shell command line; its stdout and exit code.
Ran run_shell(const std::string& command) {
  Ran ran;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return ran;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) ran.out.append(buffer, n);
  int status = pclose(pipe);
  ran.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return ran;
}

// `pgthaw tenant --data-dir DIR ARGS`, with `input` on its stdin.
Ran pgthaw_tenant(const std::string& dir, const std::string& args, const std::string& input = "") {
  std::string command = std::string(PGTHAW_BINARY) + " tenant --data-dir " + dir + " " + args +
                        " 2>/dev/null </dev/null";
  if (!input.empty()) {
    command = "printf '%s\\n' '" + input + "' | " + std::string(PGTHAW_BINARY) +
              " tenant --data-dir " + dir + " " + args + " 2>/dev/null";
  }
  return run_shell(command);
}

// `pgthaw COMMAND --data-dir DIR ARGS` (dump, restore).
Ran pgthaw_command(const std::string& command, const std::string& dir, const std::string& args) {
  return run_shell(std::string(PGTHAW_BINARY) + " " + command + " --data-dir " + dir + " " + args +
                   " 2>/dev/null </dev/null");
}

// A dump without pg_dump 18's \restrict guard lines (a random key each run).
std::string without_restrict_keys(const std::string& dump) {
  std::string out;
  size_t at = 0;
  while (at < dump.size()) {
    size_t end = dump.find('\n', at);
    end = end == std::string::npos ? dump.size() : end + 1;
    std::string_view line(dump.data() + at, end - at);
    if (!line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict ")) out += line;
    at = end;
  }
  return out;
}

TEST(TenantCommand, DumpAndRestoreRoundTripThroughTheBinary) {
  engine::testing::TempDir tmp;
  const std::string dir = tmp.sub("data");
  const std::string script = tmp.sub("start.sql");
  {
    std::ofstream out(script);
    out << "create table notes (id int primary key, body text);\n"
           "COPY public.notes (id, body) FROM stdin;\n1\tfirst\n2\tsecond\\twith a tab\n\\.\n"
           "create function shout(t text) returns text language plpgsql as $$\n"
           "begin return upper(t) || '!'; end; $$;\n";
  }
  for (const char* tenant : {"src", "copy-plain", "copy-custom"}) {
    ASSERT_EQ(
        pgthaw_tenant(dir, std::string("create ") + tenant + " --role app --password pw-" + tenant)
            .code,
        0);
  }
  ASSERT_EQ(pgthaw_command("restore", dir, "src " + script).code, 0);
  Ran plain = pgthaw_command("dump", dir, "src");  // to stdout
  ASSERT_EQ(plain.code, 0);
  EXPECT_NE(plain.out.find("CREATE FUNCTION public.shout"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("2\tsecond\\twith a tab\n"), std::string::npos) << plain.out;
  std::ofstream(tmp.sub("src.sql")) << plain.out;
  ASSERT_EQ(pgthaw_command("dump", dir, "src --format custom -f " + tmp.sub("src.dump")).code, 0);
  ASSERT_EQ(pgthaw_command("restore", dir, "copy-plain " + tmp.sub("src.sql")).code, 0);
  ASSERT_EQ(pgthaw_command("restore", dir, "copy-custom " + tmp.sub("src.dump")).code, 0);
  for (const char* copy : {"copy-plain", "copy-custom"}) {
    Ran again = pgthaw_command("dump", dir, copy);
    ASSERT_EQ(again.code, 0);
    EXPECT_EQ(without_restrict_keys(again.out), without_restrict_keys(plain.out)) << copy;
  }
  // A fork of the restored tenant dumps the same.
  Ran forked = pgthaw_tenant(dir, "fork src src-fork");
  ASSERT_EQ(forked.code, 0) << forked.out;
  EXPECT_EQ(forked.parsed()["forked_from"], "src");
  Ran fork_dump = pgthaw_command("dump", dir, "src-fork");
  ASSERT_EQ(fork_dump.code, 0);
  EXPECT_EQ(without_restrict_keys(fork_dump.out), without_restrict_keys(plain.out));
  EXPECT_EQ(pgthaw_tenant(dir, "fork src src-fork").code, 1);
  EXPECT_EQ(pgthaw_command("dump", dir, "nobody").code, 1);
  EXPECT_EQ(pgthaw_command("dump", dir, "src --format tar").code, 2);
  EXPECT_EQ(pgthaw_command("restore", dir, "src " + tmp.sub("src.sql")).code, 1);  // exists
}

TEST(TenantCommand, CreateListRotateRevokeDelete) {
  engine::testing::TempDir tmp;
  const std::string dir = tmp.sub("data");

  Ran created = pgthaw_tenant(dir, "create acme --role app");
  ASSERT_EQ(created.code, 0) << created.out;
  json made = created.parsed();
  EXPECT_EQ(made["tenant"], "acme");
  EXPECT_EQ(made["role"], "app");
  ASSERT_TRUE(made["password"].is_string()) << created.out;
  EXPECT_EQ(made["password"].get<std::string>().size(), 43u);
  EXPECT_TRUE(std::filesystem::exists(dir + "/credentials.json"));
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/tenants/acme"));
  EXPECT_EQ(pgthaw_tenant(dir, "create acme").code, 1);

  Ran listed = pgthaw_tenant(dir, "list --json");
  ASSERT_EQ(listed.code, 0) << listed.out;
  json tenants = listed.parsed();
  ASSERT_TRUE(tenants.is_array()) << listed.out;
  ASSERT_EQ(tenants.size(), 1u) << listed.out;
  EXPECT_EQ(tenants[0]["tenant"], "acme");
  EXPECT_EQ(tenants[0]["owner"], "app");
  // Offline, a tenant is hibernated when the command ends.
  EXPECT_EQ(tenants[0]["state"], "hibernated");
  EXPECT_EQ(pgthaw_tenant(dir, "list").code, 0);

  Ran added = pgthaw_tenant(dir, "role add acme reader --password-stdin", "reader-password");
  ASSERT_EQ(added.code, 0) << added.out;
  EXPECT_FALSE(added.parsed().contains("password"));
  Ran rotated = pgthaw_tenant(dir, "role rotate acme reader");
  ASSERT_EQ(rotated.code, 0) << rotated.out;
  EXPECT_TRUE(rotated.parsed()["password"].is_string());
  Ran shown = pgthaw_tenant(dir, "show acme");
  ASSERT_EQ(shown.code, 0) << shown.out;
  EXPECT_EQ(shown.parsed()["roles"], json::array({"app", "reader"}));

  Ran issued = pgthaw_tenant(dir, "token issue --tenant acme --read-only --label ci");
  ASSERT_EQ(issued.code, 0) << issued.out;
  std::string id = issued.parsed()["id"];
  EXPECT_TRUE(issued.parsed()["token"].get<std::string>().starts_with("pgt_" + id));
  Ran tokens = pgthaw_tenant(dir, "token list");
  ASSERT_EQ(tokens.code, 0);
  EXPECT_NE(tokens.out.find(id), std::string::npos);
  EXPECT_EQ(tokens.out.find(issued.parsed()["token"].get<std::string>()), std::string::npos);
  EXPECT_EQ(pgthaw_tenant(dir, "token revoke " + id).code, 0);
  EXPECT_EQ(pgthaw_tenant(dir, "token revoke " + id).code, 1);

  EXPECT_EQ(pgthaw_tenant(dir, "hibernate acme").code, 0);
  EXPECT_EQ(pgthaw_tenant(dir, "delete acme").code, 0);
  EXPECT_FALSE(std::filesystem::exists(dir + "/tenants/acme"));
  EXPECT_EQ(pgthaw_tenant(dir, "show acme").code, 1);
  EXPECT_EQ(pgthaw_tenant(dir, "list --json").parsed(), json::array());
}

TEST(TenantCommand, UsageErrorsExitTwo) {
  engine::testing::TempDir tmp;
  const std::string dir = tmp.sub("data");
  EXPECT_EQ(pgthaw_tenant(dir, "token issue").code, 2);
  EXPECT_EQ(pgthaw_tenant(dir, "frobnicate").code, 2);
  EXPECT_EQ(pgthaw_tenant(dir, "create").code, 2);
  EXPECT_EQ(pgthaw_tenant(dir, "create x --password a --password-stdin").code, 2);
}

}  // namespace
}  // namespace pgthaw::server
