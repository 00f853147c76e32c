#include "core/storage/s3/s3_request_builder.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/storage/s3/crypto.h"

namespace sh::s3 {

Result<S3Endpoint> parse_endpoint(std::string_view url) {
  auto parts = parse_url(url);
  if (!parts.ok()) return std::move(parts).error().prefix("S3 endpoint");
  if (!parts->path.empty() && parts->path != "/") {
    return invalid_argument(fmt::format("S3 endpoint must not have a path: {}", url));
  }
  return S3Endpoint{parts->scheme, parts->host, parts->port};
}

std::string default_aws_endpoint(std::string_view region) {
  return fmt::format("https://s3.{}.amazonaws.com", region);
}

bool is_ip_or_localhost(std::string_view host) {
  if (host == "localhost") return true;
  if (!host.empty() && host.front() == '[') return true;  // IPv6 literal
  int dots = 0, digits = 0;
  for (char c : host) {
    if (c == '.') {
      if (digits == 0) return false;
      ++dots;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0;
}

bool bucket_fits_virtual_host(std::string_view bucket, std::string_view scheme) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(bucket.front()) || !alnum(bucket.back())) return false;
  for (size_t i = 0; i < bucket.size(); ++i) {
    char c = bucket[i];
    if (c == '.') {
      if (scheme == "https") return false;
      if (bucket[i - 1] == '.') return false;
    } else if (!alnum(c) && c != '-') {
      return false;
    }
  }
  return !is_ip_or_localhost(bucket);
}

bool choose_path_style(const S3Endpoint& endpoint, std::string_view bucket,
                       std::optional<bool> forced) {
  if (forced) return *forced;
  if (is_ip_or_localhost(endpoint.host)) return true;
  return !bucket_fits_virtual_host(bucket, endpoint.scheme);
}

S3RequestBuilder::S3RequestBuilder(S3Endpoint endpoint, std::string bucket, bool path_style)
    : endpoint_(std::move(endpoint)), bucket_(std::move(bucket)), path_style_(path_style) {}

TransportRequest S3RequestBuilder::base(std::string method, std::string_view key) const {
  TransportRequest req;
  req.method = std::move(method);
  req.scheme = endpoint_.scheme;
  req.port = endpoint_.port;
  if (path_style_) {
    req.host = endpoint_.host;
    req.path = key.empty() ? fmt::format("/{}", bucket_) : fmt::format("/{}/{}", bucket_, key);
  } else {
    req.host = fmt::format("{}.{}", bucket_, endpoint_.host);
    req.path = fmt::format("/{}", key);
  }
  req.set_header("Host", req.host_header());
  return req;
}

TransportRequest S3RequestBuilder::get_object(std::string_view key, std::string_view range,
                                              const std::optional<std::string>& if_match) const {
  TransportRequest req = base("GET", key);
  if (!range.empty()) req.set_header("Range", std::string(range));
  if (if_match) req.set_header("If-Match", *if_match);
  return req;
}

TransportRequest S3RequestBuilder::head_object(std::string_view key,
                                               const std::optional<std::string>& if_match) const {
  TransportRequest req = base("HEAD", key);
  if (if_match) req.set_header("If-Match", *if_match);
  return req;
}

TransportRequest S3RequestBuilder::list_objects_v2(const ListObjectsV2Params& p) const {
  TransportRequest req = base("GET", "");  // path "/<bucket>" or, virtual-hosted, "/"
  req.query.emplace_back("list-type", "2");
  req.query.emplace_back("encoding-type", "url");
  req.query.emplace_back("max-keys", std::to_string(std::clamp<uint32_t>(p.max_keys, 1, 1000)));
  if (!p.prefix.empty()) req.query.emplace_back("prefix", p.prefix);
  if (!p.delimiter.empty()) req.query.emplace_back("delimiter", p.delimiter);
  if (!p.continuation_token.empty()) req.query.emplace_back("continuation-token", p.continuation_token);
  if (!p.start_after.empty()) req.query.emplace_back("start-after", p.start_after);
  return req;
}

TransportRequest S3RequestBuilder::put_object(std::string_view key, std::string_view body) const {
  TransportRequest req = base("PUT", key);
  req.body = body;
  req.set_header("x-amz-content-sha256", sha256_hex(body));
  req.set_header("Content-Type", "application/octet-stream");
  return req;
}

}  // namespace sh::s3
