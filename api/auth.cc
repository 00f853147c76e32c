#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/text/ascii.h"

namespace sh::api {
namespace {

constexpr size_t kMinTokenBytes = 16;
constexpr size_t kMaxTokenBytes = 512;

std::array<unsigned char, 32> digest_of(std::string_view token) {
  std::array<unsigned char, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data());
  return d;
}

bool visible_ascii(std::string_view s) {
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Scope route_scope(RouteId id, std::string_view method, bool metrics_auth) {
  if (id == RouteId::kMetrics) return metrics_auth ? Scope::kRead : Scope::kNone;
  // Data routes need a token: POST (committing offsets) the commit scope.
  if (!route_spec(id).data) return Scope::kNone;
  return method == "POST" ? Scope::kCommit : Scope::kRead;
}

Result<std::shared_ptr<const TokenAuth>> TokenAuth::parse(std::string_view text, std::string_view source) {
  auto auth = std::make_shared<TokenAuth>();
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) {
      return invalid_argument(fmt::format("{} line {}: expected '<read|commit> <token>'", source, line_no));
    }
    std::string_view scope_word = line.substr(0, sp);
    std::string_view token = trim(line.substr(sp + 1));
    Scope scope;
    if (scope_word == "read") {
      scope = Scope::kRead;
    } else if (scope_word == "commit") {
      scope = Scope::kCommit;
    } else {
      return invalid_argument(
          fmt::format("{} line {}: scope must be 'read' or 'commit'", source, line_no));
    }
    if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes || !visible_ascii(token)) {
      return invalid_argument(fmt::format(
          "{} line {}: a token must be {} to {} visible ASCII characters without spaces", source,
          line_no, kMinTokenBytes, kMaxTokenBytes));
    }
    const auto d = digest_of(token);
    for (const Entry& e : auth->entries_) {
      if (CRYPTO_memcmp(e.digest.data(), d.data(), d.size()) == 0) {
        return invalid_argument(fmt::format("{} line {}: token listed twice", source, line_no));
      }
    }
    auth->entries_.push_back({d, scope});
  }
  if (auth->entries_.empty()) return invalid_argument(fmt::format("{}: no tokens", source));
  return std::shared_ptr<const TokenAuth>(std::move(auth));
}

Result<std::shared_ptr<const TokenAuth>> TokenAuth::load_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalid_argument(fmt::format("cannot read token file {}", path));
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return invalid_argument(fmt::format("cannot read token file {}", path));
  return parse(ss.str(), path);
}

TokenAuth::Outcome TokenAuth::check(const std::string* authorization, Scope needed) const {
  if (authorization == nullptr) return Outcome::kMissing;
  std::string_view h = trim(*authorization);
  if (h.size() < 7 || !text::iequals(h.substr(0, 6), "bearer") || (h[6] != ' ' && h[6] != '\t')) {
    return Outcome::kMissing;  // no bearer credentials (RFC 6750 §3: no error code)
  }
  std::string_view token = trim(h.substr(7));
  if (token.empty()) return Outcome::kMissing;
  const auto d = digest_of(token);
  // Every entry is compared, match or not.
  bool read_ok = false;
  bool commit_ok = false;
  for (const Entry& e : entries_) {
    const bool match = CRYPTO_memcmp(e.digest.data(), d.data(), d.size()) == 0;
    read_ok |= match;
    commit_ok |= match && e.scope == Scope::kCommit;
  }
  if (!read_ok) return Outcome::kInvalid;
  if (needed == Scope::kCommit && !commit_ok) return Outcome::kInsufficientScope;
  return Outcome::kAllowed;
}

size_t TokenAuth::read_tokens() const {
  size_t n = 0;
  for (const Entry& e : entries_) n += e.scope == Scope::kRead ? 1 : 0;
  return n;
}

size_t TokenAuth::commit_tokens() const { return entries_.size() - read_tokens(); }

}  // namespace sh::api
