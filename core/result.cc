#include "core/result.h"

namespace sh {

std::string_view errc_name(Errc c) {
  switch (c) {
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kNotFound: return "not_found";
    case Errc::kTopicNotFound: return "topic_not_found";
    case Errc::kPartitionNotFound: return "partition_not_found";
    case Errc::kGroupNotFound: return "group_not_found";
    case Errc::kOffsetOutOfRange: return "offset_out_of_range";
    case Errc::kOutOfRange: return "out_of_range";
    case Errc::kCorrupt: return "corrupt";
    case Errc::kBadResponse: return "bad_response";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kTimeout: return "timeout";
    case Errc::kPermissionDenied: return "permission_denied";
    case Errc::kPreconditionFailed: return "precondition_failed";
    case Errc::kResourceExhausted: return "resource_exhausted";
    case Errc::kAlreadyExists: return "already_exists";
    case Errc::kWouldBlock: return "would_block";
    case Errc::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace sh
