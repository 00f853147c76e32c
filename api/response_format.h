// How JSON bodies are laid out: one line ending in "\n" (compact), or, with the
// `pretty=true` query parameter (a debugging aid), indented by two spaces.
//
// `pretty` is taken by every route whose answers are JSON (route_takes_pretty),
// on top of the route's own parameters (api/routes.h lists those): ApiService
// removes it from the query before the route's parameters are checked, and
// applies the layout once, in ApiService::finish, to every JSON body the route
// answers, errors included. Routes that answer something else (/, /metrics,
// /openapi.yaml, the NDJSON / SSE streams) do not take it (40002).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/errors.h"
#include "api/http_server.h"
#include "api/routes.h"

namespace sh::api {

// application/json, with or without parameters.
bool is_json_content_type(std::string_view content_type);

// True for the routes that answer JSON and so take `pretty`.
bool route_takes_pretty(RouteId id);

// Removes every `pretty` from `query` and sets *pretty from it. A value other
// than `true` / `false`, or a second `pretty`, is 40001 (*pretty stays false).
std::optional<ApiError> take_pretty(std::vector<std::pair<std::string, std::string>>* query,
                                    bool* pretty);

// A JSON body (not streamed) ends with exactly one "\n"; with `pretty` it is
// re-serialized with two-space indentation (the same JSON value). Other bodies
// are left alone. The compact path costs one byte appended, no parse.
void finish_json_body(bool pretty, HttpResponse* response);

}  // namespace sh::api
