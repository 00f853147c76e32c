// Builds (unsigned) S3 REST requests; sending and signing happen elsewhere.
// Addressing: path-style "https://endpoint/bucket/key" or virtual-hosted
// "https://bucket.endpoint/key".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/storage/s3/http_types.h"

namespace sh::s3 {

struct S3Endpoint {
  std::string scheme = "https";
  std::string host;
  int port = 0;  // 0 = scheme default
};

// Parses "http[s]://host[:port][/]" (a path other than "/" is refused).
Result<S3Endpoint> parse_endpoint(std::string_view url);
// "https://s3.<region>.amazonaws.com".
std::string default_aws_endpoint(std::string_view region);
// An IPv4 literal, a bracketed IPv6 literal or "localhost".
bool is_ip_or_localhost(std::string_view host);
// Whether `bucket` can be a DNS label prefix (3-63 chars of a-z 0-9 - ., no
// "..", starts/ends alphanumeric; no '.' under https because of TLS wildcards).
bool bucket_fits_virtual_host(std::string_view bucket, std::string_view scheme);
// forced (from --s3-path-style) wins; otherwise path-style for IP/localhost
// endpoints and buckets that cannot be a host name, virtual-hosted elsewhere.
bool choose_path_style(const S3Endpoint& endpoint, std::string_view bucket,
                       std::optional<bool> forced);

struct ListObjectsV2Params {
  std::string prefix;
  std::string delimiter;
  std::string continuation_token;
  std::string start_after;
  uint32_t max_keys = 1000;
};

class S3RequestBuilder {
 public:
  S3RequestBuilder(S3Endpoint endpoint, std::string bucket, bool path_style);

  // `range` is a full Range header value ("bytes=0-9", "bytes=-100") or "".
  TransportRequest get_object(std::string_view key, std::string_view range,
                              const std::optional<std::string>& if_match) const;
  TransportRequest head_object(std::string_view key,
                               const std::optional<std::string>& if_match) const;
  // Always asks encoding-type=url so any key survives the XML answer.
  TransportRequest list_objects_v2(const ListObjectsV2Params& p) const;
  // REQUIRES: `body` outlives the request. Sets x-amz-content-sha256 to its hash.
  TransportRequest put_object(std::string_view key, std::string_view body) const;

  bool path_style() const { return path_style_; }
  const std::string& bucket() const { return bucket_; }

 private:
  TransportRequest base(std::string method, std::string_view key) const;

  S3Endpoint endpoint_;
  std::string bucket_;
  bool path_style_;
};

}  // namespace sh::s3
