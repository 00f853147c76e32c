// Encoded caches: a block's records encoded once per format and framing
// (DecodedBlock::encoded via api::record_encoder) give byte-identical output
// to fresh encoding, for every format and framing, across all record kinds —
// null keys, tombstones, non-UTF-8 bytes, headers, control bytes, embedded
// JSON with line breaks — and cost exactly their encoded size.
#include <fmt/format.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "api/record_encoders.h"
#include "api/records_json.h"
#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::api {
namespace {

constexpr RecordFormat kFormats[] = {RecordFormat::kString, RecordFormat::kBase64,
                                     RecordFormat::kJson};
constexpr RecordFraming kFramings[] = {RecordFraming::kRecords, RecordFraming::kTopic,
                                       RecordFraming::kTopicStream, RecordFraming::kNdjson,
                                       RecordFraming::kSse};

// Every kind of record a segment may hold, repeated so that blocks hold many.
std::vector<Record> all_kinds(size_t n) {
  std::vector<Record> out;
  for (size_t i = 0; i < n; ++i) {
    Record r;
    r.offset = i;
    r.timestamp = 1700000000000 + static_cast<int64_t>(i);
    switch (i % 8) {
      case 0: r.key = fmt::format("key-{}", i); r.value = R"({"a":1,"b":[true,null]})"; break;
      case 1: r.value = "no key";  break;                                    // null key
      case 2: r.key = "tombstone"; break;                                     // null value
      case 3: r.key = std::string("\xff\xfe bin", 6); r.value = std::string("\x80\x81", 2); break;
      case 4: r.key = "ctl"; r.value = std::string("a\x01\x1f\"\\\n\tz", 9); break;
      case 5: r.key = "json-lines"; r.value = "{\n  \"x\": \"multi\",\r\n  \"y\": 2\n}"; break;
      case 6: r.key = "utf8"; r.value = "h\xc3\xa9llo \xe2\x82\xac"; break;
      case 7: r.key = ""; r.value = ""; break;                                // empty, not null
    }
    if (i % 3 == 0) {
      r.headers.push_back({"h1", std::string("v1")});
      r.headers.push_back({"null-header", std::nullopt});
      r.headers.push_back({"bin", std::string("\xc3\x28\xff", 3)});  // a non-UTF-8 value
    }
    out.push_back(std::move(r));
  }
  return out;
}

class RecordEncodersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    store_ = *local;
    format::SegmentWriterOptions o;
    o.block_bytes = 4096;  // many blocks: runs cross block boundaries
    format::SegmentWriter w(o);
    for (const auto& r : all_kinds(2000)) {
      auto st = w.add(r);
      ASSERT_TRUE(st.ok()) << st.error().to_string();
    }
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok()) << bytes.error().to_string();
    ASSERT_TRUE(store_->put(format::segment_key("", "t", 3, 0), *bytes, {}).ok());
    metadata_ = std::make_shared<ListingMetadataStore>(store_);
    reader_ = std::make_unique<read::LogReader>(metadata_, store_, read::LogReaderOptions{}, registry_);
  }

  read::ReadResult read(uint64_t offset, uint32_t max_records, uint64_t max_bytes,
                        std::shared_ptr<const format::RecordEncoder> enc,
                        std::function<uint64_t(const RecordView&)> cost = nullptr) {
    read::ReadRequest req;
    req.start = read::StartPosition::at(offset);
    req.max_records = max_records;
    req.max_bytes = max_bytes;
    req.encoder = std::move(enc);
    req.record_cost = std::move(cost);
    auto r = reader_->read("t", 3, req);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() ? std::move(*r) : read::ReadResult{};
  }

  sh::testing::ScratchDir scratch_;
  std::shared_ptr<LocalObjectStore> store_;
  std::shared_ptr<ListingMetadataStore> metadata_;
  prometheus::Registry registry_;
  std::unique_ptr<read::LogReader> reader_;
};

TEST_F(RecordEncodersTest, EveryCachedRecordIsByteIdenticalToAFreshEncoding) {
  for (RecordFraming framing : kFramings) {
    for (RecordFormat fmt : kFormats) {
      auto enc = record_encoder(framing, fmt, 3);
      auto r = read(0, 10000, 1u << 30, enc);
      ASSERT_EQ(r.records.size(), 2000u);
      std::vector<HeaderView> scratch;
      std::string fresh_all, cached_all;
      for (const read::RecordRef& ref : r.records) {
        ASSERT_NE(ref.encoded, nullptr);
        std::string fresh;
        append_framed_record(&fresh, ref.block->record(ref.index, &scratch), framing, fmt, 3);
        ASSERT_EQ(ref.encoded_bytes(), fresh)
            << "offset " << ref.offset() << " framing " << static_cast<int>(framing);
        fresh_all += fresh;
      }
      read::append_encoded(r.records, &cached_all);
      EXPECT_EQ(cached_all, fresh_all) << "runs of a block are copied whole and in order";
    }
  }
}

