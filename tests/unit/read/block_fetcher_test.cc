// BlockFetcher: adaptive read-ahead (window grows on sequential reads, collapses
// on a jump, coalesced GETs, global cap, cancellation) and the disk-cache tier
// (a restart re-reads with zero GETs; a damaged cache file is refetched), over a
// real LocalObjectStore that counts what reaches it.
#include "core/read/block_fetcher.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "core/format/segment.h"
#include "core/storage/forwarding_object_store.h"
#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {

using namespace std::chrono_literals;

class CountingStore final : public ForwardingObjectStore {
 public:
  using ForwardingObjectStore::ForwardingObjectStore;
  Result<RangeRead> get_range(std::string_view key, uint64_t offset, uint64_t length,
                              const ReadOptions& opts) override {
    ++gets;
    bytes += length;
    {
      std::lock_guard lock(mu);
      lengths.push_back(length);
    }
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    return ForwardingObjectStore::get_range(key, offset, length, opts);
  }
  std::atomic<int> gets{0}, delay_ms{0};
  std::atomic<uint64_t> bytes{0};
  std::mutex mu;
  std::vector<uint64_t> lengths;  // of every GET, in order
};

class BlockFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open((scratch_.path() / "store").string(), true);
    ASSERT_TRUE(local.ok());
    store_ = std::make_shared<CountingStore>(*local);
    // 64 blocks of about 4 KiB each.
    format::SegmentWriterOptions wo;
    wo.block_bytes = 4096;
    wo.compression = format::Compression::kNone;
    format::SegmentWriter w(wo);
    for (uint64_t o = 0; o < 64 * 40; ++o) {
      Record r;
      r.offset = o;
      r.value = std::string(96, static_cast<char>('a' + o % 26));
      ASSERT_TRUE(w.add(r).ok());
    }
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(store_->put(key_, *bytes, {}).ok());
    auto tail = store_->get_suffix(key_, 1 << 20, {});
    ASSERT_TRUE(tail.ok());
    auto parsed = format::parse_tail(tail->data, tail->object_size, tail->etag, key_);
    ASSERT_TRUE(parsed.ok() && parsed->meta);
    meta_ = *parsed->meta;
    ASSERT_GE(meta_.index.size(), 40u);
    block_ = meta_.index[0].handle.size;
  }

  Result<std::string> fetch(BlockFetcher& f, size_t b) {
    return f.fetch(*store_, key_, key_, meta_, b, Deadline::after(10s));
  }
  // Waits for prefetches in flight to land.
  static void settle(exec::IoEngine& engine) {
    for (int i = 0; i < 2000 && (engine.running() > 0 || engine.queued() > 0); ++i) {
      std::this_thread::sleep_for(1ms);
    }
  }
  // The same bytes as a second segment of the same partition (kNext); its meta.
  void add_next_segment(format::SegmentMeta* out) {
    auto bytes = store_->ForwardingObjectStore::get(key_, {});
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(store_->put(kNext, bytes->data, {}).ok());
    auto tail = store_->get_suffix(kNext, 1 << 20, {});
    ASSERT_TRUE(tail.ok());
    auto parsed = format::parse_tail(tail->data, tail->object_size, tail->etag, kNext);
    ASSERT_TRUE(parsed.ok() && parsed->meta);
    *out = *parsed->meta;
  }
  static constexpr const char* kNext = "t/0/seg_00000000000000100000.bin";
  std::string expected(size_t b) {
    const auto& h = meta_.index[b].handle;
    auto r = store_->ForwardingObjectStore::get_range(key_, h.position, h.size, {});
    return r.ok() ? r->data : std::string();
  }

  sh::testing::ScratchDir scratch_;
  std::shared_ptr<CountingStore> store_;
  const std::string key_ = "t/0/seg_00000000000000000000.bin";
  format::SegmentMeta meta_;
  uint64_t block_ = 0;
  prometheus::Registry registry_;
};

