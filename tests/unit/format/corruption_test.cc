// Corruption: every flipped byte, every truncation, every tail length, and
// CRC-valid but inconsistent segments (as a buggy writer would produce) are
// rejected with kCorrupt naming the object — never a wrong record.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <random>

#include "core/format/block.h"
#include "core/format/coding.h"
#include "core/format/crc32c.h"
#include "core/format/format.h"
#include "core/format/segment_reader.h"
#include "tests/unit/format/segment_test_util.h"

namespace sh::format {
namespace {

using format_test::random_records;
using format_test::write_segment;

constexpr std::string_view kName = "t/1/seg_00000000000000000042.bin";

std::string multi_block_segment(Compression c) {
  std::mt19937_64 rng(42);
  auto records = random_records(rng, {.count = 40, .big_record_bytes = 700});
  return write_segment(records, {.block_bytes = 300, .compression = c, .created_at_ms = 5});
}

const char* region_of(const SegmentContents& c, size_t pos, size_t size) {
  if (pos < 32) return "header";
  if (pos >= size - 48) return "footer";
  if (pos >= c.meta.footer.index_position) return "index";
  for (const IndexEntry& e : c.meta.index) {
    if (pos >= e.handle.position && pos < e.handle.position + 12) return "block header";
  }
  return "block body";
}

class FlipTest : public ::testing::TestWithParam<Compression> {};

TEST_P(FlipTest, EveryFlippedByteIsDetected) {
  const std::string object = multi_block_segment(GetParam());
  auto good = read_segment(object, kName);
  ASSERT_TRUE(good.ok()) << good.error().to_string();
  ASSERT_GE(good->meta.index.size(), 4u) << "want a multi-block segment";
  std::map<std::string, int> flips_by_region;
  for (size_t pos = 0; pos < object.size(); ++pos) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = object;
      bad[pos] = static_cast<char>(bad[pos] ^ mask);
      auto r = read_segment(bad, kName);
      const char* region = region_of(*good, pos, object.size());
      ASSERT_FALSE(r.ok()) << "flip of byte " << pos << " (" << region << ") by 0x" << std::hex
                           << int{mask} << " went undetected";
      EXPECT_EQ(r.error().code(), Errc::kCorrupt) << r.error().to_string();
      EXPECT_EQ(r.error().message().rfind(kName, 0), 0u)
          << "error does not start with the object name: " << r.error().message();
      ++flips_by_region[region];
    }
  }
  for (const char* region : {"header", "block header", "block body", "index", "footer"}) {
    EXPECT_GT(flips_by_region[region], 0) << "no flips tried in " << region;
  }
}

INSTANTIATE_TEST_SUITE_P(Compressions, FlipTest,
                         ::testing::Values(Compression::kNone, Compression::kLz4),
                         [](const auto& info) {
                           return info.param == Compression::kNone ? std::string("None")
                                                                   : std::string("Lz4");
                         });

TEST(CorruptionTest, BlockCrcErrorNamesObjectAndPosition) {
  const std::string object = multi_block_segment(Compression::kNone);
  auto good = read_segment(object, kName);
  ASSERT_TRUE(good.ok());
  const IndexEntry& e = good->meta.index.at(1);
  std::string bad = object;
  bad[e.handle.position + 12 + 3] ^= 0x10;
  auto r = read_segment(bad, kName);
  ASSERT_FALSE(r.ok());
  const std::string want =
      std::string(kName) + ": block at " + std::to_string(e.handle.position) + ": CRC mismatch (stored 0x";
  EXPECT_EQ(r.error().message().rfind(want, 0), 0u) << r.error().message();
}

TEST(CorruptionTest, EveryTruncationIsRejected) {
  for (Compression c : {Compression::kNone, Compression::kLz4}) {
    const std::string object = multi_block_segment(c);
    for (size_t n = 0; n < object.size(); ++n) {
      auto r = read_segment(std::string_view(object).substr(0, n), kName);
      ASSERT_FALSE(r.ok()) << "prefix of " << n << " of " << object.size() << " bytes accepted";
      EXPECT_EQ(r.error().code(), Errc::kCorrupt) << r.error().to_string();
    }
    auto longer = read_segment(object + '\0', kName);
    EXPECT_FALSE(longer.ok()) << "object with a trailing byte accepted";
  }
}

