// The records route's byte budget: max_bytes counts what the response holds
// (api::encoded_record_size charged through ReadRequest::record_cost), not the
// raw record bytes — control bytes expand 6x as \u00XX, base64 4/3 — and a
// record no response can hold is refused with an error naming its offset.
#include <fmt/format.h>

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "api/records_json.h"
#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {

using api::RecordFormat;

std::string control_bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(1 + i % 31);  // 0x01..0x1f
  return s;
}

std::string binary_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(0x80 | (rng() & 0x7f));  // never valid UTF-8 alone
  return s;
}

class BudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    store_ = *local;
    metadata_ = std::make_shared<ListingMetadataStore>(store_);
    LogReaderOptions o;
    o.tail_refresh_interval = Millis(0);
    reader_ = std::make_unique<LogReader>(metadata_, store_, o, registry_);
  }

  void write_segment(const std::string& topic, const std::vector<Record>& records) {
    format::SegmentWriterOptions o;
    o.block_bytes = 64 * 1024;
    format::SegmentWriter w(o);
    for (const auto& r : records) ASSERT_TRUE(w.add(r).ok());
    auto base = w.base_offset();
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok()) << bytes.error().to_string();
    ASSERT_TRUE(store_->put(format::segment_key("", topic, 0, base), *bytes, {}).ok());
  }

  // As the records route asks: encoded bytes plus the comma between records.
  static ReadRequest request(uint64_t offset, uint64_t max_bytes, RecordFormat fmt) {
    ReadRequest req;
    req.start = StartPosition::at(offset);
    req.max_records = 10000;
    req.max_bytes = max_bytes;
    req.record_cost = [fmt](const RecordView& r) { return api::encoded_record_size(r, fmt) + 1; };
    return req;
  }

  // Bytes of the response body that are records (the body minus its framing).
  static size_t records_bytes(const ReadResult& r, RecordFormat fmt) {
    ReadResult empty;
    empty.next_offset = r.next_offset;
    empty.high_watermark = r.high_watermark;
    empty.log_start_offset = r.log_start_offset;
    return api::encode_records_response("t", 0, r, fmt).size() -
           api::encode_records_response("t", 0, empty, fmt).size();
  }

  testing::ScratchDir scratch_{"sh-budget-test"};
  std::shared_ptr<ObjectStore> store_;
  std::shared_ptr<MetadataStore> metadata_;
  prometheus::Registry registry_;
  std::unique_ptr<LogReader> reader_;
};

TEST(EncodedRecordSize, IsExactlyWhatTheEncoderWrites) {
  std::mt19937 rng(7);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    const int kind = static_cast<int>(rng() % 5);
    for (auto& c : s) {
      switch (kind) {
        case 0: c = static_cast<char>(rng() % 0x20); break;                 // control
        case 1: c = "\"\\/\n\r\t\b\fa"[rng() % 9]; break;                   // escapes
        case 2: c = static_cast<char>(rng() & 0xff); break;                 // binary
        case 3: c = static_cast<char>(0x20 + rng() % 0x5f); break;          // printable
        default: c = "{}[]:,\"1 tn"[rng() % 11]; break;                     // JSON-ish
      }
    }
    return s;
  };
  const std::vector<std::string> fixed = {"", "{\"a\":[1,2,{\"b\":null}]}", "42", "\"s\"",
                                          "ünïcode ✓", "\xff\xfe", std::string("\0\x01", 2),
                                          "true", " [ ] "};
  for (int trial = 0; trial < 3000; ++trial) {
    Record rec;
    rec.offset = rng() % 3 == 0 ? rng() : trial;
    rec.timestamp = static_cast<int64_t>(rng()) - (1ll << 31);
    auto pick = [&]() -> std::string {
      return rng() % 3 == 0 ? fixed[rng() % fixed.size()] : random_bytes(rng() % 40);
    };
    if (rng() % 5 != 0) rec.key = pick();
    if (rng() % 5 != 0) rec.value = pick();
    for (uint32_t h = rng() % 3; h > 0; --h) {
      RecordHeader hdr;
      hdr.key = pick();
      if (rng() % 4 != 0) hdr.value = pick();
      rec.headers.push_back(hdr);
    }
    std::vector<HeaderView> headers;
    for (const auto& h : rec.headers) {
      headers.push_back({h.key, h.value ? std::optional<std::string_view>(*h.value) : std::nullopt});
    }
    RecordView v;
    v.offset = rec.offset;
    v.timestamp = rec.timestamp;
    if (rec.key) v.key = *rec.key;
    if (rec.value) v.value = *rec.value;
    v.headers = headers;
    for (RecordFormat f : {RecordFormat::kString, RecordFormat::kBase64, RecordFormat::kJson}) {
      std::string out;
      api::append_record_json(&out, v, f);
      ASSERT_EQ(api::encoded_record_size(v, f), out.size())
          << "format " << static_cast<int>(f) << " record " << out;
    }
  }
}

