#include "objstore/open_object_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "objstore/s3_options.h"

namespace pgthaw::objstore {
namespace {

TEST(OpenObjectStoreTest, FileUrlOpensADirectory) {
  char tmpl[] = "/tmp/pgthaw-open-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  auto store = open_object_store("file:" + dir + "/objects");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Put("a/b", "c").ok());
  EXPECT_TRUE(std::filesystem::exists(dir + "/objects/d_a/o_b"));
  std::filesystem::remove_all(dir);
}

TEST(OpenObjectStoreTest, OtherUrlsAreInvalidArguments) {
  for (const char* url : {"", "file:", "s3://", "s3:///prefix", "ftp://host/x", "/plain/path",
                          "S3://bucket", "s3://Bad_Bucket/x", "s3://bucket/../x"}) {
    ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
    ::setenv("AWS_ACCESS_KEY_ID", "id", 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    auto store = open_object_store(url);
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << url;
  }
}

TEST(OpenObjectStoreTest, EndpointUrls) {
  EXPECT_EQ(endpoint_from_url("http://127.0.0.1:9000").value(), "127.0.0.1:9000");
  EXPECT_EQ(endpoint_from_url("http://minio.local/").value(), "minio.local");
  EXPECT_EQ(endpoint_from_url("https://s3.amazonaws.com").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(endpoint_from_url("http://host:99999").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(endpoint_from_url("http://host/path").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(endpoint_from_url("http://user@host").status().code(), StatusCode::kInvalidArgument);
}

TEST(OpenObjectStoreTest, CredentialsComeFromTheEnvironment) {
  ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
  ::setenv("AWS_ACCESS_KEY_ID", "id", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
  ::setenv("AWS_SESSION_TOKEN", "token", 1);
  ::unsetenv("AWS_REGION");
  ::setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
  auto options = S3Options::FromEnvironment("bucket", "pre/fix");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->endpoint, "127.0.0.1:9000");
  EXPECT_EQ(options->region, "eu-west-3");
  EXPECT_EQ(options->credentials.access_key_id, "id");
  EXPECT_EQ(options->credentials.secret_access_key, "secret");
  EXPECT_EQ(options->credentials.session_token, "token");
  ::setenv("AWS_REGION", "ap-south-1", 1);
  EXPECT_EQ(S3Options::FromEnvironment("bucket", "")->region, "ap-south-1");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(S3Options::FromEnvironment("bucket", "").status().code(), StatusCode::kInvalidArgument);
  ::unsetenv("AWS_SESSION_TOKEN");
  ::unsetenv("AWS_REGION");
  ::unsetenv("AWS_DEFAULT_REGION");
}

}  // namespace
}  // namespace pgthaw::objstore
