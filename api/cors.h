// CorsPolicy: which browser origins may read the API (--cors-origin).
//
//   ""            no CORS headers at all (the default)
//   "*"           any origin: Access-Control-Allow-Origin: *
//   "a,b,..."     exact origins ("https://dash.example.com", "http://localhost:3000"):
//                 a request whose Origin is one of them gets it echoed back, with
//                 Vary: Origin; any other origin gets no CORS headers, so the
//                 browser refuses to hand the response to the page.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace sh::api {

class CorsPolicy {
 public:
  CorsPolicy() = default;
  // kInvalidArgument naming the bad entry: origins are scheme://host[:port]
  // (http or https, no path, no trailing slash), or "*" alone.
  static Result<CorsPolicy> parse(std::string_view spec);

  bool enabled() const { return any_ || !origins_.empty(); }
  // The Access-Control-Allow-Origin value for a request with this Origin
  // header (nullptr: none), or "" when the request gets no CORS headers.
  std::string allow_origin(const std::string* request_origin) const;
  // True when the answer depends on the request's Origin (Vary: Origin).
  bool varies() const { return !any_ && !origins_.empty(); }

 private:
  bool any_ = false;
  std::vector<std::string> origins_;
};

// Response headers a browser page may read (Access-Control-Expose-Headers).
inline constexpr std::string_view kCorsExposedHeaders =
    "Retry-After, WWW-Authenticate, Allow, Content-Type, Cache-Control";

}  // namespace sh::api
