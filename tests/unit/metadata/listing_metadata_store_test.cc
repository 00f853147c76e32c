#include "core/metadata/listing_metadata_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/format/segment.h"
#include "core/storage/forwarding_object_store.h"
#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh {
namespace {

namespace fs = std::filesystem;

using TempDir = testing::ScratchDir;

// Forwards to a real store and counts what the metadata store asks of it.
class CountingStore final : public ForwardingObjectStore {
 public:
  using ForwardingObjectStore::ForwardingObjectStore;

  Result<RangeRead> get_range(std::string_view key, uint64_t offset, uint64_t length,
                              const ReadOptions& opts) override {
    ranges_.fetch_add(1);
    return ForwardingObjectStore::get_range(key, offset, length, opts);
  }
  Result<RangeRead> get_suffix(std::string_view key, uint64_t length,
                               const ReadOptions& opts) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++suffix_reads_[std::string(key)];
    }
    return ForwardingObjectStore::get_suffix(key, length, opts);
  }
  Result<ListPage> list(const ListOptions& opts) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      lists_.push_back(opts);
    }
    return ForwardingObjectStore::list(opts);
  }

  int suffix_reads(const std::string& key) {
    std::lock_guard<std::mutex> l(mu_);
    return suffix_reads_[key];
  }
  int total_suffix_reads() {
    std::lock_guard<std::mutex> l(mu_);
    int n = 0;
    for (auto& [k, v] : suffix_reads_) n += v;
    return n;
  }
  std::vector<ListOptions> lists() {
    std::lock_guard<std::mutex> l(mu_);
    return lists_;
  }
  void reset() {
    std::lock_guard<std::mutex> l(mu_);
    suffix_reads_.clear();
    lists_.clear();
  }
  uint64_t range_reads() const { return ranges_.load(); }

 private:
  std::mutex mu_;
  std::map<std::string, int> suffix_reads_;
  std::vector<ListOptions> lists_;
  std::atomic<uint64_t> ranges_{0};
};

struct Built {
  std::string bytes;
  uint64_t base = 0, last = 0, count = 0;
  int64_t max_ts = 0;
};

// A segment holding `offsets`, record i with timestamp ts0 + (i % 3 == 1 ? -5 : i) (some go back).
Built build_segment(const std::vector<uint64_t>& offsets, int64_t ts0 = 1'700'000'000'000,
                    uint32_t block_bytes = 64) {
  format::SegmentWriter w({.block_bytes = block_bytes,
                           .compression = format::Compression::kLz4,
                           .created_at_ms = ts0});
  Built b;
  b.max_ts = INT64_MIN;
  for (size_t i = 0; i < offsets.size(); ++i) {
    Record r;
    r.offset = offsets[i];
    r.timestamp = ts0 + (i % 3 == 1 ? -5 : static_cast<int64_t>(i));
    r.key = fmt::format("k{}", offsets[i]);
    r.value = std::string(20, static_cast<char>('a' + i % 26));
    b.max_ts = std::max(b.max_ts, r.timestamp);
    auto st = w.add(r);
    if (!st.ok()) ADD_FAILURE() << st.error().to_string();
  }
  auto bytes = w.finish();
  if (!bytes.ok()) ADD_FAILURE() << bytes.error().to_string();
  b.bytes = bytes.ok() ? *bytes : "";
  b.base = offsets.front();
  b.last = offsets.back();
  b.count = offsets.size();
  return b;
}

std::vector<uint64_t> range_of(uint64_t from, uint64_t to, uint64_t step = 1) {
  std::vector<uint64_t> v;
  for (uint64_t o = from; o <= to; o += step) v.push_back(o);
  return v;
}

class ListingMetadataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open((tmp_.path() / "data").string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    local_ = *local;
    counting_ = std::make_shared<CountingStore>(local_);
    clock_ = std::make_shared<ManualClock>(1'700'000'123'456);
  }

  std::unique_ptr<ListingMetadataStore> make_store(ListingOptions opts = {}) {
    if (!opts.clock) opts.clock = clock_;
    return std::make_unique<ListingMetadataStore>(counting_, opts);
  }

  void put(const std::string& key, const std::string& data) {
    auto st = local_->put(key, data);
    ASSERT_TRUE(st.ok()) << key << ": " << st.error().to_string();
  }

  Built put_segment(const std::string& prefix, const std::string& topic, int32_t partition,
                    const std::vector<uint64_t>& offsets) {
    Built b = build_segment(offsets);
    put(format::segment_key(prefix, topic, partition, b.base), b.bytes);
    return b;
  }

  // The standard layout: two topics, gaps, junk.
  void populate() {
    segs_[0] = put_segment("", "orders", 0, range_of(0, 9));
    segs_[1] = put_segment("", "orders", 0, range_of(10, 40, 3));   // gaps inside
    segs_[2] = put_segment("", "orders", 0, range_of(100, 104));    // gap between segments
    segs_[3] = put_segment("", "orders", 1, range_of(5, 6));
    segs_[4] = put_segment("", "orders", 2147483647, range_of(0, 0));
    segs_[5] = put_segment("", "clicks", 0, range_of(1000, 1200));
    // Junk that must be ignored (and must not crash anything).
    put("orders/0/readme.txt", "not a segment");
    put("orders/0/seg_123.bin", "short name");
    put("orders/0/seg_0000000000000000000x.bin", "not digits");
    put("orders/0/sub/seg_00000000000000000000.bin", "deeper");
    put("orders/00/seg_00000000000000000000.bin", "non-canonical partition");
    put("orders/-1/seg_00000000000000000000.bin", "negative");
    put("orders/2147483648/seg_00000000000000000000.bin", "too big");
    put("orders/x/seg_00000000000000000000.bin", "not a number");
    put("orders/3/notes.txt", "partition without segments");
    put("orders/top-level-file", "file in topic dir");
    put("bad topic!/0/seg_00000000000000000000.bin", "invalid topic name");
    put("..x/0/seg_00000000000000000000.bin", "odd but valid topic name");
    put("README", "top-level object");
  }

  TempDir tmp_;
  std::shared_ptr<LocalObjectStore> local_;
  std::shared_ptr<CountingStore> counting_;
  std::shared_ptr<ManualClock> clock_;
  Built segs_[6];
};

TEST_F(ListingMetadataStoreTest, TopicsAndPartitionsComeFromPrefixes) {
  populate();
  auto store = make_store();
  auto topics = store->list_topics();
  ASSERT_TRUE(topics.ok()) << topics.error().to_string();
  std::vector<std::string> names;
  for (const auto& t : *topics) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"..x", "clicks", "orders"}))
      << "invalid topic names and plain objects must not be topics";
  const TopicInfo& orders = topics->back();
  EXPECT_EQ(orders.partitions, (std::vector<int32_t>{0, 1, 3, 2147483647}))
      << "only canonical decimal partition ids in 0..2^31-1 count";
  EXPECT_EQ(orders.partition_count, 4);

  auto clicks = store->get_topic("clicks");
  ASSERT_TRUE(clicks.ok());
  EXPECT_EQ(clicks->partitions, std::vector<int32_t>{0});
}

TEST_F(ListingMetadataStoreTest, SegmentsComeFromNamesAndOnlyTheLastFooterIsRead) {
  populate();
  auto store = make_store();
  auto segs = store->list_segments("orders", 0, std::nullopt);
  ASSERT_TRUE(segs.ok()) << segs.error().to_string();
  ASSERT_EQ(segs->size(), 3u) << "junk in the partition must be ignored";
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const SegmentInfo& s = (*segs)[i];
    const Built& b = segs_[i];
    EXPECT_EQ(s.key, format::segment_key("", "orders", 0, b.base));
    EXPECT_EQ(s.bucket, "");
    EXPECT_EQ(s.base_offset, b.base);
    EXPECT_EQ(s.size_bytes, b.bytes.size());
    EXPECT_FALSE(s.min_timestamp.has_value()) << "the footer cannot tell the true minimum";
  }
  EXPECT_FALSE((*segs)[0].footer_known) << "a listing needs no footer but the last";
  EXPECT_FALSE((*segs)[1].footer_known);
  const SegmentInfo& last = (*segs)[2];
  ASSERT_TRUE(last.footer_known) << "the high watermark needs the last footer";
  EXPECT_EQ(last.last_offset, segs_[2].last);
  EXPECT_EQ(last.record_count, segs_[2].count);
  ASSERT_TRUE(last.max_timestamp.has_value());
  EXPECT_EQ(*last.max_timestamp, segs_[2].max_ts);
  EXPECT_EQ(counting_->total_suffix_reads(), 1) << "one footer for the whole partition";
}

