#include "objstore/sigv4.h"

#include <gtest/gtest.h>

namespace pgthaw::objstore {
namespace {

// The "GET Object" example of AWS's "Signature Calculations for the
// Authorization Header" (Signature Version 4) S3 documentation.
TEST(SigV4Test, MatchesAwsGetObjectExample) {
  SigningRequest request;
  request.method = "GET";
  request.canonical_uri = "/test.txt";
  request.payload_sha256 = sha256_hex("");
  request.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                     {"Range", "bytes=0-9"},
                     {"x-amz-content-sha256", request.payload_sha256},
                     {"x-amz-date", "20130524T000000Z"}};
  AwsCredentials credentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             ""};
  SigV4Signature signed_request =
      sign_v4(request, credentials, "us-east-1", "s3", "20130524T000000Z");

  EXPECT_EQ(request.payload_sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(signed_request.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(signed_request.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(signed_request.signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(signed_request.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, ASecretChangesTheSignature) {
  SigningRequest request;
  request.method = "GET";
  request.canonical_uri = "/test.txt";
  request.payload_sha256 = sha256_hex("");
  request.headers = {{"host", "h"}, {"x-amz-date", "20130524T000000Z"}};
  AwsCredentials a{"AKID", "secret-a", ""};
  AwsCredentials b{"AKID", "secret-b", ""};
  EXPECT_NE(sign_v4(request, a, "us-east-1", "s3", "20130524T000000Z").signature,
            sign_v4(request, b, "us-east-1", "s3", "20130524T000000Z").signature);
}

TEST(SigV4Test, UriEncodeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(uri_encode("a-b_c.d~e/f g", false), "a-b_c.d~e/f%20g");
  EXPECT_EQ(uri_encode("a/b", true), "a%2Fb");
  EXPECT_EQ(uri_encode("=&+*\xc3\xa9", true), "%3D%26%2B%2A%C3%A9");
}

TEST(SigV4Test, CanonicalQueryIsSortedAndEncoded) {
  EXPECT_EQ(canonical_query_string({{"prefix", "a b/"}, {"list-type", "2"}, {"max-keys", "7"}}),
            "list-type=2&max-keys=7&prefix=a%20b%2F");
  EXPECT_EQ(canonical_query_string({}), "");
}

TEST(SigV4Test, HeaderValuesAreTrimmedAndNamesLowercased) {
  SigningRequest request;
  request.method = "PUT";
  request.canonical_uri = "/b/k";
  request.payload_sha256 = sha256_hex("x");
  request.headers = {{"X-Amz-Date", "20130524T000000Z"}, {"Host", "  h   :80  "}};
  SigV4Signature s =
      sign_v4(request, {"AKID", "secret", ""}, "us-east-1", "s3", "20130524T000000Z");
  EXPECT_EQ(s.signed_headers, "host;x-amz-date");
  EXPECT_NE(s.canonical_request.find("host:h :80\nx-amz-date:20130524T000000Z\n"),
            std::string::npos);
}

}  // namespace
}  // namespace pgthaw::objstore
