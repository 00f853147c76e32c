// HTTP-level metrics, kept in one place.
#pragma once

#include <cstdint>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace sh::api {

struct HttpMetrics {
  explicit HttpMetrics(prometheus::Registry& registry);

  // route: the route template ("/topics/{topic}/partitions/{partition}/records"), bounded.
  void observe(std::string_view route, std::string_view method, int status, double seconds,
               size_t response_bytes);

  prometheus::Family<prometheus::Counter>& requests;     // {route, method, status}
  prometheus::Family<prometheus::Histogram>& latency;    // {route}
  prometheus::Counter& response_bytes;
  prometheus::Counter& records_served;
  prometheus::Counter& record_bytes_served;
  prometheus::Family<prometheus::Counter>& long_polls;   // {outcome}

 private:
  // Tells this instance's entries apart in the per-thread caches of observe()
  // (an address could be reused by a later instance; an id is never).
  const uint64_t id_;
};

}  // namespace sh::api
