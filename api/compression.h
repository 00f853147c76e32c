// Response compression: Accept-Encoding negotiation (RFC 9110 §12.5.3), gzip
// (zlib) of JSON bodies, and the entity tag of a gzip variant.
//
// apply_compression (called once per response, from ApiService::finish, on the
// thread that produced the body — the I/O engine's for data routes):
//   - every JSON response (application/json, and the 304s of JSON routes)
//     gets `Vary: Accept-Encoding`, compressed or not, so caches key on it;
//   - a 2xx JSON body of at least `min_bytes`, answering a GET whose
//     Accept-Encoding prefers gzip, is sent gzip with `Content-Encoding: gzip`,
//     and its strong ETag `"x"` becomes `"x-gzip"`; If-None-Match naming that
//     tag turns it into a 304 (before any compression work);
//   - never compressed: 304s, HEAD, errors, other content types, streamed
//     bodies (NDJSON / SSE go out as they are produced), bodies below the
//     threshold, and a body that gzip would not make smaller.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_server.h"

namespace sh::api {

// What an Accept-Encoding header allows, as q-values in thousandths (0..1000).
struct AcceptedEncodings {
  static constexpr int kUnstated = -1;
  int gzip = 0;
  // kUnstated: identity is not named (nor `*`): acceptable, least preferred.
  int identity = kUnstated;

  // gzip is acceptable and at least as preferred as identity.
  bool prefers_gzip() const { return gzip > 0 && (identity == kUnstated || gzip >= identity); }
  bool identity_acceptable() const { return identity != 0; }
};

// Parses an Accept-Encoding value: comma-separated codings, each with optional
// parameters of which `q` (a qvalue: 0, 0.5, 1.000 …) is the weight; names
// and `q` are case-insensitive, with optional whitespace around separators.
// `gzip` and `x-gzip` name gzip; `*` stands for every coding not named
// (identity included). An element whose q-value is malformed is ignored.
// nullptr (no header) or an empty value: identity only.
AcceptedEncodings parse_accept_encoding(const std::string* header);

// gzip (RFC 1952) of `data` at zlib `level` (1 fastest .. 9 smallest), or
// nullopt if zlib fails (out of memory, bad level).
std::optional<std::string> gzip_compress(std::string_view data, int level = 1);

// The entity tag of the gzip variant of a response tagged `etag`:
// `"x"` → `"x-gzip"`, `W/"x"` → `W/"x-gzip"`; anything else unchanged.
std::string gzip_variant_etag(std::string_view etag);

// If-None-Match (RFC 9110 §13.1.2): true if `header` is "*" or lists `etag`,
// compared weakly (a W/ prefix on either side is ignored).
bool if_none_match_matches(std::string_view header, std::string_view etag);

struct CompressionOptions {
  size_t min_bytes = 1024;  // bodies below this stay identity; 0 = never compress
  int level = 1;            // zlib level: the fastest; JSON compresses well already
};

// See the top of this file. REQUIRES: `response` is final (pretty-printing and
// every header other than Vary already applied).
void apply_compression(const HttpRequest& request, const CompressionOptions& opts,
                       HttpResponse* response);

}  // namespace sh::api