TEST_F(ListingMetadataStoreTest, CachedFootersFillInSummariesForFree) {
  populate();
  auto store = make_store();
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        store->meta_loader().load(format::segment_key("", "orders", 0, segs_[i].base), {}).ok());
  }
  counting_->reset();
  auto segs = store->list_segments("orders", 0, std::nullopt);
  ASSERT_TRUE(segs.ok()) << segs.error().to_string();
  ASSERT_EQ(segs->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const SegmentInfo& s = (*segs)[i];
    ASSERT_TRUE(s.footer_known) << "a footer already in the loader's cache is used";
    EXPECT_EQ(s.last_offset, segs_[i].last);
    EXPECT_EQ(s.record_count, segs_[i].count);
    ASSERT_TRUE(s.max_timestamp.has_value());
    EXPECT_EQ(*s.max_timestamp, segs_[i].max_ts);
  }
  EXPECT_EQ(counting_->total_suffix_reads(), 0);
}

TEST_F(ListingMetadataStoreTest, LoadPartitionIsOneListingAndOneFooter) {
  populate();
  auto store = make_store();
  counting_->reset();
  auto loaded = store->load_partition("orders", 0);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  EXPECT_EQ(loaded->partition.log_start_offset, 0u);
  EXPECT_EQ(loaded->partition.high_watermark, 105u);
  EXPECT_EQ(loaded->partition.segment_count, 3u);
  EXPECT_EQ(loaded->partition.size_bytes,
            segs_[0].bytes.size() + segs_[1].bytes.size() + segs_[2].bytes.size());
  EXPECT_EQ(loaded->segments.size(), 3u);
  EXPECT_EQ(counting_->lists().size(), 1u) << "partition info and segments from one listing";
  EXPECT_EQ(counting_->total_suffix_reads(), 1);
}

