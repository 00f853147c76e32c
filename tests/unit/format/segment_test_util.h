// Shared helpers for the format tests: random records and record printing.
#pragma once

#include <cstdint>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/format/record.h"
#include "core/format/segment_writer.h"

namespace sh {

inline std::ostream& operator<<(std::ostream& os, const Record& r) {
  os << "{offset " << r.offset << ", ts " << r.timestamp << ", key "
     << (r.key ? fmt::format("\"{}\"({})", r.key->substr(0, 20), r.key->size()) : std::string("null"))
     << ", value "
     << (r.value ? std::to_string(r.value->size()) + " bytes" : std::string("tombstone"))
     << ", " << r.headers.size() << " headers}";
  return os;
}

namespace format_test {

struct RandomRecordOptions {
  size_t count = 200;
  size_t big_record_bytes = 0;  // when > 0, one record in the middle has a value this large
};

// Records with null and non-null keys, tombstones, headers with null values,
// offset gaps and negative timestamp deltas.
inline std::vector<Record> random_records(std::mt19937_64& rng, const RandomRecordOptions& o) {
  std::vector<Record> out;
  uint64_t offset = rng() % 1000000;
  int64_t ts = 1700000000000LL + static_cast<int64_t>(rng() % 1000000);
  auto bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? rng() : 'a' + rng() % 26);
    return s;
  };
  const std::string header_names[] = {"trace-id", "content-type", "\xc3\xa9t\xc3\xa9", "", "x"};
  for (size_t i = 0; i < o.count; ++i) {
    Record r;
    r.offset = offset;
    r.timestamp = ts;
    if (rng() % 5 != 0) r.key = bytes(rng() % 24);
    if (rng() % 7 != 0) r.value = bytes(rng() % 3 == 0 ? rng() % 2000 : rng() % 64);
    if (o.big_record_bytes > 0 && i == o.count / 2) r.value = bytes(o.big_record_bytes);
    const size_t nh = rng() % 4;
    for (size_t h = 0; h < nh; ++h) {
      RecordHeader hd;
      hd.key = header_names[rng() % 5];
      if (rng() % 3 != 0) hd.value = bytes(rng() % 16);
      r.headers.push_back(std::move(hd));
    }
    out.push_back(std::move(r));
    offset += 1 + (rng() % 4 == 0 ? rng() % 50 : 0);             // gaps
    ts += static_cast<int64_t>(rng() % 2000) - 700;               // may go backwards
  }
  return out;
}

inline std::string write_segment(const std::vector<Record>& records,
                                 const format::SegmentWriterOptions& opts) {
  format::SegmentWriter w(opts);
  for (const Record& r : records) {
    Status s = w.add(r);
    if (!s.ok()) throw std::runtime_error("add failed: " + s.error().to_string());
  }
  Result<std::string> obj = w.finish();
  if (!obj.ok()) throw std::runtime_error("finish failed: " + obj.error().to_string());
  return std::move(obj).value();
}

}  // namespace format_test
}  // namespace sh
