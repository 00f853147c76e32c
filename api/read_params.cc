#include "api/read_params.h"

#include <fmt/format.h>

#include "core/metadata/metadata_store.h"
#include "core/format/names.h"

namespace sh::api {

std::optional<ApiError> parse_start_params(const QueryParams& q, read::StartRequest* out) {
  read::StartRequest start;
  if (auto o = q.get("offset")) {
    if (*o == "earliest") {
      start.position = read::StartPosition::earliest();
    } else if (*o == "latest") {
      start.position = read::StartPosition::latest();
    } else if (auto v = parse_uint(*o); v && *v <= static_cast<uint64_t>(INT64_MAX)) {
      start.position = read::StartPosition::at(*v);
    } else {
      return ApiError{kBadParameter,
                      fmt::format("offset must be a non-negative integer, 'earliest' or 'latest', got '{}'",
                                  o->substr(0, 64))};
    }
  }
  if (q.has("timestamp")) {
    if (start.position) {
      return ApiError{kConflictingParameters, "give at most one of offset, timestamp, group"};
    }
    int64_t ts = 0;
    if (auto e = q.get_int("timestamp", INT64_MIN + 1, INT64_MAX, &ts)) return e;
    start.position = read::StartPosition::at_timestamp(ts);
  }
  if (auto g = q.get("group")) {
    if (!valid_group_id(*g)) {
      return ApiError{kBadParameter, format::invalid_name_message("consumer group id", *g)};
    }
    start.group = std::string(*g);
  }
  if (auto r = q.get("auto_offset_reset")) {
    if (*r == "earliest") {
      start.reset = read::OffsetReset::kEarliest;
    } else if (*r == "latest") {
      start.reset = read::OffsetReset::kLatest;
    } else {
      return ApiError{kBadParameter, "auto_offset_reset must be earliest or latest"};
    }
  }
  if (auto st = read::check_start_request(start); !st.ok()) {
    return ApiError{kConflictingParameters, st.error().message()};
  }
  *out = std::move(start);
  return std::nullopt;
}

std::optional<ApiError> parse_format_param(const QueryParams& q, RecordFormat* out) {
  auto f = q.get("format");
  if (!f || *f == "string") {
    *out = RecordFormat::kString;
  } else if (*f == "base64") {
    *out = RecordFormat::kBase64;
  } else if (*f == "json") {
    *out = RecordFormat::kJson;
  } else {
    return ApiError{kBadParameter, "format must be one of string, base64, json"};
  }
  return std::nullopt;
}

std::optional<ApiError> parse_read_params(const QueryParams& q, const ReadLimits& limits,
                                          ReadParams* out) {
  ReadParams p;
  uint64_t max_records = limits.default_max_records;
  if (auto e = q.get_uint("max_records", 1, limits.max_records_limit, &max_records)) return e;
  p.max_records = static_cast<uint32_t>(max_records);
  p.max_bytes = limits.default_max_bytes;
  if (auto e = q.get_uint("max_bytes", 1, limits.max_bytes_limit, &p.max_bytes)) return e;
  if (auto e = q.get_uint("timeout_ms", 0, static_cast<uint64_t>(limits.max_timeout_ms), &p.timeout_ms)) {
    return e;
  }
  if (auto e = parse_format_param(q, &p.format)) return e;
  if (auto e = parse_start_params(q, &p.start)) return e;
  *out = std::move(p);
  return std::nullopt;
}

}  // namespace sh::api
