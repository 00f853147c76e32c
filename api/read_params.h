// The query parameters every record-reading route shares, validated once:
// where a read starts (offset / timestamp / group / auto_offset_reset), the
// record format, and the budgets (max_records / max_bytes / timeout_ms).
#pragma once

#include <cstdint>
#include <optional>

#include "api/errors.h"
#include "api/query.h"
#include "api/records_json.h"
#include "core/read/start_resolver.h"

namespace sh::api {

struct ReadLimits {
  uint32_t default_max_records = 100;
  uint32_t max_records_limit = 10000;
  uint64_t default_max_bytes = 1u << 20;
  uint64_t max_bytes_limit = 64u << 20;
  int64_t max_timeout_ms = 30000;
};

struct ReadParams {
  read::StartRequest start;
  RecordFormat format = RecordFormat::kString;
  uint32_t max_records = 100;
  uint64_t max_bytes = 1u << 20;
  uint64_t timeout_ms = 0;
};

// offset (number | earliest | latest), timestamp, group, auto_offset_reset:
// each validated, and their combination checked (40004 on a conflict).
std::optional<ApiError> parse_start_params(const QueryParams& q, read::StartRequest* out);
// format = string | base64 | json (absent: string).
std::optional<ApiError> parse_format_param(const QueryParams& q, RecordFormat* out);
// All of the above plus max_records, max_bytes and timeout_ms within `limits`.
std::optional<ApiError> parse_read_params(const QueryParams& q, const ReadLimits& limits,
                                          ReadParams* out);

}  // namespace sh::api
