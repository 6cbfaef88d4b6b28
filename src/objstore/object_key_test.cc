#include "objstore/object_key.h"

#include <gtest/gtest.h>

namespace pgthaw::objstore {
namespace {

TEST(ObjectKeyTest, AcceptsOrdinaryKeys) {
  for (const char* key : {"a", "tenants/acme/snapshot-0001", "a.b/c..d/...", ".hidden", "x y/%z"}) {
    EXPECT_TRUE(validate_object_key(key).ok()) << key;
  }
  EXPECT_TRUE(validate_object_key(std::string(kMaxObjectKeyBytes, 'k')).ok());
}

TEST(ObjectKeyTest, RejectsKeysThatCouldEscapeOrAlias) {
  for (std::string key :
       {std::string(""), std::string("/a"), std::string("a/"), std::string("a//b"),
        std::string(".."), std::string("a/../b"), std::string("a/.."), std::string("."),
        std::string("a/./b"), std::string("a\0b", 3), std::string(kMaxObjectKeyBytes + 1, 'k')}) {
    Status st = validate_object_key(key);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << key;
    EXPECT_NE(st.message().find("object key"), std::string::npos) << st.message();
  }
}

TEST(ObjectKeyTest, PrefixesMayEndMidSegment) {
  for (const char* prefix : {"", "t", "t/", "t/a", "t/..x", "t/."}) {
    EXPECT_TRUE(validate_object_key_prefix(prefix).ok()) << prefix;
  }
  for (const char* prefix : {"/", "../", "a//", "a/./"}) {
    EXPECT_EQ(validate_object_key_prefix(prefix).code(), StatusCode::kInvalidArgument) << prefix;
  }
}

}  // namespace
}  // namespace pgthaw::objstore
