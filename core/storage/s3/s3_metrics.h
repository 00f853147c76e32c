// Prometheus metrics of the S3 client, one family per question an operator asks.
#pragma once

#include <memory>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace sh::s3 {

struct S3Metrics {
  // REQUIRES: registry outlives this object (families are owned by it).
  explicit S3Metrics(prometheus::Registry& registry);

  // One HTTP exchange; status = HTTP code or "transport_error".
  void observe_request(std::string_view operation, std::string_view status, double seconds);
  void add_received_bytes(uint64_t n) { received_bytes->Increment(static_cast<double>(n)); }
  void add_retry(std::string_view operation);
  void add_credential_refresh(std::string_view provider);

  prometheus::Family<prometheus::Counter>& requests;      // streamhouse_s3_requests_total{operation,status}
  prometheus::Family<prometheus::Histogram>& durations;   // streamhouse_s3_request_duration_seconds{operation}
  prometheus::Counter* received_bytes;                    // streamhouse_s3_received_bytes_total
  prometheus::Family<prometheus::Counter>& retries;       // streamhouse_s3_retries_total{operation}
  prometheus::Family<prometheus::Counter>& credential_refreshes;  // ..._credential_refreshes_total{provider}
};

}  // namespace sh::s3
