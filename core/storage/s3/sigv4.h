// AWS Signature Version 4 for S3, one function per step of the specification
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
//
// Signed headers: host, range, content-md5 and every x-amz-* header present
// (x-amz-date, x-amz-content-sha256, x-amz-security-token when a session token
// is in use). Nothing here logs; the secret key and the Authorization header
// never leave this file except inside the request being sent.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/storage/s3/http_types.h"

namespace sh::s3 {

inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;                // "" when not temporary
  std::optional<int64_t> expiration_unix_ms;  // nullopt = does not expire
  std::string provider;                     // which provider produced them (for metrics/logs)

  bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
  // Access key id with all but the last 4 characters masked; safe to log.
  std::string redacted_key_id() const;
};

struct CanonicalHeaders {
  std::string block;           // "name:value\n" lines, sorted by name
  std::string signed_headers;  // "host;range;x-amz-date"
};

class SigV4Signer {
 public:
  SigV4Signer(std::string region, std::string service, std::shared_ptr<Clock> clock);

  // Step 1a: each path segment URI-encoded, '/' kept, no normalisation (S3 rule:
  // encode once, never double-encode). "" becomes "/".
  static std::string canonical_uri(std::string_view raw_path);
  // Step 1b: names and values encoded, sorted by encoded name then value, joined by '&'.
  static std::string canonical_query(const QueryParams& params);
  // Whether header `name` (any case) is signed.
  static bool is_signed_header(std::string_view name);
  // Step 1c: lower-cased names, values trimmed with inner runs of spaces
  // collapsed, repeated names joined by ','; only is_signed_header() ones.
  static CanonicalHeaders canonical_headers(const HeaderList& headers);
  // Step 1: the canonical request.
  static std::string canonical_request(std::string_view method, std::string_view canonical_uri,
                                       std::string_view canonical_query,
                                       const CanonicalHeaders& headers,
                                       std::string_view payload_hash);
  // "<yyyymmdd>/<region>/<service>/aws4_request".
  static std::string credential_scope(std::string_view date, std::string_view region,
                                      std::string_view service);
  // Step 2: "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\nhex(sha256(canonical request))".
  static std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                                    std::string_view canonical_request);
  // Step 3: HMAC chain "AWS4"+secret → date → region → service → "aws4_request".
  static std::string derive_signing_key(std::string_view secret, std::string_view date,
                                        std::string_view region, std::string_view service);
  // Step 4: hex(HMAC(signing key, string to sign)).
  static std::string signature(std::string_view signing_key, std::string_view string_to_sign);

  // Signs `req` at the clock's current time plus the skew correction: sets
  // x-amz-date, x-amz-content-sha256 (hash of req->body unless already set),
  // x-amz-security-token (when creds has one) and Authorization, replacing any
  // earlier values (safe to call again on a retry).
  // REQUIRES: req has a "host" header; creds non-empty.
  void sign(TransportRequest* req, const Credentials& creds) const;
  // Same at an explicit time (ms since the Unix epoch).
  void sign_at(TransportRequest* req, const Credentials& creds, int64_t unix_ms) const;

  // Signing key for (date, region, service) of this signer, cached per day.
  std::string signing_key(std::string_view secret, std::string_view date) const;

  // Server time minus local time, learned from a RequestTimeTooSkewed answer.
  void set_clock_offset_ms(int64_t offset) { clock_offset_ms_.store(offset); }
  int64_t clock_offset_ms() const { return clock_offset_ms_.load(); }
  int64_t now_unix_ms() const { return clock_->now_unix_ms() + clock_offset_ms_.load(); }

  const std::string& region() const { return region_; }

 private:
  std::string region_;
  std::string service_;
  std::shared_ptr<Clock> clock_;
  std::atomic<int64_t> clock_offset_ms_{0};

  mutable std::mutex key_mu_;
  mutable std::string cached_date_;    // guarded by key_mu_
  mutable std::string cached_secret_;  // guarded by key_mu_
  mutable std::string cached_key_;     // guarded by key_mu_
};

}  // namespace sh::s3
