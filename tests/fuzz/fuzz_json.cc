// The JSON text the records hot path writes and checks (api/json_writer.h):
// JsonWriter::string (word-at-a-time escaping into an exactly sized buffer),
// scan_json_string / json_string_size, and the is_json_text validator that
// decides whether format=json embeds a value as it is.
//
// Input: any bytes, taken as a key or value of a record.
//
// Invariants, for input that is valid UTF-8 (the writer's precondition; other
// bytes go out as base64 and never reach it):
//   - the written string is exactly json_string_size bytes, after whatever the
//     buffer held before, which it leaves untouched;
//   - nlohmann parses it back to the input;
//   - the scan's ASCII flag is true exactly when no byte is >= 0x80;
//   - is_json_text agrees with whether nlohmann's json::parse succeeds (nesting within the
//     validator's limit of 256; no NUL byte, which nlohmann's lexer takes as
//     the end of input, so it accepts "1\0x" where RFC 8259 does not; no
//     number too large for a double, 1e999, which the grammar allows and
//     nlohmann refuses, stopping there).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/json_writer.h"
#include "core/text/utf8.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const bool ascii = std::all_of(in.begin(), in.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  const sh::api::JsonStringScan scan = sh::api::scan_json_string(in);
  FUZZ_CHECK(scan.ascii == ascii, "the ASCII flag is exact");
  if (!sh::text::valid_utf8(in)) return 0;

  const std::string prefix = "{\"value\":";
  std::string out = prefix;
  sh::api::JsonWriter(&out).string(in);
  FUZZ_CHECK(out.compare(0, prefix.size(), prefix) == 0, "what the buffer held is kept");
  const std::string_view written = std::string_view(out).substr(prefix.size());
  FUZZ_CHECK(written.size() == sh::api::json_string_size(in), "the size is exact");
  const auto parsed = nlohmann::json::parse(written, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(parsed.is_string() && parsed.get<std::string>() == in, "the string parses back");

  const auto depth = std::count_if(in.begin(), in.end(), [](char c) { return c == '[' || c == '{'; });
  if (depth <= 256 && in.find('\0') == std::string_view::npos) {
    bool accepted = true, overflow = false;
    try {
      (void)nlohmann::json::parse(in);
    } catch (const nlohmann::json::out_of_range& e) {
      accepted = false;
      overflow = e.id == 406;  // "number overflow parsing '1e999'"
    } catch (const nlohmann::json::parse_error&) {
      accepted = false;
    }
    // nlohmann stops at the overflow, so it says nothing of the rest.
    if (!overflow) FUZZ_CHECK(sh::api::is_json_text(in) == accepted, "the validator agrees with nlohmann");
  }
  return 0;
}
