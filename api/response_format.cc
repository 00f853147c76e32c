#include "api/response_format.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/text/ascii.h"

namespace sh::api {

bool is_json_content_type(std::string_view content_type) {
  constexpr std::string_view kJson = "application/json";
  if (!text::istarts_with(content_type, kJson)) return false;
  const std::string_view rest = content_type.substr(kJson.size());
  return rest.empty() || rest.front() == ';' || rest.front() == ' ';
}

bool route_takes_pretty(RouteId id) {
  switch (id) {
    case RouteId::kHealthz:
    case RouteId::kReadyz:
    case RouteId::kTopics:
    case RouteId::kTopic:
    case RouteId::kPartition:
    case RouteId::kSegments:
    case RouteId::kRecords:
    case RouteId::kTopicRecords:
    case RouteId::kGroups:
    case RouteId::kGroupOffsets:
      return true;
    default:  // HTML, Prometheus text, YAML, NDJSON / SSE streams
      return false;
  }
}

std::optional<ApiError> take_pretty(std::vector<std::pair<std::string, std::string>>* query,
                                    bool* pretty) {
  *pretty = false;
  std::optional<ApiError> error;
  int seen = 0;
  for (auto it = query->begin(); it != query->end();) {
    if (it->first != "pretty") {
      ++it;
      continue;
    }
    if (++seen == 2 && !error) {
      error = ApiError{kBadParameter, "query parameter 'pretty' given twice"};
    } else if (seen == 1) {
      if (it->second == "true" || it->second == "false") {
        *pretty = it->second == "true";
      } else {
        error = ApiError{kBadParameter,
                         fmt::format("pretty must be true or false, got '{}'", it->second.substr(0, 64))};
      }
    }
    it = query->erase(it);
  }
  if (error) *pretty = false;
  return error;
}

void finish_json_body(bool pretty, HttpResponse* r) {
  if (r->stream || r->body.empty() || !is_json_content_type(r->content_type)) return;
  if (pretty) {
    // A debugging aid: one parse and dump of the finished body, keys kept in order.
    auto doc = nlohmann::ordered_json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_discarded()) {
      r->body = doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    }
  }
  if (r->body.back() != '\n') r->body.push_back('\n');
}

}  // namespace sh::api
