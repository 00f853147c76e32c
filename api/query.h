// Strict query-string validation: unknown or repeated parameters are errors,
// numbers are plain decimal within a documented range.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/errors.h"

namespace sh::api {

class QueryParams {
 public:
  // Returns an error for a parameter not in `allowed` (40002) or given twice (40001).
  static std::optional<ApiError> parse(const std::vector<std::pair<std::string, std::string>>& query,
                                       const std::vector<std::string_view>& allowed,
                                       QueryParams* out);

  bool has(std::string_view name) const { return get(name).has_value(); }
  std::optional<std::string_view> get(std::string_view name) const;

  // Parses an unsigned decimal in [min, max]; absent → *out untouched.
  std::optional<ApiError> get_uint(std::string_view name, uint64_t min, uint64_t max,
                                   uint64_t* out) const;
  std::optional<ApiError> get_int(std::string_view name, int64_t min, int64_t max,
                                  int64_t* out) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// Parses a plain unsigned decimal (no sign, no spaces, no leading '+', fits in 64 bits).
std::optional<uint64_t> parse_uint(std::string_view s);
// Optional leading '-', then as parse_uint; fits in int64.
std::optional<int64_t> parse_int(std::string_view s);

}  // namespace sh::api
