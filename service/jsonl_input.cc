#include "service/jsonl_input.h"

#include <algorithm>
#include <iterator>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/text/base64.h"

namespace sh::service {
namespace {

using json = nlohmann::json;

// Reads a key or value field: string (with optional "<field>_encoding":"base64"),
// null, or (for values) any other JSON stored compact.
std::optional<std::string> bytes_field(const json& line, const char* field, bool any_json,
                                       std::string* error) {
  const json& v = line[field];
  const std::string enc_field = fmt::format("{}_encoding", field);
  std::string encoding = "string";
  if (line.contains(enc_field)) {
    if (!line[enc_field].is_string()) {
      *error = fmt::format("{} must be \"string\" or \"base64\"", enc_field);
      return std::nullopt;
    }
    encoding = line[enc_field].get<std::string>();
    if (encoding != "string" && encoding != "base64") {
      *error = fmt::format("{} must be \"string\" or \"base64\"", enc_field);
      return std::nullopt;
    }
  }
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) {
    if (encoding == "base64") {
      auto decoded = text::base64_decode(v.get_ref<const std::string&>());
      if (!decoded) *error = fmt::format("{} is not valid base64", field);
      return decoded;
    }
    return v.get<std::string>();
  }
  if (!any_json) {
    *error = fmt::format("{} must be a string or null", field);
    return std::nullopt;
  }
  return v.dump();
}

}  // namespace

bool parse_jsonl_record(std::string_view text, int64_t default_timestamp_ms, Record* r,
                        bool* has_offset, std::string* error) {
  json line = json::parse(text.begin(), text.end(), nullptr, false);
  if (line.is_discarded()) {
    *error = "not valid JSON";
    return false;
  }
  if (!line.is_object()) {
    *error = "each line must be a JSON object";
    return false;
  }
  static const char* kFields[] = {"offset", "timestamp", "key", "value", "headers",
                                  "key_encoding", "value_encoding"};
  for (const auto& item : line.items()) {
    const std::string& k = item.key();  // not a structured binding: clang 14 cannot capture one
    if (std::find_if(std::begin(kFields), std::end(kFields), [&](const char* f) { return k == f; }) ==
        std::end(kFields)) {
      *error = fmt::format("unknown field '{}'", k.substr(0, 64));
      return false;
    }
  }
  *r = Record{};
  *has_offset = line.contains("offset");
  if (*has_offset) {
    const json& o = line["offset"];
    if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<int64_t>() >= 0)) {
      *error = "offset must be a non-negative integer";
      return false;
    }
    r->offset = o.get<uint64_t>();
    if (r->offset > static_cast<uint64_t>(INT64_MAX)) {
      *error = "offset must be below 2^63";
      return false;
    }
  }
  if (line.contains("timestamp")) {
    if (!line["timestamp"].is_number_integer()) {
      *error = "timestamp must be an integer (milliseconds since the epoch)";
      return false;
    }
    r->timestamp = line["timestamp"].get<int64_t>();
  } else {
    r->timestamp = default_timestamp_ms;
  }
  if (!line.contains("value")) {
    *error = "value is required (null for a tombstone)";
    return false;
  }
  error->clear();
  if (line.contains("key")) {
    r->key = bytes_field(line, "key", false, error);
    if (!error->empty()) return false;
  }
  r->value = bytes_field(line, "value", true, error);
  if (!error->empty()) return false;
  if (line.contains("headers")) {
    const json& h = line["headers"];
    auto header_value = [&](const json& v, std::optional<std::string>* out) {
      if (v.is_null()) return true;
      if (!v.is_string()) return false;
      *out = v.get<std::string>();
      return true;
    };
    if (h.is_object()) {
      for (const auto& [k, v] : h.items()) {
        RecordHeader rh{k, std::nullopt};
        if (!header_value(v, &rh.value)) {
          *error = fmt::format("header '{}' must have a string or null value", k.substr(0, 64));
          return false;
        }
        r->headers.push_back(std::move(rh));
      }
    } else if (h.is_array()) {
      for (const json& e : h) {
        if (!e.is_object() || !e.contains("key") || !e["key"].is_string()) {
          *error = "headers list entries must be {\"key\": string, \"value\": string|null}";
          return false;
        }
        RecordHeader rh{e["key"].get<std::string>(), std::nullopt};
        if (e.contains("value") && !header_value(e["value"], &rh.value)) {
          *error =
              fmt::format("header '{}' must have a string or null value", rh.key.substr(0, 64));
          return false;
        }
        r->headers.push_back(std::move(rh));
      }
    } else {
      *error = "headers must be an object of strings or a list of {key, value}";
      return false;
    }
  }
  return true;
}

}  // namespace sh::service
