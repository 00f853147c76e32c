// SegmentIndex: the segments of one partition, held in memory so that a read
// below the high watermark costs no metadata query.
//
// Readers take an immutable Snapshot (segments sorted by base offset; lookup is
// a binary search, O(log n)) and never wait for a refresh in progress. A refresh
// asks the MetadataStore only for segments above the newest one it knows
// (incremental). When a refresh fails but a snapshot exists, reads go on from
// it (degraded mode) and the next read retries.
//
// Segments may come without their footer summary (SegmentInfo::footer_known
// false, listing metadata): such a segment is located by base offsets alone —
// it holds nothing at or past the next segment's base — and its footer is read
// only when a read needs it. The last segment is always footer_known (it sets
// the high watermark).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/metadata/metadata_store.h"

namespace sh::read {

struct IndexSnapshot {
  std::vector<SegmentInfo> segments;  // ascending base_offset, non-overlapping
  uint64_t log_start_offset = 0;
  uint64_t high_watermark = 0;
  uint64_t size_bytes = 0;
  SteadyTime refreshed_at{};

  // Index of the segment that may hold `offset` or, if `offset` falls in a
  // known gap, the first segment after it; segments.size() if none. For a
  // segment whose footer is unknown "may hold" means base <= offset < the next
  // base (the gap, if any, is found when its footer is read).
  size_t segment_for_offset(uint64_t offset) const;
  // One past the last offset segment i can hold: last_offset + 1 when its
  // footer is known, else the next segment's base offset.
  uint64_t end_bound(size_t i) const;
};

class SegmentIndex {
 public:
  SegmentIndex(std::string topic, int32_t partition);

  const std::string& topic() const { return topic_; }
  int32_t partition() const { return partition_; }

  // Current snapshot, or nullptr before the first successful load.
  std::shared_ptr<const IndexSnapshot> snapshot() const;

  // When a reader last used this index (steady clock, ms) — for eviction.
  void touch(SteadyTime now) {
    last_used_ms_.store(std::chrono::duration_cast<Millis>(now.time_since_epoch()).count(),
                        std::memory_order_relaxed);
  }
  int64_t last_used_ms() const { return last_used_ms_.load(std::memory_order_relaxed); }

  // Loads (first time) or refreshes incrementally. Concurrent callers share one
  // refresh: a caller that waited for another's refresh which finished after
  // `not_before` returns that result without querying again. *queried (optional)
  // says whether this call asked the metadata store. With wait=false and a
  // snapshot present, a caller that finds another refresh running returns the
  // current snapshot at once instead of queueing behind it.
  // `deadline` bounds the metadata calls (a refresh shared with others still
  // ends at the deadline of the caller that runs it).
  Result<std::shared_ptr<const IndexSnapshot>> refresh(MetadataStore& metadata, const Clock& clock,
                                                       SteadyTime not_before,
                                                       bool* queried = nullptr, bool wait = true,
                                                       Deadline deadline = {});

  // After a segment the index named vanished: loads everything again and
  // publishes it only if the log start moved (retention). A segment missing from
  // the middle is not a reason to forget it: the current snapshot stays.
  // Returns the freshly loaded snapshot (or the load's error) either way.
  // Throttled (retention deletes many segments at once, and every read that
  // meets one would reload): concurrent callers share one reload, and a reload
  // that ended less than `min_interval` ago is reused as it is. *queried
  // (optional) says whether this call asked the metadata store.
  Result<std::shared_ptr<const IndexSnapshot>> reload_after_missing_segment(
      MetadataStore& metadata, const Clock& clock, Millis min_interval = Millis(0),
      Deadline deadline = {}, bool* queried = nullptr);

 private:
  // REQUIRES: refresh_mu_ held. `base` = snapshot to extend incrementally, or nullptr
  // to load all (one MetadataStore::load_partition). Does not publish.
  Result<std::shared_ptr<const IndexSnapshot>> load_locked(MetadataStore& metadata,
                                                           const Clock& clock,
                                                           std::shared_ptr<const IndexSnapshot> base,
                                                           Deadline deadline);
  void publish(std::shared_ptr<const IndexSnapshot> snap);

  const std::string topic_;
  const int32_t partition_;
  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const IndexSnapshot> snapshot_;
  std::mutex refresh_mu_;  // one refresh at a time
  // The last reload_after_missing_segment (guarded by refresh_mu_): when it
  // started and ended, and its result.
  SteadyTime last_reload_started_{};
  SteadyTime last_reload_ended_{};
  std::optional<Result<std::shared_ptr<const IndexSnapshot>>> last_reload_;
  std::atomic<int64_t> last_used_ms_{0};
};

}  // namespace sh::read
