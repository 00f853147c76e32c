// Time formats AWS speaks: the SigV4 basic ISO-8601 stamp, the HTTP Date
// header (RFC 7231 IMF-fixdate) and the extended ISO-8601 used in credential
// JSON ("2024-01-02T03:04:05Z").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sh::s3 {

// "YYYYMMDDTHHMMSSZ" for a time in ms since the Unix epoch (UTC).
std::string format_amz_date(int64_t unix_ms);

// Parses "Sun, 06 Nov 1994 08:49:37 GMT"; nullopt when malformed.
std::optional<int64_t> parse_http_date(std::string_view s);

// Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" (also "+00:00"); nullopt when malformed.
std::optional<int64_t> parse_iso8601(std::string_view s);

}  // namespace sh::s3
