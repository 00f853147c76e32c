#include "api/errors.h"

#include <spdlog/spdlog.h>

#include "api/json_writer.h"
#include "core/text/ascii.h"
#include "core/text/utf8.h"

namespace sh::api {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_host_char(char c) { return is_alnum(c) || c == '-' || c == '.'; }
bool is_hex_or_colon(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}
bool is_url_end(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '`';
}

// Length of a ":<port>" (1-5 digits, not followed by another digit or letter) at s[i], or 0.
size_t port_length(std::string_view s, size_t i) {
  if (i >= s.size() || s[i] != ':') return 0;
  size_t j = i + 1;
  while (j < s.size() && j - i <= 5 && is_digit(s[j])) ++j;
  if (j == i + 1 || j - i > 6 || (j < s.size() && is_alnum(s[j]))) return 0;
  return j - i;
}

// Length of the IPv4 literal "a.b.c.d" at s[i] (not inside a longer token), or 0.
size_t ipv4_length(std::string_view s, size_t i) {
  if (i > 0 && is_host_char(s[i - 1])) return 0;
  size_t j = i;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (j >= s.size() || s[j] != '.') return 0;
      ++j;
    }
    size_t digits = 0;
    while (j < s.size() && is_digit(s[j]) && digits < 4) ++j, ++digits;
    if (digits == 0 || digits > 3) return 0;
  }
  if (j < s.size() && (is_alnum(s[j]) || (s[j] == '.' && j + 1 < s.size() && is_alnum(s[j + 1])))) return 0;
  return j - i;
}

// Length of "host.name:port" or "localhost:port" at s[i] (a token start), or 0.
size_t host_port_length(std::string_view s, size_t i) {
  if (i > 0 && is_host_char(s[i - 1])) return 0;
  size_t j = i;
  bool dot = false;
  while (j < s.size() && is_host_char(s[j])) dot |= s[j++] == '.';
  if (j == i) return 0;
  const std::string_view host = s.substr(i, j - i);
  if (!dot && !text::iequals(host, "localhost")) return 0;
  const size_t port = port_length(s, j);
  return port == 0 ? 0 : j - i + port;
}

// Length of "[v6]" (optionally ":port") at s[i], or 0.
size_t ipv6_length(std::string_view s, size_t i) {
  if (s[i] != '[') return 0;
  size_t j = i + 1;
  bool colon = false;
  while (j < s.size() && is_hex_or_colon(s[j])) colon |= s[j++] == ':';
  if (!colon || j >= s.size() || s[j] != ']') return 0;
  ++j;
  return j - i + port_length(s, j);
}

bool is_scheme_char(char c) { return is_alnum(c) || c == '+' || c == '-' || c == '.'; }

// Length of the URL at s[i] ("scheme://…" up to the next space or quote,
// trailing punctuation excluded) unless its scheme is s3 (an object's name), or 0.
size_t url_length(std::string_view s, size_t i) {
  if (!is_alnum(s[i]) || (i > 0 && is_scheme_char(s[i - 1]))) return 0;
  size_t j = i;
  while (j < s.size() && is_scheme_char(s[j])) ++j;
  if (s.compare(j, 3, "://") != 0 || text::iequals(s.substr(i, j - i), "s3")) return 0;
  size_t e = j + 3;
  while (e < s.size() && !is_url_end(s[e])) ++e;
  while (e > j + 3 && (s[e - 1] == ':' || s[e - 1] == '.' || s[e - 1] == ',' || s[e - 1] == ';' ||
                       s[e - 1] == ')')) {
    --e;
  }
  return e - i;
}

