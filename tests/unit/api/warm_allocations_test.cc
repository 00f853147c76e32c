// "No allocation per record in steady state" (issue "consume", the warm path):
// a warm records read — the LogReader's read of cached blocks with their kept
// encoding, then the response body built from it — allocates a few times per
// read (its lists, its body), never once per record or per block.
//
// This binary replaces the global operator new (tests/support/allocation_probe.h)
// to count allocations while a read runs.
#include <bit>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "api/record_encoders.h"
#include "api/records_json.h"
#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/storage/local_object_store.h"
#include "tests/support/allocation_probe.h"
#include "tests/support/temp_dir.h"

namespace sh::api {
namespace {

constexpr uint64_t kRecords = 8000;

class WarmAllocationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    // Two segments, 4 KiB blocks of ~40 records with keys, values and a header.
    for (uint64_t base : {uint64_t{0}, kRecords / 2}) {
      format::SegmentWriterOptions o;
      o.block_bytes = 4096;
      format::SegmentWriter w(o);
      for (uint64_t i = base; i < base + kRecords / 2; ++i) {
        Record r;
        r.offset = i;
        r.timestamp = 1'700'000'000'000 + static_cast<int64_t>(i);
        r.key = fmt::format("key-{}", i);
        r.value = fmt::format(R"({{"order":{},"note":"caf\u00e9 \"x\""}})", i) + std::string(40, 'v');
        r.headers.push_back({"source", std::string("bench")});
        ASSERT_TRUE(w.add(r).ok());
      }
      auto bytes = w.finish();
      ASSERT_TRUE(bytes.ok());
      ASSERT_TRUE((*local)->put(format::segment_key("", "t", 0, base), *bytes, {}).ok());
    }
    auto metadata = std::make_shared<ListingMetadataStore>(*local);
    read::LogReaderOptions o;
    o.index_ttl = Millis(3600000);
    reader_ = std::make_unique<read::LogReader>(metadata, *local, o, registry_);
    encoder_ = record_encoder(RecordFraming::kRecords, RecordFormat::kString);
    // Warm: every block decoded and encoded once.
    for (uint64_t off = 0; off < kRecords;) {
      auto r = reader_->read("t", 0, request(off, 10000, false));
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      ASSERT_FALSE(r->records.empty());
      off = r->next_offset;
    }
  }

  read::ReadRequest request(uint64_t offset, uint32_t max_records, bool cache_only) const {
    read::ReadRequest req;
    req.start = read::StartPosition::at(offset);
    req.max_records = max_records;
    req.max_bytes = 64u << 20;
    req.encoder = encoder_;
    req.cache_only = cache_only;
    return req;
  }

  struct Counted {
    size_t allocations = 0;
    size_t records = 0;
    size_t blocks = 0;
    size_t body_bytes = 0;
  };
  // One warm read as the HTTP worker runs it (memory only), and its body.
  Counted warm_read(uint64_t offset, uint32_t max_records) {
    std::optional<Result<read::ReadResult>> r;
    std::string body;
    const size_t allocations = sh::testing::count_allocations([&] {
      r.emplace(reader_->read("t", 0, request(offset, max_records, true)));
      if (r->ok()) body = encode_records_response("t", 0, **r, RecordFormat::kString);
    }).allocations;
    EXPECT_TRUE(r->ok()) << r->error().to_string();
    if (!r->ok()) return {};
    return {allocations, (*r)->records.size(), (*r)->pinned.size(), body.size()};
  }

  sh::testing::ScratchDir scratch_;
  prometheus::Registry registry_;
  std::unique_ptr<read::LogReader> reader_;
  std::shared_ptr<const format::RecordEncoder> encoder_;
};

TEST_F(WarmAllocationsTest, AWarmReadAllocatesNeitherPerRecordNorPerBlock) {
  (void)warm_read(100, 10);  // first use of the paths measured (lazy statics)
  const Counted small = warm_read(100, 10);
  ASSERT_EQ(small.records, 10u);
  ASSERT_GT(small.allocations, 0u) << "the probe must see the read allocate (its records, its body)";
  for (uint64_t offset : {uint64_t{100}, uint64_t{2500}, kRecords / 2 - 1500 + 1000}) {  // the last crosses segments
    const Counted big = warm_read(offset, 3000);
    ASSERT_EQ(big.records, 3000u);
    std::printf("warm read at %llu: 10 records %zu allocations; 3000 records (%zu blocks, %zu body bytes) %zu allocations\n",
                static_cast<unsigned long long>(offset), small.allocations, big.blocks, big.body_bytes,
                big.allocations);
    // Measured: the pinned and record lists' doublings and the body, no key
    // per block; 3,000 records in ~78 blocks gave 12-13, against 5 for 10
    // (170 before block lookups stopped allocating their cache keys).
    EXPECT_LE(big.allocations, small.allocations + 16)
        << "a warm read of 3,000 records in " << big.blocks << " blocks allocated " << big.allocations
        << " times, one of 10 records " << small.allocations << " times";
    EXPECT_LT(big.allocations, big.records / 10) << "allocations must not grow with records";
  }
}

}  // namespace
}  // namespace sh::api
