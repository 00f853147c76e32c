#include "api/routes.h"

#include <stdexcept>

namespace sh::api {

const std::vector<RouteSpec>& route_specs() {
  static const std::vector<RouteSpec> specs = {
      {"/", {"get"}, {}},
      {"/healthz", {"get"}, {}},
      {"/readyz", {"get"}, {}},
      {"/metrics", {"get"}, {}},
      {"/openapi.yaml", {"get"}, {}},
      {"/topics", {"get"}, {}},
      {"/topics/{topic}", {"get"}, {}},
      {"/topics/{topic}/partitions/{partition}", {"get"}, {}},
      {"/topics/{topic}/partitions/{partition}/segments", {"get"}, {}},
      {"/topics/{topic}/partitions/{partition}/records",
       {"get"},
       {"offset", "timestamp", "group", "auto_offset_reset", "max_records", "max_bytes",
        "timeout_ms", "format"}},
      {"/consumer-groups", {"get"}, {}},
      {"/consumer-groups/{group}/offsets", {"get", "post"}, {}},
  };
  return specs;
}

const RouteSpec& route_spec(std::string_view path) {
  for (const auto& s : route_specs()) {
    if (s.path == path) return s;
  }
  throw std::logic_error("no route spec for " + std::string(path));
}

}  // namespace sh::api