TEST_F(ListingMetadataStoreTest, StoreCallsCarryTheDeadline) {
  populate();
  auto store = make_store();
  const Deadline deadline = Deadline::after(Millis(60'000));
  counting_->reset();
  ASSERT_TRUE(store->list_segments("orders", 0, std::nullopt, deadline).ok());
  ASSERT_TRUE(store->list_topics(deadline).ok());
  auto lists = counting_->lists();
  ASSERT_FALSE(lists.empty());
  for (const ListOptions& lo : lists) {
    EXPECT_EQ(lo.deadline.at, deadline.at) << "listing of " << lo.prefix;
  }
  auto expired = store->get_partition("clicks", 0, Deadline::after(Millis(-1)));
  ASSERT_FALSE(expired.ok()) << "an expired deadline must fail the call";
}

TEST_F(ListingMetadataStoreTest, SecondSuffixReadIsPinnedToTheFirstReadsEtag) {
  Built b = put_segment("", "big", 0, range_of(0, 199));
  struct Recorder final : public ForwardingObjectStore {
    using ForwardingObjectStore::ForwardingObjectStore;
    Result<RangeRead> get_suffix(std::string_view key, uint64_t length,
                                 const ReadOptions& opts) override {
      if_matches.push_back(opts.if_match_etag);
      auto r = ForwardingObjectStore::get_suffix(key, length, opts);
      if (r.ok()) etags.push_back(r->etag);
      return r;
    }
    std::vector<std::optional<std::string>> if_matches;
    std::vector<std::string> etags;
  };
  auto recorder = std::make_shared<Recorder>(local_);
  ListingOptions o;
  o.footer_read_bytes = 64;  // footer fits, index does not
  ListingMetadataStore store(recorder, o);
  auto segs = store.list_segments("big", 0, std::nullopt);
  ASSERT_TRUE(segs.ok()) << segs.error().to_string();
  ASSERT_EQ(recorder->if_matches.size(), 2u);
  EXPECT_FALSE(recorder->if_matches[0].has_value());
  ASSERT_TRUE(recorder->if_matches[1].has_value()) << "the index read must send If-Match";
  EXPECT_EQ(*recorder->if_matches[1], recorder->etags[0]);
  (void)b;
}

TEST_F(ListingMetadataStoreTest, PartitionWatermarks) {
  populate();
  auto store = make_store();
  auto p0 = store->get_partition("orders", 0);
  ASSERT_TRUE(p0.ok()) << p0.error().to_string();
  EXPECT_EQ(p0->topic, "orders");
  EXPECT_EQ(p0->partition, 0);
  EXPECT_EQ(p0->log_start_offset, 0u);
  EXPECT_EQ(p0->high_watermark, 105u) << "last offset of the last segment + 1";
  EXPECT_EQ(p0->segment_count, 3u);
  EXPECT_EQ(p0->size_bytes, segs_[0].bytes.size() + segs_[1].bytes.size() + segs_[2].bytes.size());

  auto p1 = store->get_partition("orders", 1);
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(p1->log_start_offset, 5u);
  EXPECT_EQ(p1->high_watermark, 7u);

  auto pmax = store->get_partition("orders", 2147483647);
  ASSERT_TRUE(pmax.ok());
  EXPECT_EQ(pmax->high_watermark, 1u);

  auto empty = store->get_partition("orders", 3);
  ASSERT_TRUE(empty.ok()) << "a partition prefix without segments exists but is empty";
  EXPECT_EQ(empty->log_start_offset, 0u);
  EXPECT_EQ(empty->high_watermark, 0u);
  EXPECT_EQ(empty->segment_count, 0u);
}

TEST_F(ListingMetadataStoreTest, MissingTopicsAndPartitions) {
  populate();
  auto store = make_store();
  auto t = store->get_topic("nope");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code(), Errc::kTopicNotFound);
  auto p = store->get_partition("nope", 0);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), Errc::kTopicNotFound);
  auto q = store->get_partition("orders", 7);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), Errc::kPartitionNotFound) << q.error().to_string();
  auto l = store->list_segments("orders", 7, std::nullopt);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code(), Errc::kPartitionNotFound);
  auto bad = store->list_segments("bad topic!", 0, std::nullopt);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Errc::kInvalidArgument);
  auto neg = store->get_partition("orders", -1);
  ASSERT_FALSE(neg.ok());
  EXPECT_EQ(neg.error().code(), Errc::kInvalidArgument);
}

TEST_F(ListingMetadataStoreTest, NewSegmentAppearsThroughListSegmentsAfter) {
  populate();
  auto store = make_store();
  auto first = store->list_segments("orders", 0, std::nullopt);
  ASSERT_TRUE(first.ok());
  const uint64_t last_base = first->back().base_offset;

  auto none = store->list_segments("orders", 0, last_base);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "nothing newer than the last segment yet";

  Built b = put_segment("", "orders", 0, range_of(200, 250, 5));
  counting_->reset();
  auto newer = store->list_segments("orders", 0, last_base);
  ASSERT_TRUE(newer.ok()) << newer.error().to_string();
  ASSERT_EQ(newer->size(), 1u);
  EXPECT_EQ((*newer)[0].base_offset, 200u);
  EXPECT_EQ((*newer)[0].last_offset, 250u);
  EXPECT_EQ(counting_->total_suffix_reads(), 1) << "only the new footer may be read";
  auto lists = counting_->lists();
  ASSERT_FALSE(lists.empty());
  EXPECT_EQ(lists.front().start_after, format::segment_key("", "orders", 0, last_base))
      << "the refresh must list only keys after the known segment";

  auto p = store->get_partition("orders", 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->high_watermark, 251u);
  EXPECT_EQ(p->segment_count, 4u);
}

