// The JSON-lines input of `streamhouse segment write` (service/jsonl_input.h).
//
// Input: one line of text.
//
// Invariants: a parsed record has valid values (offset below 2^63 when given,
// the default timestamp when none is given); written back as a line with
// explicit offset and timestamp, base64 key and value and a header list, it
// parses to the same record; and the record is accepted by SegmentWriter
// unless a header name is not UTF-8 (which the JSON parser never lets through).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/format/segment_writer.h"
#include "core/text/base64.h"
#include "service/jsonl_input.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace sh;
using json = nlohmann::json;

constexpr int64_t kDefaultTimestamp = 1'700'000'000'000;

json bytes_json(const std::optional<std::string>& v) {
  return v ? json(text::base64_encode(*v)) : json(nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  Record r;
  bool has_offset = false;
  std::string error;
  if (!service::parse_jsonl_record(line, kDefaultTimestamp, &r, &has_offset, &error)) {
    FUZZ_CHECK(!error.empty(), "a refused line says why");
    return 0;
  }
  if (has_offset) FUZZ_CHECK(r.offset <= static_cast<uint64_t>(INT64_MAX), "offset below 2^63");
  if (!has_offset) FUZZ_CHECK(r.offset == 0, "no offset given: left for the caller");
  const json doc = json::parse(line.begin(), line.end(), nullptr, false);
  FUZZ_CHECK(doc.is_object(), "an accepted line is a JSON object");
  if (!doc.contains("timestamp")) {
    FUZZ_CHECK(r.timestamp == kDefaultTimestamp, "no timestamp given: the default");
  }

  json again = json::object();
  again["offset"] = r.offset;
  again["timestamp"] = r.timestamp;
  again["key"] = bytes_json(r.key);
  again["key_encoding"] = "base64";
  again["value"] = bytes_json(r.value);
  again["value_encoding"] = "base64";
  json headers = json::array();
  for (const RecordHeader& h : r.headers) {
    headers.push_back({{"key", h.key}, {"value", h.value ? json(*h.value) : json(nullptr)}});
  }
  again["headers"] = std::move(headers);
  // Header keys and values came out of a JSON string, so they are valid UTF-8: dump() cannot throw.
  const std::string text = again.dump();
  Record r2;
  bool has_offset2 = false;
  FUZZ_CHECK(service::parse_jsonl_record(text, 0, &r2, &has_offset2, &error), error.c_str());
  FUZZ_CHECK(has_offset2 && r2 == r, "a record written back as a line parses to itself");

  format::SegmentWriter w;
  FUZZ_CHECK(w.add(r).ok(), "a parsed record can be written");
  return 0;
}
