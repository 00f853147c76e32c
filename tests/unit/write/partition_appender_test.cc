// PartitionAppender against real components: a LocalObjectStore in a temp
// directory and the ListingMetadataStore over it.
#include "core/write/partition_appender.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/format/names.h"
#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/storage/forwarding_object_store.h"
#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::write {
namespace {

using TempDir = testing::ScratchDir;

constexpr int64_t kT0 = 1'700'000'000'000;

Record make_record(uint64_t offset, size_t value_bytes = 16) {
  Record r;
  r.offset = offset;
  r.timestamp = kT0 + static_cast<int64_t>(offset);
  r.key = fmt::format("k{}", offset);
  std::string value = "v" + std::to_string(offset) + ":";
  value.resize(std::max(value.size(), value_bytes), 'x');
  r.value = value;
  r.headers.push_back({"h", std::to_string(offset)});
  return r;
}

// Appends `n` records at the appender's next offset; returns them.
std::vector<Record> append_n(PartitionAppender& a, int n, size_t value_bytes = 16) {
  std::vector<Record> out;
  for (int i = 0; i < n; ++i) {
    Record r = make_record(a.next_offset(), value_bytes);
    Status st = a.append(r);
    EXPECT_TRUE(st.ok()) << "append at " << r.offset << ": " << st.error().to_string();
    out.push_back(std::move(r));
  }
  return out;
}

class PartitionAppenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = LocalObjectStore::open(dir_.path().string(), false);
    ASSERT_TRUE(opened.ok()) << opened.error().to_string();
    local_ = *opened;
    store_ = local_;
    metadata_ = std::make_shared<ListingMetadataStore>(store_);
  }

  AppendOptions options() const {
    AppendOptions o;
    o.clock = clock_;
    return o;
  }

  PartitionAppender open(AppendOptions o, const std::string& topic = "orders",
                         int32_t partition = 0) {
    auto a = PartitionAppender::open(store_, metadata_, topic, partition, std::move(o));
    EXPECT_TRUE(a.ok()) << a.error().to_string();
    return std::move(a).value();
  }

  // Reads every segment object of `written` with the full verifier, checks
  // that it agrees with its SegmentInfo and returns all records in order.
  std::vector<Record> read_back(const std::vector<SegmentInfo>& written) {
    std::vector<Record> out;
    for (const SegmentInfo& si : written) {
      auto got = local_->get(si.key);
      EXPECT_TRUE(got.ok()) << si.key << ": " << got.error().to_string();
      if (!got.ok()) continue;
      auto contents = format::read_segment(got->data, si.key);
      EXPECT_TRUE(contents.ok()) << si.key << " does not verify: " << contents.error().to_string();
      if (!contents.ok()) continue;
      EXPECT_EQ(contents->header.base_offset, si.base_offset) << si.key;
      EXPECT_EQ(contents->meta.footer.last_offset, si.last_offset) << si.key;
      EXPECT_EQ(contents->records.size(), si.record_count) << si.key;
      EXPECT_EQ(got->data.size(), si.size_bytes) << si.key;
      EXPECT_EQ(contents->header.created_at_ms, clock_->now_unix_ms()) << si.key;
      for (Record& r : contents->records) out.push_back(std::move(r));
    }
    return out;
  }

  uint64_t high_watermark(const std::string& topic = "orders", int32_t partition = 0) {
    // A fresh listing store: what a new reader of the bucket sees.
    ListingMetadataStore fresh(store_);
    auto p = fresh.get_partition(topic, partition);
    EXPECT_TRUE(p.ok()) << p.error().to_string();
    return p.ok() ? p->high_watermark : ~uint64_t{0};
  }

  TempDir dir_{"sh-write-test"};
  std::shared_ptr<LocalObjectStore> local_;
  std::shared_ptr<ObjectStore> store_;
  std::shared_ptr<ListingMetadataStore> metadata_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(kT0);
};

