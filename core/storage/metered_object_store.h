// MeteredObjectStore: a decorator that counts requests, outcomes, bytes and
// latency of any ObjectStore (local directory or S3) under one metric family,
// so dashboards read the same names whatever the backend.
#pragma once

#include <memory>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "core/storage/forwarding_object_store.h"

namespace sh {

struct ObjectStoreMetrics {
  explicit ObjectStoreMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>& requests;      // {operation, outcome}
  prometheus::Family<prometheus::Histogram>& latency;     // {operation}
  prometheus::Counter& read_bytes;
  prometheus::Counter& written_bytes;
};

class MeteredObjectStore final : public ForwardingObjectStore {
 public:
  MeteredObjectStore(std::shared_ptr<ObjectStore> inner, std::shared_ptr<ObjectStoreMetrics> metrics);

  Result<RangeRead> get_range(std::string_view key, uint64_t offset, uint64_t length,
                              const ReadOptions& opts) override;
  Result<RangeRead> get_suffix(std::string_view key, uint64_t length,
                               const ReadOptions& opts) override;
  Result<RangeRead> get(std::string_view key, const ReadOptions& opts) override;
  Result<ObjectInfo> head(std::string_view key, const ReadOptions& opts) override;
  Result<ListPage> list(const ListOptions& opts) override;
  Status put(std::string_view key, std::string_view data, Deadline deadline) override;
  Status put_if_absent(std::string_view key, std::string_view data, Deadline deadline) override;

 private:
  template <typename T>
  T observe(const char* operation, SteadyTime started, T result);

  std::shared_ptr<ObjectStoreMetrics> metrics_;
};

}  // namespace sh
