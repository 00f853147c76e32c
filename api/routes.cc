#include "api/routes.h"

#include <cstdlib>

namespace sh::api {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

bool is_param(std::string_view element) {
  return element.size() >= 2 && element.front() == '{' && element.back() == '}';
}

// "get" → "GET" (the table writes methods as OpenAPI does; HTTP methods are case-sensitive).
std::string upper(std::string_view m) {
  std::string out(m);
  for (char& c : out) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return out;
}

}  // namespace

const std::vector<RouteSpec>& route_specs() {
  static const std::vector<RouteSpec> specs = {
      {"/", {"get"}, {}, RouteId::kDashboard},
      {"/healthz", {"get"}, {}, RouteId::kHealthz, false, true},
      {"/readyz", {"get"}, {}, RouteId::kReadyz, false, true},
      {"/metrics", {"get"}, {}, RouteId::kMetrics, false, true},
      {"/openapi.yaml", {"get"}, {}, RouteId::kOpenApi},
      {"/topics", {"get"}, {}, RouteId::kTopics, true},
      {"/topics/{topic}", {"get"}, {}, RouteId::kTopic, true},
      {"/topics/{topic}/partitions/{partition}", {"get"}, {}, RouteId::kPartition, true},
      {"/topics/{topic}/partitions/{partition}/segments", {"get"}, {}, RouteId::kSegments, true},
      {"/topics/{topic}/partitions/{partition}/records",
       {"get"},
       {"offset", "timestamp", "group", "auto_offset_reset", "max_records", "max_bytes",
        "timeout_ms", "format"},
       RouteId::kRecords, true},
      {"/topics/{topic}/partitions/{partition}/records/stream",
       {"get"},
       {"offset", "timestamp", "group", "auto_offset_reset", "end_offset", "follow", "format",
        "heartbeat_ms"},
       RouteId::kRecordsStream, true},
      {"/topics/{topic}/records",
       {"get"},
       {"partitions", "offset", "timestamp", "group", "auto_offset_reset", "max_records",
        "max_bytes", "timeout_ms", "format"},
       RouteId::kTopicRecords, true},
      {"/topics/{topic}/records/stream",
       {"get"},
       {"partitions", "offset", "timestamp", "group", "auto_offset_reset", "follow", "format",
        "heartbeat_ms"},
       RouteId::kTopicRecordsStream, true},
      {"/consumer-groups", {"get"}, {}, RouteId::kGroups, true},
      {"/consumer-groups/{group}/offsets", {"get", "post"}, {}, RouteId::kGroupOffsets, true},
  };
  return specs;
}

const RouteSpec& route_spec(RouteId id) {
  for (const RouteSpec& spec : route_specs()) {
    if (spec.id == id) return spec;
  }
  std::abort();  // every RouteId is in the table (tests/unit/api checks it)
}

std::optional<RouteMatch> match_route(std::string_view path) {
  const auto parts = split_path(path);
  for (const RouteSpec& spec : route_specs()) {
    const auto pattern = split_path(spec.path);
    if (pattern.size() != parts.size()) continue;
    RouteMatch m{&spec, {}};
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      if (is_param(pattern[i])) {
        m.args.push_back(parts[i]);
      } else {
        ok = pattern[i] == parts[i];
      }
    }
    if (ok) return m;
  }
  return std::nullopt;
}

bool route_allows(const RouteSpec& spec, std::string_view method) {
  const std::string_view wanted = method == "HEAD" ? std::string_view("GET") : method;
  for (std::string_view m : spec.methods) {
    if (upper(m) == wanted) return true;
  }
  return false;
}

std::string allow_header(const RouteSpec& spec) {
  std::string out;
  for (std::string_view m : spec.methods) {
    if (!out.empty()) out += ", ";
    out += upper(m);
    if (m == "get") out += ", HEAD";
  }
  out += ", OPTIONS";  // answered on every route (ApiService::handle)
  return out;
}

}  // namespace sh::api
