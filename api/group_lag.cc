#include "api/group_lag.h"

namespace sh::api {

void GroupLagTracker::record(const std::string& group, const std::string& topic,
                             int32_t partition, uint64_t committed_offset) {
  std::lock_guard lock(mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) {
    if (max_groups_ > 0 && groups_.size() >= max_groups_) {
      auto oldest = groups_.begin();
      for (auto g = groups_.begin(); g != groups_.end(); ++g) {
        if (g->second.last_use < oldest->second.last_use) oldest = g;
      }
      groups_.erase(oldest);
      ++evictions_;
    }
    it = groups_.emplace(group, Group{}).first;
  }
  it->second.last_use = ++use_clock_;
  it->second.committed[{topic, partition}] = committed_offset;
}

bool GroupLagTracker::tracks(const std::string& group) const {
  std::lock_guard lock(mu_);
  return groups_.count(group) > 0;
}

size_t GroupLagTracker::groups() const {
  std::lock_guard lock(mu_);
  return groups_.size();
}

uint64_t GroupLagTracker::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

std::vector<prometheus::MetricFamily> GroupLagTracker::collect() const {
  prometheus::MetricFamily lag{"streamhouse_consumer_group_lag",
                               "Records between a group's committed offset and the high watermark",
                               prometheus::MetricType::Gauge, {}};
  prometheus::MetricFamily committed{"streamhouse_consumer_group_committed_offset",
                                     "Committed offset of a consumer group on a partition",
                                     prometheus::MetricType::Gauge, {}};
  std::lock_guard lock(mu_);
  for (const auto& [group, g] : groups_) {
    for (const auto& [tp, offset] : g.committed) {
      const auto& [topic, partition] = tp;
      std::vector<prometheus::ClientMetric::Label> labels = {
          {"group", group}, {"partition", std::to_string(partition)}, {"topic", topic}};
      prometheus::ClientMetric c;
      c.label = labels;
      c.gauge.value = static_cast<double>(offset);
      committed.metric.push_back(c);
      auto snap = reader_->cached_index(topic, partition);
      if (!snap) continue;  // partition not indexed here yet: lag unknown
      prometheus::ClientMetric l;
      l.label = std::move(labels);
      l.gauge.value = snap->high_watermark > offset
                          ? static_cast<double>(snap->high_watermark - offset)
                          : 0.0;
      lag.metric.push_back(std::move(l));
    }
  }
  std::vector<prometheus::MetricFamily> out;
  if (!lag.metric.empty()) out.push_back(std::move(lag));
  if (!committed.metric.empty()) out.push_back(std::move(committed));
  return out;
}

}  // namespace sh::api
