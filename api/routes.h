// The routes of the HTTP contract, declared once, as data: path template,
// methods, accepted query parameters and the handler that serves it. ApiService
// dispatches through this table (405 + Allow, HEAD and CORS preflight are
// derived from it), and a test holds openapi/openapi.yaml to it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sh::api {

// Which handler serves a route (ApiService binds each to a member function).
enum class RouteId {
  kDashboard,
  kHealthz,
  kReadyz,
  kMetrics,
  kOpenApi,
  kTopics,
  kTopic,
  kPartition,
  kSegments,
  kRecords,
  kRecordsStream,
  kTopicRecords,
  kTopicRecordsStream,
  kGroups,
  kGroupOffsets,
};

struct RouteSpec {
  std::string_view path;                       // OpenAPI template, e.g. "/topics/{topic}"
  std::vector<std::string_view> methods;       // lower-case, as OpenAPI writes them
  std::vector<std::string_view> query_params;  // every parameter the route accepts
  RouteId id;
  // A data route may call the metadata or the object store: it runs on the I/O
  // engine, never on an HTTP worker, and needs a token when tokens are configured.
  bool data = false;
  // Served on the admin listener too (`serve --admin-listen`): the probes and
  // the scrape, which must never wait behind the data traffic of the main one.
  bool admin = false;
};

const std::vector<RouteSpec>& route_specs();
// The spec of `id` (every RouteId has exactly one).
const RouteSpec& route_spec(RouteId id);

struct RouteMatch {
  const RouteSpec* spec = nullptr;
  // Values of the template's {…} elements, in order (still to be validated).
  std::vector<std::string_view> args;
};

// The route whose template matches `path` element by element ("{x}" matches any
// one non-empty element; empty elements from repeated '/' are skipped), or nullopt.
std::optional<RouteMatch> match_route(std::string_view path);

// True if `method` ("GET", "HEAD", "POST", ...) is served by `spec`; HEAD goes
// wherever GET does.
bool route_allows(const RouteSpec& spec, std::string_view method);
// The Allow header value of `spec`, e.g. "GET, HEAD, POST, OPTIONS".
std::string allow_header(const RouteSpec& spec);

}  // namespace sh::api
