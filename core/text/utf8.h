// UTF-8 validation (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. Used by the segment reader (header names must be UTF-8) and the JSON
// encoder (non-UTF-8 values are sent as base64).
#pragma once

#include <string_view>

namespace sh::text {

bool valid_utf8(std::string_view s);

}  // namespace sh::text