TEST_F(ListingMetadataStoreTest, EachFooterIsReadOnce) {
  populate();
  auto store = make_store();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->list_segments("orders", 0, std::nullopt).ok());
    ASSERT_TRUE(store->get_partition("orders", 0).ok());
    ASSERT_TRUE(store->list_topics().ok());
  }
  const std::string last = format::segment_key("", "orders", 0, segs_[2].base);
  EXPECT_EQ(counting_->suffix_reads(last), 1) << last << " footer read more than once";
  for (int i = 0; i < 2; ++i) {
    const std::string key = format::segment_key("", "orders", 0, segs_[i].base);
    EXPECT_EQ(counting_->suffix_reads(key), 0) << key << ": only the last footer is needed";
  }
  EXPECT_EQ(counting_->range_reads(), 0u) << "only suffix reads are needed for metadata";
  EXPECT_EQ(store->footer_reads(), 1u);
  EXPECT_EQ(store->meta_loader().entries(), 1u);
}

TEST_F(ListingMetadataStoreTest, ConcurrentColdReadersShareFooterReads) {
  std::vector<Built> built;
  for (uint64_t s = 0; s < 20; ++s) built.push_back(put_segment("", "hot", 0, range_of(s * 10, s * 10 + 9)));
  auto store = make_store();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      auto p = store->get_partition("hot", 0);
      if (!p.ok() || p->high_watermark != 200u || p->segment_count != 20u) failures.fetch_add(1);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const std::string last = format::segment_key("", "hot", 0, built.back().base);
  EXPECT_EQ(counting_->suffix_reads(last), 1) << last << ": concurrent cold readers must share one read";
  EXPECT_EQ(counting_->total_suffix_reads(), 1) << "no footer but the last is needed";
}

TEST_F(ListingMetadataStoreTest, LargeIndexNeedsOneMoreSuffixRead) {
  Built b = put_segment("", "big", 0, range_of(0, 199));  // 64-byte blocks: many index entries
  ListingOptions o;
  o.footer_read_bytes = 64;  // footer fits, index does not
  auto store = make_store(o);
  auto segs = store->list_segments("big", 0, std::nullopt);
  ASSERT_TRUE(segs.ok()) << segs.error().to_string();
  ASSERT_EQ(segs->size(), 1u);
  EXPECT_EQ((*segs)[0].record_count, 200u);
  EXPECT_EQ((*segs)[0].last_offset, 199u);
  EXPECT_EQ(counting_->suffix_reads(format::segment_key("", "big", 0, 0)), 2)
      << "one read for the footer, one for footer + index";
}

TEST_F(ListingMetadataStoreTest, CorruptFooterIsCorruptNamingTheKey) {
  Built good = put_segment("", "bad", 0, range_of(0, 9));
  std::string flipped = good.bytes;
  flipped[flipped.size() - 10] ^= 0x40;  // inside the footer: CRC mismatch
  const std::string key = format::segment_key("", "bad", 0, 100);
  put(key, flipped);
  auto store = make_store();
  auto p = store->get_partition("bad", 0);
  ASSERT_FALSE(p.ok()) << "a corrupt footer must not produce partition info";
  EXPECT_EQ(p.error().code(), Errc::kCorrupt) << p.error().to_string();
  EXPECT_NE(p.error().message().find(key), std::string::npos) << p.error().message();

  put(key, "garbage that is not a segment at all, long enough to hold a footer ........");
  auto q = make_store()->list_segments("bad", 0, std::nullopt);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code(), Errc::kCorrupt) << q.error().to_string();
  EXPECT_NE(q.error().message().find(key), std::string::npos) << q.error().message();
}

TEST_F(ListingMetadataStoreTest, FileNameDisagreeingWithFooterIsCorrupt) {
  Built b = build_segment(range_of(0, 9));
  const std::string key = format::segment_key("", "liar", 0, 50);  // footer says base 0
  put(key, b.bytes);
  auto p = make_store()->get_partition("liar", 0);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), Errc::kCorrupt);
  EXPECT_NE(p.error().message().find(key), std::string::npos) << p.error().message();
}

