// ObjectStore over S3 and S3-compatible servers (AWS, MinIO, Ceph RGW, R2):
// SigV4-signed REST calls on libcurl with retries under a per-operation deadline.
//
// Errors (messages name the operation, bucket and key, never credentials):
//   kNotFound           404 NoSuchKey
//   kUnavailable        network / 5xx after retries, NoSuchBucket (retryable flag set when worth it)
//   kTimeout            the operation's deadline passed
//   kPermissionDenied   403 (credentials rejected) or no credentials found
//   kPreconditionFailed If-Match ETag differs (object replaced)
//   kOutOfRange         range past the end of the object (416)
//   kAlreadyExists      put_if_absent of an existing key (412 to If-None-Match: *)
//   kBadResponse        wrong length, missing Content-Range, malformed XML
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"
#include "core/storage/object_store.h"

namespace prometheus {
class Registry;
}

namespace sh::s3 {

class HttpTransport;
class CredentialsProvider;
class CachingCredentials;
class RetryPolicy;
class S3RequestBuilder;
class SigV4Signer;
struct S3Metrics;
struct TransportResponse;
struct TransportRequest;

struct S3Options {
  std::string bucket;
  std::string prefix;  // key prefix inside the bucket: "" or ends with '/'
  std::string endpoint;  // "" = https://s3.<region>.amazonaws.com; else e.g. http://127.0.0.1:18380
  std::string region;    // "" = us-east-1 (after apply_aws_environment)
  std::optional<bool> path_style;  // nullopt = automatic
  std::string ca_file;             // extra CA bundle (PEM); TLS verification is always on
  // Explicit credentials (optional; otherwise the standard AWS chain).
  std::string access_key_id, secret_access_key, session_token;
  std::string profile;  // shared-credentials profile; "" = AWS_PROFILE or "default"

  int64_t connect_timeout_ms = 2000;
  // Default deadline of one operation (all attempts) when the caller gives none.
  int64_t request_timeout_ms = 10000;
  // Abort an attempt when no byte arrives for this long (first byte included).
  int64_t stall_timeout_ms = 5000;
  // kMulti: one curl event-loop thread drives every transfer (CurlMultiTransport);
  // kEasy: curl_easy_perform on the calling thread (CurlTransport).
  enum class Transport { kMulti, kEasy };
  Transport transport = Transport::kMulti;
  // Keep-alive connections to the endpoint (kMulti: per host and in all).
  long max_connections = 64;
  int max_attempts = 5;
  int64_t retry_base_delay_ms = 50;
  int64_t retry_max_delay_ms = 2000;
};

// "s3://bucket[/prefix]" → bucket + normalized prefix ("" or ending in '/').
Result<S3Options> parse_s3_url(std::string_view url);

// Fills fields still empty from the standard AWS environment: endpoint from
// AWS_ENDPOINT_URL_S3 then AWS_ENDPOINT_URL; region from AWS_REGION then
// AWS_DEFAULT_REGION; profile from AWS_PROFILE; ca_file from AWS_CA_BUNDLE.
// Credentials are not copied: the credentials chain reads them when needed.
void apply_aws_environment(S3Options* opts);
void apply_aws_environment(S3Options* opts,
                           const std::function<std::optional<std::string>(const std::string&)>& env);

// Seams for tests; make_s3_object_store fills them with the real things.
struct S3Dependencies {
  std::shared_ptr<HttpTransport> transport;
  std::unique_ptr<CredentialsProvider> credentials;
  std::shared_ptr<Clock> clock;
  std::shared_ptr<prometheus::Registry> registry;        // may be null: metrics not exported
  std::function<void(int64_t ms)> sleep;                 // default: std::this_thread::sleep_for
  std::function<double()> jitter;                        // [0,1); default: random
};

class S3ObjectStore final : public ObjectStore {
 public:
  // Fails with kInvalidArgument on a bad bucket/endpoint/prefix.
  static Result<std::unique_ptr<S3ObjectStore>> create(S3Options opts, S3Dependencies deps);
  ~S3ObjectStore() override;

  Result<RangeRead> get_range(std::string_view key, uint64_t offset, uint64_t length,
                              const ReadOptions& opts = {}) override;
  Result<RangeRead> get_suffix(std::string_view key, uint64_t length,
                               const ReadOptions& opts = {}) override;
  Result<RangeRead> get(std::string_view key, const ReadOptions& opts = {}) override;
  Result<ObjectInfo> head(std::string_view key, const ReadOptions& opts = {}) override;
  Result<ListPage> list(const ListOptions& opts) override;
  Status put(std::string_view key, std::string_view data, Deadline deadline = {}) override;
  // PUT with If-None-Match: * (412 → kAlreadyExists).
  Status put_if_absent(std::string_view key, std::string_view data,
                       Deadline deadline = {}) override;
  std::string describe() const override;

  bool path_style() const;
  // Signer clock correction learned from RequestTimeTooSkewed (ms).
  int64_t clock_offset_ms() const;

 private:
  struct Operation;
  S3ObjectStore(S3Options opts, S3Dependencies deps, bool path_style, std::string endpoint_host);

  Result<TransportResponse> execute(const Operation& op);
  Status put_object(std::string_view key, std::string_view data, Deadline deadline,
                    bool if_absent);
  Deadline effective(const Deadline& d) const;
  std::string object_url(std::string_view full_key) const;
  Result<std::string> full_key(std::string_view key) const;

  S3Options opts_;
  std::shared_ptr<HttpTransport> transport_;
  std::shared_ptr<Clock> clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<S3Metrics> metrics_;
  std::unique_ptr<CachingCredentials> credentials_;
  std::unique_ptr<SigV4Signer> signer_;
  std::unique_ptr<RetryPolicy> retry_;
  std::unique_ptr<S3RequestBuilder> builder_;
  std::function<void(int64_t)> sleep_;
};

// The production store: libcurl transport (opts.transport: the multi event loop
// by default, or the easy interface), default credentials chain
// (explicit options, AWS_* env, shared file, container endpoint, IMDSv2).
// `registry` may be null (metrics then go to a private registry).
Result<std::shared_ptr<ObjectStore>> make_s3_object_store(S3Options opts,
                                                         std::shared_ptr<prometheus::Registry> registry,
                                                         std::shared_ptr<Clock> clock);

}  // namespace sh::s3
