#include "core/storage/s3/s3_metrics.h"

#include <string>

namespace sh::s3 {

S3Metrics::S3Metrics(prometheus::Registry& registry)
    : requests(prometheus::BuildCounter()
                   .Name("streamhouse_s3_requests_total")
                   .Help("S3 HTTP requests by operation and HTTP status (or transport_error)")
                   .Register(registry)),
      durations(prometheus::BuildHistogram()
                    .Name("streamhouse_s3_request_duration_seconds")
                    .Help("Latency of one S3 HTTP exchange by operation")
                    .Register(registry)),
      received_bytes(&prometheus::BuildCounter()
                          .Name("streamhouse_s3_received_bytes_total")
                          .Help("Response body bytes received from S3")
                          .Register(registry)
                          .Add({})),
      retries(prometheus::BuildCounter()
                  .Name("streamhouse_s3_retries_total")
                  .Help("S3 request attempts repeated after a retryable failure")
                  .Register(registry)),
      credential_refreshes(prometheus::BuildCounter()
                               .Name("streamhouse_s3_credential_refreshes_total")
                               .Help("AWS credentials obtained, by provider")
                               .Register(registry)) {}

void S3Metrics::observe_request(std::string_view operation, std::string_view status, double seconds) {
  requests.Add({{"operation", std::string(operation)}, {"status", std::string(status)}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  durations.Add({{"operation", std::string(operation)}}, kBuckets).Observe(seconds);
}

void S3Metrics::add_retry(std::string_view operation) {
  retries.Add({{"operation", std::string(operation)}}).Increment();
}

void S3Metrics::add_credential_refresh(std::string_view provider) {
  credential_refreshes.Add({{"provider", std::string(provider)}}).Increment();
}

}  // namespace sh::s3
