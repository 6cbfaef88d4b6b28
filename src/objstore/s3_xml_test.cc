#include "objstore/s3_xml.h"

#include <gtest/gtest.h>

namespace pgthaw::objstore {
namespace {

TEST(S3XmlTest, UnescapesEntitiesAndCharacterReferences) {
  EXPECT_EQ(xml_unescape("a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;").value(),
            "a & b <c> \"d\" 'e'");
  EXPECT_EQ(xml_unescape("&#65;&#x42;&#xe9;&#x1F600;").value(), "AB\xc3\xa9\xf0\x9f\x98\x80");
  for (const char* bad : {"&", "&amp", "&nope;", "&#;", "&#x;", "&#0;", "&#xD800;", "&#x110000;",
                          "&#12a;", "&#99999999999;"}) {
    EXPECT_EQ(xml_unescape(bad).status().code(), StatusCode::kCorruption) << bad;
  }
}

TEST(S3XmlTest, FindsElementTextsInOrder) {
  const std::string xml =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><IsTruncated>true</IsTruncated>"
      "<Contents><Key>a&amp;b</Key><Size>1</Size></Contents>"
      "<Contents><Key>c</Key></Contents><NextContinuationToken>t==</NextContinuationToken>"
      "</ListBucketResult>";
  EXPECT_EQ(xml_element_texts(xml, "Key").value(), (std::vector<std::string>{"a&b", "c"}));
  EXPECT_EQ(xml_first_element_text(xml, "IsTruncated"), "true");
  EXPECT_EQ(xml_first_element_text(xml, "NextContinuationToken"), "t==");
  EXPECT_EQ(xml_first_element_text(xml, "Missing"), std::nullopt);
  EXPECT_TRUE(xml_element_texts(xml, "Missing")->empty());
}

TEST(S3XmlTest, MalformedInputIsAnErrorNotAnOverread) {
  EXPECT_EQ(xml_element_texts("<Key>a</Key><Key>unclosed", "Key").status().code(),
            StatusCode::kCorruption);
  EXPECT_EQ(xml_element_texts("<Key>&bogus;</Key>", "Key").status().code(),
            StatusCode::kCorruption);
  EXPECT_EQ(xml_first_element_text("<Code>NoSuchKey", "Code"), std::nullopt);
  EXPECT_EQ(xml_first_element_text("<Code", "Code"), std::nullopt);
}

}  // namespace
}  // namespace pgthaw::objstore