TEST(CorruptionTest, ParseTailOfEverySuffixAsksForMoreOrAgrees) {
  const std::string object = multi_block_segment(Compression::kLz4);
  auto full = read_segment(object, kName);
  ASSERT_TRUE(full.ok());
  const std::string_view obj = object;
  for (size_t n = 0; n <= object.size(); ++n) {
    SCOPED_TRACE("suffix of " + std::to_string(n) + " bytes");
    auto r = parse_tail(obj.substr(obj.size() - n), obj.size(), "e", kName);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    size_t rounds = 0;
    while (!r->meta) {
      ASSERT_GT(r->need_suffix_bytes, n) << "asks for no more than it had";
      ASSERT_LE(r->need_suffix_bytes, obj.size()) << "asks for more than the object";
      ASSERT_LT(++rounds, 3u) << "does not converge";
      const auto next = static_cast<size_t>(r->need_suffix_bytes);
      r = parse_tail(obj.substr(obj.size() - next), obj.size(), "e", kName);
      ASSERT_TRUE(r.ok()) << r.error().to_string();
    }
    EXPECT_EQ(r->meta->index, full->meta.index);
    EXPECT_EQ(r->meta->footer.last_offset, full->meta.footer.last_offset);
    if (n == obj.size()) {
      EXPECT_TRUE(r->meta->header.has_value());
    }
  }
  // Objects too small to be a segment are corrupt, not "ask for more".
  auto tiny = parse_tail(obj.substr(obj.size() - 40), 40, "e", kName);
  ASSERT_FALSE(tiny.ok());
  EXPECT_EQ(tiny.error().code(), Errc::kCorrupt);
}

// ----------------------------------------------------------------------------
// Segments whose CRCs are all valid but whose contents disagree.

struct RawBlock {
  std::string payload;  // raw payload (20-byte prefix + records)
  IndexEntry entry;     // offsets, count, timestamps; handle is filled in by assemble()
};

// Builds an uncompressed segment from raw payloads, letting `tweak` change the
// index, footer and header before they are sealed with valid CRCs.
std::string assemble(std::vector<RawBlock> blocks,
                     const std::function<void(std::vector<IndexEntry>&, Footer&, SegmentHeader&)>&
                         tweak = nullptr) {
  std::string body;
  std::vector<IndexEntry> index;
  for (RawBlock& b : blocks) {
    b.entry.handle.position = 32 + body.size();
    b.entry.handle.size = static_cast<uint32_t>(12 + b.payload.size());
    coding::put_fixed32(&body, static_cast<uint32_t>(b.payload.size()));
    coding::put_fixed32(&body, static_cast<uint32_t>(b.payload.size()));
    coding::put_fixed32(&body, crc32c::value(b.payload));
    body += b.payload;
    index.push_back(b.entry);
  }
  Footer f;
  f.index_position = 32 + body.size();
  f.block_count = static_cast<uint32_t>(index.size());
  f.index_length = static_cast<uint32_t>(8 + 48 * index.size());
  f.base_offset = index.front().first_offset;
  f.last_offset = index.back().last_offset;
  f.max_timestamp = INT64_MIN;
  for (const IndexEntry& e : index) f.max_timestamp = std::max(f.max_timestamp, e.max_timestamp);
  SegmentHeader h;
  h.compression = Compression::kNone;
  h.base_offset = f.base_offset;
  if (tweak) tweak(index, f, h);
  std::string out;
  h.encode_to(&out);
  out += body;
  const size_t index_start = out.size();
  coding::put_fixed32(&out, static_cast<uint32_t>(index.size()));
  for (const IndexEntry& e : index) e.encode_to(&out);
  coding::put_fixed32(&out, crc32c::value(out.data() + index_start, out.size() - index_start));
  f.encode_to(&out);
  return out;
}

// The raw blocks of an uncompressed segment written by SegmentWriter.
std::vector<RawBlock> raw_blocks_of(const std::string& object) {
  auto c = read_segment(object, kName);
  EXPECT_TRUE(c.ok());
  std::vector<RawBlock> out;
  for (const IndexEntry& e : c->meta.index) {
    out.push_back({object.substr(e.handle.position + 12, e.handle.size - 12), e});
  }
  return out;
}

std::string payload(uint64_t first_offset, int64_t first_ts, uint32_t count,
                    const std::string& records) {
  std::string p;
  coding::put_fixed64(&p, first_offset);
  coding::put_fixed64(&p, static_cast<uint64_t>(first_ts));
  coding::put_fixed32(&p, count);
  return p + records;
}

