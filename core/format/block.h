// Segment format v1 blocks (docs/segment-format.md, "Block" and "Record"):
// checking a stored block (12-byte block header, CRC, decompression) and
// parsing its raw payload into a DecodedBlock. The payload is written by
// BlockBuilder (block_builder.h).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/format/format.h"
#include "core/format/record.h"
#include "core/result.h"

namespace sh::format {

// Writes records in one output encoding (a response format with its framing).
// Stateless and thread-safe: DecodedBlock::encoded() calls it once per record
// of a block, from whichever thread asks first.
class RecordEncoder {
 public:
  // Slots DecodedBlock keeps encodings in.
  static constexpr size_t kSlots = 24;
  virtual ~RecordEncoder() = default;
  // Where DecodedBlock keeps this encoder's output, < kSlots. Two encoders with
  // the same slot must write byte-identical output for every record of a block
  // (e.g. one slot per response format and framing). Blocks of different
  // partitions never share an object, so an encoding may embed the partition.
  virtual size_t slot() const = 0;
  // Appends record `r`'s bytes, framing included (e.g. a trailing ',' or '\n').
  virtual void encode(const RecordView& r, std::string* out) const = 0;
};

// A block's records in one encoding, back to back: record i is
// bytes()[begin(i), end(i)).
class EncodedRecords {
 public:
  std::string_view bytes() const { return bytes_; }
  size_t begin(uint32_t i) const { return i == 0 ? 0 : ends_[i - 1]; }
  size_t end(uint32_t i) const { return ends_[i]; }
  size_t size(uint32_t i) const { return end(i) - begin(i); }
  std::string_view record(uint32_t i) const { return range(i, i + 1); }
  // Records [first, last) as one contiguous run.
  std::string_view range(uint32_t first, uint32_t last) const {
    return std::string_view(bytes_).substr(begin(first), begin(last) - begin(first));
  }
  size_t memory() const { return sizeof(*this) + bytes_.capacity() + ends_.capacity() * sizeof(size_t); }

 private:
  friend class DecodedBlock;
  std::string bytes_;
  std::vector<size_t> ends_;  // ends_[i] = end of record i; begin(record_count) = total
};

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
  // Memory this block holds, the encodings built so far included (for cache
  // charging: the block cache re-reads it on lookup).
  size_t memory_charge() const;

  // Every record of this block in `enc`'s encoding, built on the first call
  // for enc.slot() and kept with the block (records are immutable, so each is
  // encoded once per format); concurrent first callers wait for one build.
  // REQUIRES: enc.slot() < RecordEncoder::kSlots, and the same slot always
  // gets encoders of identical output.
  const EncodedRecords& encoded(const RecordEncoder& enc) const;

  // Parses a raw (decompressed) block payload. `entry` is the index entry the
  // payload must agree with; its handle.position names the block in messages.
  static Result<std::shared_ptr<const DecodedBlock>> parse(std::string raw_payload,
                                                           const IndexEntry& entry,
                                                           std::string_view object_name);

 private:
  std::string payload_;
  uint64_t first_offset_ = 0;
  int64_t first_timestamp_ = 0;
  std::vector<uint64_t> offsets_;
  std::vector<uint32_t> positions_;  // record i starts at payload_[positions_[i]]
  // Encodings, built once per slot (encoded()).
  mutable std::array<std::once_flag, RecordEncoder::kSlots> encoded_once_;
  mutable std::array<std::unique_ptr<const EncodedRecords>, RecordEncoder::kSlots> encoded_;
  mutable std::atomic<size_t> encoded_charge_{0};
};

// Checks the 12-byte block header and CRC of `stored_block` (exactly
// entry.handle.size bytes read at entry.handle.position), decompresses it and
// parses it. If `compression` is nullopt it is inferred: stored_len != raw_len
// means LZ4; equal lengths are ambiguous and give kInvalidArgument with the
// message "compression unknown" (the caller then decodes with each and keeps
// the only reading that succeeds, or reads the header).
Result<std::shared_ptr<const DecodedBlock>> decode_block(std::string_view stored_block,
                                                         const IndexEntry& entry,
                                                         std::optional<Compression> compression,
                                                         std::string_view object_name);

}  // namespace sh::format
