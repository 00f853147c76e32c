// One input line of `streamhouse segment write`: a JSON object with `offset`,
// `timestamp`, `key`, `value`, `headers`, `key_encoding`/`value_encoding`
// (service/README.md). Parsed apart from the command so it can be tested and
// fuzzed on its own (tests/fuzz/fuzz_jsonl.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/format/record.h"

namespace sh::service {

// Parses `text` into *r. *has_offset says whether the line gave an offset (the
// caller fills it otherwise); a line without a timestamp gets `default_timestamp_ms`.
// key: string or null (with "key_encoding":"base64" a base64 string); value:
// likewise, or any other JSON value stored as its compact text; headers: an
// object of string|null values or a list of {"key": string, "value": string|null}.
// Returns false with *error naming the field on an invalid line.
bool parse_jsonl_record(std::string_view text, int64_t default_timestamp_ms, Record* r,
                        bool* has_offset, std::string* error);

}  // namespace sh::service
