// Segment format v1 (docs/segment-format.md): the fixed-size parts of an object
// and its index.
//
//   [Header 32 B][Block 0]...[Block n-1][Index][Footer 48 B]
//
// This header owns the constants of the spec, the header / index entry / footer
// codecs, decode_index and parse_tail (footer + index from one suffix read).
// Blocks are block.h; building an object is segment_writer.h.
//
// Every decode checks lengths against what it was given and the CRC before
// trusting a byte. Errors are kCorrupt and name the object and the byte
// position of the problem ("orders/0/seg_...bin: footer at 1234: bad magic ...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace sh::format {

inline constexpr char kMagic[4] = {'S', 'T', 'R', 'S'};
inline constexpr uint16_t kVersion = 1;
// Upper bound on a block's raw or stored length: writers never produce a larger
// block, readers refuse one before allocating anything (docs/segment-format.md).
inline constexpr uint32_t kMaxBlockBytes = 64u << 20;
// LZ4 cannot expand data more than 255 times (a match token adds at most 255
// bytes per input byte), plus a few bytes of the last sequence: an LZ4 block of
// `stored` bytes that claims more than max_lz4_raw_bytes(stored) raw bytes is
// corrupt, and is refused before its raw buffer is allocated.
inline constexpr uint64_t kLz4MaxExpansion = 255;
inline constexpr uint64_t kLz4ExpansionSlack = 64;
constexpr uint64_t max_lz4_raw_bytes(uint64_t stored_len) {
  return kLz4MaxExpansion * stored_len + kLz4ExpansionSlack;
}

enum class Compression : uint16_t { kNone = 0, kLz4 = 1 };

// A block on disk: [stored_len u32][raw_len u32][crc u32] then stored_len bytes.
inline constexpr size_t kBlockHeaderBytes = 12;
// A raw (decompressed) block payload: [first_offset u64][first_timestamp i64]
// [record_count u32] then the records.
inline constexpr size_t kPayloadHeaderBytes = 20;
// Smallest record: offset delta, timestamp delta, key length, value length and
// header count, one byte each.
inline constexpr size_t kMinRecordBytes = 5;
// The index: [entry_count u32] entries [crc u32]; this is everything but the entries.
inline constexpr size_t kIndexOverheadBytes = 8;

struct SegmentHeader {
  static constexpr size_t kEncodedLength = 32;
  uint16_t version = kVersion;
  Compression compression = Compression::kLz4;
  uint64_t base_offset = 0;
  int64_t created_at_ms = 0;

  void encode_to(std::string* dst) const;
  // Checks magic, CRC, version, compression and the reserved field. A `bytes`
  // shorter than kEncodedLength is corruption; only the first 32 bytes are read.
  static Result<SegmentHeader> decode_from(std::string_view bytes, std::string_view object_name);
};

// Where a block sits in the object: position of its 12-byte block header and
// its size on disk (12 + stored_len).
struct BlockHandle {
  uint64_t position = 0;
  uint32_t size = 0;
  bool operator==(const BlockHandle&) const = default;
};

struct IndexEntry {
  static constexpr size_t kEncodedLength = 48;
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  BlockHandle handle;
  uint32_t record_count = 0;
  int64_t first_timestamp = 0;
  int64_t max_timestamp = 0;

  void encode_to(std::string* dst) const;
  bool operator==(const IndexEntry&) const = default;
};

struct Footer {
  static constexpr size_t kEncodedLength = 48;
  uint64_t index_position = 0;
  uint32_t index_length = 0;
  uint32_t block_count = 0;
  uint64_t base_offset = 0;
  uint64_t last_offset = 0;
  int64_t max_timestamp = 0;

  void encode_to(std::string* dst) const;
  // Decodes the last 48 bytes of `tail` (magic checked first, then CRC, then
  // that index_position/index_length fit in an object of `object_size` bytes
  // between the header and the footer). A tail longer than the object is
  // kBadResponse (the store contradicts itself), not corruption.
  static Result<Footer> decode_from(std::string_view tail, uint64_t object_size,
                                    std::string_view object_name);
};

// Decodes and checks the index: `bytes` must be exactly footer.index_length
// bytes read from footer.index_position. Checks the CRC, entry_count ==
// block_count, that blocks are contiguous from the header to the index, that
// offsets increase across entries and stay within [base_offset, last_offset].
Result<std::vector<IndexEntry>> decode_index(std::string_view bytes, const Footer& footer,
                                             std::string_view object_name);

// Everything a reader needs about a segment besides its blocks; obtained from
// one suffix read in the common case.
struct SegmentMeta {
  uint64_t object_size = 0;
  std::string etag;
  Footer footer;
  std::vector<IndexEntry> index;
  // Known when the header was part of the bytes read (small objects) or read later.
  std::optional<SegmentHeader> header;

  // Index of the first block whose last_offset >= offset, or index.size().
  size_t block_for_offset(uint64_t offset) const;
  // Index of the first block whose max_timestamp >= ts, or index.size().
  size_t first_block_with_max_timestamp_at_least(int64_t ts) const;
  size_t memory_charge() const;
};

// Result of parsing the tail of an object.
struct TailParse {
  // Set when the tail held footer and index.
  std::optional<SegmentMeta> meta;
  // Otherwise the suffix length needed to get footer + index in one more read.
  uint64_t need_suffix_bytes = 0;
};

// The part of a segment a kCorrupt message of this module names — "header",
// "block", "index" or "footer" (the word after "<object_name>: ") — or "" when
// the message names none of them.
std::string_view corrupt_part(std::string_view message, std::string_view object_name);

// Parses the last `tail.size()` bytes of an object of `object_size` bytes.
// If the tail also reaches back to offset 0, the header is decoded and checked too.
Result<TailParse> parse_tail(std::string_view tail, uint64_t object_size, std::string_view etag,
                             std::string_view object_name);

}  // namespace sh::format
