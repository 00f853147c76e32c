#include "core/storage/s3/http_types.h"

#include <fmt/format.h>

#include "core/storage/s3/sigv4.h"
#include "core/storage/s3/uri_encoding.h"
#include "core/text/ascii.h"

namespace sh::s3 {

std::string TransportRequest::host_header() const {
  const bool default_port = port == 0 || (scheme == "http" && port == 80) ||
                            (scheme == "https" && port == 443);
  return default_port ? host : fmt::format("{}:{}", host, port);
}

std::string TransportRequest::encoded_target() const {
  std::string t = SigV4Signer::canonical_uri(path);
  const std::string q = SigV4Signer::canonical_query(query);
  if (!q.empty()) t.append("?").append(q);
  return t;
}

std::string TransportRequest::url() const {
  if (port == 0) return fmt::format("{}://{}{}", scheme, host, encoded_target());
  return fmt::format("{}://{}:{}{}", scheme, host, port, encoded_target());
}

std::optional<std::string> TransportRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (text::iequals(k, name)) return v;
  }
  return std::nullopt;
}

void TransportRequest::set_header(std::string_view name, std::string value) {
  std::erase_if(headers, [&](const auto& h) { return text::iequals(h.first, name); });
  headers.emplace_back(std::string(name), std::move(value));
}

std::optional<std::string> TransportResponse::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return std::nullopt;
}

Result<UrlParts> parse_url(std::string_view url) {
  UrlParts out;
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return invalid_argument(fmt::format("URL without scheme: {}", url));
  }
  out.scheme = text::ascii_lowered(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") {
    return invalid_argument(fmt::format("URL scheme must be http or https: {}", url));
  }
  const std::string_view rest = url.substr(sep + 3);
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) {
    return invalid_argument("URL must not contain user information");
  }
  if (out.path.find_first_of("?#") != std::string::npos) {
    return invalid_argument(fmt::format("URL must not contain a query or fragment: {}", url));
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalid_argument(fmt::format("bad IPv6 host in URL {}", url));
    }
    out.host = std::string(authority.substr(0, close + 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid_argument(fmt::format("bad host in URL {}", url));
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty() || out.host.find_first_of("?#") != std::string::npos) {
    return invalid_argument(fmt::format("URL without host: {}", url));
  }
  out.host = text::ascii_lowered(out.host);
  if (!port_text.empty()) {
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) {
        return invalid_argument(fmt::format("bad port in URL {}", url));
      }
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return invalid_argument(fmt::format("bad port in URL {}", url));
    out.port = port;
  }
  return out;
}

}  // namespace sh::s3
