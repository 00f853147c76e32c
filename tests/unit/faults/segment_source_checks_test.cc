// SegmentSource's checks of what it reads (real segment objects in a
// LocalObjectStore, faults injected between): corrupt reads are counted by
// kind, a footer that disagrees with its metadata row is an error naming key
// and row, block decodes hold a byte budget, large decoded blocks are cached,
// and what is remembered per segment stays bounded.
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "core/cache/disk_cache.h"
#include "core/cache/disk_cache_metrics.h"
#include "core/cache/lru_cache.h"
#include "core/format/coding.h"
#include "core/format/segment.h"
#include "core/metadata/segment_meta_loader.h"
#include "core/read/decode_budget.h"
#include "core/read/segment_source.h"
#include "core/storage/local_object_store.h"
#include "tests/support/concurrency.h"
#include "tests/support/fault_injecting_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {

using testing::FaultInjectingObjectStore;
using testing::FaultRule;

class SegmentSourceChecksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    faults_ = std::make_shared<FaultInjectingObjectStore>(*local);
  }

  // Writes records [first, first + count) as one segment and returns its key.
  std::string write_segment(const std::string& topic, uint64_t first, uint64_t count,
                            format::Compression compression = format::Compression::kLz4,
                            uint32_t block_bytes = 256, size_t value_bytes = 16) {
    format::SegmentWriterOptions o;
    o.block_bytes = block_bytes;
    o.compression = compression;
    format::SegmentWriter w(o);
    for (uint64_t off = first; off < first + count; ++off) {
      Record r;
      r.offset = off;
      r.timestamp = 1'000'000 + static_cast<int64_t>(off);
      r.key = fmt::format("k{}", off);
      r.value = std::string(value_bytes, static_cast<char>('a' + off % 26));
      EXPECT_TRUE(w.add(r).ok());
    }
    auto bytes = w.finish();
    EXPECT_TRUE(bytes.ok());
    const std::string key = format::segment_key("", topic, 0, first);
    EXPECT_TRUE(faults_->put(key, *bytes, {}).ok());
    return key;
  }

  std::unique_ptr<SegmentSource> source(SegmentSourceOptions o = {}) {
    return std::make_unique<SegmentSource>(faults_, o, registry_);
  }

  double corrupt_reads(const std::string& kind) const {
    for (const auto& fam : registry_.Collect()) {
      if (fam.name != "streamhouse_corrupt_reads_total") continue;
      for (const auto& m : fam.metric) {
        for (const auto& l : m.label) {
          if (l.name == "object_kind" && l.value == kind) return m.counter.value;
        }
      }
    }
    return -1;  // not registered
  }

  testing::ScratchDir scratch_{"sh-segment-source-test"};
  std::shared_ptr<FaultInjectingObjectStore> faults_;
  prometheus::Registry registry_;
};

// ---------------------------------------------------------------- corruption is visible

TEST_F(SegmentSourceChecksTest, FlippedBlockByteCountsOneCorruptBlockRead) {
  const std::string key = write_segment("t", 0, 40);
  auto src = source();
  auto meta = src->meta(key, {});
  ASSERT_TRUE(meta.ok()) << meta.error().to_string();
  EXPECT_EQ(corrupt_reads("block"), 0) << "the counter is exported from the start";
  const format::IndexEntry& e = (*meta)->index[1];
  faults_->add(FaultRule::flip("get_range", e.handle.size / 2).on_key(key).once());
  auto b = src->block(key, **meta, 1, {});
  ASSERT_FALSE(b.ok()) << "a flipped byte produced a block";
  EXPECT_EQ(b.error().code(), Errc::kCorrupt);
  EXPECT_NE(b.error().message().find(key), std::string::npos) << b.error().message();
  EXPECT_NE(b.error().message().find(fmt::format("block at {}", e.handle.position)),
            std::string::npos)
      << "names the byte position: " << b.error().message();
  EXPECT_EQ(corrupt_reads("block"), 1);
  // Served right once the fault is gone, and nothing more is counted.
  ASSERT_TRUE(src->block(key, **meta, 1, {}).ok());
  EXPECT_EQ(corrupt_reads("block"), 1);
  EXPECT_EQ(corrupt_reads("footer"), 0);
}

