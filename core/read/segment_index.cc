#include "core/read/segment_index.h"

#include <algorithm>

namespace sh::read {

size_t IndexSnapshot::segment_for_offset(uint64_t offset) const {
  // First segment whose base is > offset, then step back to the one that may hold it.
  auto it = std::upper_bound(segments.begin(), segments.end(), offset,
                             [](uint64_t o, const SegmentInfo& s) { return o < s.base_offset; });
  if (it != segments.begin()) {
    const auto prev = static_cast<size_t>(std::prev(it) - segments.begin());
    if (offset < end_bound(prev)) return prev;
  }
  return static_cast<size_t>(it - segments.begin());
}

uint64_t IndexSnapshot::end_bound(size_t i) const {
  const SegmentInfo& s = segments[i];
  if (s.footer_known) return s.last_offset + 1;
  if (i + 1 < segments.size()) return segments[i + 1].base_offset;
  return std::max(high_watermark, s.base_offset + 1);  // not expected: the last is known
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
                                                                   bool* queried, bool wait,
                                                                   Deadline deadline) {
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
  SH_ASSIGN_OR_RETURN(auto next, load_locked(metadata, clock, std::move(current), deadline));
  publish(next);
  return next;
}

Result<std::shared_ptr<const IndexSnapshot>> SegmentIndex::reload_after_missing_segment(
    MetadataStore& metadata, const Clock& clock, Millis min_interval, Deadline deadline,
    bool* queried) {
  if (queried) *queried = false;
  const SteadyTime asked = clock.now_steady();
  std::lock_guard refresh_lock(refresh_mu_);
  if (last_reload_) {
    // One that started after we asked covers us (single-flight); a recent one
    // is reused (at most one reload per interval).
    const SteadyTime now = clock.now_steady();
    if (last_reload_started_ >= asked || now - last_reload_ended_ < min_interval) {
      return *last_reload_;
    }
  }
  if (queried) *queried = true;
  last_reload_started_ = clock.now_steady();
  auto current = snapshot();
  auto next = load_locked(metadata, clock, nullptr, deadline);
  if (next.ok() && (!current || (*next)->log_start_offset > current->log_start_offset)) {
    publish(*next);
  }
  last_reload_ended_ = clock.now_steady();
  last_reload_ = next;
  return next;
}

void SegmentIndex::publish(std::shared_ptr<const IndexSnapshot> snap) {
  std::lock_guard lock(snapshot_mu_);
  snapshot_ = std::move(snap);
}

Result<std::shared_ptr<const IndexSnapshot>> SegmentIndex::load_locked(
    MetadataStore& metadata, const Clock& clock, std::shared_ptr<const IndexSnapshot> current,
    Deadline deadline) {
  const SteadyTime started = clock.now_steady();
  auto next = std::make_shared<IndexSnapshot>();
  if (!current) {
    // Full load: the partition must exist (names the missing topic or partition).
    // One call: a listing store lists the partition once for both.
    SH_ASSIGN_OR_RETURN(PartitionSegments loaded,
                        metadata.load_partition(topic_, partition_, deadline));
    next->segments = std::move(loaded.segments);
    next->log_start_offset = loaded.partition.log_start_offset;
  } else {
    std::optional<uint64_t> after;
    if (!current->segments.empty()) after = current->segments.back().base_offset;
    SH_ASSIGN_OR_RETURN(std::vector<SegmentInfo> added,
                        metadata.list_segments(topic_, partition_, after, deadline));
    next->segments = current->segments;
    next->log_start_offset = current->log_start_offset;
    for (auto& s : added) {
      // Ignore anything that would break ordering (a writer bug); never reorder.
      if (!next->segments.empty()) {
        const SegmentInfo& back = next->segments.back();
        const uint64_t back_end = back.footer_known ? back.last_offset + 1 : back.base_offset + 1;
        if (s.base_offset < back_end) continue;
      }
      next->segments.push_back(std::move(s));
    }
  }
  std::sort(next->segments.begin(), next->segments.end(),
            [](const SegmentInfo& a, const SegmentInfo& b) { return a.base_offset < b.base_offset; });
  // Segments wholly below the log start (retention moved it) are not served.
  // One whose footer is unknown ends before the next segment's base at the latest.
  {
    std::vector<SegmentInfo> kept;
    kept.reserve(next->segments.size());
    for (size_t i = 0; i < next->segments.size(); ++i) {
      SegmentInfo& s = next->segments[i];
      const bool below =
          s.footer_known ? s.last_offset < next->log_start_offset
                         : i + 1 < next->segments.size() &&
                               next->segments[i + 1].base_offset <= next->log_start_offset;
      if (!below) kept.push_back(std::move(s));
    }
    next->segments = std::move(kept);
  }
  if (!next->segments.empty()) {
    next->log_start_offset = std::max(next->log_start_offset, next->segments.front().base_offset);
    const SegmentInfo& last = next->segments.back();
    // The last segment always comes with its footer; should a store break that,
    // serve what is surely there (from its base) rather than guess past it.
    next->high_watermark = last.footer_known ? last.last_offset + 1 : last.base_offset;
  } else {
    next->high_watermark = next->log_start_offset;
  }
  for (const auto& s : next->segments) next->size_bytes += s.size_bytes;
  next->refreshed_at = started;

  return std::shared_ptr<const IndexSnapshot>(std::move(next));
}

}  // namespace sh::read
