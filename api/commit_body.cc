#include "api/commit_body.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/format/names.h"

namespace sh::api {

std::optional<ApiError> parse_commit_body(std::string_view body, std::vector<OffsetCommit>* out) {
  using json = nlohmann::json;
  auto bad = [](std::string message) { return ApiError{kBadBody, std::move(message)}; };
  out->clear();
  const json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  const auto offsets = doc.is_object() ? doc.find("offsets") : doc.end();
  if (doc.is_discarded() || !doc.is_object() || offsets == doc.end() || !offsets->is_array() ||
      offsets->empty()) {
    return bad("body must be {\"offsets\":[{\"topic\",\"partition\",\"offset\",\"metadata\"?}]}");
  }
  if (doc.size() != 1) return bad("body has fields other than \"offsets\"");
  for (const json& o : *offsets) {
    if (!o.is_object()) return bad("each offset must be an object");
    for (const auto& [k, v] : o.items()) {
      if (k != "topic" && k != "partition" && k != "offset" && k != "metadata") {
        return bad(fmt::format("unknown field '{}' in an offset", k.substr(0, 64)));
      }
    }
    const auto topic = o.find("topic"), partition = o.find("partition"), offset = o.find("offset");
    if (topic == o.end() || !topic->is_string() || partition == o.end() ||
        !partition->is_number_integer() || offset == o.end() || !offset->is_number_integer()) {
      return bad("each offset needs topic (string), partition and offset (integers)");
    }
    OffsetCommit c;
    c.topic = topic->get<std::string>();
    if (!format::valid_topic_name(c.topic)) {
      return bad(format::invalid_name_message("topic name", c.topic));
    }
    // An unsigned partition above INT64_MAX must not wrap to a negative int64.
    const int64_t p = partition->is_number_unsigned()
                          ? static_cast<int64_t>(std::min<uint64_t>(partition->get<uint64_t>(), INT64_MAX))
                          : partition->get<int64_t>();
    const int64_t off = offset->is_number_unsigned()
                            ? static_cast<int64_t>(std::min<uint64_t>(offset->get<uint64_t>(), INT64_MAX))
                            : offset->get<int64_t>();
    if (p < 0 || p > INT32_MAX) return bad("partition out of range");
    if (off < 0) return bad("offset must be >= 0");
    c.partition = static_cast<int32_t>(p);
    c.offset = static_cast<uint64_t>(off);
    if (const auto metadata = o.find("metadata"); metadata != o.end()) {
      if (!metadata->is_string() && !metadata->is_null()) return bad("metadata must be a string");
      if (metadata->is_string()) c.metadata = metadata->get<std::string>();
      if (c.metadata.size() > kMaxCommitMetadataBytes) {
        return bad(fmt::format("metadata longer than {} bytes", kMaxCommitMetadataBytes));
      }
    }
    out->push_back(std::move(c));
  }
  return std::nullopt;
}

}  // namespace sh::api
