// Names of things in the log: segment object keys, topic names (and consumer
// group ids, which follow the same rule).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sh::format {

// Object key of a segment: "<prefix><topic>/<partition>/seg_<20 digits>.bin".
std::string segment_key(std::string_view prefix, std::string_view topic, int32_t partition,
                        uint64_t base_offset);
// Parses the last path element "seg_<20 digits>.bin"; nullopt if it is not one.
std::optional<uint64_t> parse_segment_file_name(std::string_view name);

// Kafka's rule: 1..249 chars of [A-Za-z0-9._-], not "." or "..".
bool valid_topic_name(std::string_view topic);
// The rule above in words, for error messages.
inline constexpr std::string_view kTopicNameRule =
    "1-249 characters of [A-Za-z0-9._-], not '.' or '..'";
// "invalid <what> '<name, cut to 64 bytes>' (<kTopicNameRule>)"; `what` is
// "topic name" or "consumer group id".
std::string invalid_name_message(std::string_view what, std::string_view name);

}  // namespace sh::format