// The text of a 5xx answer without the endpoints it may name: URLs other than
// s3:// object names become <endpoint>, IP literals and host:port become <host>.
std::string redact_endpoints(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (size_t n = url_length(s, i); n > 0) {
      out += "<endpoint>";
      i += n;
      continue;
    }
    if (size_t n = ipv6_length(s, i); n > 0) {
      out += "<host>";
      i += n;
      continue;
    }
    if (size_t n = ipv4_length(s, i); n > 0) {
      out += "<host>";
      i += n + port_length(s, i + n);
      continue;
    }
    if (size_t n = host_port_length(s, i); n > 0) {
      out += "<host>";
      i += n;
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

// The client's text of a server-side (5xx) failure: stable, naming what failed
// (the operation, the bucket and key) but no endpoint (the detail is logged at
// debug). PostgreSQL's messages carry the server's address and libpq's own
// text, so they are replaced as a whole.
std::string public_message(const Error& e, std::string_view prefix) {
  std::string text;
  if (e.message().find("PostgreSQL") != std::string::npos) {
    switch (e.code()) {
      case Errc::kTimeout: text = "the metadata store (PostgreSQL) did not answer in time; retry later"; break;
      case Errc::kPermissionDenied: text = "the metadata store (PostgreSQL) refused the service's credentials"; break;
      case Errc::kUnavailable: text = "the metadata store (PostgreSQL) is unavailable; retry later"; break;
      default: text = "the metadata store (PostgreSQL) failed"; break;
    }
  } else {
    text = std::string(prefix) + redact_endpoints(e.message());
  }
  if (text != std::string(prefix) + e.message()) {
    spdlog::debug("{} (sent to the client as: {})", e.to_string(), text);
  }
  return text;
}

}  // namespace

ApiError to_api_error(const Error& e) {
  switch (e.code()) {
    case Errc::kInvalidArgument: return {kBadParameter, e.message()};
    case Errc::kTopicNotFound: return {kUnknownTopic, e.message()};
    case Errc::kPartitionNotFound: return {kUnknownPartition, e.message()};
    case Errc::kGroupNotFound: return {kUnknownGroup, e.message()};
    case Errc::kOffsetOutOfRange: return {kOffsetOutOfRange, e.message()};
    case Errc::kNotFound:
      // A segment the metadata names but the store does not have: the log is unreadable.
      return {kBadUpstreamResponse, public_message(e, "segment object missing: ")};
    case Errc::kOutOfRange:
      // A range read past the end of a stored object (its own footer or metadata
      // placed the range there): the stored data disagrees with itself.
      return {kBadUpstreamResponse,
              public_message(e, "stored object is shorter than the range its index names: ")};
    case Errc::kCorrupt: return {kCorruptSegment, public_message(e, "corrupt segment: ")};
    case Errc::kBadResponse: return {kBadUpstreamResponse, public_message(e, "")};
    case Errc::kPreconditionFailed:
      return {kBadUpstreamResponse, public_message(e, "segment object changed while reading: ")};
    case Errc::kUnavailable: return {kStorageUnavailable, public_message(e, "")};
    case Errc::kPermissionDenied: return {kStorageDenied, public_message(e, "")};
    case Errc::kTimeout: return {kUpstreamTimeout, public_message(e, "")};
    case Errc::kResourceExhausted: return {kOverloaded, e.message()};
    case Errc::kAlreadyExists:
    case Errc::kWouldBlock:  // handled before it could get here (a bug if not)
    case Errc::kInternal:
      // An internal failure's text is for the log only.
      spdlog::warn("internal error: {}", e.to_string());
      return {kInternal, "internal error"};
  }
  return {kInternal, "internal error"};
}

namespace {

HttpResponse json_error(int error_code, const std::string& message, std::string extra_fields) {
  HttpResponse r;
  r.status = error_code / 100;
  r.body.reserve(64 + message.size());
  JsonWriter w(&r.body);
  w.ch('{').key("error_code").number(static_cast<int64_t>(error_code)).ch(',').key("message");
  if (text::valid_utf8(message)) {
    w.string(message);
  } else {
    w.string("(message not valid UTF-8)");
  }
  w.raw(extra_fields).ch('}').ch('\n');  // one line (strings are escaped), then a newline
  if (r.status == 503 || r.status == 429) r.with_header("Retry-After", "1");
  return r;
}

}  // namespace

HttpResponse error_response(const ApiError& e) { return json_error(e.error_code, e.message, ""); }

HttpResponse error_response(int error_code, std::string message) {
  return json_error(error_code, message, "");
}

HttpResponse offset_out_of_range_response(const std::string& message, uint64_t log_start_offset,
                                          uint64_t high_watermark) {
  std::string extra;
  JsonWriter w(&extra);
  w.ch(',').key("log_start_offset").number(log_start_offset);
  w.ch(',').key("high_watermark").number(high_watermark);
  return json_error(kOffsetOutOfRange, message, extra);
}

}  // namespace sh::api