TEST_F(ListingMetadataStoreTest, DeletedSegmentsLeaveTheCache) {
  put_segment("", "ret", 0, range_of(0, 9));
  put_segment("", "ret", 0, range_of(10, 19));
  auto store = make_store();
  auto a = store->get_partition("ret", 0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->segment_count, 2u);
  std::filesystem::remove(tmp_.path() / "data" / format::segment_key("", "ret", 0, 0));
  auto b = store->get_partition("ret", 0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->log_start_offset, 10u) << "retention moves the log start";
  EXPECT_EQ(b->segment_count, 1u);
  auto segs = store->list_segments("ret", 0, std::nullopt);
  ASSERT_TRUE(segs.ok());
  ASSERT_EQ(segs->size(), 1u) << "the deleted segment is not listed";
  EXPECT_EQ((*segs)[0].base_offset, 10u);
}

TEST_F(ListingMetadataStoreTest, ReplacedSegmentIsReread) {
  put_segment("", "r", 0, range_of(0, 9));
  auto store = make_store();
  auto a = store->get_partition("r", 0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->high_watermark, 10u);
  put_segment("", "r", 0, range_of(0, 19));  // same key, new object (e.g. rewritten)
  auto b = store->get_partition("r", 0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->high_watermark, 20u) << "a new etag must invalidate the cached footer";
}

TEST_F(ListingMetadataStoreTest, PrefixScopesEverything) {
  put_segment("cluster-a/", "orders", 0, range_of(0, 4));
  put_segment("", "orders", 0, range_of(0, 99));
  ListingOptions o;
  o.prefix = "cluster-a";  // '/' appended
  auto store = make_store(o);
  auto topics = store->list_topics();
  ASSERT_TRUE(topics.ok());
  ASSERT_EQ(topics->size(), 1u);
  EXPECT_EQ((*topics)[0].name, "orders");
  auto p = store->get_partition("orders", 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->high_watermark, 5u) << "must read cluster-a/orders, not orders";
  auto segs = store->list_segments("orders", 0, std::nullopt);
  ASSERT_TRUE(segs.ok());
  ASSERT_EQ(segs->size(), 1u);
  EXPECT_EQ((*segs)[0].key, "cluster-a/orders/0/seg_00000000000000000000.bin")
      << "SegmentInfo.key is the full object key";
}

TEST_F(ListingMetadataStoreTest, RegisterSegmentValidatesAgainstTheObject) {
  Built b = put_segment("", "reg", 0, range_of(10, 19));
  auto store = make_store();
  SegmentInfo s;
  s.key = format::segment_key("", "reg", 0, 10);
  s.base_offset = 10;
  s.last_offset = 19;
  s.record_count = 10;
  s.size_bytes = b.bytes.size();
  auto ok = store->register_segment("reg", 0, s);
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(store->meta_loader().entries(), 1u) << "registration warms the footer cache";

  SegmentInfo wrong_last = s;
  wrong_last.last_offset = 25;
  EXPECT_EQ(store->register_segment("reg", 0, wrong_last).error().code(), Errc::kInvalidArgument);
  SegmentInfo wrong_key = s;
  wrong_key.key = "reg/0/other.bin";
  EXPECT_EQ(store->register_segment("reg", 0, wrong_key).error().code(), Errc::kInvalidArgument);
  SegmentInfo missing = s;
  missing.base_offset = 500;
  missing.last_offset = 600;
  missing.key = format::segment_key("", "reg", 0, 500);
  EXPECT_EQ(store->register_segment("reg", 0, missing).error().code(), Errc::kInvalidArgument);
}