// One record: offset delta, ts delta, key len, key, value len, value, headers.
std::string rec(uint64_t odelta, int64_t tdelta, int64_t klen, std::string_view k, int64_t vlen,
                std::string_view v, std::string headers = std::string(1, '\0')) {
  std::string r;
  coding::put_uvarint(&r, odelta);
  coding::put_svarint(&r, tdelta);
  coding::put_svarint(&r, klen);
  r += k;
  coding::put_svarint(&r, vlen);
  r += v;
  return r + headers;
}

IndexEntry entry(uint64_t first, uint64_t last, uint32_t count, int64_t first_ts, int64_t max_ts) {
  IndexEntry e;
  e.first_offset = first;
  e.last_offset = last;
  e.record_count = count;
  e.first_timestamp = first_ts;
  e.max_timestamp = max_ts;
  return e;
}

void expect_corrupt(const std::string& object, std::string_view why_contains, const char* what) {
  auto r = read_segment(object, kName);
  ASSERT_FALSE(r.ok()) << what << ": accepted";
  EXPECT_EQ(r.error().code(), Errc::kCorrupt) << what << ": " << r.error().to_string();
  EXPECT_NE(r.error().message().find(why_contains), std::string::npos)
      << what << ": message \"" << r.error().message() << "\" lacks \"" << why_contains << "\"";
}

TEST(InconsistentSegmentTest, AssembleReproducesWriterOutput) {
  // Guards the helper: with no tweak it must build exactly what the writer builds.
  std::mt19937_64 rng(3);
  const std::string object =
      write_segment(random_records(rng, {.count = 30}),
                    {.block_bytes = 200, .compression = Compression::kNone});
  EXPECT_EQ(assemble(raw_blocks_of(object)), object);
}

TEST(InconsistentSegmentTest, TrailingBytesInPayloadAreCorruption) {
  const std::string good =
      assemble({{payload(10, 1000, 2, rec(0, 0, -1, "", 1, "a") + rec(2, -5, 1, "k", -1, "")),
                 entry(10, 12, 2, 1000, 1000)}});
  ASSERT_TRUE(read_segment(good, kName).ok()) << read_segment(good, kName).error().to_string();
  const std::string bad = assemble(
      {{payload(10, 1000, 2, rec(0, 0, -1, "", 1, "a") + rec(2, -5, 1, "k", -1, "") + '\0'),
        entry(10, 12, 2, 1000, 1000)}});
  expect_corrupt(bad, "trailing", "one trailing byte in a payload");
}

TEST(InconsistentSegmentTest, MalformedRecordsAreCorruption) {
  const IndexEntry e1 = entry(10, 10, 1, 7, 7);
  const IndexEntry e2 = entry(10, 11, 2, 7, 7);
  struct Case {
    const char* what;
    RawBlock block;
    const char* why;
  } cases[] = {
      {"first record offset delta 1", {payload(10, 7, 1, rec(1, 0, -1, "", -1, "")), e1}, "deltas 0"},
      {"first record timestamp delta 1", {payload(10, 7, 1, rec(0, 1, -1, "", -1, "")), e1}, "deltas 0"},
      {"repeated offset", {payload(10, 7, 2, rec(0, 0, -1, "", -1, "") + rec(0, 0, -1, "", -1, "")), e2}, "does not follow"},
      {"key length -2", {payload(10, 7, 1, rec(0, 0, -2, "", -1, "")), e1}, "key length -2"},
      {"value longer than payload", {payload(10, 7, 1, rec(0, 0, -1, "", 50, "abc")), e1}, "value length 50"},
      {"header count too large", {payload(10, 7, 1, rec(0, 0, -1, "", -1, "", "\x40")), e1}, "header count"},
      {"header name too long", {payload(10, 7, 1, rec(0, 0, -1, "", -1, "", std::string("\x01\x09", 2) + "ab\x01")), e1}, "name length 9"},
      {"header name not UTF-8", {payload(10, 7, 1, rec(0, 0, -1, "", -1, "", std::string("\x01\x02\xc3\x28\x01", 5))), e1}, "UTF-8"},
      {"11-byte varint", {payload(10, 7, 1, std::string(10, '\x80') + std::string(5, '\0')), e1}, "varint"},
      {"count differs from index", {payload(10, 7, 1, rec(0, 0, -1, "", -1, "")), e2}, "record count 1, index says 2"},
      {"count beyond payload", {payload(10, 7, 0xffffffffu, rec(0, 0, -1, "", -1, "")), entry(10, 0xffffffffULL + 10, 0xffffffffu, 7, 7)}, "does not fit"},
      {"last offset differs from index", {payload(10, 7, 2, rec(0, 0, -1, "", -1, "") + rec(1, 0, -1, "", -1, "")), entry(10, 12, 2, 7, 7)}, "last offset 11"},
      {"max timestamp differs from index", {payload(10, 7, 2, rec(0, 0, -1, "", -1, "") + rec(1, 5, -1, "", -1, "")), entry(10, 11, 2, 7, 7)}, "max timestamp 12"},
      {"first timestamp differs from index", {payload(10, 7, 1, rec(0, 0, -1, "", -1, "")), entry(10, 10, 1, 6, 6)}, "first timestamp"},
      {"empty payload", {payload(10, 7, 0, ""), entry(10, 10, 0, 7, 7)}, "record count"},
  };
  for (const Case& c : cases) {
    expect_corrupt(assemble({c.block}), c.why, c.what);
    // DecodedBlock::parse alone too (it is what decode_block ends with).
    IndexEntry e = c.block.entry;
    e.handle.position = 32;
    auto p = DecodedBlock::parse(c.block.payload, e, kName);
    EXPECT_FALSE(p.ok()) << c.what << ": DecodedBlock::parse accepted";
  }
}

