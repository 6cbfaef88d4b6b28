#include "objstore/file_object_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace pgthaw::objstore {
namespace {

class FileObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgthaw-objstore-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto opened = FileObjectStore::Open(dir_ + "/store");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened.value());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<FileObjectStore> store_;
};

TEST_F(FileObjectStoreTest, PutGetHeadOverwrite) {
  ASSERT_TRUE(store_->Put("tenants/acme/snapshot", "first").ok());
  auto got = store_->Get("tenants/acme/snapshot");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "first");
  auto head = store_->Head("tenants/acme/snapshot");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, 5u);

  ASSERT_TRUE(store_->Put("tenants/acme/snapshot", "second!").ok());
  EXPECT_EQ(store_->Get("tenants/acme/snapshot").value(), "second!");
  auto head2 = store_->Head("tenants/acme/snapshot");
  ASSERT_TRUE(head2.ok());
  EXPECT_EQ(head2->size, 7u);
  EXPECT_NE(head2->etag, head->etag);

  ASSERT_TRUE(store_->Put("empty", "").ok());
  EXPECT_EQ(store_->Get("empty").value(), "");
}

TEST_F(FileObjectStoreTest, MissingObjectsAreNotFound) {
  EXPECT_EQ(store_->Get("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Head("a/b/nope").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Delete("a/b/nope").ok());
}

TEST_F(FileObjectStoreTest, AKeyAndKeysBelowItCoexist) {
  ASSERT_TRUE(store_->Put("a", "file").ok());
  ASSERT_TRUE(store_->Put("a/b", "below").ok());
  ASSERT_TRUE(store_->Put("a.tmp", "looks like a temp").ok());
  EXPECT_EQ(store_->Get("a").value(), "file");
  EXPECT_EQ(store_->Get("a/b").value(), "below");
  EXPECT_EQ(store_->Get("a.tmp").value(), "looks like a temp");
}

TEST_F(FileObjectStoreTest, ListIsSortedAndFiltersByPrefix) {
  for (const char* key : {"t/b/2", "t/a/1", "t/a/10", "t/ab", "u/x", "t/a"}) {
    ASSERT_TRUE(store_->Put(key, key).ok());
  }
  auto all = store_->List("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, (std::vector<std::string>{"t/a", "t/a/1", "t/a/10", "t/ab", "t/b/2", "u/x"}));
  EXPECT_EQ(store_->List("t/a").value(),
            (std::vector<std::string>{"t/a", "t/a/1", "t/a/10", "t/ab"}));
  EXPECT_EQ(store_->List("t/a/").value(), (std::vector<std::string>{"t/a/1", "t/a/10"}));
  EXPECT_EQ(store_->List("t/a/1").value(), (std::vector<std::string>{"t/a/1", "t/a/10"}));
  EXPECT_TRUE(store_->List("zzz/")->empty());

  ASSERT_TRUE(store_->Delete("t/a/1").ok());
  ASSERT_TRUE(store_->Delete("t/a/1").ok());
  EXPECT_EQ(store_->List("t/a/").value(), (std::vector<std::string>{"t/a/10"}));
}

TEST_F(FileObjectStoreTest, PutIfAbsentWritesOnce) {
  ASSERT_TRUE(store_->PutIfAbsent("lease/owner", "host-1").ok());
  Status again = store_->PutIfAbsent("lease/owner", "host-2");
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.ToString();
  EXPECT_EQ(store_->Get("lease/owner").value(), "host-1");
  // Nothing is left behind by the loser: only the object is listed.
  EXPECT_EQ(store_->List("").value(), (std::vector<std::string>{"lease/owner"}));
  size_t entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_ + "/store/d_lease")) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST_F(FileObjectStoreTest, PutIfAbsentRaceHasExactlyOneWinner) {
  constexpr int kKeys = 200;
  std::vector<Status> results[2];
  auto race = [&](int who) {
    for (int i = 0; i < kKeys; ++i) {
      results[who].push_back(
          store_->PutIfAbsent("race/" + std::to_string(i), "writer-" + std::to_string(who)));
    }
  };
  std::thread a(race, 0);
  std::thread b(race, 1);
  a.join();
  b.join();
  for (int i = 0; i < kKeys; ++i) {
    const Status& first = results[0][i];
    const Status& second = results[1][i];
    ASSERT_NE(first.ok(), second.ok())
        << "key " << i << ": " << first.ToString() << " / " << second.ToString();
    const Status& loser = first.ok() ? second : first;
    EXPECT_EQ(loser.code(), StatusCode::kAlreadyExists) << loser.ToString();
    auto got = store_->Get("race/" + std::to_string(i));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, first.ok() ? "writer-0" : "writer-1");
  }
}

TEST_F(FileObjectStoreTest, LargeObjectRoundTrips) {
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 9));
  ASSERT_TRUE(store_->Put("big/object", big).ok());
  auto got = store_->Get("big/object");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == big);
  EXPECT_EQ(store_->Head("big/object")->size, big.size());
}

TEST_F(FileObjectStoreTest, BadKeysAreInvalidArgumentAndTouchNothing) {
  const std::string outside = dir_ + "/escaped";
  for (std::string key :
       {std::string(""), std::string("/abs"), std::string(".."), std::string("../escaped"),
        std::string("a/../../escaped"), std::string("a//b"), std::string("a/"), std::string("./a"),
        std::string("a\0b", 3), std::string(1025, 'k'), std::string(254, 's')}) {
    EXPECT_EQ(store_->Put(key, "x").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->PutIfAbsent(key, "x").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Get(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Head(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Delete(key).code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_EQ(store_->List("/x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->List("../").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(outside));
  EXPECT_TRUE(store_->List("")->empty());
}

TEST_F(FileObjectStoreTest, ObjectsSurviveReopening) {
  ASSERT_TRUE(store_->Put("k/v", "kept").ok());
  auto reopened = FileObjectStore::Open(dir_ + "/store/");
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Get("k/v").value(), "kept");
}

}  // namespace
}  // namespace pgthaw::objstore
