// The only place where core errors become HTTP statuses.
//
// Body: {"error_code": <status*100 + n>, "message": "..."}; 416 also carries
// "log_start_offset" and "high_watermark"; 429/503 carry Retry-After.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "api/http_server.h"
#include "core/result.h"

namespace sh::api {

// Error codes of the HTTP contract (documented in openapi/openapi.yaml).
enum ErrorCode : int {
  kBadParameter = 40001,        // a query parameter has a bad value
  kUnknownParameter = 40002,    // a query parameter the route does not take
  kBadPath = 40003,             // invalid topic name / partition id / group id in the path
  kConflictingParameters = 40004,
  kBadBody = 40005,             // request body is not the JSON the route expects
  kNulInUrl = 40006,            // an encoded NUL (%00) in the path or query (answered by HttpServer)
  kUnauthorized = 40100,        // bearer token missing or not valid (WWW-Authenticate: Bearer)
  kInsufficientScope = 40300,   // the token may read but the route needs the commit scope
  kTooManyGroups = 40301,       // a commit would create a consumer group beyond --max-groups
  kRouteNotFound = 40400,
  kUnknownTopic = 40401,
  kUnknownPartition = 40402,
  kUnknownGroup = 40403,
  kMethodNotAllowed = 40500,
  kBodyTooLarge = 41300,
  kOffsetOutOfRange = 41600,
  kOverloaded = 42900,
  kInternal = 50000,
  kCorruptSegment = 50201,
  kBadUpstreamResponse = 50202,
  kStorageUnavailable = 50301,
  kShuttingDown = 50302,
  kStorageDenied = 50303,
  kBusy = 50304,                // the I/O engine's queue is full
  kUpstreamTimeout = 50401,
};

// Every code above, for documentation checks.
inline constexpr int kAllErrorCodes[] = {
    kBadParameter, kUnknownParameter, kBadPath, kConflictingParameters, kBadBody, kNulInUrl,
    kUnauthorized, kInsufficientScope, kTooManyGroups, kRouteNotFound, kUnknownTopic, kUnknownPartition, kUnknownGroup, kMethodNotAllowed,
    kBodyTooLarge, kOffsetOutOfRange, kOverloaded, kInternal, kCorruptSegment,
    kBadUpstreamResponse, kStorageUnavailable, kShuttingDown, kStorageDenied, kBusy,
    kUpstreamTimeout};

struct ApiError {
  int error_code = kInternal;
  std::string message;
  int status() const { return error_code / 100; }
};

// Maps a core error (from any module) to the HTTP contract.
ApiError to_api_error(const Error& e);

// Builds the JSON error response; adds Retry-After for 429/503.
HttpResponse error_response(const ApiError& e);
HttpResponse error_response(int error_code, std::string message);
// 416 with the partition's watermarks in the body.
HttpResponse offset_out_of_range_response(const std::string& message, uint64_t log_start_offset,
                                          uint64_t high_watermark);

}  // namespace sh::api
