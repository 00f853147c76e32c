// Block and record decoding (core/format/block.h): DecodedBlock::parse on a raw
// payload, and decode_block on the same payload stored (none or LZ4, with a
// correct 12-byte block header and CRC).
//
// Input: [u64 last_offset][i64 max_timestamp][flags][raw payload]. The index
// entry's first_offset, first_timestamp and record_count are taken from the
// payload header, so only the last offset and max timestamp have to be found.
// flags bit 0: store the payload with LZ4 (else as is); bit 1: let decode_block
// infer the compression.
//
// Invariants: decode_block agrees with parse; a decoded block matches its
// entry, its searches are consistent, and BlockBuilder re-encodes its records
// to a payload that parses to the same records and is byte-identical whenever
// it is as long (writers emit the shortest varints, readers accept longer ones).
#include <lz4.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/format/block.h"
#include "core/format/block_builder.h"
#include "core/format/coding.h"
#include "core/format/crc32c.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace sh;
using namespace sh::format;

constexpr std::string_view kName = "fuzz/0/seg_00000000000000000000.bin";

std::vector<Record> records_of(const DecodedBlock& b) {
  std::vector<Record> out;
  std::vector<HeaderView> scratch;
  for (uint32_t i = 0; i < b.record_count(); ++i) out.push_back(b.record(i, &scratch).to_record());
  return out;
}

void check_block(const DecodedBlock& b, const IndexEntry& entry, const std::string& payload) {
  FUZZ_CHECK(b.record_count() == entry.record_count && b.record_count() > 0, "record count");
  FUZZ_CHECK(b.first_offset() == entry.first_offset && b.offset_at(0) == entry.first_offset,
             "first offset");
  FUZZ_CHECK(b.last_offset() == entry.last_offset, "last offset");
  const std::vector<Record> records = records_of(b);
  int64_t max_ts = std::numeric_limits<int64_t>::min();
  uint64_t sizes = kPayloadHeaderBytes;
  for (uint32_t i = 0; i < b.record_count(); ++i) {
    FUZZ_CHECK(records[i].offset == b.offset_at(i), "record offset");
    if (i > 0) FUZZ_CHECK(b.offset_at(i) > b.offset_at(i - 1), "offsets strictly increase");
    FUZZ_CHECK(b.lower_bound(b.offset_at(i)) == i, "lower_bound finds each offset");
    if (b.offset_at(i) < std::numeric_limits<uint64_t>::max()) {
      FUZZ_CHECK(b.lower_bound(b.offset_at(i) + 1) == i + 1, "lower_bound past each offset");
    }
    FUZZ_CHECK(b.first_with_timestamp_at_least(records[i].timestamp) <= i, "timestamp search");
    max_ts = std::max(max_ts, records[i].timestamp);
    sizes += b.record_size(i);
  }
  FUZZ_CHECK(sizes == payload.size(), "record sizes cover the payload");
  FUZZ_CHECK(max_ts == entry.max_timestamp, "max timestamp");
  FUZZ_CHECK(b.first_with_timestamp_at_least(std::numeric_limits<int64_t>::min()) == 0,
             "every record is at or after INT64_MIN");
  if (max_ts < std::numeric_limits<int64_t>::max()) {
    FUZZ_CHECK(b.first_with_timestamp_at_least(max_ts + 1) == b.record_count(),
               "no record after the max timestamp");
  }

  BlockBuilder builder;
  std::vector<HeaderView> scratch;
  for (uint32_t i = 0; i < b.record_count(); ++i) builder.add(b.record(i, &scratch));
  const std::string rebuilt(builder.finish());
  FUZZ_CHECK(rebuilt.size() <= payload.size(), "the writer's encoding is the shortest");
  FUZZ_CHECK((rebuilt.size() == payload.size()) == (rebuilt == payload),
             "a payload as short as the writer's is the writer's");
  auto again = DecodedBlock::parse(rebuilt, entry, kName);
  FUZZ_CHECK(again.ok(), "a rebuilt payload parses");
  FUZZ_CHECK(records_of(**again) == records, "rebuilt records are the same");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kPrefix = 17;
  if (size < kPrefix) return 0;
  const char* p = reinterpret_cast<const char*>(data);
  IndexEntry entry;
  entry.last_offset = coding::decode_fixed64(p);
  entry.max_timestamp = static_cast<int64_t>(coding::decode_fixed64(p + 8));
  const uint8_t flags = data[16];
  std::string payload(p + kPrefix, size - kPrefix);
  if (payload.size() >= kPayloadHeaderBytes) {
    entry.first_offset = coding::decode_fixed64(payload.data());
    entry.first_timestamp = static_cast<int64_t>(coding::decode_fixed64(payload.data() + 8));
    entry.record_count = coding::decode_fixed32(payload.data() + 16);
  }
  entry.handle.position = 32;

  auto parsed = DecodedBlock::parse(payload, entry, kName);
  if (parsed.ok()) {
    check_block(**parsed, entry, payload);
  } else {
    FUZZ_CHECK(parsed.error().code() == Errc::kCorrupt, "a bad payload is corruption");
    FUZZ_CHECK(parsed.error().message().find(kName) != std::string::npos,
               "a corruption error names the object");
  }

  // The same payload as a stored block.
  const bool lz4 = flags & 1;
  std::string stored;
  if (lz4) {
    stored.resize(static_cast<size_t>(LZ4_compressBound(static_cast<int>(payload.size()))));
    const int n = LZ4_compress_default(payload.data(), stored.data(), static_cast<int>(payload.size()),
                                       static_cast<int>(stored.size()));
    FUZZ_CHECK(n > 0, "LZ4 compresses");
    stored.resize(static_cast<size_t>(n));
  } else {
    stored = payload;
  }
  std::string block;
  coding::put_fixed32(&block, static_cast<uint32_t>(stored.size()));
  coding::put_fixed32(&block, static_cast<uint32_t>(payload.size()));
  coding::put_fixed32(&block, crc32c::value(stored));
  block += stored;
  entry.handle.size = static_cast<uint32_t>(block.size());
  std::optional<Compression> compression;
  if (!(flags & 2)) compression = lz4 ? Compression::kLz4 : Compression::kNone;
  auto decoded = decode_block(block, entry, compression, kName);
  const bool ambiguous = !compression && stored.size() == payload.size();
  if (ambiguous) {
    // Equal lengths without a known compression: refused unless the raw length is out of range.
    FUZZ_CHECK(!decoded.ok(), "equal lengths and unknown compression are refused");
  } else if (payload.size() >= kPayloadHeaderBytes) {
    FUZZ_CHECK(decoded.ok() == parsed.ok(), "decode_block agrees with DecodedBlock::parse");
    if (decoded.ok()) FUZZ_CHECK(records_of(**decoded) == records_of(**parsed), "same records");
  } else {
    FUZZ_CHECK(!decoded.ok(), "a payload shorter than its header is refused");
  }
  // The stored block with one byte flipped is refused, never decoded to other records.
  if (!block.empty() && decoded.ok()) {
    std::string flipped = block;
    flipped[flags % flipped.size()] ^= 0x40;
    auto bad = decode_block(flipped, entry, compression, kName);
    FUZZ_CHECK(!bad.ok(), "a flipped byte in a stored block is caught");
  }
  return 0;
}
