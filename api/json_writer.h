// JsonWriter: appends JSON text straight into a response buffer. Used on the
// records hot path instead of building a DOM per record.
//
// The writer does not track structure: callers emit '{', ',' and keys in order.
// String values are escaped per RFC 8259; bytes that are not valid UTF-8 must be
// checked with text::valid_utf8() first and sent base64-encoded instead.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/text/base64.h"

namespace sh::api {

// True if `s` is exactly one JSON value (RFC 8259) with optional surrounding
// whitespace; nesting deeper than 256 and \u escapes of unpaired UTF-16
// surrogates (which strict parsers refuse) are rejected. Does not allocate.
// REQUIRES: text::valid_utf8(s) (string contents are not re-checked for UTF-8).
bool is_json_text(std::string_view s);

// What writing `s` as a JSON string needs to know, from one pass over it.
struct JsonStringScan {
  size_t escape_extra = 0;  // bytes that escaping adds to s
  bool ascii = true;        // no byte >= 0x80: then s is valid UTF-8
};
JsonStringScan scan_json_string(std::string_view s);

// Exact sizes of what JsonWriter writes, without writing it (the records
// response charges max_bytes with them).
// Bytes of string(s), quotes included. REQUIRES: text::valid_utf8(s).
size_t json_string_size(std::string_view s);
inline size_t json_string_size(std::string_view s, const JsonStringScan& scan) {
  return s.size() + 2 + scan.escape_extra;
}
// Bytes of base64(bytes), quotes included.
inline size_t json_base64_size(size_t n) { return 2 + 4 * ((n + 2) / 3); }
// Bytes of number(v).
size_t json_number_size(uint64_t v);
size_t json_number_size(int64_t v);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& raw(std::string_view s) {
    out_->append(s);
    return *this;
  }
  JsonWriter& ch(char c) {
    out_->push_back(c);
    return *this;
  }
  // "key": — the key must not need escaping (our own field names).
  JsonWriter& key(std::string_view k) {
    char buf[64];
    if (k.size() + 3 > sizeof buf) {
      out_->push_back('"');
      out_->append(k);
      out_->append("\":", 2);
      return *this;
    }
    buf[0] = '"';
    std::memcpy(buf + 1, k.data(), k.size());
    buf[k.size() + 1] = '"';
    buf[k.size() + 2] = ':';
    out_->append(buf, k.size() + 3);
    return *this;
  }
  // A JSON string; REQUIRES: text::valid_utf8(s).
  JsonWriter& string(std::string_view s) { return string(s, scan_json_string(s)); }
  // The same, with `scan` = scan_json_string(s) already known.
  JsonWriter& string(std::string_view s, const JsonStringScan& scan);
  // A JSON string holding base64 of `bytes`.
  JsonWriter& base64(std::string_view bytes) {
    out_->push_back('"');
    text::append_base64(out_, bytes);
    out_->push_back('"');
    return *this;
  }
  JsonWriter& number(uint64_t v);
  JsonWriter& number(int64_t v);
  JsonWriter& number(int32_t v) { return number(static_cast<int64_t>(v)); }
  JsonWriter& boolean(bool v) { return raw(v ? "true" : "false"); }
  JsonWriter& null() { return raw("null"); }

 private:
  std::string* out_;
};

}  // namespace sh::api