TEST(InconsistentSegmentTest, IndexFooterAndHeaderDisagreementsAreCorruption) {
  std::mt19937_64 rng(9);
  const std::string object = write_segment(random_records(rng, {.count = 30}),
                                           {.block_bytes = 600, .compression = Compression::kNone});
  const auto blocks = raw_blocks_of(object);
  ASSERT_GE(blocks.size(), 3u);
  using Tweak = std::function<void(std::vector<IndexEntry>&, Footer&, SegmentHeader&)>;
  struct Case {
    const char* what;
    Tweak tweak;
    const char* why;
  } cases[] = {
      {"header base offset differs from footer", [](auto&, auto&, SegmentHeader& h) { h.base_offset += 1; }, "base offset"},
      {"footer base offset differs from first block", [](auto&, Footer& f, auto&) { f.base_offset -= 1; }, "base offset"},
      {"footer last offset differs from last block", [](auto&, Footer& f, auto&) { f.last_offset += 1; }, "last block ends"},
      {"footer max timestamp differs", [](auto&, Footer& f, auto&) { f.max_timestamp += 1; }, "max timestamp"},
      {"block position gap", [](auto& idx, auto&, auto&) { idx[1].handle.position += 1; }, "contiguous"},
      {"block size too large", [](auto& idx, auto&, auto&) { idx[0].handle.size += 1; }, "contiguous"},
      {"overlapping offsets", [](auto& idx, auto&, auto&) { idx[1].first_offset = idx[0].last_offset; }, "does not follow"},
      {"record count 0", [](auto& idx, auto&, auto&) { idx[1].record_count = 0; }, "record count is 0"},
      {"record count beyond offset range", [](auto& idx, auto&, auto&) { idx[1].record_count = static_cast<uint32_t>(idx[1].last_offset - idx[1].first_offset + 2); }, "distinct offsets"},
      {"first ts after max ts", [](auto& idx, auto&, auto&) { idx[1].first_timestamp = idx[1].max_timestamp + 1; }, "first timestamp"},
      {"block count differs from entries", [](auto& idx, Footer& f, auto&) { idx.pop_back(); f.index_length -= 48; f.block_count -= 1; f.last_offset = idx.back().last_offset; }, "blocks end at"},
      {"block's entry differs from its payload",
       [](auto& idx, Footer& f, auto&) {
         for (IndexEntry& e : idx) {
           if (e.record_count > 1) {
             e.max_timestamp += 1;
             f.max_timestamp = std::max(f.max_timestamp, e.max_timestamp);
             break;
           }
         }
       },
       "index says"},
  };
  for (const Case& c : cases) expect_corrupt(assemble(blocks, c.tweak), c.why, c.what);
}

}  // namespace
}  // namespace sh::format
