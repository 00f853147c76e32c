#include "api/cors.h"

#include <fmt/format.h>

namespace sh::api {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool valid_origin(std::string_view o) {
  std::string_view rest;
  if (o.rfind("http://", 0) == 0) {
    rest = o.substr(7);
  } else if (o.rfind("https://", 0) == 0) {
    rest = o.substr(8);
  } else {
    return false;
  }
  if (rest.empty()) return false;
  for (char c : rest) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;  // no path, query, userinfo or trailing slash
  }
  return true;
}

}  // namespace

Result<CorsPolicy> CorsPolicy::parse(std::string_view spec) {
  CorsPolicy p;
  spec = trim(spec);
  if (spec.empty()) return p;
  if (spec == "*") {
    p.any_ = true;
    return p;
  }
  size_t i = 0;
  while (i <= spec.size()) {
    const size_t comma = spec.find(',', i);
    const std::string_view item =
        trim(spec.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i));
    if (item == "*") {
      return Error(Errc::kInvalidArgument, "--cors-origin: '*' cannot be combined with other origins");
    }
    if (!valid_origin(item)) {
      return Error(Errc::kInvalidArgument,
                   fmt::format("--cors-origin: '{}' is not an origin (scheme://host[:port], "
                               "http or https, no path; or '*')",
                               item.substr(0, 200)));
    }
    p.origins_.emplace_back(item);
    if (comma == std::string_view::npos) break;
    i = comma + 1;
  }
  return p;
}

std::string CorsPolicy::allow_origin(const std::string* request_origin) const {
  if (any_) return "*";
  if (request_origin == nullptr) return "";
  for (const std::string& o : origins_) {
    if (o == *request_origin) return o;  // origins compare exactly (RFC 6454 serialization)
  }
  return "";
}

}  // namespace sh::api
