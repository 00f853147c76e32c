// LogReader over real segment objects in a temp directory (LocalObjectStore +
// ListingMetadataStore): crossing segment and block boundaries, gaps,
// earliest/latest/timestamp, limits, new segments, corruption, single-flight.
#include <fmt/format.h>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/watermark_notifier.h"
#include "core/storage/forwarding_object_store.h"
#include "core/storage/local_object_store.h"
#include "tests/support/fault_injecting_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {


// Counts reads so tests can assert what crossed to storage.
class CountingStore final : public ForwardingObjectStore {
 public:
  using ForwardingObjectStore::ForwardingObjectStore;
  Result<RangeRead> get_range(std::string_view key, uint64_t offset, uint64_t length,
                              const ReadOptions& opts) override {
    ++ranges;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    return ForwardingObjectStore::get_range(key, offset, length, opts);
  }
  Result<RangeRead> get_suffix(std::string_view key, uint64_t length,
                               const ReadOptions& opts) override {
    ++suffixes;
    return ForwardingObjectStore::get_suffix(key, length, opts);
  }
  Result<ListPage> list(const ListOptions& opts) override {
    ++lists;
    return ForwardingObjectStore::list(opts);
  }

  std::atomic<int> ranges{0}, suffixes{0}, lists{0}, delay_ms{0};
};

class ReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_.path().string();
    auto local = LocalObjectStore::open(dir_, true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    store_ = std::make_shared<CountingStore>(*local);
    metadata_ = std::make_shared<ListingMetadataStore>(store_);
  }

  // Writes one segment of `records` (offsets as given) to topic/partition.
  void write_segment(const std::string& topic, int32_t partition, const std::vector<Record>& records,
                     uint32_t block_bytes = 4096) {
    format::SegmentWriterOptions o;
    o.block_bytes = block_bytes;
    format::SegmentWriter w(o);
    for (const auto& r : records) ASSERT_TRUE(w.add(r).ok());
    auto base = w.base_offset();
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(store_->put(format::segment_key("", topic, partition, base), *bytes, {}).ok());
    for (const auto& r : records) model_[topic + fmt::format("/{}", partition)][r.offset] = r;
  }

  static Record make(uint64_t offset, int64_t ts) {
    Record r;
    r.offset = offset;
    r.timestamp = ts;
    r.key = fmt::format("key-{}", offset % 7);
    r.value = "value-" + std::to_string(offset) + std::string(offset % 50, 'x');
    if (offset % 3 == 0) r.headers.push_back({"h", fmt::format("v{}", offset)});
    if (offset % 11 == 0) r.value.reset();
    return r;
  }

  std::unique_ptr<LogReader> reader(Millis ttl = Millis(5000)) {
    LogReaderOptions o;
    o.index_ttl = ttl;
    o.tail_refresh_interval = Millis(0);
    return std::make_unique<LogReader>(metadata_, store_, o, registry_);
  }

  static std::vector<Record> records_of(const ReadResult& r) {
    std::vector<Record> out;
    std::vector<HeaderView> scratch;
    for (const auto& ref : r.records) out.push_back(ref.block->record(ref.index, &scratch).to_record());
    return out;
  }

  testing::ScratchDir scratch_{"sh-read-test"};
  std::string dir_;
  std::shared_ptr<CountingStore> store_;
  std::shared_ptr<MetadataStore> metadata_;
  prometheus::Registry registry_;
  std::map<std::string, std::map<uint64_t, Record>> model_;
};

TEST_F(ReadTest, ReadsAcrossSegmentsBlocksAndGapsLikeTheModel) {
  // Three segments with gaps inside and between them; timestamps wander backwards.
  std::mt19937_64 rng(42);
  std::vector<Record> seg;
  uint64_t offset = 100;
  for (int s = 0; s < 3; ++s) {
    seg.clear();
    for (int i = 0; i < 400; ++i) {
      seg.push_back(make(offset, 1'000'000 + static_cast<int64_t>(offset * 10) - (i % 5) * 7));
      offset += 1 + (rng() % 4 == 0 ? rng() % 5 : 0);
    }
    write_segment("t", 0, seg);
    offset += 17;  // gap between segments
  }
  auto r = reader();
  const auto& model = model_["t/0"];
  const uint64_t hwm = model.rbegin()->first + 1;
  for (int trial = 0; trial < 300; ++trial) {
    uint64_t start = 100 + rng() % (hwm - 100);
    uint32_t max_records = 1 + rng() % 300;
    ReadRequest req;
    req.start = StartPosition::at(start);
    req.max_records = max_records;
    auto got = r->read("t", 0, req);
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    auto recs = records_of(*got);
    auto it = model.lower_bound(start);
    ASSERT_EQ(recs.size(), std::min<size_t>(max_records, std::distance(it, model.end())))
        << "start " << start;
    for (const auto& rec : recs) {
      ASSERT_EQ(rec, it->second) << "start " << start << " offset " << it->first;
      ++it;
    }
    EXPECT_EQ(got->high_watermark, hwm);
    EXPECT_EQ(got->log_start_offset, 100u);
    EXPECT_EQ(got->next_offset, recs.back().offset + 1);
  }
}

