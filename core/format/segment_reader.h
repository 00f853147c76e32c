// Reads and verifies a whole segment object held in memory (tools: segment
// dump and verify, tests). The read path does not use this: it reads the tail
// (parse_tail, format.h) and then single blocks (decode_block, block.h).
#pragma once

#include <string_view>
#include <vector>

#include "core/format/format.h"
#include "core/format/record.h"
#include "core/result.h"

namespace sh::format {

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