TEST_F(RecordEncodersTest, FramingsAreWhatTheRoutesSend) {
  auto r = read(5, 1, 1u << 20, nullptr);
  ASSERT_EQ(r.records.size(), 1u);
  std::vector<HeaderView> scratch;
  const RecordView v = r.records[0].block->record(r.records[0].index, &scratch);
  std::string obj;
  append_record_json(&obj, v, RecordFormat::kJson);
  ASSERT_NE(obj.find('\n'), std::string::npos) << "the embedded JSON keeps its line breaks here";
  std::string flat = obj;
  flatten_line_breaks(&flat, 0);
  std::string got;
  append_framed_record(&got, v, RecordFraming::kRecords, RecordFormat::kJson);
  EXPECT_EQ(got, obj + ",");
  got.clear();
  append_framed_record(&got, v, RecordFraming::kNdjson, RecordFormat::kJson);
  EXPECT_EQ(got, flat + "\n") << "one line per record";
  got.clear();
  append_framed_record(&got, v, RecordFraming::kSse, RecordFormat::kJson);
  EXPECT_EQ(got, "id: 5\ndata: " + flat + "\n\n");
  got.clear();
  append_framed_record(&got, v, RecordFraming::kTopic, RecordFormat::kJson, 7);
  EXPECT_EQ(got, "{\"partition\":7," + obj.substr(1) + ",");
  got.clear();
  append_framed_record(&got, v, RecordFraming::kTopicStream, RecordFormat::kJson, 7);
  EXPECT_EQ(got, "{\"partition\":7," + flat.substr(1)) << "one line, framed later by the topic stream";
}

TEST_F(RecordEncodersTest, ResponsesFromCachedEncodingsEqualFreshOnesAtEveryBudget) {
  // The records route, with and without the encoder: same records (max_bytes
  // charges the same encoded size), same body.
  for (RecordFormat fmt : kFormats) {
    for (uint64_t offset : {0u, 7u, 333u, 1999u}) {
      for (uint64_t max_bytes : {1u, 500u, 5000u, 100000u}) {
        auto cached = read(offset, 10000, max_bytes, record_encoder(RecordFraming::kRecords, fmt));
        auto fresh = read(offset, 10000, max_bytes, nullptr,
                          [fmt](const RecordView& v) { return encoded_record_size(v, fmt) + 1; });
        ASSERT_EQ(cached.records.size(), fresh.records.size()) << offset << " " << max_bytes;
        EXPECT_EQ(cached.bytes, fresh.bytes);
        EXPECT_EQ(cached.next_offset, fresh.next_offset);
        ASSERT_FALSE(cached.records.empty());
        EXPECT_NE(cached.records.front().encoded, nullptr);
        EXPECT_EQ(fresh.records.front().encoded, nullptr);
        EXPECT_EQ(encode_records_response("t", 3, cached, fmt),
                  encode_records_response("t", 3, fresh, fmt));
      }
    }
  }
}

TEST_F(RecordEncodersTest, ABlockIsEncodedOncePerSlotAndTheCacheIsChargedForIt) {
  auto first = read(0, 1, 1u << 20, nullptr);
  ASSERT_EQ(first.records.size(), 1u);
  const format::DecodedBlock* block = first.records[0].block;
  const size_t bare = block->memory_charge();

  // Concurrent first users of one slot share one build.
  auto enc = record_encoder(RecordFraming::kNdjson, RecordFormat::kString);
  std::vector<const format::EncodedRecords*> seen(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < seen.size(); ++t) {
    threads.emplace_back([&, t] { seen[t] = &block->encoded(*enc); });
  }
  for (auto& th : threads) th.join();
  for (const auto* e : seen) EXPECT_EQ(e, seen[0]);
  EXPECT_EQ(block->memory_charge(), bare + seen[0]->memory());
  // A second encoder of the same slot gets the same encoding.
  EXPECT_EQ(&block->encoded(*record_encoder(RecordFraming::kNdjson, RecordFormat::kString)), seen[0]);
  // Another format is another slot.
  const auto& b64 = block->encoded(*record_encoder(RecordFraming::kNdjson, RecordFormat::kBase64));
  EXPECT_NE(&b64, seen[0]);
  EXPECT_EQ(block->memory_charge(), bare + seen[0]->memory() + b64.memory());

  // The block cache charges what the block holds now at its next lookup.
  const auto cache_bytes = [&] {
    for (const auto& fam : registry_.Collect()) {
      if (fam.name != "streamhouse_cache_bytes") continue;
      for (const auto& m : fam.metric) {
        for (const auto& l : m.label) {
          if (l.name == "cache" && l.value == "block") return m.gauge.value;
        }
      }
    }
    return -1.0;
  };
  const double before = cache_bytes();
  ASSERT_GE(before, 0) << "no block cache gauge";
  (void)read(0, 1, 1u << 20, nullptr);
  EXPECT_EQ(cache_bytes(), before + static_cast<double>(seen[0]->memory() + b64.memory()));
}

}  // namespace
}  // namespace sh::api