TEST_F(PartitionAppenderTest, EmptyPartitionStartsAtOffsetZero) {
  PartitionAppender a = open(options());
  EXPECT_EQ(a.next_offset(), 0u) << "a partition with no segment starts at offset 0";

  std::vector<Record> want = append_n(a, 5);
  EXPECT_TRUE(a.written().empty()) << "no limit reached: nothing is written before flush()";
  EXPECT_EQ(a.pending_records(), 5u);
  ASSERT_TRUE(a.flush().ok());

  ASSERT_EQ(a.written().size(), 1u);
  const SegmentInfo& si = a.written()[0];
  EXPECT_EQ(si.key, "orders/0/seg_00000000000000000000.bin");
  EXPECT_EQ(si.base_offset, 0u);
  EXPECT_EQ(si.last_offset, 4u);
  EXPECT_EQ(si.record_count, 5u);
  EXPECT_EQ(si.max_timestamp, kT0 + 4);
  EXPECT_EQ(read_back(a.written()), want);
  EXPECT_EQ(high_watermark(), 5u);

  const AppendSummary s = a.summary();
  EXPECT_EQ(s.segments, 1u);
  EXPECT_EQ(s.records, 5u);
  EXPECT_EQ(s.first_offset, 0u);
  EXPECT_EQ(s.last_offset, 4u);
  EXPECT_EQ(s.next_offset, 5u);
  EXPECT_TRUE(a.flush().ok()) << "flushing with nothing open is a no-op";
  EXPECT_EQ(a.written().size(), 1u);
}

TEST_F(PartitionAppenderTest, SecondAppendContinuesAtHighWatermark) {
  std::vector<Record> want;
  {
    PartitionAppender first = open(options());
    want = append_n(first, 7);
    ASSERT_TRUE(first.flush().ok());
  }
  PartitionAppender second = open(options());
  EXPECT_EQ(second.next_offset(), 7u) << "the second writer continues at the high watermark";
  for (Record& r : append_n(second, 3)) want.push_back(std::move(r));
  ASSERT_TRUE(second.flush().ok());

  ASSERT_EQ(second.written().size(), 1u);
  EXPECT_EQ(second.written()[0].key, "orders/0/seg_00000000000000000007.bin");
  EXPECT_EQ(second.written()[0].base_offset, 7u);
  EXPECT_EQ(high_watermark(), 10u);

  auto all = metadata_->list_segments("orders", 0, std::nullopt);
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  EXPECT_EQ(read_back(*all), want) << "both appends read back in order, offsets 0..9";

  // Another partition of the same topic is independent.
  PartitionAppender other = open(options(), "orders", 1);
  EXPECT_EQ(other.next_offset(), 0u);
}

TEST_F(PartitionAppenderTest, CutsSegmentsAtRecordLimitWithContiguousOffsets) {
  AppendOptions o = options();
  o.segment_records = 4;
  o.block_bytes = 64;  // several blocks per segment
  PartitionAppender a = open(o);
  std::vector<Record> want = append_n(a, 10);
  EXPECT_EQ(a.written().size(), 2u) << "full segments are written as soon as they fill";
  EXPECT_EQ(a.pending_records(), 2u);
  ASSERT_TRUE(a.flush().ok());

  const auto& w = a.written();
  ASSERT_EQ(w.size(), 3u);
  const uint64_t counts[] = {4, 4, 2};
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(w[i].record_count, counts[i]) << "segment " << i;
    EXPECT_EQ(w[i].base_offset, i == 0 ? 0 : w[i - 1].last_offset + 1)
        << "segment " << i << " does not start right after the one before it";
    EXPECT_EQ(w[i].key, format::segment_key("", "orders", 0, w[i].base_offset));
  }
  EXPECT_EQ(w.back().last_offset, 9u);
  EXPECT_EQ(read_back(w), want);
  EXPECT_EQ(high_watermark(), 10u);
  EXPECT_EQ(a.summary().records, 10u);
}