TEST_F(BudgetTest, ControlBytesAreChargedAsTheirEscapes) {
  std::vector<Record> recs;
  for (uint64_t o = 0; o < 40; ++o) {
    Record r;
    r.offset = o;
    r.timestamp = 1000 + static_cast<int64_t>(o);
    r.value = control_bytes(1000);  // 6000 bytes as \u00XX
    recs.push_back(r);
  }
  write_segment("ctl", recs);
  constexpr uint64_t kMaxBytes = 20000;
  auto got = reader_->read("ctl", 0, request(0, kMaxBytes, RecordFormat::kString));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  const size_t body_records = records_bytes(*got, RecordFormat::kString);
  EXPECT_LE(body_records, kMaxBytes) << got->records.size() << " records of 1000 control bytes "
                                     << "encode to " << body_records << " bytes, over max_bytes";
  EXPECT_EQ(got->records.size(), 3u) << "each record encodes to a little over 6000 bytes";
  EXPECT_EQ(got->bytes, body_records + 1) << "the charge is what the body holds (+ one comma)";
  EXPECT_EQ(got->next_offset, 3u);
}

TEST_F(BudgetTest, BinaryValuesAreChargedAsBase64) {
  std::vector<Record> recs;
  for (uint64_t o = 0; o < 40; ++o) {
    Record r;
    r.offset = o;
    r.timestamp = 1000;
    r.key = binary_bytes(300, static_cast<uint32_t>(o));
    r.value = binary_bytes(3000, static_cast<uint32_t>(o + 100));
    recs.push_back(r);
  }
  write_segment("bin", recs);
  constexpr uint64_t kMaxBytes = 20000;
  for (RecordFormat f : {RecordFormat::kBase64, RecordFormat::kString, RecordFormat::kJson}) {
    auto got = reader_->read("bin", 0, request(0, kMaxBytes, f));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    const size_t body_records = records_bytes(*got, f);
    EXPECT_LE(body_records, kMaxBytes) << "format " << static_cast<int>(f);
    EXPECT_EQ(got->records.size(), 4u)
        << "3300 raw bytes encode to ~4400 (+ framing): 4 fit in 20000, not 6";
  }
}

TEST_F(BudgetTest, TheFirstRecordIsKeptUpToTheHardCapAndRefusedPastIt) {
  std::vector<Record> recs;
  for (uint64_t o = 0; o < 3; ++o) {
    Record r;
    r.offset = o;
    r.timestamp = 1;
    r.value = std::string(100, 'a');
    recs.push_back(r);
  }
  Record big;
  big.offset = 3;
  big.timestamp = 1;
  big.value = control_bytes(16 * 1024);  // 96 KiB encoded
  recs.push_back(big);
  Record after;
  after.offset = 4;
  after.timestamp = 1;
  after.value = "after";
  recs.push_back(after);
  write_segment("huge", recs);

  // Over max_bytes but within the hard cap: returned alone.
  ReadRequest req = request(3, 1000, RecordFormat::kString);
  req.max_response_bytes = 1 << 20;
  auto got = reader_->read("huge", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->records.size(), 1u) << "at least one record when it fits a response";
  EXPECT_EQ(got->next_offset, 4u);

  // Past the hard cap: no response can hold it, whatever max_bytes says.
  req.max_response_bytes = 64 * 1024;
  req.max_bytes = 64 * 1024;
  got = reader_->read("huge", 0, req);
  ASSERT_FALSE(got.ok()) << "a 96 KiB encoding must not be sent under a 64 KiB cap";
  EXPECT_EQ(got.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(got.error().message().find("offset 3"), std::string::npos) << got.error().message();
  EXPECT_NE(got.error().message().find(format::segment_key("", "huge", 0, 0)), std::string::npos)
      << got.error().message();

  // Base64 of the same bytes is 4/3, and fits.
  got = reader_->read("huge", 0, [&] {
    ReadRequest b = request(3, 1000, RecordFormat::kBase64);
    b.max_response_bytes = 64 * 1024;
    return b;
  }());
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(got->records.size(), 1u);

  // Reading from before it: the records before it, next_offset at it.
  req.start = StartPosition::at(0);
  got = reader_->read("huge", 0, req);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(got->records.size(), 3u);
  EXPECT_EQ(got->next_offset, 3u);
}

}  // namespace
}  // namespace sh::read