TEST_F(SegmentSourceChecksTest, FlippedFooterAndIndexBytesCountByKind) {
  const std::string key = write_segment("t", 0, 40);
  auto src = source();
  auto clean = src->meta(key, {});
  ASSERT_TRUE(clean.ok());
  src->invalidate(key);
  // The last byte is the footer's magic; 60 bytes from the end is inside the index.
  faults_->add(FaultRule::flip("get_suffix", 0, /*from_end=*/true).on_key(key).once());
  auto m = src->meta(key, {});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::kCorrupt) << m.error().to_string();
  EXPECT_EQ(corrupt_reads("footer"), 1);
  ASSERT_GT((*clean)->footer.index_length, 60u - format::Footer::kEncodedLength);
  faults_->add(FaultRule::flip("get_suffix", 60, /*from_end=*/true).on_key(key).once());
  m = src->meta(key, {});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::kCorrupt) << m.error().to_string();
  EXPECT_EQ(corrupt_reads("index"), 1) << m.error().message();
  EXPECT_EQ(corrupt_reads("footer"), 1);
  ASSERT_TRUE(src->meta(key, {}).ok()) << "a corrupt footer is not cached";
  EXPECT_EQ(corrupt_reads("block"), 0);
}

TEST_F(SegmentSourceChecksTest, CorruptDiskCacheFileCountsAsACorruptCacheFileRead) {
  auto src = source();  // the read path's counters share the registry
  testing::ScratchDir dir{"sh-disk-cache-corrupt"};
  cache::DiskCacheMetrics metrics(registry_);
  cache::DiskCacheOptions o;
  o.dir = dir.path().string();
  auto dc = cache::DiskCache::open(o, metrics, system_clock());
  ASSERT_TRUE(dc.ok()) << dc.error().to_string();
  ASSERT_TRUE((*dc)->put("block-1", std::string(4096, 'b')).ok());
  EXPECT_EQ(corrupt_reads("cache_file"), 0);
  {
    // Flip the last data byte of the entry file: its data CRC no longer matches.
    std::fstream f((*dc)->file_path("block-1"), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open());
    f.seekg(-1, std::ios::end);
    char c = 0;
    f.get(c);
    f.seekp(-1, std::ios::end);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  std::string out;
  auto got = (*dc)->get("block-1", &out);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_FALSE(*got) << "a corrupt cache file must be a miss";
  EXPECT_EQ(corrupt_reads("cache_file"), 1);
  EXPECT_EQ(corrupt_reads("block"), 0) << "the read path's own kinds are apart";
}

TEST(CorruptPartTest, NamesThePartAfterTheObjectName) {
  EXPECT_EQ(format::corrupt_part("o/1: block at 32: CRC mismatch", "o/1"), "block");
  EXPECT_EQ(format::corrupt_part("o/1: index entry 3 at 100: bad", "o/1"), "index");
  EXPECT_EQ(format::corrupt_part("o/1: footer at 9: bad magic", "o/1"), "footer");
  EXPECT_EQ(format::corrupt_part("o/1: header at 0: bad magic", "o/1"), "header");
  EXPECT_EQ(format::corrupt_part("o/1: object of 3 bytes is too short", "o/1"), "");
  EXPECT_EQ(format::corrupt_part("other: block at 32: x", "o/1"), "");
}

// ---------------------------------------------------------------- footer against its row

SegmentInfo row_of(const std::string& key, uint64_t base, uint64_t last, uint64_t records) {
  SegmentInfo s;
  s.key = key;
  s.base_offset = base;
  s.last_offset = last;
  s.record_count = records;
  s.footer_known = true;
  return s;
}

TEST_F(SegmentSourceChecksTest, FooterThatDisagreesWithItsRowIsCorruptNamingKeyAndRow) {
  const std::string key = write_segment("pg", 100, 50);  // offsets 100..149
  auto src = source();
  auto agree = src->meta(row_of(key, 100, 149, 50), {});
  ASSERT_TRUE(agree.ok()) << agree.error().to_string();

  struct Case {
    SegmentInfo row;
    const char* what;
  };
  const std::vector<Case> cases = {
      {row_of(key, 100, 119, 20), "object holds more records than the row (beyond its end)"},
      {row_of(key, 100, 199, 100), "object holds fewer records than the row"},
      {row_of(key, 90, 149, 60), "wrong base offset"},
      {row_of(key, 100, 149, 49), "record count differs"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto m = src->meta(c.row, {});
    ASSERT_FALSE(m.ok()) << "a footer that disagrees with its row was served";
    EXPECT_EQ(m.error().code(), Errc::kCorrupt) << m.error().to_string();
    EXPECT_NE(m.error().message().find(key), std::string::npos) << m.error().message();
    EXPECT_NE(m.error().message().find(
                  fmt::format("offsets {}..{}", c.row.base_offset, c.row.last_offset)),
              std::string::npos)
        << "names the row's range: " << m.error().message();
  }
  // A row without the footer summary (listing) is checked on its base offset only.
  SegmentInfo listed;
  listed.key = key;
  listed.base_offset = 100;
  listed.footer_known = false;
  EXPECT_TRUE(src->meta(listed, {}).ok());
  listed.base_offset = 101;
  auto wrong = src->meta(listed, {});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), Errc::kCorrupt);
  EXPECT_NE(wrong.error().message().find("base offset 101"), std::string::npos)
      << wrong.error().message();
}

