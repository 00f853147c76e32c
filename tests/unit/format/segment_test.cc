#include "core/format/segment.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <map>
#include <random>

#include "core/format/coding.h"
#include "core/format/crc32c.h"
#include "tests/unit/format/segment_test_util.h"

namespace sh::format {
namespace {

using format_test::random_records;
using format_test::RandomRecordOptions;
using format_test::write_segment;

constexpr std::string_view kName = "orders/0/seg_00000000000000000100.bin";

uint64_t test_seed() {
  const uint64_t seed = std::random_device{}();
  std::printf("format test seed: %llu\n", static_cast<unsigned long long>(seed));
  return seed;
}

// Decodes every block of `meta` through decode_block, letting it infer the
// compression and falling back to `compression` when it cannot.
std::vector<std::shared_ptr<const DecodedBlock>> decode_all(std::string_view object,
                                                            const SegmentMeta& meta,
                                                            Compression compression) {
  std::vector<std::shared_ptr<const DecodedBlock>> blocks;
  for (const IndexEntry& e : meta.index) {
    const std::string_view stored = object.substr(e.handle.position, e.handle.size);
    auto b = decode_block(stored, e, std::nullopt, kName);
    if (!b.ok()) {
      EXPECT_EQ(b.error().code(), Errc::kInvalidArgument) << b.error().to_string();
      EXPECT_NE(b.error().message().find("compression unknown"), std::string::npos);
      b = decode_block(stored, e, compression, kName);
    }
    EXPECT_TRUE(b.ok()) << b.error().to_string();
    if (!b.ok()) return {};
    blocks.push_back(*b);
  }
  return blocks;
}

class RoundTripTest : public ::testing::TestWithParam<Compression> {};

TEST_P(RoundTripTest, RandomSegmentsRoundTripRecordByRecord) {
  const uint64_t base_seed = test_seed();
  for (int iter = 0; iter < 12; ++iter) {
    const uint64_t seed = base_seed + static_cast<uint64_t>(iter);
    SCOPED_TRACE(fmt::format("seed {}", seed));
    std::mt19937_64 rng(seed);
    SegmentWriterOptions opts;
    opts.compression = GetParam();
    opts.block_bytes = 256 + static_cast<uint32_t>(rng() % 8192);
    opts.created_at_ms = 1700000000000LL + iter;
    RandomRecordOptions ro;
    ro.count = 1 + rng() % 400;
    ro.big_record_bytes = opts.block_bytes * 2;
    const std::vector<Record> input = random_records(rng, ro);
    const std::string object = write_segment(input, opts);

    // 1. read_segment
    auto contents = read_segment(object, kName);
    ASSERT_TRUE(contents.ok()) << contents.error().to_string();
    EXPECT_EQ(contents->header.compression, opts.compression);
    EXPECT_EQ(contents->header.created_at_ms, opts.created_at_ms);
    EXPECT_EQ(contents->header.base_offset, input.front().offset);
    ASSERT_EQ(contents->records.size(), input.size());
    for (size_t i = 0; i < input.size(); ++i) {
      ASSERT_EQ(contents->records[i], input[i]) << "record " << i << " differs after read_segment";
    }
    const Footer& f = contents->meta.footer;
    EXPECT_EQ(f.base_offset, input.front().offset);
    EXPECT_EQ(f.last_offset, input.back().offset);
    int64_t max_ts = INT64_MIN;
    for (const Record& r : input) max_ts = std::max(max_ts, r.timestamp);
    EXPECT_EQ(f.max_timestamp, max_ts);
    if (ro.count > 2) {
      EXPECT_GT(f.block_count, 1u) << "expected several blocks";
    }

    // 2. parse_tail from a 64 KiB suffix (or the whole object) + decode_block.
    const size_t suffix = std::min<size_t>(object.size(), 64 * 1024);
    auto tail = parse_tail(std::string_view(object).substr(object.size() - suffix), object.size(),
                           "etag-1", kName);
    ASSERT_TRUE(tail.ok()) << tail.error().to_string();
    ASSERT_TRUE(tail->meta.has_value()) << "needs " << tail->need_suffix_bytes;
    const SegmentMeta& meta = *tail->meta;
    EXPECT_EQ(meta.etag, "etag-1");
    EXPECT_EQ(meta.object_size, object.size());
    EXPECT_EQ(meta.header.has_value(), suffix == object.size());
    ASSERT_EQ(meta.index, contents->meta.index);
    const auto blocks = decode_all(object, meta, opts.compression);
    ASSERT_EQ(blocks.size(), meta.index.size());
    size_t next = 0;
    std::vector<HeaderView> scratch;
    bool big_alone = false;
    for (size_t b = 0; b < blocks.size(); ++b) {
      const DecodedBlock& block = *blocks[b];
      uint64_t payload_bytes = 20;
      for (uint32_t i = 0; i < block.record_count(); ++i, ++next) {
        ASSERT_LT(next, input.size());
        const Record got = block.record(i, &scratch).to_record();
        ASSERT_EQ(got, input[next]) << "record " << next << " (block " << b << ", #" << i
                                    << ") differs after decode_block";
        EXPECT_EQ(block.record_size(i),
                  encoded_record_size(input[next], block.first_offset(), block.first_timestamp()))
            << "record " << next;
        payload_bytes += block.record_size(i);
        if (input[next].value && input[next].value->size() == ro.big_record_bytes) {
          big_alone = block.record_count() == 1;
        }
      }
      EXPECT_GE(block.memory_charge(), payload_bytes);
    }
    EXPECT_EQ(next, input.size());
    EXPECT_TRUE(big_alone) << "a record larger than the block size must get its own block";
    EXPECT_GE(meta.memory_charge(), meta.index.size() * sizeof(IndexEntry));
  }
}

INSTANTIATE_TEST_SUITE_P(Compressions, RoundTripTest,
                         ::testing::Values(Compression::kNone, Compression::kLz4),
                         [](const auto& info) {
                           return info.param == Compression::kNone ? std::string("None")
                                                                   : std::string("Lz4");
                         });

// Model: offset -> record. Offset and timestamp searches through SegmentMeta
// and DecodedBlock must agree with it.
TEST(DifferentialTest, SearchesAgreeWithMapModel) {
  const uint64_t base_seed = test_seed();
  for (int iter = 0; iter < 8; ++iter) {
    const uint64_t seed = base_seed + static_cast<uint64_t>(iter);
    SCOPED_TRACE(fmt::format("seed {}", seed));
    std::mt19937_64 rng(seed);
    SegmentWriterOptions opts;
    opts.compression = iter % 2 ? Compression::kLz4 : Compression::kNone;
    opts.block_bytes = 512 + static_cast<uint32_t>(rng() % 4096);
    RandomRecordOptions ro;
    ro.count = 50 + rng() % 500;
    const std::vector<Record> input = random_records(rng, ro);
    std::map<uint64_t, const Record*> model;
    for (const Record& r : input) model[r.offset] = &r;
    const std::string object = write_segment(input, opts);
    auto contents = read_segment(object, kName);
    ASSERT_TRUE(contents.ok()) << contents.error().to_string();
    const SegmentMeta& meta = contents->meta;
    const auto blocks = decode_all(object, meta, opts.compression);
    ASSERT_EQ(blocks.size(), meta.index.size());
    std::vector<HeaderView> scratch;

    const uint64_t lo = input.front().offset, hi = input.back().offset;
    for (int q = 0; q < 2000; ++q) {
      const uint64_t offset = lo - std::min<uint64_t>(lo, 5) + rng() % (hi - lo + 12);
      auto want = model.lower_bound(offset);
      const size_t b = meta.block_for_offset(offset);
      if (want == model.end()) {
        EXPECT_EQ(b, meta.index.size()) << "offset " << offset << " is past the segment";
        continue;
      }
      ASSERT_LT(b, meta.index.size()) << "offset " << offset;
      const uint32_t i = blocks[b]->lower_bound(offset);
      ASSERT_LT(i, blocks[b]->record_count()) << "offset " << offset << " block " << b;
      EXPECT_EQ(blocks[b]->offset_at(i), want->first) << "lower_bound(" << offset << ")";
      EXPECT_EQ(blocks[b]->record(i, &scratch).to_record(), *want->second);
    }
    int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
    for (const Record& r : input) {
      min_ts = std::min(min_ts, r.timestamp);
      max_ts = std::max(max_ts, r.timestamp);
    }
    for (int q = 0; q < 2000; ++q) {
      const int64_t ts = min_ts - 3 + static_cast<int64_t>(rng() % static_cast<uint64_t>(max_ts - min_ts + 6));
      const Record* want = nullptr;  // first record in offset order with timestamp >= ts
      for (const auto& [off, r] : model) {
        if (r->timestamp >= ts) {
          want = r;
          break;
        }
      }
      const size_t b = meta.first_block_with_max_timestamp_at_least(ts);
      if (want == nullptr) {
        EXPECT_EQ(b, meta.index.size()) << "ts " << ts;
        continue;
      }
      ASSERT_LT(b, meta.index.size()) << "ts " << ts;
      const uint32_t i = blocks[b]->first_with_timestamp_at_least(ts);
      ASSERT_LT(i, blocks[b]->record_count()) << "ts " << ts << " block " << b;
      EXPECT_EQ(blocks[b]->offset_at(i), want->offset) << "first record with timestamp >= " << ts;
    }
  }
}

TEST(SegmentWriterTest, FinishOnEmptyWriterIsInvalidArgument) {
  SegmentWriter w;
  auto r = w.finish();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
}

TEST(SegmentWriterTest, OffsetsMustStrictlyIncrease) {
  SegmentWriter w;
  Record r;
  r.offset = 10;
  ASSERT_TRUE(w.add(r).ok());
  Status same = w.add(r);
  ASSERT_FALSE(same.ok()) << "equal offset accepted";
  EXPECT_EQ(same.error().code(), Errc::kInvalidArgument);
  r.offset = 9;
  Status lower = w.add(r);
  ASSERT_FALSE(lower.ok()) << "lower offset accepted";
  EXPECT_EQ(lower.error().code(), Errc::kInvalidArgument);
  r.offset = 11;
  EXPECT_TRUE(w.add(r).ok());
  EXPECT_EQ(w.record_count(), 2u);
  EXPECT_EQ(w.base_offset(), 10u);
  EXPECT_EQ(w.last_offset(), 11u);
}

TEST(SegmentWriterTest, RecordLargerThanBlockLimitIsRejected) {
  // A read-only anonymous mapping: never touched, so costs no memory.
  const size_t n = size_t{kMaxBlockBytes} + 1;
  void* mem = mmap(nullptr, n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  SegmentWriter w;
  RecordView v;
  v.offset = 1;
  v.value = std::string_view(static_cast<const char*>(mem), n);
  Status s = w.add(v);
  munmap(mem, n);
  ASSERT_FALSE(s.ok()) << "record above kMaxBlockBytes accepted";
  EXPECT_EQ(s.error().code(), Errc::kInvalidArgument);
  EXPECT_TRUE(w.empty());
}

TEST(SegmentWriterTest, InvalidUtf8HeaderNameIsRejected) {
  SegmentWriter w;
  Record r;
  r.headers.push_back({"\xff\xfe", std::nullopt});
  Status s = w.add(r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kInvalidArgument);
}

TEST(SegmentWriterTest, ExtremeTimestampsRoundTrip) {
  SegmentWriter w(SegmentWriterOptions{.block_bytes = 1 << 20, .compression = Compression::kNone});
  std::vector<Record> in(4);
  const int64_t ts[] = {INT64_MAX, INT64_MIN, 0, -1};
  for (size_t i = 0; i < in.size(); ++i) {
    in[i].offset = UINT64_MAX - 3 + i;
    in[i].timestamp = ts[i];
    ASSERT_TRUE(w.add(in[i]).ok());
  }
  auto obj = w.finish();
  ASSERT_TRUE(obj.ok());
  auto c = read_segment(*obj, kName);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->records, in);
  EXPECT_EQ(c->meta.footer.max_timestamp, INT64_MAX);
}

TEST(SegmentWriterTest, WriterIsReusableAfterFinish) {
  SegmentWriter w(SegmentWriterOptions{.compression = Compression::kNone});
  Record a;
  a.offset = 5;
  a.value = "x";
  ASSERT_TRUE(w.add(a).ok());
  auto first = w.finish();
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(w.empty());
  ASSERT_TRUE(w.add(a).ok()) << "offset 5 again after finish() must start a new segment";
  auto second = w.finish();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
}

TEST(SegmentWriterTest, EstimatedSizeMatchesUncompressedOutput) {
  SegmentWriter w(SegmentWriterOptions{.block_bytes = 300, .compression = Compression::kNone});
  std::mt19937_64 rng(7);
  for (const Record& r : random_records(rng, {.count = 40})) ASSERT_TRUE(w.add(r).ok());
  const uint64_t estimate = w.estimated_size();
  auto obj = w.finish();
  ASSERT_TRUE(obj.ok());
  EXPECT_EQ(estimate, obj->size()) << "without compression the estimate is exact";
}

TEST(DecodeBlockTest, InfersLz4FromLengthsAndRejectsAmbiguity) {
  std::mt19937_64 rng(1);
  const auto records = random_records(rng, {.count = 30});
  for (Compression c : {Compression::kNone, Compression::kLz4}) {
    const std::string obj = write_segment(records, {.compression = c});
    auto contents = read_segment(obj, kName);
    ASSERT_TRUE(contents.ok());
    const IndexEntry& e = contents->meta.index.at(0);
    auto b = decode_block(std::string_view(obj).substr(e.handle.position, e.handle.size), e,
                          std::nullopt, kName);
    if (c == Compression::kNone) {
      ASSERT_FALSE(b.ok());
      EXPECT_EQ(b.error().code(), Errc::kInvalidArgument);
      EXPECT_NE(b.error().message().find("compression unknown"), std::string::npos);
    } else {
      ASSERT_TRUE(b.ok()) << b.error().to_string();
      EXPECT_EQ((*b)->record_count(), 30u);
    }
    // Wrong compression given explicitly: never a wrong record.
    const Compression wrong = c == Compression::kNone ? Compression::kLz4 : Compression::kNone;
    auto w = decode_block(std::string_view(obj).substr(e.handle.position, e.handle.size), e, wrong,
                          kName);
    EXPECT_FALSE(w.ok()) << "decoding with the wrong compression succeeded";
  }
}

TEST(HeaderTest, EncodesDocumentedBytes) {
  SegmentHeader h;
  h.compression = Compression::kNone;
  h.base_offset = 0x0102030405060708ULL;
  h.created_at_ms = -2;
  std::string s;
  h.encode_to(&s);
  ASSERT_EQ(s.size(), SegmentHeader::kEncodedLength);
  EXPECT_EQ(s.substr(0, 4), "STRS");
  EXPECT_EQ(coding::decode_fixed16(s.data() + 4), 1);
  EXPECT_EQ(coding::decode_fixed16(s.data() + 6), 0);
  EXPECT_EQ(coding::decode_fixed64(s.data() + 8), h.base_offset);
  EXPECT_EQ(coding::decode_fixed64(s.data() + 16), static_cast<uint64_t>(-2));
  EXPECT_EQ(coding::decode_fixed32(s.data() + 24), 0u);
  EXPECT_EQ(coding::decode_fixed32(s.data() + 28), crc32c::value(s.data(), 28));
  auto d = SegmentHeader::decode_from(s, kName);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->base_offset, h.base_offset);
  EXPECT_EQ(d->created_at_ms, -2);
}

// Re-seals bytes 0..27 with a fresh CRC, so only the semantic check can catch the change.
std::string reseal_header(std::string s) {
  const uint32_t crc = crc32c::value(s.data(), 28);
  s.replace(28, 4, std::string{static_cast<char>(crc), static_cast<char>(crc >> 8),
                               static_cast<char>(crc >> 16), static_cast<char>(crc >> 24)});
  return s;
}

TEST(HeaderTest, RejectsUnknownVersionCompressionAndReservedWithValidCrc) {
  std::string s;
  SegmentHeader{}.encode_to(&s);
  std::string v2 = s;
  v2[4] = 2;
  std::string c7 = s;
  c7[6] = 7;
  std::string res = s;
  res[24] = 1;
  for (const std::string& bad : {v2, c7, res}) {
    auto d = SegmentHeader::decode_from(reseal_header(bad), kName);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code(), Errc::kCorrupt);
    EXPECT_NE(d.error().message().find(kName), std::string::npos) << d.error().message();
  }
  auto short_header = SegmentHeader::decode_from(s.substr(0, 31), kName);
  ASSERT_FALSE(short_header.ok());
}