TEST_F(ReadTest, EarliestLatestAndOutOfRange) {
  std::vector<Record> recs;
  for (uint64_t o = 50; o < 150; ++o) recs.push_back(make(o, 1000 + o));
  write_segment("t", 1, recs);
  auto r = reader();
  ReadRequest req;
  req.start = StartPosition::earliest();
  req.max_records = 5;
  auto got = r->read("t", 1, req);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->records.front().offset(), 50u);
  EXPECT_EQ(got->next_offset, 55u);

  req.start = StartPosition::latest();
  got = r->read("t", 1, req);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->records.empty());
  EXPECT_EQ(got->next_offset, 150u);

  req.start = StartPosition::at(150);  // at the high watermark: empty, not an error
  got = r->read("t", 1, req);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->records.empty());

  for (uint64_t bad : {uint64_t{49}, uint64_t{151}, uint64_t{1} << 62}) {
    req.start = StartPosition::at(bad);
    got = r->read("t", 1, req);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.error().code(), Errc::kOffsetOutOfRange) << bad;
  }
  auto missing_topic = r->read("nope", 0, req);
  ASSERT_FALSE(missing_topic.ok());
  EXPECT_EQ(missing_topic.error().code(), Errc::kTopicNotFound);
  auto missing_partition = r->read("t", 7, req);
  ASSERT_FALSE(missing_partition.ok());
  EXPECT_EQ(missing_partition.error().code(), Errc::kPartitionNotFound);
}

TEST_F(ReadTest, TimestampFindsFirstRecordAtOrAfter) {
  std::vector<Record> a, b;
  // Segment a: timestamps 1000..1990 step 10 but with a dip; segment b later.
  for (uint64_t o = 0; o < 100; ++o) a.push_back(make(o, 1000 + static_cast<int64_t>(o) * 10 - (o == 50 ? 600 : 0)));
  for (uint64_t o = 100; o < 200; ++o) b.push_back(make(o, 5000 + static_cast<int64_t>(o)));
  write_segment("ts", 0, a, 512);
  write_segment("ts", 0, b, 512);
  auto r = reader();
  auto first_at = [&](int64_t ts) {
    ReadRequest req;
    req.start = StartPosition::at_timestamp(ts);
    req.max_records = 1;
    auto got = r->read("ts", 0, req);
    EXPECT_TRUE(got.ok());
    return got->records.empty() ? got->next_offset : got->records[0].offset();
  };
  // Model: first offset (in log order) with timestamp >= ts.
  auto model = [&](int64_t ts) -> uint64_t {
    for (const auto& [o, rec] : model_["ts/0"]) {
      if (rec.timestamp >= ts) return o;
    }
    return 200;
  };
  for (int64_t ts : {0, 999, 1000, 1001, 1400, 1495, 1500, 1990, 1991, 5100, 5199, 5200, 999999}) {
    EXPECT_EQ(first_at(ts), model(ts)) << "timestamp " << ts;
  }
}

TEST_F(ReadTest, MaxBytesReturnsAtLeastOneRecord) {
  std::vector<Record> recs;
  for (uint64_t o = 0; o < 20; ++o) {
    Record r = make(o, o);
    r.value = std::string(1000, 'a');
    recs.push_back(r);
  }
  write_segment("big", 0, recs, 8192);
  auto r = reader();
  ReadRequest req;
  req.start = StartPosition::at(0);
  req.max_records = 100;
  req.max_bytes = 10;  // smaller than one record
  auto got = r->read("big", 0, req);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->records.size(), 1u);
  EXPECT_EQ(got->next_offset, 1u);
  req.max_bytes = 5500;
  got = r->read("big", 0, req);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->records.size(), 5u) << "each record is a bit over 1000 bytes";
  EXPECT_LE(got->bytes, 5500u);
}

