#include "core/storage/s3/http_types.h"

#include "core/storage/s3/sigv4.h"
#include "core/storage/s3/uri_encoding.h"

namespace sh::s3 {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string HttpRequest::host_header() const {
  bool default_port = port == 0 || (scheme == "http" && port == 80) ||
                      (scheme == "https" && port == 443);
  return default_port ? host : host + ":" + std::to_string(port);
}

std::string HttpRequest::encoded_target() const {
  std::string t = SigV4Signer::canonical_uri(path);
  std::string q = SigV4Signer::canonical_query(query);
  if (!q.empty()) t += "?" + q;
  return t;
}

std::string HttpRequest::url() const {
  std::string u = scheme + "://" + host;
  if (port != 0) u += ":" + std::to_string(port);
  return u + encoded_target();
}

std::optional<std::string> HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

void HttpRequest::set_header(std::string_view name, std::string value) {
  for (auto it = headers.begin(); it != headers.end();) {
    if (iequals(it->first, name)) {
      it = headers.erase(it);
    } else {
      ++it;
    }
  }
  headers.emplace_back(std::string(name), std::move(value));
}

std::optional<std::string> HttpResponse::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return std::nullopt;
}

}  // namespace sh::s3

namespace sh::s3 {

Result<UrlParts> parse_url(std::string_view url) {
  UrlParts out;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return invalid_argument("URL without scheme: " + std::string(url));
  out.scheme = std::string(url.substr(0, sep));
  for (char& c : out.scheme) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (out.scheme != "http" && out.scheme != "https") {
    return invalid_argument("URL scheme must be http or https: " + std::string(url));
  }
  std::string_view rest = url.substr(sep + 3);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) {
    return invalid_argument("URL must not contain user information");
  }
  if (out.path.find_first_of("?#") != std::string::npos) {
    return invalid_argument("URL must not contain a query or fragment: " + std::string(url));
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid_argument("bad IPv6 host in URL " + std::string(url));
    out.host = std::string(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid_argument("bad host in URL " + std::string(url));
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty() || out.host.find_first_of("?#") != std::string::npos) {
    return invalid_argument("URL without host: " + std::string(url));
  }
  for (char& c : out.host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!port_text.empty()) {
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) return invalid_argument("bad port in URL " + std::string(url));
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return invalid_argument("bad port in URL " + std::string(url));
    out.port = port;
  }
  return out;
}

}  // namespace sh::s3
