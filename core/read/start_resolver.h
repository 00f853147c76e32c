// Where a read starts: the use-case rule behind `offset`, `timestamp`, `group`
// and `auto_offset_reset`, independent of HTTP.
//
//   - At most one of a position (offset / earliest / latest / timestamp) and a
//     group; `reset` only with a group.
//   - A position is used as given.
//   - A group starts at its committed offset for the partition when the log
//     still holds it ([log_start_offset, high_watermark]); otherwise (no commit,
//     or retention moved past it, or it is above the log) the reset policy
//     decides: latest (Kafka's default) or earliest.
//   - Nothing given: the earliest offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/metadata/metadata_store.h"
#include "core/read/log_reader.h"

namespace sh::read {

enum class OffsetReset { kEarliest, kLatest };

struct StartRequest {
  std::optional<StartPosition> position;  // offset=, timestamp=
  std::string group;                      // "" = no group
  std::optional<OffsetReset> reset;       // auto_offset_reset; only with a group
};

struct ResolvedStart {
  StartPosition start;
  // The group's committed offset for the partition, when it has one (even if the
  // reset policy overrode it) — callers track lag with it.
  std::optional<uint64_t> committed;
};

// kInvalidArgument naming the conflict when the combination is not allowed.
Status check_start_request(const StartRequest& req);

// REQUIRES: check_start_request(req).ok(). Errors: those of the metadata store's
// get_group_offsets other than kGroupNotFound (a group that never committed
// simply has no committed offset).
Result<ResolvedStart> resolve_start(const StartRequest& req, std::string_view topic,
                                    int32_t partition, MetadataStore& metadata, LogReader& reader);

}  // namespace sh::read
