// Connection strings: parsing (via libpq, so "key=value" and postgres:// URLs
// behave exactly as in psql), redaction for logs, and scrubbing of secrets from
// any text that may leave the process (errors, log lines).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace sh::pg {

// What a conninfo string set explicitly. Keywords it leaves out are filled by
// libpq at connect time from the PG* environment variables and its defaults.
struct ConnSettings {
  // keyword -> value as libpq parsed it (password included: never log this).
  std::vector<std::pair<std::string, std::string>> params;
  // Strings that must never appear in output: the password as parsed, as it
  // was spelled in the URL, and PGPASSWORD. Empty strings are not kept.
  std::vector<std::string> secrets;
  // "postgres://user@host:port/db" (no password), for logs and describe().
  std::string redacted;
};

// kInvalidArgument if libpq cannot parse `conninfo`. The error never quotes
// the input when it might hold a password.
Result<ConnSettings> parse_conninfo(std::string_view conninfo);

// conninfo without password, for logs: "postgres://user@host:port/db". Fields
// the string leaves out come from the PG* environment / libpq defaults; an
// unparseable string gives "postgres://<invalid conninfo>".
std::string redact_conninfo(std::string_view conninfo);

// `text` with every occurrence of each secret replaced by "***".
std::string scrub_secrets(std::string text, const std::vector<std::string>& secrets);

}  // namespace sh::pg
