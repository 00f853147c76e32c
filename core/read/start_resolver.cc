#include "core/read/start_resolver.h"

namespace sh::read {

Status check_start_request(const StartRequest& req) {
  if (req.position && !req.group.empty()) {
    return invalid_argument("give at most one of offset, timestamp, group");
  }
  if (req.reset && req.group.empty()) {
    return invalid_argument("auto_offset_reset applies only with group");
  }
  return ok_status();
}

Result<ResolvedStart> resolve_start(const StartRequest& req, std::string_view topic,
                                    int32_t partition, MetadataStore& metadata, LogReader& reader) {
  if (req.position) return ResolvedStart{*req.position, std::nullopt};
  if (req.group.empty()) return ResolvedStart{StartPosition::earliest(), std::nullopt};

  const OffsetReset reset = req.reset.value_or(OffsetReset::kLatest);
  const StartPosition fallback =
      reset == OffsetReset::kLatest ? StartPosition::latest() : StartPosition::earliest();
  ResolvedStart out{fallback, std::nullopt};

  auto offsets = metadata.get_group_offsets(req.group);
  if (!offsets.ok()) {
    if (offsets.error().code() == Errc::kGroupNotFound) return out;
    return std::move(offsets).error();
  }
  for (const auto& c : *offsets) {
    if (c.topic != topic || c.partition != partition) continue;
    out.committed = c.offset;
    auto info = reader.partition_info(topic, partition);
    if (!info.ok()) return std::move(info).error();
    if (c.offset >= info->log_start_offset && c.offset <= info->high_watermark) {
      out.start = StartPosition::at(c.offset);
    }
    break;
  }
  return out;
}

}  // namespace sh::read
