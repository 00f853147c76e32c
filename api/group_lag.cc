#include "api/group_lag.h"

namespace sh::api {

void GroupLagTracker::record(const std::string& group, const std::string& topic,
                             int32_t partition, uint64_t committed_offset) {
  std::lock_guard lock(mu_);
  committed_[{group, topic, partition}] = committed_offset;
}

std::vector<prometheus::MetricFamily> GroupLagTracker::collect() const {
  prometheus::MetricFamily lag{"streamhouse_consumer_group_lag",
                               "Records between a group's committed offset and the high watermark",
                               prometheus::MetricType::Gauge, {}};
  prometheus::MetricFamily committed{"streamhouse_consumer_group_committed_offset",
                                     "Committed offset of a consumer group on a partition",
                                     prometheus::MetricType::Gauge, {}};
  std::lock_guard lock(mu_);
  for (const auto& [k, offset] : committed_) {
    const auto& [group, topic, partition] = k;
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
  std::vector<prometheus::MetricFamily> out;
  if (!lag.metric.empty()) out.push_back(std::move(lag));
  if (!committed.metric.empty()) out.push_back(std::move(committed));
  return out;
}

}  // namespace sh::api
