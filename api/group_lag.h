// Consumer-group lag as Prometheus gauges, computed at scrape time from the
// committed offsets this process has seen (commits through it, group offset
// reads, records?group=) and the in-memory segment index — a scrape costs no
// metadata query.
//
//   streamhouse_consumer_group_lag{group,topic,partition}              records
//   streamhouse_consumer_group_committed_offset{group,topic,partition}
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <prometheus/metric_family.h>

#include "core/read/log_reader.h"

namespace sh::api {

class GroupLagTracker {
 public:
  // REQUIRES: `reader` outlives this tracker.
  explicit GroupLagTracker(read::LogReader* reader) : reader_(reader) {}

  void record(const std::string& group, const std::string& topic, int32_t partition,
              uint64_t committed_offset);
  std::vector<prometheus::MetricFamily> collect() const;

 private:
  read::LogReader* reader_;
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int32_t>, uint64_t> committed_;
};

}  // namespace sh::api
