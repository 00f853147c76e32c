#include "core/metadata/metadata_store.h"

#include "core/format/segment.h"

namespace sh {

bool valid_group_id(std::string_view group) { return format::valid_topic_name(group); }

}  // namespace sh