TEST_F(SegmentSourceChecksTest, WrongObjectForTheRowIsCorrupt) {
  const std::string right = write_segment("pg", 0, 10);
  const std::string other = write_segment("pg", 10, 10);
  auto src = source();
  // The row of segment 0..9 names the object of 10..19.
  SegmentInfo row = row_of(other, 0, 9, 10);
  auto m = src->meta(row, {});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::kCorrupt);
  EXPECT_NE(m.error().message().find(other), std::string::npos) << m.error().message();
  EXPECT_TRUE(src->meta(row_of(right, 0, 9, 10), {}).ok());
}

// ---------------------------------------------------------------- decode budget

TEST_F(SegmentSourceChecksTest, BlockDecodeWaitsForBudgetAndFailsAtItsDeadline) {
  const std::string key = write_segment("budget", 0, 40);
  SegmentSourceOptions o;
  o.decode_budget = std::make_shared<DecodeBudget>(1u << 20);
  auto src = source(o);
  auto meta = src->meta(key, {});
  ASSERT_TRUE(meta.ok());
  {
    auto all = o.decode_budget->acquire(1u << 20, {});  // every byte of the budget
    ASSERT_TRUE(all.ok());
    auto b = src->block(key, **meta, 0, Deadline::after(Millis(30)));
    ASSERT_FALSE(b.ok()) << "a decode ran without budget";
    EXPECT_EQ(b.error().code(), Errc::kResourceExhausted) << b.error().to_string();
    EXPECT_TRUE(b.error().retryable());
    EXPECT_NE(b.error().message().find("decode budget"), std::string::npos) << b.error().message();
  }
  auto b = src->block(key, **meta, 0, Deadline::after(Millis(30000)));
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_EQ(o.decode_budget->in_use(), 0u) << "a finished decode gives its bytes back";
}

TEST(DecodeBudgetTest, WaiterProceedsWhenBytesComeBack) {
  DecodeBudget budget(100);
  auto first = budget.acquire(80, {});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(budget.in_use(), 80u);
  auto waiter = std::async(std::launch::async,
                           [&] { return budget.acquire(50, Deadline::after(Millis(30000))); });
  ASSERT_TRUE(sh::testing::eventually([&] { return budget.waiting() == 1; }));
  EXPECT_EQ(budget.in_use(), 80u) << "50 more bytes do not fit";
  { DecodeBudget::Units gone = std::move(first).value(); }
  auto got = waiter.get();
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(got->bytes(), 50u);
  EXPECT_EQ(budget.in_use(), 50u);
}

TEST(DecodeBudgetTest, RequestLargerThanTheBudgetRunsAlone) {
  DecodeBudget budget(100);
  auto big = budget.acquire(1000, {});
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->bytes(), 100u);
  auto more = budget.acquire(1, Deadline::after(Millis(1)));
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().code(), Errc::kResourceExhausted);
}

// ---------------------------------------------------------------- large blocks are cached

