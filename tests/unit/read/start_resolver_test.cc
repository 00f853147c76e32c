// resolve_start: where a read begins for offset / timestamp / group /
// auto_offset_reset, over a real LocalObjectStore + ListingMetadataStore.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/start_resolver.h"
#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {

class StartResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    store_ = *local;
    metadata_ = std::make_shared<ListingMetadataStore>(store_);
    // orders/0 holds offsets [100, 150).
    format::SegmentWriter w(format::SegmentWriterOptions{});
    for (uint64_t o = 100; o < 150; ++o) {
      Record r;
      r.offset = o;
      r.timestamp = static_cast<int64_t>(1000 + o);
      r.value = fmt::format("v{}", o);
      ASSERT_TRUE(w.add(r).ok());
    }
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(store_->put(format::segment_key("", "orders", 0, 100), *bytes, {}).ok());
    reader_ = std::make_shared<LogReader>(metadata_, store_, LogReaderOptions{}, registry_);
  }

  void commit(const std::string& group, uint64_t offset, int32_t partition = 0) {
    ASSERT_TRUE(metadata_->commit_offsets(group, {{"orders", partition, offset, ""}}).ok());
  }

  ResolvedStart resolve(const StartRequest& req) {
    EXPECT_TRUE(check_start_request(req).ok());
    auto r = resolve_start(req, "orders", 0, *metadata_, *reader_);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() ? *r : ResolvedStart{};
  }

  sh::testing::ScratchDir scratch_;
  prometheus::Registry registry_;
  std::shared_ptr<LocalObjectStore> store_;
  std::shared_ptr<ListingMetadataStore> metadata_;
  std::shared_ptr<LogReader> reader_;
};

TEST_F(StartResolverTest, NothingGivenStartsAtTheEarliestOffset) {
  auto r = resolve({});
  EXPECT_EQ(r.start.kind, StartPosition::Kind::kEarliest);
  EXPECT_FALSE(r.committed.has_value());
}

TEST_F(StartResolverTest, AnExplicitPositionIsUsedAsGiven) {
  auto r = resolve({StartPosition::at(120), "", std::nullopt});
  EXPECT_EQ(r.start.kind, StartPosition::Kind::kOffset);
  EXPECT_EQ(r.start.offset, 120u);
  r = resolve({StartPosition::at_timestamp(1130), "", std::nullopt});
  EXPECT_EQ(r.start.kind, StartPosition::Kind::kTimestamp);
  EXPECT_EQ(r.start.timestamp, 1130);
}

TEST_F(StartResolverTest, AGroupStartsAtItsCommittedOffset) {
  commit("g", 130);
  auto r = resolve({std::nullopt, "g", std::nullopt});
  EXPECT_EQ(r.start.kind, StartPosition::Kind::kOffset);
  EXPECT_EQ(r.start.offset, 130u);
  ASSERT_TRUE(r.committed.has_value());
  EXPECT_EQ(*r.committed, 130u);
  // The committed offset wins over the reset policy.
  r = resolve({std::nullopt, "g", OffsetReset::kEarliest});
  EXPECT_EQ(r.start.offset, 130u);
  // A commit at the high watermark (everything consumed) is still a valid start.
  commit("g", 150);
  EXPECT_EQ(resolve({std::nullopt, "g", std::nullopt}).start.offset, 150u);
}

TEST_F(StartResolverTest, AGroupWithoutACommitFollowsTheResetPolicyLatestByDefault) {
  EXPECT_EQ(resolve({std::nullopt, "new", std::nullopt}).start.kind, StartPosition::Kind::kLatest);
  EXPECT_EQ(resolve({std::nullopt, "new", OffsetReset::kEarliest}).start.kind,
            StartPosition::Kind::kEarliest);
  // A group that committed only for another partition has no offset here either.
  commit("other", 5, 1);
  auto r = resolve({std::nullopt, "other", OffsetReset::kEarliest});
  EXPECT_EQ(r.start.kind, StartPosition::Kind::kEarliest);
  EXPECT_FALSE(r.committed.has_value());
}

TEST_F(StartResolverTest, ACommittedOffsetTheLogNoLongerHoldsFallsBackToTheResetPolicy) {
  commit("behind", 40);  // below the log start (retention)
  auto r = resolve({std::nullopt, "behind", OffsetReset::kEarliest});
  EXPECT_EQ(r.start.kind, StartPosition::Kind::kEarliest);
  ASSERT_TRUE(r.committed.has_value()) << "the commit is still reported for lag tracking";
  EXPECT_EQ(*r.committed, 40u);
  commit("ahead", 999);  // above the high watermark
  EXPECT_EQ(resolve({std::nullopt, "ahead", std::nullopt}).start.kind, StartPosition::Kind::kLatest);
}

TEST_F(StartResolverTest, ConflictingCombinationsAreRefused) {
  auto both = check_start_request({StartPosition::at(1), "g", std::nullopt});
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(both.error().message().find("at most one"), std::string::npos);
  auto reset_alone = check_start_request({std::nullopt, "", OffsetReset::kEarliest});
  ASSERT_FALSE(reset_alone.ok());
  EXPECT_NE(reset_alone.error().message().find("only with group"), std::string::npos);
}

}  // namespace
}  // namespace sh::read