TEST_F(PartitionAppenderTest, CutsSegmentsAtByteLimit) {
  AppendOptions o = options();
  o.segment_bytes = 4096;
  o.block_bytes = 1024;
  o.compression = format::Compression::kNone;
  PartitionAppender a = open(o);
  std::vector<Record> want = append_n(a, 60, 300);  // about 18 KiB of records
  ASSERT_TRUE(a.flush().ok());

  const auto& w = a.written();
  ASSERT_GE(w.size(), 4u) << "18 KiB in segments of 4 KiB";
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(w[i].base_offset, i == 0 ? 0 : w[i - 1].last_offset + 1) << "segment " << i;
    // Cut at the record that reaches the limit: one record (~330 bytes) and the
    // index and footer past it at most.
    EXPECT_LT(w[i].size_bytes, o.segment_bytes + 1024) << "segment " << i << " was cut late";
    if (i + 1 < w.size()) {
      EXPECT_GE(w[i].size_bytes, o.segment_bytes - 512) << "segment " << i << " was cut early";
    }
  }
  EXPECT_EQ(read_back(w), want);
  EXPECT_EQ(high_watermark(), 60u);
}

TEST_F(PartitionAppenderTest, ExplicitOffsetsMayLeaveGapsButNeverGoBack) {
  AppendOptions o = options();
  o.segment_records = 2;
  PartitionAppender a = open(o);
  ASSERT_TRUE(a.append(make_record(0)).ok());
  ASSERT_TRUE(a.append(make_record(5)).ok());  // fills the first segment: 0, 5
  EXPECT_EQ(a.next_offset(), 6u);

  Status below = a.append(make_record(5));
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(below.error().message(),
            "offset 5 is below the next free offset 6 (offsets must increase and continue the "
            "partition)");
  EXPECT_FALSE(a.failed()) << "a rejected record leaves the appender usable";
  EXPECT_EQ(a.next_offset(), 6u);

  ASSERT_TRUE(a.append(make_record(6)).ok());
  ASSERT_TRUE(a.flush().ok());
  ASSERT_EQ(a.written().size(), 2u);
  EXPECT_EQ(a.written()[0].last_offset, 5u);
  EXPECT_EQ(a.written()[1].base_offset, 6u);
  EXPECT_EQ(high_watermark(), 7u);
}

TEST_F(PartitionAppenderTest, AcceptsRecordViews) {
  PartitionAppender a = open(options());
  const HeaderView headers[] = {{"trace", std::string_view("abc")}, {"null", std::nullopt}};
  RecordView v;
  v.offset = 0;
  v.timestamp = kT0;
  v.key = std::string_view("key");
  v.value = std::nullopt;  // a tombstone
  v.headers = headers;
  ASSERT_TRUE(a.append(v).ok());
  ASSERT_TRUE(a.flush().ok());
  std::vector<Record> got = read_back(a.written());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], v.to_record());
}

