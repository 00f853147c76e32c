// Block size limits (docs/segment-format.md, "Block"): a block whose lengths
// claim more than the reader accepts — or more than LZ4 can expand its stored
// bytes to — is corruption found *before* its raw buffer is allocated.
//
// This binary replaces the global operator new (tests/support/allocation_probe.h)
// to record the largest single allocation made while a check runs.
#include <lz4.h>

#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/format/block.h"
#include "core/format/coding.h"
#include "core/format/crc32c.h"
#include "core/format/format.h"
#include "tests/support/allocation_probe.h"
#include "tests/unit/format/segment_test_util.h"

namespace sh::format {
namespace {

constexpr std::string_view kName = "orders/0/seg_00000000000000000100.bin";

// The largest allocation `fn` makes.
template <class Fn>
size_t largest_allocation(Fn fn) {
  return sh::testing::count_allocations(fn).largest;
}

// A stored block with a valid CRC over `stored` claiming `raw_len` raw bytes,
// and the index entry that points at it.
std::string block_with(std::string_view stored, uint32_t raw_len, IndexEntry* entry) {
  std::string out;
  coding::put_fixed32(&out, static_cast<uint32_t>(stored.size()));
  coding::put_fixed32(&out, raw_len);
  coding::put_fixed32(&out, crc32c::value(stored));
  out.append(stored);
  entry->first_offset = 100;
  entry->last_offset = 100;
  entry->handle.position = 32;
  entry->handle.size = static_cast<uint32_t>(out.size());
  entry->record_count = 1;
  return out;
}

// The control: without it, a probe that saw nothing would pass every check below.
TEST(BlockLimitsTest, TheProbeSeesAnAllocationOfAMebibyte) {
  volatile char seen = 0;
  const size_t largest = largest_allocation([&] {
    std::string big(size_t{1} << 21, 'x');
    seen = big[12345];
  });
  EXPECT_EQ(seen, 'x');
  EXPECT_GE(largest, size_t{1} << 21);
}

TEST(BlockLimitsTest, ClaimedRawLengthBeyondLz4ExpansionIsCorruptWithoutAllocatingIt) {
  IndexEntry entry;
  // One stored byte claiming the largest raw length the reader accepts.
  const std::string stored_block = block_with("\x10", kMaxBlockBytes, &entry);
  Result<std::shared_ptr<const DecodedBlock>> got = corrupt("unset");
  const size_t largest = largest_allocation(
      [&] { got = decode_block(stored_block, entry, Compression::kLz4, kName); });
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), Errc::kCorrupt) << got.error().to_string();
  EXPECT_NE(got.error().message().find(kName), std::string::npos) << got.error().message();
  EXPECT_NE(got.error().message().find("block at 32"), std::string::npos) << got.error().message();
  EXPECT_LT(largest, size_t{1} << 20)
      << "decode_block allocated " << largest << " bytes for a 1-byte block claiming "
      << kMaxBlockBytes << " raw bytes";
}

TEST(BlockLimitsTest, RawLengthAboveTheReaderLimitIsCorruptWhateverTheCompression) {
  for (Compression c : {Compression::kLz4, Compression::kNone}) {
    IndexEntry entry;
    const std::string stored(64, 'x');
    const std::string stored_block = block_with(stored, kMaxBlockBytes + 1, &entry);
    Result<std::shared_ptr<const DecodedBlock>> got = corrupt("unset");
    const size_t largest =
        largest_allocation([&] { got = decode_block(stored_block, entry, c, kName); });
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code(), Errc::kCorrupt) << got.error().to_string();
    EXPECT_NE(got.error().message().find("raw length"), std::string::npos)
        << got.error().message();
    EXPECT_LT(largest, size_t{1} << 20);
  }
}

TEST(BlockLimitsTest, TheLz4BoundNeverRefusesWhatLz4Produces) {
  // The most compressible inputs: long runs of one byte, of many sizes up to the limit.
  for (size_t raw_len : {size_t{20}, size_t{255}, size_t{4096}, size_t{1} << 20,
                         size_t{kMaxBlockBytes}}) {
    const std::string raw(raw_len, '\0');
    std::string compressed(static_cast<size_t>(LZ4_compressBound(static_cast<int>(raw_len))), '\0');
    const int n = LZ4_compress_default(raw.data(), compressed.data(), static_cast<int>(raw_len),
                                       static_cast<int>(compressed.size()));
    ASSERT_GT(n, 0);
    EXPECT_LE(raw_len, max_lz4_raw_bytes(static_cast<uint64_t>(n)))
        << raw_len << " bytes compress to " << n << ", which the bound would refuse";
  }
}

TEST(BlockLimitsTest, WriterBlocksStayWithinTheLimitAndDecode) {
  // A record close to the limit gets a block of its own that the reader accepts.
  Record r;
  r.offset = 7;
  r.timestamp = 1;
  r.value = std::string(kMaxBlockBytes - 64, 'v');
  for (Compression c : {Compression::kLz4, Compression::kNone}) {
    SegmentWriterOptions o;
    o.compression = c;
    SegmentWriter w(o);
    ASSERT_TRUE(w.add(r).ok());
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok()) << bytes.error().to_string();
    auto tail = parse_tail(*bytes, bytes->size(), "", kName);
    ASSERT_TRUE(tail.ok() && tail->meta) << (tail.ok() ? "no meta" : tail.error().to_string());
    const IndexEntry& e = tail->meta->index.at(0);
    auto b = decode_block(std::string_view(*bytes).substr(e.handle.position, e.handle.size), e, c,
                          kName);
    ASSERT_TRUE(b.ok()) << b.error().to_string();
    EXPECT_EQ((*b)->record_count(), 1u);
  }
}

}  // namespace
}  // namespace sh::format
