#include "api/query.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

namespace sh::api {

std::optional<uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 20 || s[0] == '+') return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<ApiError> QueryParams::parse(
    const std::vector<std::pair<std::string, std::string>>& query,
    const std::vector<std::string_view>& allowed, QueryParams* out) {
  out->params_.clear();
  for (const auto& [k, v] : query) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return ApiError{kUnknownParameter,
                      allowed.empty()
                          ? fmt::format("unknown query parameter '{}' (this route takes none)", k.substr(0, 64))
                          : fmt::format("unknown query parameter '{}' (allowed: {})", k.substr(0, 64),
                                        fmt::join(allowed, ", "))};
    }
    if (out->get(k)) {
      return ApiError{kBadParameter, fmt::format("query parameter '{}' given twice", k.substr(0, 64))};
    }
    out->params_.emplace_back(k, v);
  }
  return std::nullopt;
}

std::optional<std::string_view> QueryParams::get(std::string_view name) const {
  for (const auto& [k, v] : params_) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<ApiError> QueryParams::get_uint(std::string_view name, uint64_t min, uint64_t max,
                                              uint64_t* out) const {
  auto raw = get(name);
  if (!raw) return std::nullopt;
  auto v = parse_uint(*raw);
  if (!v || *v < min || *v > max) {
    return ApiError{kBadParameter, fmt::format("{} must be an integer in [{}, {}], got '{}'", name, min,
                                               max, raw->substr(0, 64))};
  }
  *out = *v;
  return std::nullopt;
}

std::optional<ApiError> QueryParams::get_int(std::string_view name, int64_t min, int64_t max,
                                             int64_t* out) const {
  auto raw = get(name);
  if (!raw) return std::nullopt;
  auto v = parse_int(*raw);
  if (!v || *v < min || *v > max) {
    return ApiError{kBadParameter, fmt::format("{} must be an integer in [{}, {}], got '{}'", name, min,
                                               max, raw->substr(0, 64))};
  }
  *out = *v;
  return std::nullopt;
}

}  // namespace sh::api
