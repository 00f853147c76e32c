// Optional bearer-token authentication (--api-token-file).
//
// Token file: one token per line, "<scope> <token>", scope `read` or `commit`;
// blank lines and lines starting with '#' are skipped. A token is 16 to 512
// visible ASCII characters (no spaces). A `commit` token may also read; a
// `read` token (a dashboard's) cannot move a group's offsets.
//
// Only SHA-256 digests of the tokens are kept; a presented token is hashed and
// compared with every stored digest by CRYPTO_memcmp (constant time, no early
// exit), so timing says nothing about how close a guess was. No token (nor a
// prefix of one) is ever logged or put in an error message.
//
// Which route needs which scope is route_scope(): /healthz, /readyz, the
// dashboard shell `/`, /openapi.yaml and CORS preflights are open; /metrics is
// open unless metrics_auth; POST /consumer-groups/{group}/offsets needs
// `commit`; every other route needs `read`.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/routes.h"
#include "core/result.h"

namespace sh::api {

enum class Scope { kNone, kRead, kCommit };  // kNone: no token needed

// The scope a request to `id` with `method` needs.
Scope route_scope(RouteId id, std::string_view method, bool metrics_auth);

class TokenAuth {
 public:
  enum class Outcome { kAllowed, kMissing, kInvalid, kInsufficientScope };

  // Parses the token file format above; `source` names the file in errors
  // (which give the line number, never the line).
  static Result<std::shared_ptr<const TokenAuth>> parse(std::string_view text, std::string_view source);
  static Result<std::shared_ptr<const TokenAuth>> load_file(const std::string& path);

  // `authorization`: the Authorization header, or nullptr. REQUIRES: needed != kNone.
  Outcome check(const std::string* authorization, Scope needed) const;

  size_t read_tokens() const;
  size_t commit_tokens() const;

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    Scope scope;
  };
  std::vector<Entry> entries_;
};

}  // namespace sh::api
