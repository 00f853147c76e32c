// Segment format v1 (docs/segment-format.md): header, blocks, index, footer.
//
//   [Header 32 B][Block 0]...[Block n-1][Index][Footer 48 B]
//
// Every decode_from() checks lengths against what it was given and the CRC
// before trusting a byte. Errors are kCorrupt and name the object and the byte
// position of the problem ("orders/0/seg_...bin: footer at 1234: bad CRC").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/format/record.h"
#include "core/format/names.h"
#include "core/result.h"

namespace sh::format {

inline constexpr char kMagic[4] = {'S', 'T', 'R', 'S'};
inline constexpr uint16_t kVersion = 1;
inline constexpr uint32_t kDefaultBlockBytes = 1u << 20;
// Upper bound on a block's raw or stored length a reader accepts (sanity, not format).
inline constexpr uint32_t kMaxBlockBytes = 256u << 20;

enum class Compression : uint16_t { kNone = 0, kLz4 = 1 };

struct SegmentHeader {
  static constexpr size_t kEncodedLength = 32;
  uint16_t version = kVersion;
  Compression compression = Compression::kLz4;
  uint64_t base_offset = 0;
  int64_t created_at_ms = 0;

  void encode_to(std::string* dst) const;
  // REQUIRES: bytes.size() >= kEncodedLength (only the first 32 bytes are read).
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
  // between the header and the footer).
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

// Parses the last `tail.size()` bytes of an object of `object_size` bytes.
// If the tail also reaches back to offset 0, the header is decoded and checked too.
Result<TailParse> parse_tail(std::string_view tail, uint64_t object_size, std::string_view etag,
                             std::string_view object_name);

// A block decoded and fully validated: every record parsed once, the payload
// consumed exactly, offsets strictly increasing and matching the index entry.
// Immutable and shared between readers (BlockCache holds shared_ptr<const DecodedBlock>).
class DecodedBlock {
 public:
  uint64_t first_offset() const { return first_offset_; }
  int64_t first_timestamp() const { return first_timestamp_; }
  uint32_t record_count() const { return static_cast<uint32_t>(offsets_.size()); }
  uint64_t offset_at(uint32_t i) const { return offsets_[i]; }
  uint64_t last_offset() const { return offsets_.back(); }
  // Index of the first record with offset >= `offset` (record_count() if none).
  uint32_t lower_bound(uint64_t offset) const;
  // Index of the first record with timestamp >= `ts` (record_count() if none).
  uint32_t first_with_timestamp_at_least(int64_t ts) const;
  // Record i as views into this block. Header views are stored in *scratch,
  // which must outlive the returned view's use of `headers`.
  RecordView record(uint32_t i, std::vector<HeaderView>* scratch) const;
  // Bytes record i occupies in the raw payload (an estimate of its wire size).
  uint32_t record_size(uint32_t i) const;
  // Memory this block holds (for cache charging).
  size_t memory_charge() const;

  // Parses a raw (decompressed) block payload. `entry` is the index entry the
  // payload must agree with; `position` is where the block sits in the object (for messages).
  static Result<std::shared_ptr<const DecodedBlock>> parse(std::string raw_payload,
                                                           const IndexEntry& entry,
                                                           std::string_view object_name);

 private:
  std::string payload_;
  uint64_t first_offset_ = 0;
  int64_t first_timestamp_ = 0;
  std::vector<uint64_t> offsets_;
  std::vector<uint32_t> positions_;  // record i starts at payload_[positions_[i]]
};

// Checks the 12-byte block header and CRC of `stored_block` (exactly
// entry.handle.size bytes read at entry.handle.position), decompresses it and
// parses it. If `compression` is nullopt it is inferred: stored_len != raw_len
// means LZ4; equal lengths are ambiguous and give kInvalidArgument with the
// message "compression unknown" (the caller then reads the header).
Result<std::shared_ptr<const DecodedBlock>> decode_block(std::string_view stored_block,
                                                         const IndexEntry& entry,
                                                         std::optional<Compression> compression,
                                                         std::string_view object_name);

struct SegmentWriterOptions {
  uint32_t block_bytes = kDefaultBlockBytes;  // cut a block when its raw size reaches this
  Compression compression = Compression::kLz4;
  int64_t created_at_ms = 0;
};

// Builds one segment in memory. Records must arrive with strictly increasing offsets.
class SegmentWriter {
 public:
  explicit SegmentWriter(SegmentWriterOptions opts = {});

  // kInvalidArgument if the offset does not increase or a length exceeds format limits.
  Status add(const Record& r);
  Status add(const RecordView& r);

  uint64_t record_count() const { return record_count_; }
  bool empty() const { return record_count_ == 0; }
  uint64_t base_offset() const { return base_offset_; }
  uint64_t last_offset() const { return last_offset_; }
  int64_t max_timestamp() const { return max_timestamp_; }
  // Bytes the finished object would take if finished now (approximate, before compression of the open block).
  uint64_t estimated_size() const;

  // Returns the complete object bytes. REQUIRES: !empty(). The writer is reset afterwards.
  Result<std::string> finish();

 private:
  void cut_block();

  SegmentWriterOptions opts_;
  std::string out_;  // header + finished blocks
  std::vector<IndexEntry> index_;
  std::string block_;  // raw payload of the open block (without the 20-byte prefix)
  uint64_t block_first_offset_ = 0;
  int64_t block_first_timestamp_ = 0;
  int64_t block_max_timestamp_ = 0;
  uint64_t block_last_offset_ = 0;
  uint32_t block_records_ = 0;
  uint64_t record_count_ = 0;
  uint64_t base_offset_ = 0;
  uint64_t last_offset_ = 0;
  int64_t max_timestamp_ = INT64_MIN;
};

// Reads and checks a whole segment held in memory (tools: dump, verify).
struct SegmentContents {
  SegmentHeader header;
  SegmentMeta meta;
  std::vector<Record> records;
};
// Verifies every byte of `object` (header, every block, index, footer, and that
// they agree with each other). On corruption the error names `object_name` and
// the byte position.
Result<SegmentContents> read_segment(std::string_view object, std::string_view object_name);

}  // namespace sh::format