TEST_F(BlockFetcherTest, TheWindowDoublesWhileReadsAreSequentialAndCollapsesOnAJump) {
  exec::IoEngine engine({4, 64, "readahead"}, registry_);
  BlockFetcherOptions o;
  o.readahead_max_bytes = 8 * block_;
  BlockFetcher f(o, nullptr, &engine, registry_);
  ASSERT_TRUE(fetch(f, 0).ok());
  EXPECT_EQ(f.window_bytes(key_, meta_.etag), 0u) << "a first read reads nothing ahead";
  settle(engine);
  EXPECT_EQ(store_->gets.load(), 1) << "a first read costs exactly its own block";
  ASSERT_TRUE(fetch(f, 1).ok());
  EXPECT_GE(f.window_bytes(key_, meta_.etag), meta_.index[1].handle.size)
      << "moving forward starts the window at one block";
  settle(engine);
  uint64_t last = f.window_bytes(key_, meta_.etag);
  for (size_t b = 2; b <= 5; ++b) {
    auto got = fetch(f, b);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, expected(b)) << "block " << b << " bytes";
    const uint64_t w = f.window_bytes(key_, meta_.etag);
    EXPECT_GE(w, std::min<uint64_t>(2 * last, 8 * block_) - 64) << "doubles at block " << b;
    EXPECT_LE(w, 8 * block_) << "never above readahead_max_bytes";
    last = w;
    settle(engine);
  }
  EXPECT_GE(last, 7 * block_);
  const int gets = store_->gets.load();
  ASSERT_TRUE(fetch(f, 40).ok());
  EXPECT_EQ(f.window_bytes(key_, meta_.etag), 0u) << "a random jump collapses the window";
  settle(engine);
  EXPECT_EQ(store_->gets.load(), gets + 1) << "a jump fetches only its own block";
}

TEST_F(BlockFetcherTest, ASequentialScanCostsFewCoalescedGetsAndNoExtraBytes) {
  exec::IoEngine engine({4, 64, "readahead"}, registry_);
  BlockFetcherOptions o;
  o.readahead_max_bytes = 16 * block_;
  o.max_get_bytes = 8 * block_;
  BlockFetcher f(o, nullptr, &engine, registry_);
  const size_t n = meta_.index.size();
  for (size_t b = 0; b < n; ++b) {
    auto got = fetch(f, b);
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    ASSERT_EQ(*got, expected(b)) << "block " << b;
  }
  settle(engine);
  uint64_t stored = 0;
  for (const auto& e : meta_.index) stored += e.handle.size;
  EXPECT_LT(store_->gets.load(), static_cast<int>(n / 2))
      << "consecutive blocks must be coalesced into ranged GETs";
  EXPECT_LE(static_cast<double>(store_->bytes.load()), 1.05 * static_cast<double>(stored))
      << "read-ahead must not fetch what the scan does not read";
  EXPECT_EQ(f.inflight_bytes(), 0u) << "everything prefetched was consumed";
}

TEST_F(BlockFetcherTest, TheWindowCarriesOverToTheNextSegmentOfThePartition) {
  const std::string next = kNext;
  format::SegmentMeta next_meta;
  ASSERT_NO_FATAL_FAILURE(add_next_segment(&next_meta));

  exec::IoEngine engine({4, 64, "readahead"}, registry_);
  BlockFetcherOptions o;
  o.readahead_max_bytes = 8 * block_;
  BlockFetcher f(o, nullptr, &engine, registry_);
  for (size_t b = 0; b < meta_.index.size(); ++b) ASSERT_TRUE(fetch(f, b).ok());
  const uint64_t window = f.window_bytes(key_, meta_.etag);
  ASSERT_GT(window, 0u);
  settle(engine);
  // Near the end of the first segment the next one is started ahead of the reader.
  ASSERT_TRUE(f.wants_start(next)) << "a sequential reader at the end of the partition's segment";
  f.start_ahead(*store_, next, next, next_meta);
  EXPECT_FALSE(f.wants_start(next)) << "started once";
  settle(engine);
  EXPECT_GT(f.inflight_bytes(), 0u) << "the next segment's first blocks are fetched ahead";
  const int gets = store_->gets.load();
  auto first = f.fetch(*store_, next, next, next_meta, 0, Deadline::after(10s));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(store_->gets.load(), gets) << "the reader finds the next segment's first block fetched";
  EXPECT_GE(f.window_bytes(next, next_meta.etag), window)
      << "a reader going on into the next segment keeps its window";
}