TEST_F(ReadTest, NewSegmentIsSeenOnReadPastHighWatermark) {
  std::vector<Record> a, b;
  for (uint64_t o = 0; o < 10; ++o) a.push_back(make(o, o));
  for (uint64_t o = 10; o < 20; ++o) b.push_back(make(o, o));
  write_segment("grow", 0, a);
  auto r = reader(Millis(3600'000));  // TTL never expires in this test
  ReadRequest req;
  req.start = StartPosition::at(10);
  auto got = r->read("grow", 0, req);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->records.empty());
  write_segment("grow", 0, b);
  req.start = StartPosition::at(12);  // past the known high watermark → refresh
  got = r->read("grow", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->records.size(), 8u);
  EXPECT_EQ(got->high_watermark, 20u);
}

TEST_F(ReadTest, ColdReadCostsOneSuffixAndOneRangeThenNothing) {
  std::vector<Record> recs;
  for (uint64_t o = 0; o < 2000; ++o) recs.push_back(make(o, o));
  write_segment("cold", 0, recs, 4096);
  // As `serve` wires it: the listing store reads footers through the reader's cache.
  auto source = std::make_shared<SegmentSource>(store_, SegmentSourceOptions{}, registry_);
  ListingOptions lo;
  lo.meta_loader = source->meta_loader();
  auto r = std::make_unique<LogReader>(std::make_shared<ListingMetadataStore>(store_, lo), source,
                                       LogReaderOptions{}, registry_);
  ReadRequest req;
  req.start = StartPosition::at(1234);
  req.max_records = 1;
  const int suffix_before = store_->suffixes, range_before = store_->ranges;
  auto got = r->read("cold", 0, req);  // loads the index too
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->records.size(), 1u);
  EXPECT_EQ(got->records[0].offset(), 1234u);
  EXPECT_EQ(store_->suffixes - suffix_before, 1) << "footer+index: one suffix read, shared with listing";
  EXPECT_EQ(store_->ranges - range_before, 1) << "one ranged read of the block";
  EXPECT_EQ(store_->lists.load(), 1) << "the first read of a partition lists it once, not twice";
  const int total = store_->suffixes + store_->ranges;
  got = r->read("cold", 0, req);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(store_->suffixes + store_->ranges, total) << "a warm read touches no storage";
}

// A partition of `count` one-block segments, written straight to the directory
// (fast): segment i holds offsets [10 i, 10 i + 4] (a gap of 5 after each), the
// record at offset o has timestamp 1'000'000 + o.
class ManySegmentsTest : public ReadTest {
 protected:
  static constexpr uint64_t kSegments = 10'000;

  void write_many(const std::string& topic, uint64_t count) {
    std::filesystem::create_directories(dir_ + "/" + topic + "/0");
    for (uint64_t i = 0; i < count; ++i) {
      format::SegmentWriter w;
      for (uint64_t o = i * 10; o < i * 10 + 5; ++o) {
        Record r;
        r.offset = o;
        r.timestamp = 1'000'000 + static_cast<int64_t>(o);
        r.value = fmt::format("v{}", o);
        ASSERT_TRUE(w.add(r).ok());
      }
      auto bytes = w.finish();
      ASSERT_TRUE(bytes.ok());
      std::ofstream f(dir_ + "/" + format::segment_key("", topic, 0, i * 10), std::ios::binary);
      f.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
      total_bytes_ += bytes->size();
    }
  }

  // As `serve` wires it: one footer loader for listing and reading.
  std::unique_ptr<LogReader> shared_reader() {
    source_ = std::make_shared<SegmentSource>(store_, SegmentSourceOptions{}, registry_);
    ListingOptions lo;
    lo.meta_loader = source_->meta_loader();
    LogReaderOptions o;
    o.tail_refresh_interval = Millis(0);
    return std::make_unique<LogReader>(std::make_shared<ListingMetadataStore>(store_, lo),
                                       source_, o, registry_);
  }

  void reset_counts() { store_->ranges = store_->suffixes = store_->lists = 0; }

  std::shared_ptr<SegmentSource> source_;
  uint64_t total_bytes_ = 0;
};

