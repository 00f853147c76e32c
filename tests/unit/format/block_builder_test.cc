// BlockBuilder: its size predictions are exact, its payload parses back through
// DecodedBlock::parse, and it is the payload SegmentWriter stores.
#include "core/format/block_builder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/format/block.h"
#include "core/format/format.h"
#include "core/format/segment_reader.h"
#include "tests/unit/format/segment_test_util.h"

namespace sh::format {
namespace {

using format_test::random_records;
using format_test::write_segment;

constexpr std::string_view kName = "t/0/seg_00000000000000000000.bin";

// `r` as views (BlockBuilder takes RecordView).
struct Viewed {
  std::vector<HeaderView> headers;
  RecordView view;
  explicit Viewed(const Record& r) {
    for (const RecordHeader& h : r.headers) {
      HeaderView& hv = headers.emplace_back();
      hv.key = h.key;
      if (h.value) hv.value = std::string_view(*h.value);
    }
    view.offset = r.offset;
    view.timestamp = r.timestamp;
    if (r.key) view.key = std::string_view(*r.key);
    if (r.value) view.value = std::string_view(*r.value);
    view.headers = headers;
  }
};

IndexEntry entry_of(const BlockBuilder& b) {
  IndexEntry e;
  e.first_offset = b.first_offset();
  e.last_offset = b.last_offset();
  e.record_count = b.record_count();
  e.first_timestamp = b.first_timestamp();
  e.max_timestamp = b.max_timestamp();
  e.handle.position = SegmentHeader::kEncodedLength;
  return e;
}

// Adds `records`, checking every size prediction, and returns the payload.
std::string build(BlockBuilder& b, const std::vector<Record>& records) {
  for (const Record& r : records) {
    const Viewed v(r);
    const uint64_t predicted = b.payload_size_with(v.view);
    if (b.empty()) {
      EXPECT_EQ(predicted, BlockBuilder::payload_size_alone(v.view)) << "offset " << r.offset;
    }
    b.add(v.view);
    EXPECT_EQ(b.payload_size(), predicted) << "payload_size_with was wrong for offset " << r.offset;
  }
  const std::string_view payload = b.finish();
  EXPECT_EQ(payload.size(), b.payload_size());
  return std::string(payload);
}

TEST(BlockBuilderTest, PayloadParsesBackWithExactSizes) {
  std::mt19937_64 rng(11);
  const std::vector<Record> records = random_records(rng, {.count = 150});
  BlockBuilder b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.payload_size(), kPayloadHeaderBytes);
  const std::string payload = build(b, records);
  ASSERT_EQ(b.record_count(), records.size());
  EXPECT_EQ(b.first_offset(), records.front().offset);
  EXPECT_EQ(b.last_offset(), records.back().offset);
  auto block = DecodedBlock::parse(payload, entry_of(b), kName);
  ASSERT_TRUE(block.ok()) << block.error().to_string();
  ASSERT_EQ((*block)->record_count(), records.size());
  std::vector<HeaderView> scratch;
  for (uint32_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ((*block)->record(i, &scratch).to_record(), records[i]) << "record " << i;
    EXPECT_EQ((*block)->record_size(i),
              encoded_record_size(records[i], records.front().offset, records.front().timestamp))
        << "record " << i;
  }
}

TEST(BlockBuilderTest, ExtremeTimestampDeltasWrapAndParseBack) {
  std::vector<Record> records(4);
  const int64_t ts[] = {INT64_MAX, INT64_MIN, 0, -1};
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].offset = UINT64_MAX - 3 + i;
    records[i].timestamp = ts[i];
  }
  BlockBuilder b;
  const std::string payload = build(b, records);
  EXPECT_EQ(b.max_timestamp(), INT64_MAX);
  auto block = DecodedBlock::parse(payload, entry_of(b), kName);
  ASSERT_TRUE(block.ok()) << block.error().to_string();
  EXPECT_EQ((*block)->first_with_timestamp_at_least(0), 0u);
  EXPECT_EQ((*block)->first_with_timestamp_at_least(INT64_MIN), 0u);
}

TEST(BlockBuilderTest, ResetStartsAFreshBlock) {
  std::mt19937_64 rng(12);
  const std::vector<Record> first = random_records(rng, {.count = 20});
  const std::vector<Record> second = random_records(rng, {.count = 30});
  BlockBuilder reused;
  build(reused, first);
  reused.reset();
  EXPECT_TRUE(reused.empty());
  EXPECT_EQ(reused.payload_size(), kPayloadHeaderBytes);
  BlockBuilder fresh;
  EXPECT_EQ(build(reused, second), build(fresh, second)) << "reset() left state behind";
}

TEST(BlockBuilderTest, IsWhatSegmentWriterStores) {
  std::mt19937_64 rng(13);
  const std::vector<Record> records = random_records(rng, {.count = 25});
  const std::string object =
      write_segment(records, {.block_bytes = kMaxBlockBytes, .compression = Compression::kNone});
  auto contents = read_segment(object, kName);
  ASSERT_TRUE(contents.ok()) << contents.error().to_string();
  ASSERT_EQ(contents->meta.index.size(), 1u) << "want a single-block segment";
  const IndexEntry& e = contents->meta.index[0];
  BlockBuilder b;
  EXPECT_EQ(object.substr(e.handle.position + kBlockHeaderBytes, e.handle.size - kBlockHeaderBytes),
            build(b, records));
  EXPECT_EQ(entry_of(b).max_timestamp, e.max_timestamp);
  EXPECT_EQ(entry_of(b).first_timestamp, e.first_timestamp);
}

}  // namespace
}  // namespace sh::format
