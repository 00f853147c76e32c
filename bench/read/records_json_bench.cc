// Records response encoding, side by side in one run:
//   api::encode_records_response (writes straight into the response buffer)
//   vs a baseline that builds an nlohmann::json DOM per record and dumps it,
// over the same 1,000 records (keys, 2 headers, ~200-byte JSON values), for
// format=string, format=json and format=base64.
//
// Before timing, both encoders' outputs are parsed and compared: the baseline
// must produce the same JSON document (key order aside), else the benchmark
// is skipped with an error.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "api/json_writer.h"
#include "api/records_json.h"
#include "bench/read/bench_data.h"
#include "core/format/segment.h"
#include "core/text/base64.h"
#include "core/text/utf8.h"

namespace sh::bench {
namespace {

using api::RecordFormat;
using json = nlohmann::json;

constexpr int kRecords = 1000;

// 1,000 records decoded into blocks, referenced by a ReadResult as LogReader returns them.
struct RecordsFixture {
  read::ReadResult result;
  uint64_t value_bytes = 0;
};

const RecordsFixture& fixture() {
  static const RecordsFixture f = [] {
    RecordsFixture out;
    std::mt19937_64 rng(42);
    format::SegmentWriter w({.block_bytes = 64u << 10, .compression = format::Compression::kLz4});
    for (int i = 0; i < kRecords; ++i) {
      Record r = make_order_record(5000 + static_cast<uint64_t>(i), 1767225600000 + i * 250, rng);
      out.value_bytes += r.value->size();
      if (!w.add(r).ok()) std::abort();
    }
    auto object = w.finish();
    if (!object.ok()) std::abort();
    auto contents = format::read_segment(*object, "bench");
    if (!contents.ok()) std::abort();
    for (const format::IndexEntry& e : contents->meta.index) {
      auto block = format::decode_block(
          std::string_view(*object).substr(e.handle.position, e.handle.size), e,
          contents->header.compression, "bench");
      if (!block.ok()) std::abort();
      for (uint32_t i = 0; i < (*block)->record_count(); ++i) {
        out.result.records.push_back({block->get(), i});
        out.result.bytes += (*block)->record_size(i);
      }
      out.result.pinned.push_back(std::move(*block));
    }
    out.result.start_offset = 5000;
    out.result.next_offset = 5000 + kRecords;
    out.result.high_watermark = 5000 + kRecords;
    out.result.log_start_offset = 0;
    return out;
  }();
  return f;
}

// What a straightforward implementation would do: one DOM per record.
json bytes_to_dom(std::optional<std::string_view> v, RecordFormat fmt, bool allow_json,
                  json* record, const char* encoding_field) {
  if (!v) return nullptr;
  if (fmt == RecordFormat::kBase64) return text::base64_encode(*v);
  if (!text::valid_utf8(*v)) {
    (*record)[encoding_field] = "base64";
    return text::base64_encode(*v);
  }
  if (allow_json && fmt == RecordFormat::kJson) {
    json parsed = json::parse(v->begin(), v->end(), nullptr, /*allow_exceptions=*/false);
    if (!v->empty() && !parsed.is_discarded()) return parsed;
    (*record)[encoding_field] = "string";
  }
  return std::string(*v);
}

std::string encode_with_dom(std::string_view topic, int32_t partition,
                            const read::ReadResult& result, RecordFormat fmt) {
  std::string out = "{\"topic\":" + json(std::string(topic)).dump() +
                    ",\"partition\":" + std::to_string(partition) + ",\"records\":[";
  std::vector<HeaderView> scratch;
  bool first = true;
  for (const read::RecordRef& ref : result.records) {
    const RecordView v = ref.block->record(ref.index, &scratch);
    json rec;
    rec["offset"] = v.offset;
    rec["timestamp"] = v.timestamp;
    rec["key"] = bytes_to_dom(v.key, fmt, false, &rec, "key_encoding");
    rec["value"] = bytes_to_dom(v.value, fmt, true, &rec, "value_encoding");
    json headers = json::array();
    for (const HeaderView& h : v.headers) {
      json hj;
      hj["key"] = bytes_to_dom(h.key, RecordFormat::kString, false, &hj, "key_encoding");
      hj["value"] = bytes_to_dom(h.value, fmt == RecordFormat::kJson ? RecordFormat::kString : fmt,
                                 false, &hj, "value_encoding");
      headers.push_back(std::move(hj));
    }
    rec["headers"] = std::move(headers);
    if (!first) out.push_back(',');
    first = false;
    out += rec.dump();
  }
  out += "],\"next_offset\":" + std::to_string(result.next_offset) +
         ",\"high_watermark\":" + std::to_string(result.high_watermark) +
         ",\"log_start_offset\":" + std::to_string(result.log_start_offset) + "}";
  return out;
}

// Empty if both encoders agree on the document, else what differs.
std::string compare_encoders(RecordFormat fmt) {
  const auto& f = fixture();
  const json direct = json::parse(api::encode_records_response("orders", 0, f.result, fmt),
                                  nullptr, false);
  const json dom = json::parse(encode_with_dom("orders", 0, f.result, fmt), nullptr, false);
  if (direct.is_discarded()) return "encode_records_response produced invalid JSON";
  if (dom.is_discarded()) return "DOM baseline produced invalid JSON";
  if (direct != dom) return "DOM baseline and encode_records_response disagree";
  if (direct["records"].size() != static_cast<size_t>(kRecords)) return "wrong record count";
  return "";
}

template <class Encode>
void run_encode(benchmark::State& state, RecordFormat fmt, Encode encode) {
  const auto& f = fixture();
  if (std::string diff = compare_encoders(fmt); !diff.empty()) {
    state.SkipWithError(diff.c_str());
    return;
  }
  size_t body_bytes = 0;
  for (auto _ : state) {
    std::string body = encode("orders", 0, f.result, fmt);
    body_bytes = body.size();
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body_bytes));
  state.counters["body_bytes"] = static_cast<double>(body_bytes);
}

void BM_EncodeRecords(benchmark::State& state, RecordFormat fmt) {
  run_encode(state, fmt, api::encode_records_response);
}
void BM_EncodeRecordsDomBaseline(benchmark::State& state, RecordFormat fmt) {
  run_encode(state, fmt, encode_with_dom);
}

BENCHMARK_CAPTURE(BM_EncodeRecords, string, RecordFormat::kString);
BENCHMARK_CAPTURE(BM_EncodeRecordsDomBaseline, string, RecordFormat::kString);
BENCHMARK_CAPTURE(BM_EncodeRecords, json, RecordFormat::kJson);
BENCHMARK_CAPTURE(BM_EncodeRecordsDomBaseline, json, RecordFormat::kJson);
BENCHMARK_CAPTURE(BM_EncodeRecords, base64, RecordFormat::kBase64);
BENCHMARK_CAPTURE(BM_EncodeRecordsDomBaseline, base64, RecordFormat::kBase64);

}  // namespace
}  // namespace sh::bench