TEST_F(BlockFetcherTest, ReadAheadIsBoundedGloballyAndCancelledWhenThePatternGoesIdle) {
  exec::IoEngine engine({2, 64, "readahead"}, registry_);
  BlockFetcherOptions o;
  o.readahead_max_bytes = 32 * block_;
  o.max_inflight_bytes = 5 * block_;
  o.idle_timeout = 50ms;
  BlockFetcher f(o, nullptr, &engine, registry_);
  for (size_t b = 0; b < 6; ++b) {
    ASSERT_TRUE(fetch(f, b).ok());
    EXPECT_LE(f.inflight_bytes(), 5 * block_ + 64) << "global cap on bytes in flight";
  }
  settle(engine);
  EXPECT_GT(f.inflight_bytes(), 0u) << "something was prefetched ahead";
  // The consumer goes away: after the idle timeout its buffered bytes are dropped
  // (swept on the next fetch of anyone).
  std::this_thread::sleep_for(1100ms);
  ASSERT_TRUE(f.fetch(*store_, "other", key_, meta_, 0, Deadline::after(10s)).ok());
  settle(engine);
  EXPECT_LE(f.inflight_bytes(), meta_.index[1].handle.size + 64)
      << "the idle pattern's read-ahead must be released";
}

TEST_F(BlockFetcherTest, TheDiskCacheSurvivesARestartAndRefetchesADamagedFile) {
  cache::DiskCacheMetrics dm(registry_);
  cache::DiskCacheOptions dopts;
  dopts.dir = (scratch_.path() / "cache").string();
  {
    auto disk = cache::DiskCache::open(dopts, dm, system_clock());
    ASSERT_TRUE(disk.ok()) << disk.error().to_string();
    BlockFetcher f({}, disk->get(), nullptr, registry_);
    for (size_t b = 0; b < 10; ++b) ASSERT_TRUE(fetch(f, b).ok());
  }
  const int gets_before = store_->gets.load();
  auto disk = cache::DiskCache::open(dopts, dm, system_clock());
  ASSERT_TRUE(disk.ok());
  BlockFetcher f({}, disk->get(), nullptr, registry_);
  for (size_t b = 0; b < 10; ++b) {
    auto got = fetch(f, b);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, expected(b));
  }
  EXPECT_EQ(store_->gets.load(), gets_before) << "a restart re-reads the warm set with 0 GETs";

  // Damage one cache file: it is detected, refetched from the store, and right.
  std::string path;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dopts.dir)) {
    if (e.is_regular_file() && e.path().extension() == ".blk") path = e.path().string();
  }
  ASSERT_FALSE(path.empty());
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-1, std::ios::end);
    file.put('\x5a');
  }
  for (size_t b = 0; b < 10; ++b) {
    auto got = fetch(f, b);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, expected(b)) << "block " << b << " after damaging a cache file";
  }
  EXPECT_EQ(store_->gets.load(), gets_before + 1) << "exactly the damaged block is refetched";
  EXPECT_EQ((*disk)->stats().corruptions, 1u);
}

TEST_F(BlockFetcherTest, ARequestsBlocksAreReadInOneGetAndItsFetchesDoNotCollapse) {
  exec::IoEngine engine({4, 64, "readahead"}, registry_);
  BlockFetcherOptions o;
  o.readahead_max_bytes = 4 * block_;
  BlockFetcher f(o, nullptr, &engine, registry_);
  // A first read that will want 10 blocks: one GET of the 10, on the caller's thread.
  f.expect(*store_, key_, key_, meta_, 20, 10, Deadline::after(10s));
  EXPECT_EQ(store_->gets.load(), 1);
  uint64_t ten = 0;
  for (size_t b = 20; b < 30; ++b) ten += meta_.index[b].handle.size;
  EXPECT_EQ(store_->bytes.load(), ten);
  for (size_t b = 20; b < 30; ++b) {
    auto got = fetch(f, b);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, expected(b)) << "block " << b;
  }
  settle(engine);
  EXPECT_GT(f.window_bytes(key_, meta_.etag), 0u)
      << "the prepared first block does not collapse the pattern it started";
  uint64_t after = 0;
  for (size_t b = 30; b < meta_.index.size() && b < 30 + 8; ++b) after += meta_.index[b].handle.size;
  EXPECT_LE(store_->bytes.load(), ten + after) << "no block of the request was fetched twice";

  // A jump elsewhere collapses what was read ahead, then reads the new request's blocks.
  const int gets = store_->gets.load();
  f.expect(*store_, key_, key_, meta_, 2, 3, Deadline::after(10s));
  EXPECT_EQ(f.window_bytes(key_, meta_.etag), 0u);
  EXPECT_EQ(store_->gets.load(), gets + 1);
  for (size_t b = 2; b < 5; ++b) {
    auto got = fetch(f, b);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, expected(b)) << "block " << b;
  }
  settle(engine);
}

