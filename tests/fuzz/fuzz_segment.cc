// Segment decoding (core/format): a whole object through read_segment and its
// suffixes through parse_tail.
//
// Input: [mode byte][object bytes]. Mode bit 0 set: before decoding, the CRCs
// of the header, of every block the index points at, of the index and of the
// footer are recomputed, so mutations get past the CRC checks and reach the
// structural checks behind them (with bit 0 clear the CRCs must reject them).
//
// Invariants when the object decodes: records agree with header, footer and
// index; every suffix parse agrees with the whole-object parse; the records
// written again with SegmentWriter decode to the same records.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/format/coding.h"
#include "core/format/crc32c.h"
#include "core/format/format.h"
#include "core/format/segment_reader.h"
#include "core/format/segment_writer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace sh;
using namespace sh::format;
using coding::decode_fixed32;
using coding::decode_fixed64;

constexpr std::string_view kName = "fuzz/0/seg_00000000000000000000.bin";

void put_crc(std::string* obj, size_t crc_at, size_t from, size_t n) {
  const uint32_t crc = crc32c::value(obj->data() + from, n);
  std::string le;
  coding::put_fixed32(&le, crc);
  obj->replace(crc_at, 4, le);
}

// Recomputes every CRC the layout (as the bytes themselves describe it) has.
void fix_crcs(std::string* obj) {
  const size_t size = obj->size();
  if (size >= SegmentHeader::kEncodedLength) put_crc(obj, 28, 0, 28);
  if (size < SegmentHeader::kEncodedLength + Footer::kEncodedLength) return;
  const size_t footer_at = size - Footer::kEncodedLength;
  const uint64_t index_pos = decode_fixed64(obj->data() + footer_at);
  const uint32_t index_len = decode_fixed32(obj->data() + footer_at + 8);
  if (index_pos >= SegmentHeader::kEncodedLength && index_len >= kIndexOverheadBytes &&
      index_pos <= footer_at && footer_at - index_pos == index_len) {
    const uint32_t count = decode_fixed32(obj->data() + index_pos);
    const uint64_t fits = (index_len - kIndexOverheadBytes) / IndexEntry::kEncodedLength;
    for (uint64_t i = 0; i < count && i < fits; ++i) {
      const char* e = obj->data() + index_pos + 4 + i * IndexEntry::kEncodedLength;
      const uint64_t pos = decode_fixed64(e + 16);
      const uint32_t bsize = decode_fixed32(e + 24);
      if (bsize < kBlockHeaderBytes || pos > index_pos || index_pos - pos < bsize) continue;
      const uint32_t stored_len = decode_fixed32(obj->data() + pos);
      if (static_cast<uint64_t>(stored_len) + kBlockHeaderBytes > bsize) continue;
      put_crc(obj, pos + 8, pos + kBlockHeaderBytes, stored_len);
    }
    put_crc(obj, index_pos + index_len - 4, index_pos, index_len - 4);
  }
  put_crc(obj, footer_at + 40, footer_at, 40);
}

void check_decoded(std::string_view object, const SegmentContents& c) {
  const Footer& f = c.meta.footer;
  FUZZ_CHECK(!c.records.empty(), "a decoded segment has records");
  FUZZ_CHECK(c.meta.index.size() == f.block_count, "one index entry per block");
  FUZZ_CHECK(c.header.base_offset == f.base_offset, "header and footer agree on base_offset");
  FUZZ_CHECK(c.records.front().offset == f.base_offset, "first record is at base_offset");
  FUZZ_CHECK(c.records.back().offset == f.last_offset, "last record is at last_offset");
  uint64_t total = 0;
  int64_t max_ts = std::numeric_limits<int64_t>::min();
  for (const IndexEntry& e : c.meta.index) total += e.record_count;
  FUZZ_CHECK(total == c.records.size(), "index record counts add up to the records");
  for (size_t i = 0; i < c.records.size(); ++i) {
    if (i > 0) FUZZ_CHECK(c.records[i].offset > c.records[i - 1].offset, "offsets increase");
    max_ts = std::max(max_ts, c.records[i].timestamp);
  }
  FUZZ_CHECK(max_ts == f.max_timestamp, "footer max_timestamp is the records' maximum");
  for (size_t i = 0; i < c.meta.index.size(); ++i) {
    FUZZ_CHECK(c.meta.block_for_offset(c.meta.index[i].first_offset) == i, "block_for_offset");
  }

  // Any suffix: either the footer asks for more, or it parses to the same meta.
  const size_t size = object.size();
  for (size_t n : {Footer::kEncodedLength, size / 2, size - 1, size}) {
    if (n < Footer::kEncodedLength || n > size) continue;
    auto tail = parse_tail(object.substr(size - n), size, "", kName);
    FUZZ_CHECK(tail.ok(), "a suffix of a valid segment parses");
    if (tail->meta) {
      FUZZ_CHECK(tail->meta->footer.index_position == f.index_position, "suffix footer");
      FUZZ_CHECK(tail->meta->index == c.meta.index, "suffix index");
    } else {
      FUZZ_CHECK(tail->need_suffix_bytes > n && tail->need_suffix_bytes <= size,
                 "need_suffix_bytes asks for more than it had and no more than the object");
    }
  }

  // Round trip: the records written again read back identically.
  SegmentWriterOptions opts;
  opts.compression = c.header.compression;
  opts.created_at_ms = c.header.created_at_ms;
  SegmentWriter w(opts);
  for (const Record& r : c.records) FUZZ_CHECK(w.add(r).ok(), "decoded records can be written");
  auto again = w.finish();
  FUZZ_CHECK(again.ok(), "finish");
  auto reread = read_segment(*again, kName);
  FUZZ_CHECK(reread.ok(), "a written segment reads back");
  FUZZ_CHECK(reread->records == c.records, "round trip keeps every record");
  FUZZ_CHECK(reread->header.base_offset == c.header.base_offset, "round trip base_offset");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::string object(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode & 1) fix_crcs(&object);
  auto decoded = read_segment(object, kName);
  if (decoded.ok()) {
    check_decoded(object, *decoded);
  } else {
    FUZZ_CHECK(decoded.error().message().find(kName) != std::string::npos,
               "a corruption error names the object");
  }
  // The read path's entry point on its own, with a suffix the mode chooses.
  const size_t n = std::min<size_t>(object.size(), 48u + (mode >> 1) * 16u);
  auto tail = parse_tail(std::string_view(object).substr(object.size() - n), object.size(), "e",
                         kName);
  if (tail.ok() && tail->meta) {
    FUZZ_CHECK(tail->meta->index.size() == tail->meta->footer.block_count, "tail index size");
  }
  return 0;
}
