#include "api/http_metrics.h"

#include <atomic>
#include <string>
#include <unordered_map>

namespace sh::api {

HttpMetrics::HttpMetrics(prometheus::Registry& registry)
    : requests(prometheus::BuildCounter()
                   .Name("streamhouse_http_requests_total")
                   .Help("HTTP requests by route, method and status")
                   .Register(registry)),
      latency(prometheus::BuildHistogram()
                  .Name("streamhouse_http_request_duration_seconds")
                  .Help("HTTP request latency by route (long-poll waits included)")
                  .Register(registry)),
      response_bytes(prometheus::BuildCounter()
                         .Name("streamhouse_http_response_bytes_total")
                         .Help("Bytes of HTTP response bodies")
                         .Register(registry)
                         .Add({})),
      records_served(prometheus::BuildCounter()
                         .Name("streamhouse_records_served_total")
                         .Help("Records sent to clients")
                         .Register(registry)
                         .Add({})),
      record_bytes_served(prometheus::BuildCounter()
                              .Name("streamhouse_record_bytes_served_total")
                              .Help("Encoded record bytes (keys, values, headers) sent to clients")
                              .Register(registry)
                              .Add({})),
      long_polls(prometheus::BuildCounter()
                     .Name("streamhouse_long_polls_total")
                     .Help("Long-poll requests that waited, by how the wait ended")
                     .Register(registry)),
      id_([] {
        static std::atomic<uint64_t> next{1};
        return next++;
      }()) {}

void HttpMetrics::observe(std::string_view route, std::string_view method, int status,
                          double seconds, size_t bytes) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  // Family::Add builds a label map and takes the family's lock: done once per
  // (route, method, status) and thread, not per request (the series are never
  // removed, so the pointers stay valid while this instance lives).
  struct Series {
    prometheus::Counter* requests;
    prometheus::Histogram* latency;
  };
  thread_local std::unordered_map<std::string, Series> cache;
  thread_local std::string key;
  key.clear();
  key.append(reinterpret_cast<const char*>(&id_), sizeof id_);
  key.append(route).push_back('\n');
  key.append(method).push_back('\n');
  key.append(std::to_string(status));
  auto it = cache.find(key);
  if (it == cache.end()) {
    Series s{&requests.Add({{"route", std::string(route)},
                            {"method", std::string(method)},
                            {"status", std::to_string(status)}}),
             &latency.Add({{"route", std::string(route)}}, kBuckets)};
    it = cache.emplace(key, s).first;
  }
  it->second.requests->Increment();
  it->second.latency->Observe(seconds);
  response_bytes.Increment(static_cast<double>(bytes));
}

}  // namespace sh::api
