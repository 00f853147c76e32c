// Records of a topic partition, as owned values (writer, tools, tests) and as
// views into a decoded block (the read hot path: no copies, no allocation per record).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sh {

struct RecordHeader {
  std::string key;
  std::optional<std::string> value;  // nullopt = null
  bool operator==(const RecordHeader&) const = default;
};

struct Record {
  uint64_t offset = 0;
  int64_t timestamp = 0;               // ms since epoch
  std::optional<std::string> key;      // nullopt = null key
  std::optional<std::string> value;    // nullopt = tombstone
  std::vector<RecordHeader> headers;
  bool operator==(const Record&) const = default;
};

struct HeaderView {
  std::string_view key;
  std::optional<std::string_view> value;
};

struct RecordView {
  uint64_t offset = 0;
  int64_t timestamp = 0;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::span<const HeaderView> headers;

  Record to_record() const;
};

// Bytes a record occupies in a raw block payload (used for block cutting and max_bytes).
size_t encoded_record_size(const Record& r, uint64_t first_offset, int64_t first_timestamp);

}  // namespace sh