TEST(FooterTest, RejectsFieldsThatDoNotFitTheObject) {
  Footer f;
  f.index_position = 100;
  f.block_count = 2;
  f.index_length = 8 + 2 * 48;
  f.base_offset = 1;
  f.last_offset = 9;
  const uint64_t size = 100 + f.index_length + 48;
  std::string s;
  f.encode_to(&s);
  ASSERT_TRUE(Footer::decode_from(s, size, kName).ok());
  EXPECT_FALSE(Footer::decode_from(s, size + 1, kName).ok()) << "object size mismatch accepted";
  EXPECT_FALSE(Footer::decode_from(s, size - 1, kName).ok());
  auto bad = [&](Footer g, uint64_t object_size) {
    std::string t;
    g.encode_to(&t);
    auto r = Footer::decode_from(t, object_size, kName);
    return !r.ok() && r.error().code() == Errc::kCorrupt;
  };
  Footer g = f;
  g.index_length += 1;
  EXPECT_TRUE(bad(g, size + 1)) << "index length not matching block count accepted";
  g = f;
  g.index_position = 16;
  EXPECT_TRUE(bad(g, 16 + f.index_length + 48)) << "index inside the header accepted";
  g = f;
  g.base_offset = 10;
  EXPECT_TRUE(bad(g, size)) << "base offset after last offset accepted";
  g = f;
  g.index_position = UINT64_MAX - 10;
  EXPECT_TRUE(bad(g, size)) << "overflowing index position accepted";
  std::string magic = s;
  magic[47] = 'X';
  auto m = Footer::decode_from(magic, size, kName);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("magic"), std::string::npos) << m.error().message();
}

