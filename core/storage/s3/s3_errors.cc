#include "core/storage/s3/s3_errors.h"

#include <iterator>

#include <fmt/format.h>
#include <pugixml.hpp>

namespace sh::s3 {

S3ErrorInfo parse_s3_error(long http_status, std::string_view body) {
  S3ErrorInfo info;
  info.http_status = http_status;
  if (!body.empty()) {
    pugi::xml_document doc;
    if (doc.load_buffer(body.data(), body.size())) {
      pugi::xml_node err = doc.child("Error");
      info.code = err.child_value("Code");
      info.message = err.child_value("Message");
    }
  }
  info.retryable = is_retryable_s3_error(http_status, info.code);
  return info;
}

bool is_retryable_s3_error(long http_status, std::string_view code) {
  if (http_status == 403 || http_status == 404 || http_status == 412 || http_status == 416) {
    return false;
  }
  if (code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
      code == "ServiceUnavailable" || code == "Throttling" || code == "ThrottlingException" ||
      code == "RequestThrottled" || code == "TooManyRequests" || code == "OperationAborted") {
    return true;
  }
  return http_status >= 500 || http_status == 429;
}

bool is_expired_token_code(std::string_view code) {
  return code == "ExpiredToken" || code == "ExpiredTokenException" || code == "InvalidToken" ||
         code == "TokenRefreshRequired";
}

Error s3_error_to_error(const S3ErrorInfo& info, std::string_view what) {
  // "<what>: HTTP <status>[ <Code>]"
  std::string msg = fmt::format("{}: HTTP {}", what, info.http_status);
  if (!info.code.empty()) fmt::format_to(std::back_inserter(msg), " {}", info.code);
  if (is_expired_token_code(info.code)) {
    // Reached only when fresh credentials were rejected too (the store refetches
    // once): the same as any other credential rejection, whatever the status (AWS
    // sends 400).
    return Error(Errc::kPermissionDenied, fmt::format("{}: credentials rejected", msg), false);
  }
  switch (info.http_status) {
    case 404:
      if (info.code == "NoSuchBucket") {
        return Error(Errc::kUnavailable, fmt::format("{}: the bucket does not exist", msg), false);
      }
      return Error(Errc::kNotFound, msg, false);
    case 403:
      return Error(Errc::kPermissionDenied, fmt::format("{}: credentials rejected", msg), false);
    case 412:
      return Error(Errc::kPreconditionFailed,
                   fmt::format("{}: object changed (ETag differs)", msg), false);
    case 416:
      return Error(Errc::kOutOfRange, fmt::format("{}: range not satisfiable", msg), false);
    default:
      break;
  }
  if (info.retryable) return Error(Errc::kUnavailable, msg, true);
  return Error(Errc::kBadResponse, msg, false);
}

}  // namespace sh::s3