TEST_F(ManySegmentsTest, FirstReadsCostTheListingAndFewFooters) {
  write_many("wide", kSegments);
  auto r = shared_reader();
  reset_counts();
  ReadRequest req;
  req.start = StartPosition::at(52'342);
  req.max_records = 2;
  auto got = r->read("wide", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->records.size(), 2u);
  EXPECT_EQ(got->records[0].offset(), 52'342u);
  EXPECT_EQ(got->records[1].offset(), 52'343u);
  EXPECT_EQ(got->high_watermark, (kSegments - 1) * 10 + 5);
  EXPECT_EQ(store_->lists.load(), 10) << "10,000 keys: 10 LIST pages of 1,000, listed once";
  EXPECT_LE(store_->suffixes.load(), 2) << "the last footer (watermark) + the one read from";
  EXPECT_EQ(store_->ranges.load(), 1) << "one block";

  // Reading into a gap moves on to the next segment (its footer is read then).
  req.start = StartPosition::at(52'347);
  req.max_records = 1;
  got = r->read("wide", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->records.size(), 1u);
  EXPECT_EQ(got->records[0].offset(), 52'350u);

  // Partition totals come from the listing, not from footers.
  const int suffixes = store_->suffixes;
  auto info = r->partition_info("wide", 0);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->segment_count, kSegments);
  EXPECT_EQ(info->size_bytes, total_bytes_);
  EXPECT_EQ(info->log_start_offset, 0u);
  EXPECT_EQ(info->high_watermark, (kSegments - 1) * 10 + 5);
  EXPECT_EQ(store_->suffixes.load(), suffixes);
  auto snap = r->index("wide", 0);
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE((*snap)->segments.back().footer_known);
  EXPECT_FALSE((*snap)->segments.front().footer_known);

  // (One test for both, as writing 10,000 files is the slow part.) A first
  // timestamp read with nothing cached: O(log n) footers.
  r = shared_reader();
  reset_counts();
  req.start = StartPosition::at_timestamp(1'000'000 + 73'336);  // in the gap after 73'334
  req.max_records = 1;
  got = r->read("wide", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->records.size(), 1u);
  EXPECT_EQ(got->records[0].offset(), 73'340u);
  const int bound = static_cast<int>(std::ceil(std::log2(double(kSegments)))) + 2;
  EXPECT_LE(store_->suffixes.load(), bound) << "binary search over segments: O(log n) footers";
  EXPECT_EQ(store_->lists.load(), 10);

  for (int64_t ts : {int64_t{0}, int64_t{1'000'000}, int64_t{1'000'000 + 99'994},
                     int64_t{1'000'000 + 99'995}}) {
    req.start = StartPosition::at_timestamp(ts);
    got = r->read("wide", 0, req);
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    const uint64_t want = ts <= 1'000'000 ? 0 : static_cast<uint64_t>(ts - 1'000'000);
    if (want >= (kSegments - 1) * 10 + 5) {
      EXPECT_TRUE(got->records.empty()) << ts;
      EXPECT_EQ(got->next_offset, (kSegments - 1) * 10 + 5) << ts;
    } else {
      ASSERT_EQ(got->records.size(), 1u) << ts;
      EXPECT_EQ(got->records[0].offset(), want) << ts;
    }
  }
}

TEST_F(ReadTest, ConcurrentMissesOfOneBlockFetchItOnce) {
  std::vector<Record> recs;
  for (uint64_t o = 0; o < 100; ++o) recs.push_back(make(o, o));
  write_segment("sf", 0, recs, 1 << 20);
  auto r = reader();
  ASSERT_TRUE(r->partition_info("sf", 0).ok());
  ReadRequest warm;
  warm.start = StartPosition::at(0);
  // Load the footer first, so only the block read races.
  auto snap = r->index("sf", 0);
  ASSERT_TRUE(snap.ok());
  ASSERT_TRUE(r->source().meta((*snap)->segments[0].key, {}).ok());
  store_->delay_ms = 100;
  const int before = store_->ranges;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      ReadRequest req;
      req.start = StartPosition::at(5);
      if (r->read("sf", 0, req).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(store_->ranges - before, 1) << "8 concurrent misses must cost one fetch";
}

TEST_F(ReadTest, CorruptBlockIsAnErrorNamingTheObjectNeverARecord) {
  std::vector<Record> recs;
  for (uint64_t o = 0; o < 50; ++o) recs.push_back(make(o, o));
  write_segment("bad", 0, recs, 1 << 20);
  const std::string key = format::segment_key("", "bad", 0, 0);
  // Flip one byte inside the first block's stored bytes.
  {
    std::fstream f(dir_ + "/" + key, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(32 + 12 + 5);
    char c;
    f.seekg(32 + 12 + 5);
    f.get(c);
    f.seekp(32 + 12 + 5);
    f.put(static_cast<char>(c ^ 0x40));
  }
  auto r = reader();
  ReadRequest req;
  req.start = StartPosition::at(0);
  auto got = r->read("bad", 0, req);
  ASSERT_FALSE(got.ok()) << "a flipped byte must not produce records";
  EXPECT_EQ(got.error().code(), Errc::kCorrupt);
  EXPECT_NE(got.error().message().find(key), std::string::npos) << got.error().message();
}

TEST_F(ReadTest, LongPollWakesOnNewSegmentAndTimesOut) {
  std::vector<Record> a, b;
  for (uint64_t o = 0; o < 10; ++o) a.push_back(make(o, o));
  for (uint64_t o = 10; o < 15; ++o) b.push_back(make(o, o));
  write_segment("lp", 0, a);
  std::shared_ptr<LogReader> r = reader();
  WatermarkNotifierOptions no;
  no.poll_interval = Millis(50);
  WatermarkNotifier notifier(r, no, registry_);

  std::promise<WatermarkNotifier::Wake> timed_out;
  auto start = std::chrono::steady_clock::now();
  notifier.wait("lp", 0, 10, start + Millis(200),
                [&](WatermarkNotifier::Wake w) { timed_out.set_value(w); });
  auto fut = timed_out.get_future();
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(fut.get(), WatermarkNotifier::Wake::kDeadline);
  EXPECT_GE(std::chrono::steady_clock::now() - start, Millis(190));

  std::promise<WatermarkNotifier::Wake> woke;
  std::atomic<int> calls{0};
  for (int i = 0; i < 100; ++i) {
    notifier.wait("lp", 0, 10, std::chrono::steady_clock::now() + Millis(10000),
                  [&, i](WatermarkNotifier::Wake w) {
                    if (++calls == 100) woke.set_value(w);
                    (void)i;
                  });
  }
  EXPECT_EQ(notifier.waiters(), 100u);
  write_segment("lp", 0, b);
  auto f2 = woke.get_future();
  ASSERT_EQ(f2.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(f2.get(), WatermarkNotifier::Wake::kData);
  EXPECT_EQ(notifier.waiters(), 0u);
}

TEST_F(ReadTest, SegmentRemovedByRetentionGives416WithTheNewLogStartNotA502) {
  std::vector<Record> a, b;
  for (uint64_t o = 0; o < 10; ++o) a.push_back(make(o, o));
  for (uint64_t o = 10; o < 20; ++o) b.push_back(make(o, o));
  write_segment("ret", 0, a);
  write_segment("ret", 0, b);
  auto r = reader(Millis(3600'000));  // the TTL never expires here: only the miss can tell
  ReadRequest req;
  req.start = StartPosition::at(0);
  ASSERT_TRUE(r->read("ret", 0, req).ok());
  r->source().invalidate(format::segment_key("", "ret", 0, 0));
  std::filesystem::remove(dir_ + "/" + format::segment_key("", "ret", 0, 0));  // retention

  req.start = StartPosition::at(3);
  auto gone = r->read("ret", 0, req);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Errc::kOffsetOutOfRange) << gone.error().to_string();
  auto info = r->partition_info("ret", 0);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->log_start_offset, 10u) << "the index was reloaded after the miss";
  req.start = StartPosition::earliest();
  auto rest = r->read("ret", 0, req);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->records.front().offset(), 10u);
}

TEST_F(ReadTest, SegmentMissingFromTheMiddleIsAnErrorNotASilentGap) {
  for (uint64_t base : {0, 10, 20}) {
    std::vector<Record> recs;
    for (uint64_t o = base; o < base + 10; ++o) recs.push_back(make(o, o));
    write_segment("hole", 0, recs);
  }
  auto r = reader(Millis(3600'000));
  ASSERT_TRUE(r->partition_info("hole", 0).ok());
  const std::string middle = format::segment_key("", "hole", 0, 10);
  std::filesystem::remove(dir_ + "/" + middle);
  ReadRequest req;
  req.start = StartPosition::at(12);
  auto got = r->read("hole", 0, req);
  ASSERT_FALSE(got.ok()) << "records 12..19 vanished: the read must not jump to 20";
  EXPECT_EQ(got.error().code(), Errc::kNotFound);
  EXPECT_NE(got.error().message().find(middle), std::string::npos) << got.error().message();
  got = r->read("hole", 0, req);
  ASSERT_FALSE(got.ok()) << "and not on the next read either";
  EXPECT_EQ(got.error().code(), Errc::kNotFound);
}

TEST_F(ReadTest, PartitionIndexesAreBoundedAndReloadAfterEviction) {
  for (int32_t p = 0; p < 3; ++p) {
    std::vector<Record> recs;
    for (uint64_t o = 0; o < 5; ++o) recs.push_back(make(o, o));
    write_segment("many", p, recs);
  }
  LogReaderOptions o;
  o.max_indexed_partitions = 2;
  LogReader r(metadata_, store_, o, registry_);
  ReadRequest req;
  req.start = StartPosition::at(2);
  for (int round = 0; round < 2; ++round) {
    for (int32_t p = 0; p < 3; ++p) {
      auto got = r.read("many", p, req);
      ASSERT_TRUE(got.ok()) << got.error().to_string();
      EXPECT_EQ(got->records.size(), 3u) << "partition " << p << " round " << round;
    }
  }
  int cached = 0;
  for (int32_t p = 0; p < 3; ++p) cached += r.cached_index("many", p) != nullptr;
  EXPECT_EQ(cached, 2) << "at most max_indexed_partitions indexes stay in memory";
}


TEST_F(ReadTest, RecordsReadBeforeAFailingSegmentAreReturnedAndTheNextReadMeetsTheError) {
  for (uint64_t base : {0, 10, 20}) {
    std::vector<Record> recs;
    for (uint64_t o = base; o < base + 10; ++o) recs.push_back(make(o, o));
    write_segment("part", 0, recs);
  }
  auto faults = std::make_shared<testing::FaultInjectingObjectStore>(store_);
  LogReaderOptions o;
  o.tail_refresh_interval = Millis(0);
  LogReader r(metadata_, faults, o, registry_);
  const std::string second = format::segment_key("", "part", 0, 10);
  const std::string third = format::segment_key("", "part", 0, 20);

  // The second segment's footer cannot be read.
  faults->add(testing::FaultRule::error("get_suffix", Errc::kUnavailable).on_key(second));
  ReadRequest req;
  req.start = StartPosition::at(5);
  req.max_records = 100;
  auto got = r.read("part", 0, req);
  ASSERT_TRUE(got.ok()) << "records 5..9 were read before the second segment failed: "
                        << got.error().to_string();
  ASSERT_EQ(got->records.size(), 5u);
  EXPECT_EQ(got->records.front().offset(), 5u);
  EXPECT_EQ(got->records.back().offset(), 9u);
  EXPECT_EQ(got->next_offset, 10u) << "next_offset right after what was returned";
  ASSERT_TRUE(got->stopped_by.has_value());
  EXPECT_EQ(got->stopped_by->code(), Errc::kUnavailable);
  EXPECT_EQ(records_of(*got), std::vector<Record>(
                                  {model_["part/0"][5], model_["part/0"][6], model_["part/0"][7],
                                   model_["part/0"][8], model_["part/0"][9]}));
  req.start = StartPosition::at(got->next_offset);
  auto next = r.read("part", 0, req);
  ASSERT_FALSE(next.ok()) << "the next read starts in the failing segment: it meets the error";
  EXPECT_EQ(next.error().code(), Errc::kUnavailable);

  // The third segment's block cannot be read (its footer can).
  faults->clear();
  faults->add(testing::FaultRule::error("get_range", Errc::kTimeout).on_key(third));
  req.start = StartPosition::at(12);
  got = r.read("part", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->records.size(), 8u);
  EXPECT_EQ(got->records.front().offset(), 12u);
  EXPECT_EQ(got->next_offset, 20u);
  req.start = StartPosition::at(20);
  next = r.read("part", 0, req);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().code(), Errc::kTimeout);

  // A corrupt block after good records: the good ones, never a wrong one.
  faults->clear();
  r.source().invalidate(third);
  faults->add(testing::FaultRule::flip("get_range", 20).on_key(third));
  req.start = StartPosition::at(15);
  got = r.read("part", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->records.size(), 5u);
  EXPECT_EQ(got->next_offset, 20u);
  ASSERT_TRUE(got->stopped_by.has_value());
  EXPECT_EQ(got->stopped_by->code(), Errc::kCorrupt);
  req.start = StartPosition::at(20);
  next = r.read("part", 0, req);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().code(), Errc::kCorrupt);
  EXPECT_NE(next.error().message().find(third), std::string::npos) << next.error().message();
}

TEST_F(ReadTest, UnknownTopicsAndPartitionsCostOneLookupPerTtlNotOnePerRead) {
  std::vector<Record> recs;
  for (uint64_t o = 0; o < 5; ++o) recs.push_back(make(o, o));
  write_segment("known", 0, recs);
  auto clock = std::make_shared<ManualClock>();
  LogReaderOptions o;
  o.unknown_partition_ttl = Millis(1000);
  LogReader r(metadata_, store_, o, registry_, clock);
  ReadRequest req;
  req.start = StartPosition::at(0);

  store_->lists = 0;
  for (int i = 0; i < 20; ++i) {
    for (const char* topic : {"nope1", "nope2"}) {
      auto got = r.read(topic, 0, req);
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.error().code(), Errc::kTopicNotFound) << got.error().to_string();
    }
  }
  EXPECT_EQ(store_->lists.load(), 4)
      << "20 reads of 2 unknown topics: one lookup (2 LISTs) per topic within the TTL, not 40";

  store_->lists = 0;
  for (int i = 0; i < 20; ++i) {
    auto got = r.read("known", 7, req);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code(), Errc::kPartitionNotFound);
    auto info = r.partition_info("known", 7);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error().code(), Errc::kPartitionNotFound);
  }
  EXPECT_EQ(store_->lists.load(), 2) << "an unknown partition: one lookup within the TTL";

  // A topic created meanwhile is readable once the TTL has passed.
  write_segment("nope1", 0, recs);
  clock->advance(Millis(1001));
  auto got = r.read("nope1", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(got->records.size(), 5u);

  // Known partitions are unaffected; 0 turns remembering off.
  LogReaderOptions off;
  off.unknown_partition_ttl = Millis(0);
  LogReader plain(metadata_, store_, off, registry_, clock);
  store_->lists = 0;
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(plain.read("nope2", 0, req).ok());
  EXPECT_EQ(store_->lists.load(), 6) << "without remembering, each read looks again";
}

TEST_F(ReadTest, AVanishedSegmentReloadsTheIndexAtMostOncePerInterval) {
  for (uint64_t base : {0, 10, 20}) {
    std::vector<Record> recs;
    for (uint64_t o = base; o < base + 10; ++o) recs.push_back(make(o, o));
    write_segment("storm", 0, recs);
  }
  auto clock = std::make_shared<ManualClock>();
  LogReaderOptions o;
  o.index_ttl = Millis(3600'000);
  o.missing_segment_reload_interval = Millis(1000);
  LogReader r(metadata_, store_, o, registry_, clock);
  ASSERT_TRUE(r.partition_info("storm", 0).ok());
  const std::string middle = format::segment_key("", "storm", 0, 10);
  std::filesystem::remove(dir_ + "/" + middle);

  ReadRequest req;
  req.start = StartPosition::at(12);
  store_->lists = 0;
  for (int i = 0; i < 50; ++i) {
    auto got = r.read("storm", 0, req);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code(), Errc::kNotFound);
    EXPECT_NE(got.error().message().find(middle), std::string::npos) << got.error().message();
  }
  EXPECT_EQ(store_->lists.load(), 1) << "50 reads meeting a vanished segment: one reload, not 50";

  clock->advance(Millis(1001));
  ASSERT_FALSE(r.read("storm", 0, req).ok());
  EXPECT_EQ(store_->lists.load(), 2) << "after the interval, the next miss reloads again";

  // Retention (the log start moved): concurrent readers share one reload.
  std::filesystem::remove(dir_ + "/" + format::segment_key("", "storm", 0, 0));
  clock->advance(Millis(1001));
  store_->lists = 0;
  std::vector<std::thread> threads;
  std::atomic<int> out_of_range{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      ReadRequest q;
      q.start = StartPosition::at(3);
      auto got = r.read("storm", 0, q);
      if (!got.ok() && got.error().code() == Errc::kOffsetOutOfRange) ++out_of_range;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(out_of_range.load(), 8) << "every reader answers from the reloaded index (416)";
  EXPECT_EQ(store_->lists.load(), 1) << "8 concurrent misses share one reload";
  auto info = r.partition_info("storm", 0);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->log_start_offset, 20u);
}

// Metadata as an independent writer could register it: segments in two buckets.
class StaticMetadata final : public MetadataStore {
 public:
  std::vector<SegmentInfo> segments;
  Result<std::vector<TopicInfo>> list_topics(Deadline) override { return std::vector<TopicInfo>{}; }
  Result<TopicInfo> get_topic(std::string_view, Deadline) override { return TopicInfo{"t", 1, {0}}; }
  Result<PartitionInfo> get_partition(std::string_view, int32_t p, Deadline) override {
    if (p != 0) return Error(Errc::kPartitionNotFound, "no partition");
    return PartitionInfo{"t", 0, segments.front().base_offset, segments.back().last_offset + 1};
  }
  Result<std::vector<SegmentInfo>> list_segments(std::string_view, int32_t,
                                                 std::optional<uint64_t> after, Deadline) override {
    std::vector<SegmentInfo> out;
    for (const auto& s : segments) {
      if (!after || s.base_offset > *after) out.push_back(s);
    }
    return out;
  }
  Status register_segment(std::string_view, int32_t, const SegmentInfo&, Deadline) override {
    return {};
  }
  Result<std::vector<std::string>> list_groups(Deadline) override {
    return std::vector<std::string>{};
  }
  Result<std::vector<CommittedOffset>> get_group_offsets(std::string_view, Deadline) override {
    return Error(Errc::kGroupNotFound, "none");
  }
  Status commit_offsets(std::string_view, const std::vector<OffsetCommit>&, Deadline) override {
    return {};
  }
  Status ping(Deadline) override { return {}; }
  std::string describe() const override { return "static"; }
};

TEST_F(ReadTest, SegmentsInAnotherBucketAreReadFromThatBucketNeverFromTheSameKeyHere) {
  // The same key exists in both "buckets" (directories) with different records.
  std::vector<Record> here, there;
  for (uint64_t o = 0; o < 10; ++o) here.push_back(make(o, o));
  for (uint64_t o = 0; o < 10; ++o) {
    Record r = make(o, o);
    r.value = fmt::format("from-the-other-bucket-{}", o);
    there.push_back(r);
  }
  write_segment("t", 0, here);
  testing::ScratchDir other_dir("sh-read-other-bucket");
  auto other = LocalObjectStore::open(other_dir.path().string(), true);
  ASSERT_TRUE(other.ok());
  {
    format::SegmentWriter w;
    for (const auto& r : there) ASSERT_TRUE(w.add(r).ok());
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE((*other)->put(format::segment_key("", "t", 0, 0), *bytes, {}).ok());
  }
  auto meta = std::make_shared<StaticMetadata>();
  SegmentInfo seg;
  seg.key = format::segment_key("", "t", 0, 0);
  seg.bucket = "other";
  seg.base_offset = 0;
  seg.last_offset = 9;
  seg.record_count = 10;  // a row agrees with its object's footer, or the read is kCorrupt
  meta->segments = {seg};
  std::vector<std::string> asked;
  BucketResolver resolver = [&](const std::string& bucket) -> Result<std::shared_ptr<ObjectStore>> {
    asked.push_back(bucket);
    if (bucket == "other") return std::shared_ptr<ObjectStore>(*other);
    return Error(Errc::kUnavailable, "unknown bucket " + bucket);
  };
  auto source = std::make_shared<SegmentSource>(store_, SegmentSourceOptions{}, registry_, resolver);
  LogReader r(meta, source, LogReaderOptions{}, registry_);
  ReadRequest req;
  req.start = StartPosition::at(3);
  req.max_records = 1;
  auto got = r.read("t", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(records_of(*got).size(), 1u);
  EXPECT_EQ(records_of(*got)[0].value, "from-the-other-bucket-3");
  EXPECT_FALSE(asked.empty()) << "the resolver was consulted";
  // The same key of the configured store is cached apart: both read right.
  ASSERT_TRUE(source->meta(seg.key, {}).ok());
  auto here_meta = source->meta(seg.key, {});
  auto here_block = source->block(seg.key, **here_meta, 0, {});
  ASSERT_TRUE(here_block.ok());
  std::vector<HeaderView> scratch;
  EXPECT_EQ((*here_block)->record(3, &scratch).value, here[3].value);
  // Memory-only lookups (the warm path) find each bucket's block under its own name.
  auto other_meta = source->meta(seg.key, {}, "other");
  ASSERT_TRUE(other_meta.ok());
  auto cached_other = source->cached_block(seg.key, **other_meta, 0, "other");
  ASSERT_NE(cached_other, nullptr);
  EXPECT_EQ(cached_other->record(3, &scratch).value, "from-the-other-bucket-3");
  auto cached_here = source->cached_block(seg.key, **here_meta, 0);
  ASSERT_NE(cached_here, nullptr);
  EXPECT_EQ(cached_here->record(3, &scratch).value, here[3].value);
}

}  // namespace
}  // namespace sh::read
