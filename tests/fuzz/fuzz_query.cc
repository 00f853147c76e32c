// Request-target parsing (api/): the path and query as libmicrohttpd hands them
// to the handler (percent-decoded with MHD_http_unescape, the query split at '&'
// and the first '='), then match_route, QueryParams::parse, get_uint/get_int,
// parse_uint/parse_int, parse_read_params and the topic-name rule.
//
// Input: a request target, "<path>[?<query>]".
//
// Invariants: a match binds one non-empty, '/'-free argument per {…} element
// and equals the template elsewhere; accepted parameters are allowed and
// unique; accepted numbers are plain decimal, in range, and print back to their
// text (leading zeros aside); accepted read parameters are within the limits
// and a valid start combination; a valid topic name follows Kafka's rule.
#include <microhttpd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "api/query.h"
#include "api/read_params.h"
#include "api/routes.h"
#include "core/format/names.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace sh;
using namespace sh::api;

std::string unescape(std::string s) {
  s.push_back('\0');
  const size_t n = MHD_http_unescape(s.data());
  FUZZ_CHECK(n <= s.size() - 1, "unescaping never grows a string");
  s.resize(n);
  return s;
}

std::vector<std::string_view> elements(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Without a sign and leading zeros, as fmt prints the value.
std::string canonical(std::string_view digits) {
  bool negative = !digits.empty() && digits[0] == '-';
  if (negative) digits.remove_prefix(1);
  while (digits.size() > 1 && digits[0] == '0') digits.remove_prefix(1);
  if (digits == "0") negative = false;
  return fmt::format("{}{}", negative ? "-" : "", digits);
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

void check_numbers(std::string_view raw) {
  if (auto v = parse_uint(raw)) {
    FUZZ_CHECK(all_digits(raw), "parse_uint takes digits only");
    FUZZ_CHECK(fmt::format("{}", *v) == canonical(raw), "parse_uint value");
  }
  if (auto v = parse_int(raw)) {
    FUZZ_CHECK(all_digits(raw[0] == '-' ? raw.substr(1) : raw), "parse_int takes [-]digits only");
    FUZZ_CHECK(fmt::format("{}", *v) == canonical(raw), "parse_int value");
  }
}

void check_topic_name(std::string_view name) {
  if (!format::valid_topic_name(name)) return;
  FUZZ_CHECK(!name.empty() && name.size() <= 249, "topic name length");
  FUZZ_CHECK(name != "." && name != "..", "topic name is not . or ..");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    FUZZ_CHECK(ok, "topic name characters");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  const size_t q = target.find('?');
  const std::string path = unescape(std::string(target.substr(0, q)));
  std::vector<std::pair<std::string, std::string>> query;
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (true) {
      const size_t amp = rest.find('&');
      const std::string_view arg = rest.substr(0, amp);
      if (!arg.empty()) {
        const size_t eq = arg.find('=');
        std::string k(arg.substr(0, eq));
        std::string v(eq == std::string_view::npos ? std::string_view() : arg.substr(eq + 1));
        for (std::string* s : {&k, &v}) {
          for (char& c : *s) c = c == '+' ? ' ' : c;
        }
        query.emplace_back(unescape(std::move(k)), unescape(std::move(v)));
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }

  for (const auto& [k, v] : query) check_numbers(v);
  const auto match = match_route(path);
  if (!match) return 0;

  const RouteSpec& spec = *match->spec;
  const auto pattern = elements(spec.path);
  const auto parts = elements(path);
  FUZZ_CHECK(pattern.size() == parts.size(), "a match has the template's element count");
  size_t arg = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i].front() == '{') {
      FUZZ_CHECK(arg < match->args.size() && match->args[arg] == parts[i], "argument binding");
      FUZZ_CHECK(!match->args[arg].empty() && match->args[arg].find('/') == std::string_view::npos,
                 "arguments are single non-empty elements");
      if (pattern[i] == "{topic}" || pattern[i] == "{group}") check_topic_name(match->args[arg]);
      if (pattern[i] == "{partition}") check_numbers(match->args[arg]);
      ++arg;
    } else {
      FUZZ_CHECK(pattern[i] == parts[i], "literal elements match exactly");
    }
  }
  FUZZ_CHECK(arg == match->args.size(), "one argument per {} element");
  FUZZ_CHECK(route_allows(spec, "GET") || route_allows(spec, "POST"), "a route serves something");
  FUZZ_CHECK(!allow_header(spec).empty(), "Allow header");

  QueryParams params;
  if (auto e = QueryParams::parse(query, spec.query_params, &params)) {
    FUZZ_CHECK(e->error_code == kUnknownParameter || e->error_code == kBadParameter,
               "query errors are 40001 or 40002");
    return 0;
  }
  for (size_t i = 0; i < query.size(); ++i) {
    const auto& [k, v] = query[i];
    FUZZ_CHECK(std::find(spec.query_params.begin(), spec.query_params.end(), k) !=
                   spec.query_params.end(),
               "accepted parameters are allowed");
    for (size_t j = 0; j < i; ++j) FUZZ_CHECK(query[j].first != k, "accepted parameters are unique");
    FUZZ_CHECK(params.get(k) == std::string_view(v), "get returns the value");
  }
  // The bounds read_records uses.
  for (std::string_view name : {"max_records", "max_bytes", "timeout_ms", "offset"}) {
    uint64_t out = 7;
    auto e = params.get_uint(name, 1, 10000, &out);
    if (!params.has(name)) {
      FUZZ_CHECK(!e && out == 7, "absent parameters leave the value");
    } else if (!e) {
      FUZZ_CHECK(out >= 1 && out <= 10000, "get_uint range");
    } else {
      FUZZ_CHECK(e->error_code == kBadParameter && out == 7, "get_uint error leaves the value");
    }
  }
  int64_t ts = 0;
  if (!params.get_int("timestamp", INT64_MIN + 1, INT64_MAX, &ts)) {
    FUZZ_CHECK(ts > INT64_MIN, "get_int range");
  }
  // The record routes' shared parameters (api/read_params.h).
  const ReadLimits limits;
  ReadParams rp;
  if (!parse_read_params(params, limits, &rp)) {
    FUZZ_CHECK(rp.max_records >= 1 && rp.max_records <= limits.max_records_limit, "max_records");
    FUZZ_CHECK(rp.max_bytes >= 1 && rp.max_bytes <= limits.max_bytes_limit, "max_bytes");
    FUZZ_CHECK(rp.timeout_ms <= static_cast<uint64_t>(limits.max_timeout_ms), "timeout_ms");
    FUZZ_CHECK(read::check_start_request(rp.start).ok(), "an accepted start is a valid combination");
    if (auto g = params.get("group")) {
      FUZZ_CHECK(*g == rp.start.group && format::valid_topic_name(*g), "a valid group, as given");
    } else {
      FUZZ_CHECK(rp.start.group.empty(), "no group without group=");
    }
  }
  return 0;
}
