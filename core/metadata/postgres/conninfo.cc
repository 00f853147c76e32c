#include "core/metadata/postgres/conninfo.h"

#include <libpq-fe.h>

#include <cctype>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

#include "core/metadata/postgres/pg_handles.h"
#include "core/text/ascii.h"

namespace sh::pg {
namespace {

bool is_url(std::string_view s) {
  return text::istarts_with(s, "postgresql://") || text::istarts_with(s, "postgres://");
}

// The password exactly as spelled in a URL's userinfo ("user:pw@host"), so a
// percent-encoded form echoed back by libpq is scrubbed too.
std::optional<std::string> raw_url_password(std::string_view s) {
  if (!is_url(s)) return std::nullopt;
  auto start = s.find("://") + 3;
  auto end = s.find_first_of("/?", start);
  std::string_view authority = s.substr(start, end == std::string_view::npos ? s.npos : end - start);
  auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view userinfo = authority.substr(0, at);
  auto colon = userinfo.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::string(userinfo.substr(colon + 1));
}

// Might the text hold a password we could not parse out? Then libpq's parse
// error (which quotes fragments of the input) is not repeated.
bool may_hold_password(std::string_view s) {
  const std::string lower = text::ascii_lowered(s);
  return lower.find("password") != std::string::npos || raw_url_password(s).has_value() ||
         lower.find('@') != std::string::npos;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ',') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string redacted_url(const std::vector<std::pair<std::string, std::string>>& params) {
  auto get = [&](std::string_view key) -> std::string {
    for (const auto& [k, v] : params) {
      if (k == key) return v;
    }
    return "";
  };
  // Fill what the string left out from the environment / libpq defaults
  // (never the password).
  PgConnInfoPtr defaults(PQconndefaults());
  auto fallback = [&](std::string_view key) -> std::string {
    if (!defaults) return "";
    for (PQconninfoOption* o = defaults.get(); o->keyword != nullptr; ++o) {
      if (key == o->keyword && o->val != nullptr) return o->val;
    }
    return "";
  };
  std::string user = get("user");
  if (user.empty()) user = fallback("user");
  std::string host = get("host");
  if (host.empty()) host = get("hostaddr");
  if (host.empty()) host = fallback("host");
  if (host.empty()) host = fallback("hostaddr");
  std::string port = get("port");
  if (port.empty()) port = fallback("port");
  std::string db = get("dbname");
  if (db.empty()) db = fallback("dbname");

  std::string out = "postgres://";
  if (!user.empty()) out.append(percent_encode(user)).append("@");
  out.append(percent_encode(host));
  if (!port.empty()) out.append(":").append(percent_encode(port));
  out.append("/").append(percent_encode(db));
  return out;
}

}  // namespace

std::string scrub_secrets(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    size_t pos = 0;
    while ((pos = text.find(secret, pos)) != std::string::npos) {
      text.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  return text;
}

Result<ConnSettings> parse_conninfo(std::string_view conninfo) {
  std::string text(conninfo);
  char* errmsg = nullptr;
  PgConnInfoPtr options(PQconninfoParse(text.c_str(), &errmsg));
  if (!options) {
    std::string detail;
    if (errmsg != nullptr) {
      detail = errmsg;
      PQfreemem(errmsg);
    }
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
    if (detail.empty() || may_hold_password(conninfo)) {
      return invalid_argument("invalid PostgreSQL connection string or URL");
    }
    return invalid_argument(
        fmt::format("invalid PostgreSQL connection string or URL (libpq: {})", detail));
  }
  ConnSettings s;
  for (PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    s.params.emplace_back(o->keyword, o->val);
    if (std::string_view(o->keyword) == "password" && *o->val != '\0') s.secrets.emplace_back(o->val);
  }
  if (auto raw = raw_url_password(conninfo); raw && !raw->empty()) s.secrets.push_back(*raw);
  if (const char* env = std::getenv("PGPASSWORD"); env != nullptr && *env != '\0') {
    s.secrets.emplace_back(env);
  }
  s.redacted = scrub_secrets(redacted_url(s.params), s.secrets);
  return s;
}

std::string redact_conninfo(std::string_view conninfo) {
  auto parsed = parse_conninfo(conninfo);
  if (!parsed.ok()) return "postgres://<invalid conninfo>";
  return parsed->redacted;
}

}  // namespace sh::pg
