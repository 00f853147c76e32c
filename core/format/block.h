// Segment format v1 blocks (docs/segment-format.md, "Block" and "Record"):
// checking a stored block (12-byte block header, CRC, decompression) and
// parsing its raw payload into a DecodedBlock. The payload is written by
// BlockBuilder (block_builder.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/format/format.h"
#include "core/format/record.h"
#include "core/result.h"

namespace sh::format {

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

}  // namespace sh::format