TEST_F(ListingMetadataStoreTest, ConsumerGroupsRoundTripAndPersist) {
  populate();
  auto store = make_store();
  auto none = store->get_group_offsets("billing");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), Errc::kGroupNotFound);

  ASSERT_TRUE(store->commit_offsets("billing", {{"orders", 1, 7, "m1"}, {"orders", 0, 5, ""}}).ok());
  clock_->advance(Millis(1000));
  auto st = store->commit_offsets("billing", {{"orders", 0, 9, "again"}});
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  ASSERT_TRUE(store->commit_offsets("audit", {{"clicks", 0, 1100, ""}}).ok());

  auto offs = store->get_group_offsets("billing");
  ASSERT_TRUE(offs.ok()) << offs.error().to_string();
  ASSERT_EQ(offs->size(), 2u) << "a later commit must keep the other partitions";
  EXPECT_EQ((*offs)[0].topic, "orders");
  EXPECT_EQ((*offs)[0].partition, 0);
  EXPECT_EQ((*offs)[0].offset, 9u);
  EXPECT_EQ((*offs)[0].metadata, "again");
  EXPECT_EQ((*offs)[0].committed_at_ms, 1'700'000'124'456);
  EXPECT_EQ((*offs)[1].partition, 1);
  EXPECT_EQ((*offs)[1].offset, 7u);
  EXPECT_EQ((*offs)[1].metadata, "m1");
  EXPECT_EQ((*offs)[1].committed_at_ms, 1'700'000'123'456);

  auto groups = store->list_groups();
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ(*groups, (std::vector<std::string>{"audit", "billing"}));

  auto topics = store->list_topics();
  ASSERT_TRUE(topics.ok());
  for (const auto& t : *topics) EXPECT_EQ(t.name.find('@'), std::string::npos) << t.name;

  // A new store over a new object store instance on the same directory.
  auto reopened_local = LocalObjectStore::open((tmp_.path() / "data").string(), false);
  ASSERT_TRUE(reopened_local.ok());
  ListingMetadataStore reopened(*reopened_local);
  auto again = reopened.get_group_offsets("billing");
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0].offset, 9u);
  EXPECT_EQ((*again)[1].offset, 7u);
  auto groups2 = reopened.list_groups();
  ASSERT_TRUE(groups2.ok());
  EXPECT_EQ(*groups2, (std::vector<std::string>{"audit", "billing"}));
}

TEST_F(ListingMetadataStoreTest, CommitValidation) {
  auto store = make_store();
  EXPECT_EQ(store->commit_offsets("bad group!", {{"orders", 0, 1, ""}}).error().code(),
            Errc::kInvalidArgument);
  EXPECT_EQ(store->get_group_offsets("bad/group").error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(store->commit_offsets("g", {}).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(store->commit_offsets("g", {{"bad topic", 0, 1, ""}}).error().code(),
            Errc::kInvalidArgument);
  EXPECT_EQ(store->commit_offsets("g", {{"t", -1, 1, ""}}).error().code(),
            Errc::kInvalidArgument);
  EXPECT_EQ(store->commit_offsets("g", {{"t", 0, 1, std::string(5000, 'm')}}).error().code(),
            Errc::kInvalidArgument);
  auto groups = store->list_groups();
  ASSERT_TRUE(groups.ok());
  EXPECT_TRUE(groups->empty()) << "rejected commits must not create groups";
}

TEST_F(ListingMetadataStoreTest, CorruptGroupObjectIsCorrupt) {
  put("@consumer-groups/broken.json", "{\"offsets\": [{\"topic\": 5}]}");
  auto store = make_store();
  auto g = store->get_group_offsets("broken");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Errc::kCorrupt);
  EXPECT_NE(g.error().message().find("@consumer-groups/broken.json"), std::string::npos)
      << g.error().message();
  auto c = store->commit_offsets("broken", {{"t", 0, 1, ""}});
  EXPECT_FALSE(c.ok()) << "a commit must not silently discard a group it cannot read";
}

TEST_F(ListingMetadataStoreTest, PingAndDescribe) {
  auto store = make_store();
  EXPECT_TRUE(store->ping().ok());
  EXPECT_EQ(store->describe(), "listing:" + local_->describe());
  EXPECT_EQ(store->describe().rfind("listing:file:///", 0), 0u) << store->describe();
  auto lists = counting_->lists();
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_EQ(lists[0].max_keys, 1u) << "ping must be a cheap one-key listing";
}

TEST_F(ListingMetadataStoreTest, EmptyStoreHasNoTopics) {
  auto store = make_store();
  auto topics = store->list_topics();
  ASSERT_TRUE(topics.ok());
  EXPECT_TRUE(topics->empty());
  auto groups = store->list_groups();
  ASSERT_TRUE(groups.ok());
  EXPECT_TRUE(groups->empty());
}

}  // namespace
}  // namespace sh
