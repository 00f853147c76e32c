// Builds the raw (uncompressed) payload of one block, as docs/segment-format.md
// lays it out ("Block" and "Record"):
//
//   [first_offset u64][first_timestamp i64][record_count u32][record]...
//
// Each record is encoded against the block's first record: offset delta
// (uvarint), timestamp delta (svarint, modulo 2^64), key and value (svarint
// length, -1 = null, then the bytes), header count (uvarint), then per header
// its name (uvarint length + bytes) and value (like the key).
// DecodedBlock::parse (block.h) reads it back. Compression, the 12-byte block
// header, the index entry and when to cut a block are SegmentWriter's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/format/record.h"

namespace sh::format {

class BlockBuilder {
 public:
  BlockBuilder();

  bool empty() const { return record_count_ == 0; }
  uint32_t record_count() const { return record_count_; }
  // REQUIRES for the four below: !empty().
  uint64_t first_offset() const { return first_offset_; }
  uint64_t last_offset() const { return last_offset_; }
  int64_t first_timestamp() const { return first_timestamp_; }
  int64_t max_timestamp() const { return max_timestamp_; }

  // Payload bytes so far, the 20-byte payload header included.
  uint64_t payload_size() const { return buf_.size(); }
  // Payload bytes of a block that holds `r` alone.
  static uint64_t payload_size_alone(const RecordView& r);
  // Payload bytes after add(r). REQUIRES: empty() or r.offset > last_offset().
  uint64_t payload_size_with(const RecordView& r) const;

  // Appends `r`. REQUIRES: empty() or r.offset > last_offset(); header names
  // are valid UTF-8; payload_size_with(r) <= kMaxBlockBytes. Not after finish()
  // until reset().
  void add(const RecordView& r);

  // Fills in the payload header and returns the whole payload, valid until the
  // next reset(). REQUIRES: !empty().
  std::string_view finish();
  // Starts the next block, keeping the buffer's memory.
  void reset();

 private:
  std::string buf_;  // 20 bytes for the payload header (written by finish()), then records
  uint64_t first_offset_ = 0;
  uint64_t last_offset_ = 0;
  int64_t first_timestamp_ = 0;
  int64_t max_timestamp_ = 0;
  uint32_t record_count_ = 0;
};

}  // namespace sh::format
