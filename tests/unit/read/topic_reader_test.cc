// TopicReader: a poll over all partitions of a topic — per-partition starts
// (group, reset policy, explicit offsets), fair shares of the record budget,
// round 2 for partitions with more, partition selection, and a failing
// partition reported while the others are served. Over a real LocalObjectStore
// + ListingMetadataStore.
#include "core/read/topic_reader.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/storage/local_object_store.h"
#include "tests/support/fault_injecting_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {

class TopicReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    store_ = *local;
    metadata_ = std::make_shared<ListingMetadataStore>(store_);
    // orders has 3 partitions: 0 holds [0, 100), 1 holds [0, 5), 2 holds [0, 40).
    write(0, 100);
    write(1, 5);
    write(2, 40);
    reader_ = std::make_shared<LogReader>(metadata_, store_, LogReaderOptions{}, registry_);
    topics_ = std::make_unique<TopicReader>(*metadata_, *reader_);
  }

  void write(int32_t partition, uint64_t count) {
    format::SegmentWriter w(format::SegmentWriterOptions{});
    for (uint64_t o = 0; o < count; ++o) {
      Record r;
      r.offset = o;
      r.timestamp = static_cast<int64_t>(1000 + o);
      r.value = fmt::format("p{}-v{}", partition, o);
      ASSERT_TRUE(w.add(r).ok());
    }
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(store_->put(format::segment_key("", "orders", partition, 0), *bytes, {}).ok());
  }

  // Every record's value names its partition and offset: checks each one.
  static void expect_records_right(const TopicReadResult& r) {
    for (const PartitionRead& pr : r.partitions) {
      ASSERT_FALSE(pr.error) << pr.error->to_string();
      uint64_t expect = pr.result.start_offset;
      for (const RecordRef& ref : pr.result.records) {
        std::vector<HeaderView> scratch;
        const RecordView v = ref.block->record(ref.index, &scratch);
        EXPECT_EQ(v.offset, expect);
        ASSERT_TRUE(v.value.has_value());
        EXPECT_EQ(std::string(*v.value), fmt::format("p{}-v{}", pr.partition, expect));
        ++expect;
      }
      EXPECT_EQ(pr.result.next_offset, expect) << "partition " << pr.partition;
    }
  }

  static size_t count_of(const TopicReadResult& r, int32_t partition) {
    for (const auto& pr : r.partitions) {
      if (pr.partition == partition) return pr.result.records.size();
    }
    return SIZE_MAX;
  }

  sh::testing::ScratchDir scratch_;
  prometheus::Registry registry_;
  std::shared_ptr<LocalObjectStore> store_;
  std::shared_ptr<ListingMetadataStore> metadata_;
  std::shared_ptr<LogReader> reader_;
  std::unique_ptr<TopicReader> topics_;
};

TEST_F(TopicReaderTest, TheRecordBudgetIsSharedFairlyAndWhatQuietPartitionsLeaveGoesToTheOthers) {
  TopicReadRequest req;
  req.max_records = 30;
  auto r = topics_->read("orders", req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->partitions.size(), 3u);
  expect_records_right(*r);
  EXPECT_EQ(r->records, 30u) << "the total budget is used";
  EXPECT_EQ(count_of(*r, 1), 5u) << "the partition with 5 records gives them all";
  // Round 1: 10 each; partition 1 leaves 5, shared by 0 and 2 in round 2.
  EXPECT_GE(count_of(*r, 0), 12u);
  EXPECT_GE(count_of(*r, 2), 12u);
  EXPECT_LE(count_of(*r, 0), 13u);
  EXPECT_LE(count_of(*r, 2), 13u);
}

TEST_F(TopicReaderTest, EachPartitionStartsAtItsGroupsCommitOrTheResetPolicy) {
  ASSERT_TRUE(metadata_->commit_offsets("g", {{"orders", 0, 90, ""}, {"orders", 2, 10, ""}}).ok());
  TopicReadRequest req;
  req.max_records = 300;
  req.start.group = "g";
  req.start.reset = OffsetReset::kEarliest;
  auto r = topics_->read("orders", req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  expect_records_right(*r);
  EXPECT_EQ(r->partitions[0].result.start_offset, 90u);
  ASSERT_TRUE(r->partitions[0].committed.has_value());
  EXPECT_EQ(*r->partitions[0].committed, 90u);
  EXPECT_EQ(r->partitions[1].result.start_offset, 0u) << "no commit: auto_offset_reset=earliest";
  EXPECT_FALSE(r->partitions[1].committed.has_value());
  EXPECT_EQ(r->partitions[2].result.start_offset, 10u);
  EXPECT_EQ(r->records, 10u + 5u + 30u) << "everything after the commits";

  // Latest (Kafka's default) for a partition without a commit: nothing from it.
  req.start.reset.reset();
  r = topics_->read("orders", req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(count_of(*r, 1), 0u);
  EXPECT_EQ(r->partitions[1].result.next_offset, 5u);
}

TEST_F(TopicReaderTest, ExplicitOffsetsPerPartitionResumeAPollAndSelectionLimitsIt) {
  TopicReadRequest req;
  req.partitions = {2, 0};
  req.offsets = {{0, 98}, {2, 39}};
  req.max_records = 100;
  auto r = topics_->read("orders", req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->partitions.size(), 2u);
  EXPECT_EQ(r->partitions[0].partition, 0);
  EXPECT_EQ(r->partitions[1].partition, 2);
  expect_records_right(*r);
  EXPECT_EQ(r->records, 3u);

  req.partitions = {7};
  auto missing = topics_->read("orders", req);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::kPartitionNotFound);
  auto unknown = topics_->read("nope", TopicReadRequest{});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), Errc::kTopicNotFound);
}

TEST_F(TopicReaderTest, AFailingPartitionIsReportedAndTheOthersAreServed) {
  auto faulty = std::make_shared<sh::testing::FaultInjectingObjectStore>(store_);
  auto metadata = std::make_shared<ListingMetadataStore>(faulty);
  auto reader = std::make_shared<LogReader>(metadata, faulty, LogReaderOptions{}, registry_);
  TopicReader topics(*metadata, *reader);
  faulty->add(sh::testing::FaultRule::error("", Errc::kUnavailable, "store down").on_key("orders/1/"));
  TopicReadRequest req;
  req.max_records = 1000;
  auto r = topics.read("orders", req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_TRUE(r->partitions[1].error.has_value());
  EXPECT_EQ(r->partitions[1].error->code(), Errc::kUnavailable);
  EXPECT_EQ(count_of(*r, 0), 100u);
  EXPECT_EQ(count_of(*r, 2), 40u);
}

TEST_F(TopicReaderTest, FewerRecordsThanPartitionsRotateAmongThemPollAfterPoll) {
  TopicReadRequest req;
  req.max_records = 2;
  std::map<int32_t, size_t> got;
  for (int poll = 0; poll < 3; ++poll) {
    auto r = topics_->read("orders", req);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    expect_records_right(*r);
    EXPECT_EQ(r->records, 2u) << "never more than asked";
    for (const auto& pr : r->partitions) {
      got[pr.partition] += pr.result.records.size();
      req.offsets[pr.partition] = pr.result.next_offset;  // resume where each stopped
    }
  }
  EXPECT_EQ(got[0], 2u);
  EXPECT_EQ(got[1], 2u);
  EXPECT_EQ(got[2], 2u) << "every partition gets its turn";
}

}  // namespace
}  // namespace sh::read
