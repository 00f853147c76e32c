// The routes of the HTTP contract, as data: the handler takes its allowed
// query parameters from here, and a test holds openapi/openapi.yaml to it.
#pragma once

#include <string_view>
#include <vector>

namespace sh::api {

struct RouteSpec {
  std::string_view path;                       // OpenAPI template, e.g. "/topics/{topic}"
  std::vector<std::string_view> methods;       // lower-case, as OpenAPI writes them
  std::vector<std::string_view> query_params;  // every parameter the route accepts
};

const std::vector<RouteSpec>& route_specs();
// The spec of `path` (a template from route_specs()).
const RouteSpec& route_spec(std::string_view path);

}  // namespace sh::api
