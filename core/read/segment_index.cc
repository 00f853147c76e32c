#include "core/read/segment_index.h"

#include <algorithm>

namespace sh::read {

size_t IndexSnapshot::segment_for_offset(uint64_t offset) const {
  // First segment whose base is > offset, then step back to the one that may hold it.
  auto it = std::upper_bound(segments.begin(), segments.end(), offset,
                             [](uint64_t o, const SegmentInfo& s) { return o < s.base_offset; });
  if (it != segments.begin()) {
    auto prev = std::prev(it);
    if (offset <= prev->last_offset) return static_cast<size_t>(prev - segments.begin());
  }
  return static_cast<size_t>(it - segments.begin());
}

SegmentIndex::SegmentIndex(std::string topic, int32_t partition)
    : topic_(std::move(topic)), partition_(partition) {}

std::shared_ptr<const IndexSnapshot> SegmentIndex::snapshot() const {
  std::lock_guard lock(snapshot_mu_);
  return snapshot_;
}

Result<std::shared_ptr<const IndexSnapshot>> SegmentIndex::refresh(MetadataStore& metadata,
                                                                   const Clock& clock,
                                                                   SteadyTime not_before,
                                                                   bool* queried, bool wait) {
  if (queried) *queried = false;
  std::unique_lock refresh_lock(refresh_mu_, std::defer_lock);
  if (wait) {
    refresh_lock.lock();
  } else if (!refresh_lock.try_lock()) {
    if (auto current = snapshot()) return current;  // someone is refreshing: serve what we have
    refresh_lock.lock();
  }
  auto current = snapshot();
  if (current && current->refreshed_at >= not_before) return current;  // someone just did it
  if (queried) *queried = true;
  SH_ASSIGN_OR_RETURN(auto next, load_locked(metadata, clock, std::move(current)));
  publish(next);
  return next;
}

Result<std::shared_ptr<const IndexSnapshot>> SegmentIndex::reload_after_missing_segment(
    MetadataStore& metadata, const Clock& clock) {
  std::lock_guard refresh_lock(refresh_mu_);
  auto current = snapshot();
  SH_ASSIGN_OR_RETURN(auto next, load_locked(metadata, clock, nullptr));
  if (!current || next->log_start_offset > current->log_start_offset) publish(next);
  return next;
}

void SegmentIndex::publish(std::shared_ptr<const IndexSnapshot> snap) {
  std::lock_guard lock(snapshot_mu_);
  snapshot_ = std::move(snap);
}

Result<std::shared_ptr<const IndexSnapshot>> SegmentIndex::load_locked(
    MetadataStore& metadata, const Clock& clock, std::shared_ptr<const IndexSnapshot> current) {
  const SteadyTime started = clock.now_steady();
  auto next = std::make_shared<IndexSnapshot>();
  if (!current) {
    // Full load: the partition must exist (names the missing topic or partition).
    SH_ASSIGN_OR_RETURN(PartitionInfo info, metadata.get_partition(topic_, partition_));
    SH_ASSIGN_OR_RETURN(next->segments, metadata.list_segments(topic_, partition_, std::nullopt));
    next->log_start_offset = info.log_start_offset;
  } else {
    std::optional<uint64_t> after;
    if (!current->segments.empty()) after = current->segments.back().base_offset;
    SH_ASSIGN_OR_RETURN(std::vector<SegmentInfo> added,
                        metadata.list_segments(topic_, partition_, after));
    next->segments = current->segments;
    next->log_start_offset = current->log_start_offset;
    for (auto& s : added) {
      // Ignore anything that would break ordering (a writer bug); never reorder.
      if (!next->segments.empty() && s.base_offset <= next->segments.back().last_offset) continue;
      next->segments.push_back(std::move(s));
    }
  }
  std::sort(next->segments.begin(), next->segments.end(),
            [](const SegmentInfo& a, const SegmentInfo& b) { return a.base_offset < b.base_offset; });
  // Segments wholly below the log start (retention moved it) are not served.
  std::erase_if(next->segments,
                [&](const SegmentInfo& s) { return s.last_offset < next->log_start_offset; });
  if (!next->segments.empty()) {
    next->log_start_offset = std::max(next->log_start_offset, next->segments.front().base_offset);
    next->high_watermark = next->segments.back().last_offset + 1;
  } else {
    next->high_watermark = next->log_start_offset;
  }
  for (const auto& s : next->segments) next->size_bytes += s.size_bytes;
  next->refreshed_at = started;

  return std::shared_ptr<const IndexSnapshot>(std::move(next));
}

}  // namespace sh::read
