// S3 error answers: the XML <Error><Code> body parsed into a code plus a
// retryable flag, and the mapping of an answer to an sh::Error.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace sh::s3 {

struct S3ErrorInfo {
  long http_status = 0;
  std::string code;     // e.g. "NoSuchKey"; "" when the body had none (HEAD, proxies)
  std::string message;  // server text, may be empty (RGW sends none)
  bool retryable = false;
};

// Parses an error body (may be empty or not XML) of an answer with `http_status`.
// Never fails: unknown bodies leave code/message empty.
S3ErrorInfo parse_s3_error(long http_status, std::string_view body);

// Whether an answer with this status and S3 code is worth repeating:
// 5xx, 429, SlowDown, RequestTimeout, InternalError, ServiceUnavailable... but
// never 403, 404, 412 or 416.
bool is_retryable_s3_error(long http_status, std::string_view code);

// S3 error codes that mean "the session token is expired or unknown": the
// credentials are fetched again and the request re-signed once, whatever the
// HTTP status (AWS sends 400 ExpiredToken; some servers 403).
bool is_expired_token_code(std::string_view code);

// Maps an error answer to sh::Error. The message is stable: `what`, the status
// and the S3 code, never the server's free text (info.message). `what` names the operation and object
// ("GET s3://bucket/key bytes=0-9") and starts the message.
//   404 NoSuchKey/other   → kNotFound
//   404 NoSuchBucket      → kUnavailable (not retryable: configuration)
//   403                   → kPermissionDenied
//   an expired-token code (is_expired_token_code), any status → kPermissionDenied
//   412                   → kPreconditionFailed
//   416                   → kInvalidArgument
//   5xx/throttling        → kUnavailable (retryable)
//   other 4xx             → kBadResponse
Error s3_error_to_error(const S3ErrorInfo& info, std::string_view what);

}  // namespace sh::s3
