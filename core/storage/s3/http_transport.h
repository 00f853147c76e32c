// The HTTP seam: S3 operations and credential providers send through an
// HttpTransport; production uses CurlTransport, unit tests a scripted fake.
#pragma once

#include <cstdint>
#include <limits>

#include "core/result.h"
#include "core/storage/s3/http_types.h"

namespace sh::s3 {

struct SendOptions {
  int64_t timeout_ms = 10000;  // whole exchange, connect included
  // A body larger than this aborts the transfer with kBadResponse.
  uint64_t max_body_bytes = std::numeric_limits<uint64_t>::max();
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends `req` and returns any HTTP answer (including 4xx/5xx) as a response.
  // Errors are transport failures only:
  //   kTimeout      no complete answer within opts.timeout_ms or the stall limit (retryable)
  //   kUnavailable  connect/DNS/TLS failure, connection dropped, body truncated (retryable)
  //   kBadResponse  body above opts.max_body_bytes (not retryable)
  // Messages name the host, never header values.
  virtual Result<TransportResponse> send(const TransportRequest& req, const SendOptions& opts) = 0;
};

}  // namespace sh::s3