TEST_F(BlockFetcherTest, RunsNearTheReaderAreSmallAndFarOnesLarge) {
  exec::IoEngine engine({4, 64, "readahead"}, registry_);
  BlockFetcherOptions o;
  o.readahead_max_bytes = 32 * block_;
  o.max_get_bytes = 8 * block_;
  BlockFetcher f(o, nullptr, &engine, registry_);
  // A reader that carries a full window into a fresh segment: read-ahead of the
  // whole window is planned at once, starting next to the reader.
  const std::string next = kNext;
  format::SegmentMeta next_meta;
  ASSERT_NO_FATAL_FAILURE(add_next_segment(&next_meta));
  for (size_t b = 0; b < meta_.index.size(); ++b) ASSERT_TRUE(fetch(f, b).ok());
  settle(engine);
  ASSERT_GE(f.window_bytes(key_, meta_.etag), 16 * block_);
  {
    std::lock_guard lock(store_->mu);
    store_->lengths.clear();
  }
  ASSERT_TRUE(f.wants_start(next));
  f.start_ahead(*store_, next, next, next_meta);
  settle(engine);
  std::vector<uint64_t> runs;
  {
    std::lock_guard lock(store_->mu);
    runs = store_->lengths;
  }
  ASSERT_GE(runs.size(), 3u);
  std::sort(runs.begin(), runs.end());
  EXPECT_LE(runs.front(), next_meta.index[0].handle.size + 64)
      << "the run next to the reader is one block: it lands first";
  EXPECT_GE(runs.back(), 4 * block_) << "runs farther ahead are coalesced into large GETs";
}

TEST_F(BlockFetcherTest, WhenReadAheadCoversASegmentsEndTheNextSegmentIsWanted) {
  exec::IoEngine engine({4, 64, "readahead"}, registry_);
  BlockFetcherOptions o;
  o.readahead_max_bytes = 1u << 20;  // more than the whole segment
  BlockFetcher f(o, nullptr, &engine, registry_);
  const std::string next = "t/0/seg_00000000000000100000.bin";
  EXPECT_FALSE(f.wants_start(next)) << "no sequential reader yet";
  size_t b = 0;
  for (; b < meta_.index.size() && !f.wants_start(next); ++b) ASSERT_TRUE(fetch(f, b).ok());
  EXPECT_LT(b + 4, meta_.index.size())
      << "wanted as soon as read-ahead reaches the end, long before the reader does";
  EXPECT_FALSE(f.wants_start(next)) << "said once";
  EXPECT_FALSE(f.wants_start(key_)) << "never the segment being read";
  settle(engine);
}

TEST_F(BlockFetcherTest, ReadAheadAfterARestartComesFromTheDiskCache) {
  cache::DiskCacheMetrics dm(registry_);
  cache::DiskCacheOptions dopts;
  dopts.dir = (scratch_.path() / "cache").string();
  exec::IoEngine engine({4, 64, "readahead"}, registry_);
  BlockFetcherOptions o;
  o.readahead_max_bytes = 16 * block_;
  {
    auto disk = cache::DiskCache::open(dopts, dm, system_clock());
    ASSERT_TRUE(disk.ok()) << disk.error().to_string();
    BlockFetcher f(o, disk->get(), &engine, registry_);
    for (size_t b = 0; b < meta_.index.size(); ++b) ASSERT_TRUE(fetch(f, b).ok());
    settle(engine);
  }
  const int gets_before = store_->gets.load();
  auto disk = cache::DiskCache::open(dopts, dm, system_clock());
  ASSERT_TRUE(disk.ok());
  BlockFetcher f(o, disk->get(), &engine, registry_);
  for (size_t b = 0; b < meta_.index.size(); ++b) {
    auto got = fetch(f, b);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(*got, expected(b)) << "block " << b;
  }
  settle(engine);
  EXPECT_EQ(store_->gets.load(), gets_before)
      << "a sequential re-read after a restart, read-ahead included, costs 0 GETs";
}

}  // namespace
}  // namespace sh::read
