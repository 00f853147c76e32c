#include "core/format/names.h"

#include <cinttypes>
#include <cstdio>
#include <limits>

#include <fmt/format.h>

namespace sh::format {

std::string segment_key(std::string_view prefix, std::string_view topic, int32_t partition,
                        uint64_t base_offset) {
  char file[40];
  std::snprintf(file, sizeof file, "seg_%020" PRIu64 ".bin", base_offset);
  std::string key;
  key.reserve(prefix.size() + topic.size() + 40);
  key.append(prefix).append(topic).append("/").append(std::to_string(partition)).append("/");
  key.append(file);
  return key;
}

std::optional<uint64_t> parse_segment_file_name(std::string_view name) {
  const size_t slash = name.rfind('/');
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  constexpr std::string_view kPrefix = "seg_";
  constexpr std::string_view kSuffix = ".bin";
  constexpr size_t kDigits = 20;
  if (name.size() != kPrefix.size() + kDigits + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix)) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : name.substr(kPrefix.size(), kDigits)) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

bool valid_topic_name(std::string_view topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..") return false;
  for (char c : topic) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string invalid_name_message(std::string_view what, std::string_view name) {
  return fmt::format("invalid {} '{}' ({})", what, name.substr(0, 64), kTopicNameRule);
}

}  // namespace sh::format
