#include "core/storage/metered_object_store.h"

#include <chrono>

namespace sh {
namespace {

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries b = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

std::string_view outcome_of(const Error& e) { return errc_name(e.code()); }

size_t bytes_of(const Result<RangeRead>& r) { return r.ok() ? r->data.size() : 0; }

}  // namespace

ObjectStoreMetrics::ObjectStoreMetrics(prometheus::Registry& registry)
    : requests(prometheus::BuildCounter()
                   .Name("streamhouse_object_store_requests_total")
                   .Help("Object store requests by operation and outcome")
                   .Register(registry)),
      latency(prometheus::BuildHistogram()
                  .Name("streamhouse_object_store_request_duration_seconds")
                  .Help("Object store request latency by operation")
                  .Register(registry)),
      read_bytes(prometheus::BuildCounter()
                     .Name("streamhouse_object_store_read_bytes_total")
                     .Help("Bytes read from the object store")
                     .Register(registry)
                     .Add({})),
      written_bytes(prometheus::BuildCounter()
                        .Name("streamhouse_object_store_written_bytes_total")
                        .Help("Bytes written to the object store")
                        .Register(registry)
                        .Add({})) {}

MeteredObjectStore::MeteredObjectStore(std::shared_ptr<ObjectStore> inner,
                                       std::shared_ptr<ObjectStoreMetrics> metrics)
    : ForwardingObjectStore(std::move(inner)), metrics_(std::move(metrics)) {}

template <typename T>
T MeteredObjectStore::observe(const char* operation, SteadyTime started, T result) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_->latency.Add({{"operation", operation}}, latency_buckets()).Observe(seconds);
  const std::string outcome = result.ok() ? "ok" : std::string(outcome_of(result.error()));
  metrics_->requests.Add({{"operation", operation}, {"outcome", outcome}}).Increment();
  return result;
}

Result<RangeRead> MeteredObjectStore::get_range(std::string_view key, uint64_t offset,
                                                uint64_t length, const ReadOptions& opts) {
  auto started = std::chrono::steady_clock::now();
  auto r = inner().get_range(key, offset, length, opts);
  metrics_->read_bytes.Increment(static_cast<double>(bytes_of(r)));
  return observe("get_range", started, std::move(r));
}

Result<RangeRead> MeteredObjectStore::get_suffix(std::string_view key, uint64_t length,
                                                 const ReadOptions& opts) {
  auto started = std::chrono::steady_clock::now();
  auto r = inner().get_suffix(key, length, opts);
  metrics_->read_bytes.Increment(static_cast<double>(bytes_of(r)));
  return observe("get_suffix", started, std::move(r));
}

Result<RangeRead> MeteredObjectStore::get(std::string_view key, const ReadOptions& opts) {
  auto started = std::chrono::steady_clock::now();
  auto r = inner().get(key, opts);
  metrics_->read_bytes.Increment(static_cast<double>(bytes_of(r)));
  return observe("get", started, std::move(r));
}

Result<ObjectInfo> MeteredObjectStore::head(std::string_view key, const ReadOptions& opts) {
  auto started = std::chrono::steady_clock::now();
  return observe("head", started, inner().head(key, opts));
}

Result<ListPage> MeteredObjectStore::list(const ListOptions& opts) {
  auto started = std::chrono::steady_clock::now();
  return observe("list", started, inner().list(opts));
}

Status MeteredObjectStore::put(std::string_view key, std::string_view data, Deadline deadline) {
  auto started = std::chrono::steady_clock::now();
  auto r = inner().put(key, data, deadline);
  if (r.ok()) metrics_->written_bytes.Increment(static_cast<double>(data.size()));
  return observe("put", started, std::move(r));
}

Status MeteredObjectStore::put_if_absent(std::string_view key, std::string_view data,
                                         Deadline deadline) {
  auto started = std::chrono::steady_clock::now();
  auto r = inner().put_if_absent(key, data, deadline);
  if (r.ok()) metrics_->written_bytes.Increment(static_cast<double>(data.size()));
  return observe("put_if_absent", started, std::move(r));
}

}  // namespace sh
