// Builds one segment object in memory (docs/segment-format.md): records go into
// a BlockBuilder, each finished block is compressed and appended with its
// 12-byte block header, and finish() adds the index, footer and header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/format/block_builder.h"
#include "core/format/format.h"
#include "core/format/record.h"
#include "core/result.h"

namespace sh::format {

inline constexpr uint32_t kDefaultBlockBytes = 1u << 20;

struct SegmentWriterOptions {
  uint32_t block_bytes = kDefaultBlockBytes;  // cut a block when its raw size reaches this
  Compression compression = Compression::kLz4;
  int64_t created_at_ms = 0;
};

// Records must arrive with strictly increasing offsets.
class SegmentWriter {
 public:
  explicit SegmentWriter(SegmentWriterOptions opts = {});

  // kInvalidArgument if the offset does not increase, a header name is not
  // valid UTF-8, the record alone exceeds kMaxBlockBytes or the compression
  // option is unknown.
  Status add(const Record& r);
  Status add(const RecordView& r);

  uint64_t record_count() const { return record_count_; }
  bool empty() const { return record_count_ == 0; }
  uint64_t base_offset() const { return base_offset_; }
  uint64_t last_offset() const { return last_offset_; }
  int64_t max_timestamp() const { return max_timestamp_; }
  // Bytes the finished object would take if finished now (approximate: the open
  // block is counted uncompressed).
  uint64_t estimated_size() const;

  // Returns the complete object bytes. kInvalidArgument if empty(). The writer
  // is reset afterwards.
  Result<std::string> finish();

 private:
  // Compresses the open block, appends it to out_ and records its index entry.
  void cut_block();

  SegmentWriterOptions opts_;
  std::string out_;  // header placeholder + finished blocks
  std::vector<IndexEntry> index_;
  BlockBuilder block_;  // the open block
  uint64_t record_count_ = 0;
  uint64_t base_offset_ = 0;
  uint64_t last_offset_ = 0;
  int64_t max_timestamp_ = INT64_MIN;
};

}  // namespace sh::format