TEST_F(SegmentSourceChecksTest, DecodedBlockLargerThanOneCacheShardIsCached) {
  // One record of 20 MiB: a block of its own, larger than a 256 MiB cache's 16 MiB shard.
  const std::string key =
      write_segment("big", 0, 1, format::Compression::kLz4, 1u << 20, size_t{20} << 20);
  SegmentSourceOptions o;
  o.block_cache_bytes = 256u << 20;
  auto src = source(o);
  auto meta = src->meta(key, {});
  ASSERT_TRUE(meta.ok());
  ASSERT_EQ((*meta)->index.size(), 1u);
  auto first = src->block(key, **meta, 0, {});
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  ASSERT_GT((*first)->memory_charge(), o.block_cache_bytes / 16) << "the test wants a large block";
  const uint64_t reads = faults_->calls("get_range");
  auto again = src->block(key, **meta, 0, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(faults_->calls("get_range"), reads) << "the large block was read again: not cached";
  EXPECT_EQ(again->get(), first->get());
}

TEST(LruCacheLargeEntries, EntriesAboveAShardShareAreCachedWithinTheTotalCapacity) {
  cache::LruCache<uint64_t, int> c(16 * 100, 4);  // 16 shards of 100 bytes
  c.insert(1'000'000, std::make_shared<const int>(7), 500);
  ASSERT_NE(c.lookup(1'000'000), nullptr) << "an entry above one shard's share must be cached";
  EXPECT_EQ(c.large_entries(), 1u);
  EXPECT_EQ(c.rejected(), 0u);
  for (uint64_t k = 0; k < 1000; ++k) c.insert(k, std::make_shared<const int>(int(k)), 10);
  EXPECT_LE(c.usage(), c.capacity()) << "small and large entries together stay within capacity";
  EXPECT_NE(c.lookup(1'000'000), nullptr) << "small entries do not push out the large one";
  // Large entries beyond half the capacity push out older large ones.
  c.insert(2'000'000, std::make_shared<const int>(8), 500);
  EXPECT_EQ(c.lookup(1'000'000), nullptr);
  EXPECT_NE(c.lookup(2'000'000), nullptr);
  EXPECT_LE(c.usage(), c.capacity());
  // More than half the capacity is not cached; replacing and erasing work across areas.
  c.insert(3, std::make_shared<const int>(9), 801);
  EXPECT_EQ(c.lookup(3), nullptr) << "an oversized replacement must not leave the stale value";
  EXPECT_EQ(c.rejected(), 1u);
  c.insert(2'000'000, std::make_shared<const int>(10), 10);
  ASSERT_NE(c.lookup(2'000'000), nullptr);
  EXPECT_EQ(*c.lookup(2'000'000), 10);
  EXPECT_EQ(c.large_entries(), 0u) << "the replaced large entry is gone";
  c.insert(4'000'000, std::make_shared<const int>(11), 300);
  c.erase(4'000'000);
  EXPECT_EQ(c.lookup(4'000'000), nullptr);
  EXPECT_LE(c.usage(), c.capacity());
}

// ---------------------------------------------------------------- bounded per-segment state

TEST_F(SegmentSourceChecksTest, CompressionLearnedFromHeadersIsBounded) {
  SegmentSourceOptions o;
  o.footer_read_bytes = 64;         // the suffix never reaches the header
  o.compression_cache_bytes = 1024;  // a handful of entries
  auto src = source(o);
  constexpr int kSegments = 60;
  for (int i = 0; i < kSegments; ++i) {
    // Uncompressed: stored and raw lengths are equal; the compression is
    // learned per segment (here from decoding both ways).
    const std::string key = write_segment("many", static_cast<uint64_t>(i) * 10, 10,
                                          format::Compression::kNone, 1u << 20, 30);
    auto meta = src->meta(key, {});
    ASSERT_TRUE(meta.ok()) << meta.error().to_string();
    ASSERT_FALSE((*meta)->header.has_value()) << "the test wants the header read separately";
    auto b = src->block(key, **meta, 0, {});
    ASSERT_TRUE(b.ok()) << b.error().to_string();
  }
  EXPECT_GT(src->compression_entries(), 0u);
  EXPECT_LE(src->compression_entries(), 1024u / 64) << "the per-segment map must stay bounded";
  EXPECT_LT(src->compression_entries(), static_cast<size_t>(kSegments));
}


// ---------------------------------------------------------------- ambiguous block lengths

// Records of mostly incompressible text, a few per block: under LZ4 about one
// block in a hundred comes out exactly as long as its raw payload.
std::string write_incompressible(FaultInjectingObjectStore& store, format::Compression c) {
  format::SegmentWriterOptions o;
  o.block_bytes = 4096;
  o.compression = c;
  format::SegmentWriter w(o);
  std::mt19937_64 rng(42);
  static const char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (uint64_t off = 0; off < 3000; ++off) {
    Record r;
    r.offset = off;
    r.timestamp = 1'000'000 + static_cast<int64_t>(off);
    r.key = fmt::format("k{}", off);
    std::string v = fmt::format("value {} ", off);
    for (size_t n = 500 + rng() % 1000; n > 0; --n) v.push_back(kAlnum[rng() % 62]);
    r.value = std::move(v);
    EXPECT_TRUE(w.add(r).ok());
  }
  auto bytes = w.finish();
  EXPECT_TRUE(bytes.ok());
  const std::string key = format::segment_key("", "amb", 0, 0);
  EXPECT_TRUE(store.put(key, *bytes, {}).ok());
  return key;
}

// Blocks whose stored and raw lengths are equal.
std::vector<size_t> equal_length_blocks(ObjectStore& store, const std::string& key,
                                        const format::SegmentMeta& meta) {
  std::vector<size_t> out;
  for (size_t b = 0; b < meta.index.size(); ++b) {
    auto r = store.get_range(key, meta.index[b].handle.position, format::kBlockHeaderBytes, {});
    EXPECT_TRUE(r.ok());
    if (coding::decode_fixed32(r->data.data()) == coding::decode_fixed32(r->data.data() + 4)) {
      out.push_back(b);
    }
  }
  return out;
}

TEST_F(SegmentSourceChecksTest, AnLz4BlockAsLongAsItsPayloadIsDecodedWithoutReadingTheHeader) {
  const std::string key = write_incompressible(*faults_, format::Compression::kLz4);
  SegmentSourceOptions o;
  o.footer_read_bytes = 64;  // the suffix never reaches the header
  auto src = source(o);
  auto meta = src->meta(key, {});
  ASSERT_TRUE(meta.ok()) << meta.error().to_string();
  ASSERT_FALSE((*meta)->header.has_value());
  const std::vector<size_t> equal = equal_length_blocks(*faults_, key, **meta);
  ASSERT_FALSE(equal.empty()) << "the data was meant to give an LZ4 block as long as its payload";
  const size_t b = equal.front();
  const uint64_t before = faults_->calls("get_range");
  auto block = src->block(key, **meta, b, {});
  ASSERT_TRUE(block.ok()) << block.error().to_string();
  EXPECT_EQ(faults_->calls("get_range") - before, 1u)
      << "one GET for the block; LZ4 is the only reading that decodes, so no header read";
  const format::IndexEntry& e = (*meta)->index[b];
  ASSERT_EQ((*block)->record_count(), e.last_offset - e.first_offset + 1);
  std::vector<HeaderView> scratch;
  EXPECT_EQ(*(*block)->record(0, &scratch).key, fmt::format("k{}", e.first_offset));
  EXPECT_EQ(src->compression_entries(), 1u) << "what the block showed is remembered for the segment";
}

TEST_F(SegmentSourceChecksTest, AnUncompressedBlockIsDecodedWithoutReadingTheHeader) {
  const std::string key = write_incompressible(*faults_, format::Compression::kNone);
  SegmentSourceOptions o;
  o.footer_read_bytes = 64;
  auto src = source(o);
  auto meta = src->meta(key, {});
  ASSERT_TRUE(meta.ok()) << meta.error().to_string();
  const uint64_t before = faults_->calls("get_range");
  for (size_t b = 0; b < 3; ++b) {
    auto block = src->block(key, **meta, b, {});
    ASSERT_TRUE(block.ok()) << block.error().to_string();
    const format::IndexEntry& e = (*meta)->index[b];
    std::vector<HeaderView> scratch;
    EXPECT_EQ(*(*block)->record(0, &scratch).key, fmt::format("k{}", e.first_offset));
  }
  EXPECT_EQ(faults_->calls("get_range") - before, 3u) << "one GET per block and none for the header";
}

TEST_F(SegmentSourceChecksTest, WithoutBudgetForASecondReadingTheHeaderDecides) {
  const std::string key = write_incompressible(*faults_, format::Compression::kNone);
  SegmentSourceOptions probe_opts;
  probe_opts.footer_read_bytes = 64;
  auto meta = source(probe_opts)->meta(key, {});
  ASSERT_TRUE(meta.ok()) << meta.error().to_string();
  // Room for one decode of block 0 (stored + raw bytes), not for a second reading beside it.
  const uint64_t size = (*meta)->index[0].handle.size;
  SegmentSourceOptions o = probe_opts;
  o.decode_budget_bytes = size * 2 + size / 2;
  auto src = source(o);
  auto m = src->meta(key, {});
  ASSERT_TRUE(m.ok());
  const uint64_t before = faults_->calls("get_range");
  auto block = src->block(key, **m, 0, Deadline::after(Millis(2000)));
  ASSERT_TRUE(block.ok()) << block.error().to_string();
  EXPECT_EQ(faults_->calls("get_range") - before, 2u) << "the block, then the header: nothing waited";
  std::vector<HeaderView> scratch;
  EXPECT_EQ(*(*block)->record(0, &scratch).key, "k0");
  EXPECT_EQ(src->decode_budget().in_use(), 0u) << "every unit came back";
}

}  // namespace
}  // namespace sh::read
