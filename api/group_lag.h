// Consumer-group lag as Prometheus gauges, computed at scrape time from the
// committed offsets this process has seen (commits through it, group offset
// reads, records?group=) and the in-memory segment index — a scrape costs no
// metadata query.
//
//   streamhouse_consumer_group_lag{group,topic,partition}              records
//   streamhouse_consumer_group_committed_offset{group,topic,partition}
//
// At most `max_groups` groups are tracked (0 = no limit): recording a new group
// beyond it evicts the group recorded least recently, and its series leave the
// next scrape. (ApiService refuses commits that would create a group beyond
// the same limit, so eviction only meets groups created before or elsewhere.)
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

#include "core/read/log_reader.h"

namespace sh::api {

class GroupLagTracker {
 public:
  // REQUIRES: `reader` outlives this tracker.
  explicit GroupLagTracker(read::LogReader* reader, size_t max_groups = 0)
      : reader_(reader), max_groups_(max_groups) {}

  void record(const std::string& group, const std::string& topic, int32_t partition,
              uint64_t committed_offset);
  std::vector<prometheus::MetricFamily> collect() const;

  bool tracks(const std::string& group) const;
  size_t groups() const;
  uint64_t evictions() const;

 private:
  struct Group {
    uint64_t last_use = 0;  // value of use_clock_ when last recorded
    std::map<std::pair<std::string, int32_t>, uint64_t> committed;  // (topic, partition) → offset
  };

  read::LogReader* reader_;
  const size_t max_groups_;
  mutable std::mutex mu_;
  std::map<std::string, Group> groups_;  // guarded by mu_
  uint64_t use_clock_ = 0;               // guarded by mu_
  uint64_t evictions_ = 0;               // guarded by mu_
};

}  // namespace sh::api
