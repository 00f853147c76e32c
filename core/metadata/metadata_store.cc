#include "core/metadata/metadata_store.h"

#include "core/format/segment.h"

namespace sh {

Result<PartitionSegments> MetadataStore::load_partition(std::string_view topic, int32_t partition,
                                                       Deadline deadline) {
  PartitionSegments out;
  SH_ASSIGN_OR_RETURN(out.partition, get_partition(topic, partition, deadline));
  SH_ASSIGN_OR_RETURN(out.segments, list_segments(topic, partition, std::nullopt, deadline));
  return out;
}

bool valid_group_id(std::string_view group) { return format::valid_topic_name(group); }

}  // namespace sh
