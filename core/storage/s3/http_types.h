// Plain HTTP request/response values shared by the signer, the S3 request
// builder and the transport. A request is built, then signed, then sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace sh::s3 {

using HeaderList = std::vector<std::pair<std::string, std::string>>;
using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct TransportRequest {
  std::string method = "GET";
  std::string scheme = "https";  // "http" or "https"
  std::string host;              // hostname or IP; IPv6 with brackets ("[::1]")
  int port = 0;                  // 0 = scheme default
  std::string path = "/";        // raw (NOT percent-encoded); begins with '/'
  QueryParams query;             // raw names and values
  HeaderList headers;            // must include "host" (see host_header())
  std::string_view body;         // REQUIRES: outlives the send() call

  // "host[:port]" with the port omitted when it is the scheme default.
  std::string host_header() const;
  // Encoded path + "?" + encoded query, exactly as signed.
  std::string encoded_target() const;
  // scheme://host[:port] + encoded_target().
  std::string url() const;
  // Value of the first header named `name` (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
  // Replaces (or adds) header `name`.
  void set_header(std::string_view name, std::string value);
};

struct TransportResponse {
  long status = 0;
  HeaderList headers;  // names lower-cased
  std::string body;

  std::optional<std::string> header(std::string_view lower_name) const;
};

}  // namespace sh::s3

namespace sh::s3 {

struct UrlParts {
  std::string scheme;  // "http" | "https"
  std::string host;    // IPv6 keeps its brackets
  int port = 0;        // 0 = scheme default
  std::string path;    // raw path ("" when absent); query and fragment are rejected
};

// Parses "http[s]://host[:port][/path]". Userinfo, query and fragment are
// rejected (kInvalidArgument) so an endpoint can never smuggle credentials.
Result<UrlParts> parse_url(std::string_view url);

}  // namespace sh::s3
