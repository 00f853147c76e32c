// ReadRequest::cache_only: a read answered from memory only (the HTTP workers'
// warm path) gives exactly what a normal read gives when everything is cached,
// and otherwise fails with kWouldBlock having touched neither the store nor
// the metadata.
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/storage/local_object_store.h"
#include "tests/support/fault_injecting_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {

class CacheOnlyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    // Two segments of 2,000 records in 4 KiB blocks.
    for (uint64_t base : {0u, 2000u}) {
      format::SegmentWriterOptions o;
      o.block_bytes = 4096;
      format::SegmentWriter w(o);
      for (uint64_t i = base; i < base + 2000; ++i) {
        Record r;
        r.offset = i;
        r.timestamp = static_cast<int64_t>(i);
        r.value = std::string(64, 'x');
        ASSERT_TRUE(w.add(r).ok());
      }
      auto bytes = w.finish();
      ASSERT_TRUE(bytes.ok());
      ASSERT_TRUE((*local)->put(format::segment_key("", "t", 0, base), *bytes, {}).ok());
    }
    store_ = std::make_shared<testing::FaultInjectingObjectStore>(*local);
    metadata_ = std::make_shared<ListingMetadataStore>(store_);
    LogReaderOptions o;
    o.index_ttl = Millis(3600000);
    reader_ = std::make_unique<LogReader>(metadata_, store_, o, registry_);
  }

  static ReadRequest at(uint64_t offset, bool cache_only, uint32_t max_records = 50) {
    ReadRequest r;
    r.start = StartPosition::at(offset);
    r.max_records = max_records;
    r.cache_only = cache_only;
    return r;
  }
  uint64_t store_calls() const {
    uint64_t n = 0;
    for (const char* op : {"get_range", "get_suffix", "get", "head", "list"}) n += store_->calls(op);
    return n;
  }

  sh::testing::ScratchDir scratch_;
  std::shared_ptr<testing::FaultInjectingObjectStore> store_;
  std::shared_ptr<ListingMetadataStore> metadata_;
  prometheus::Registry registry_;
  std::unique_ptr<LogReader> reader_;
};

TEST_F(CacheOnlyTest, NothingInMemoryIsWouldBlockWithoutTouchingTheStore) {
  auto r = reader_->read("t", 0, at(10, true));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kWouldBlock) << r.error().to_string();
  EXPECT_EQ(store_calls(), 0u) << "no listing, no footer, no block read";
}

TEST_F(CacheOnlyTest, ACachedRangeIsTheSameAsANormalReadAndCostsNoStoreCall) {
  auto normal = reader_->read("t", 0, at(1990, false));  // crosses into the second segment
  ASSERT_TRUE(normal.ok()) << normal.error().to_string();
  ASSERT_EQ(normal->records.size(), 50u);
  const uint64_t calls = store_calls();
  auto cached = reader_->read("t", 0, at(1990, true));
  ASSERT_TRUE(cached.ok()) << cached.error().to_string();
  EXPECT_EQ(store_calls(), calls);
  ASSERT_EQ(cached->records.size(), normal->records.size());
  for (size_t i = 0; i < cached->records.size(); ++i) {
    EXPECT_EQ(cached->records[i].offset(), normal->records[i].offset());
  }
  EXPECT_EQ(cached->next_offset, normal->next_offset);
  EXPECT_EQ(cached->high_watermark, normal->high_watermark);
}

TEST_F(CacheOnlyTest, ABlockNotCachedFailsTheWholeReadNotAPartOfIt) {
  ASSERT_TRUE(reader_->read("t", 0, at(0, false, 1)).ok());  // index, footer, first block
  const uint64_t calls = store_calls();
  auto r = reader_->read("t", 0, at(0, true, 1000));  // needs later blocks too
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kWouldBlock)
      << "never a shorter answer made of the cached blocks";
  EXPECT_EQ(store_calls(), calls);
  auto footer = reader_->read("t", 0, at(2500, true));  // second segment's footer not read yet
  ASSERT_FALSE(footer.ok());
  EXPECT_EQ(footer.error().code(), Errc::kWouldBlock);
  EXPECT_EQ(store_calls(), calls);
}

TEST_F(CacheOnlyTest, TheHeadLatestAndTimestampsAlwaysTakeTheOtherPath) {
  ASSERT_TRUE(reader_->read("t", 0, at(3990, false)).ok());
  for (const ReadRequest& req : [] {
         ReadRequest head = at(4000, true), latest = at(0, true), ts = at(0, true);
         latest.start = StartPosition::latest();
         ts.start = StartPosition::at_timestamp(3995);
         return std::vector<ReadRequest>{head, latest, ts};
       }()) {
    auto r = reader_->read("t", 0, req);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::kWouldBlock);
  }
}

}  // namespace
}  // namespace sh::read