TEST_F(PartitionAppenderTest, OpenRejectsWhatNoPartitionCanHave) {
  auto bad_topic = PartitionAppender::open(store_, metadata_, "no/slash", 0, options());
  ASSERT_FALSE(bad_topic.ok());
  EXPECT_EQ(bad_topic.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(bad_topic.error().message(), format::invalid_name_message("topic name", "no/slash"));

  auto bad_partition = PartitionAppender::open(store_, metadata_, "orders", -1, options());
  ASSERT_FALSE(bad_partition.ok());
  EXPECT_EQ(bad_partition.error().code(), Errc::kInvalidArgument);

  AppendOptions o = options();
  o.key_prefix = "no-slash";
  auto bad_prefix = PartitionAppender::open(store_, metadata_, "orders", 0, o);
  ASSERT_FALSE(bad_prefix.ok());
  EXPECT_EQ(bad_prefix.error().code(), Errc::kInvalidArgument);
}

TEST_F(PartitionAppenderTest, KeyPrefixAndBucketReachTheSegments) {
  ListingOptions lo;
  lo.prefix = "tenant/";
  metadata_ = std::make_shared<ListingMetadataStore>(store_, lo);
  AppendOptions o = options();
  o.key_prefix = "tenant/";
  o.bucket = "b";
  PartitionAppender a = open(o);
  append_n(a, 2);
  ASSERT_TRUE(a.flush().ok());
  ASSERT_EQ(a.written().size(), 1u);
  EXPECT_EQ(a.written()[0].key, "tenant/orders/0/seg_00000000000000000000.bin");
  EXPECT_EQ(a.written()[0].bucket, "b");
  auto p = metadata_->get_partition("orders", 0);
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_EQ(p->high_watermark, 2u);
}

// Another writer's segment lands at `race_key` at the last moment: it is put
// into the real store just before the appender's own conditional put of that
// key reaches it (inside what was the head-then-put gap). Counts the plain puts
// the appender makes to that key (it must make none: it puts only if absent).
class RacingStore final : public ForwardingObjectStore {
 public:
  RacingStore(std::shared_ptr<ObjectStore> inner, std::string race_key, std::string race_bytes)
      : ForwardingObjectStore(std::move(inner)),
        race_key_(std::move(race_key)),
        race_bytes_(std::move(race_bytes)) {}

  Status put_if_absent(std::string_view key, std::string_view data, Deadline deadline) override {
    if (key == race_key_ && !raced_) {
      raced_ = true;
      Status st = inner().put(race_key_, race_bytes_);
      if (!st.ok()) return std::move(st).error();
    }
    return ForwardingObjectStore::put_if_absent(key, data, deadline);
  }
  Status put(std::string_view key, std::string_view data, Deadline deadline) override {
    if (key == race_key_) appender_puts_.fetch_add(1);
    return ForwardingObjectStore::put(key, data, deadline);
  }

  bool raced() const { return raced_; }
  int appender_puts() const { return appender_puts_.load(); }

 private:
  std::string race_key_;
  std::string race_bytes_;
  bool raced_ = false;
  std::atomic<int> appender_puts_{0};
};

TEST_F(PartitionAppenderTest, ObjectAppearingBeforeThePutIsNeitherOverwrittenNorRegistered) {
  // The first segment (offsets 0..2) is written normally.
  AppendOptions o = options();
  o.segment_records = 3;
  {
    PartitionAppender a = open(o);
    append_n(a, 3);
    ASSERT_EQ(a.written().size(), 1u);
  }

  // The other writer's segment, also continuing at offset 3.
  format::SegmentWriter other;
  Record theirs = make_record(3);
  theirs.value = "the other writer's record";
  ASSERT_TRUE(other.add(theirs).ok());
  auto other_bytes = other.finish();
  ASSERT_TRUE(other_bytes.ok());
  const std::string key = "orders/0/seg_00000000000000000003.bin";

  auto racing = std::make_shared<RacingStore>(store_, key, *other_bytes);
  store_ = racing;
  metadata_ = std::make_shared<ListingMetadataStore>(store_);
  PartitionAppender a = open(o);
  ASSERT_EQ(a.next_offset(), 3u) << "the race starts after the high watermark was read";
  ASSERT_TRUE(a.append(make_record(3)).ok());
  ASSERT_TRUE(a.append(make_record(4)).ok());
  Status st = a.append(make_record(5));  // fills the segment: written now

  ASSERT_TRUE(racing->raced()) << "the test store did not inject the race";
  ASSERT_FALSE(st.ok()) << "a segment was written over another writer's object";
  EXPECT_EQ(st.error().code(), Errc::kAlreadyExists);
  EXPECT_EQ(st.error().message(), "segment object " + key + " already exists");
  EXPECT_EQ(racing->appender_puts(), 0) << "the appender put an object over the other writer's";
  EXPECT_TRUE(a.failed());
  EXPECT_TRUE(a.written().empty()) << "nothing is reported written";

  auto now = local_->get(key);
  ASSERT_TRUE(now.ok()) << now.error().to_string();
  EXPECT_EQ(now->data, *other_bytes) << "the other writer's object was changed";
  EXPECT_EQ(high_watermark(), 4u) << "the partition holds the other writer's segment, not ours";

  Status after = a.append(make_record(6));
  ASSERT_FALSE(after.ok()) << "a failed appender accepts nothing more";
  EXPECT_EQ(after.error().code(), Errc::kInternal);
  EXPECT_EQ(a.flush().error().code(), Errc::kInternal);
}

}  // namespace
}  // namespace sh::write
