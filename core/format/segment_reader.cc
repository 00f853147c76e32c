#include "core/format/segment_reader.h"

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "core/format/block.h"

namespace sh::format {

Result<SegmentContents> read_segment(std::string_view object, std::string_view object_name) {
  SegmentContents out;
  SH_ASSIGN_OR_RETURN(out.header, SegmentHeader::decode_from(object, object_name));
  SH_ASSIGN_OR_RETURN(TailParse tail, parse_tail(object, object.size(), "", object_name));
  if (!tail.meta) {  // cannot happen: the tail is the whole object
    return corrupt(fmt::format("{}: index does not fit in the object", object_name));
  }
  out.meta = std::move(*tail.meta);
  uint64_t total = 0;
  for (const IndexEntry& e : out.meta.index) total += e.record_count;
  out.records.reserve(static_cast<size_t>(std::min<uint64_t>(total, object.size() / kMinRecordBytes)));
  std::vector<HeaderView> scratch;
  for (const IndexEntry& e : out.meta.index) {
    const std::string_view stored = object.substr(e.handle.position, e.handle.size);
    SH_ASSIGN_OR_RETURN(std::shared_ptr<const DecodedBlock> block,
                        decode_block(stored, e, out.header.compression, object_name));
    for (uint32_t i = 0; i < block->record_count(); ++i) {
      out.records.push_back(block->record(i, &scratch).to_record());
    }
  }
  return out;
}

}  // namespace sh::format