TEST(SegmentNamesTest, KeyFormatAndParsing) {
  EXPECT_EQ(segment_key("", "orders", 0, 50000), "orders/0/seg_00000000000000050000.bin");
  EXPECT_EQ(segment_key("data/", "a.b-c_d", 2147483647, UINT64_MAX),
            "data/a.b-c_d/2147483647/seg_18446744073709551615.bin");
  EXPECT_EQ(parse_segment_file_name("seg_00000000000000050000.bin"), 50000u);
  EXPECT_EQ(parse_segment_file_name("orders/0/seg_00000000000000050000.bin"), 50000u);
  EXPECT_EQ(parse_segment_file_name("seg_18446744073709551615.bin"), UINT64_MAX);
  EXPECT_EQ(parse_segment_file_name("seg_18446744073709551616.bin"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name("seg_99999999999999999999.bin"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name("seg_0000000000000005000.bin"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name("seg_000000000000000050000.bin"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name("seg_0000000000000005000a.bin"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name("seg_00000000000000050000.bin.tmp"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name("xeg_00000000000000050000.bin"), std::nullopt);
  EXPECT_EQ(parse_segment_file_name(""), std::nullopt);
  for (uint64_t v : {uint64_t{0}, uint64_t{7}, uint64_t{123456789012345}, UINT64_MAX}) {
    EXPECT_EQ(parse_segment_file_name(segment_key("p/", "t", 3, v)), v);
  }
}

TEST(SegmentNamesTest, KafkaTopicRule) {
  EXPECT_TRUE(valid_topic_name("orders"));
  EXPECT_TRUE(valid_topic_name("a.B_c-9"));
  EXPECT_TRUE(valid_topic_name("..."));
  EXPECT_TRUE(valid_topic_name(std::string(249, 'x')));
  EXPECT_FALSE(valid_topic_name(std::string(250, 'x')));
  EXPECT_FALSE(valid_topic_name(""));
  EXPECT_FALSE(valid_topic_name("."));
  EXPECT_FALSE(valid_topic_name(".."));
  EXPECT_FALSE(valid_topic_name("a/b"));
  EXPECT_FALSE(valid_topic_name("a b"));
  EXPECT_FALSE(valid_topic_name("caf\xc3\xa9"));
}

}  // namespace
}  // namespace sh::format
