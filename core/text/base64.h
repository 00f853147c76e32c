// Standard base64 (RFC 4648 §4, with padding): the `format=base64` encoding of
// the records API and the base64 input of `segment write`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sh::text {

// Appends the base64 encoding of `bytes` to *out.
void append_base64(std::string* out, std::string_view bytes);
std::string base64_encode(std::string_view bytes);
// The decoded bytes, or nullopt if `in` is not padded base64 of the standard alphabet.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace sh::text
