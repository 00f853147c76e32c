#include "core/storage/s3/sigv4.h"

#include <algorithm>
#include <iterator>
#include <map>

#include <fmt/format.h>

#include "core/storage/s3/aws_time.h"
#include "core/storage/s3/crypto.h"
#include "core/storage/s3/uri_encoding.h"
#include "core/text/ascii.h"

namespace sh::s3 {
namespace {

// Trims leading/trailing whitespace and collapses inner runs to one space.
std::string trim_all(std::string_view v) {
  std::string out;
  bool in_space = false;
  for (char c : v) {
    bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (ws) {
      in_space = !out.empty();
      continue;
    }
    if (in_space) out.push_back(' ');
    in_space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string Credentials::redacted_key_id() const {
  if (access_key_id.size() <= 4) return "****";
  return fmt::format("{}{}", std::string(access_key_id.size() - 4, '*'),
                     std::string_view(access_key_id).substr(access_key_id.size() - 4));
}

SigV4Signer::SigV4Signer(std::string region, std::string service, std::shared_ptr<Clock> clock)
    : region_(std::move(region)), service_(std::move(service)), clock_(std::move(clock)) {}

std::string SigV4Signer::canonical_uri(std::string_view raw_path) {
  if (raw_path.empty()) return "/";
  return uri_encode(raw_path, /*keep_slash=*/true);
}

std::string SigV4Signer::canonical_query(const QueryParams& params) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(params.size());
  for (const auto& [k, v] : params) enc.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

bool SigV4Signer::is_signed_header(std::string_view name) {
  std::string n = text::ascii_lowered(name);
  return n == "host" || n == "range" || n == "content-md5" || n.rfind("x-amz-", 0) == 0;
}

CanonicalHeaders SigV4Signer::canonical_headers(const HeaderList& headers) {
  std::map<std::string, std::string> merged;  // sorted by lower-case name
  for (const auto& [name, value] : headers) {
    if (!is_signed_header(name)) continue;
    std::string lname = text::ascii_lowered(name);
    auto [it, inserted] = merged.try_emplace(lname, trim_all(value));
    if (!inserted) it->second.append(",").append(trim_all(value));
  }
  CanonicalHeaders out;
  for (const auto& [name, value] : merged) {
    fmt::format_to(std::back_inserter(out.block), "{}:{}\n", name, value);
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers += name;
  }
  return out;
}

std::string SigV4Signer::canonical_request(std::string_view method, std::string_view uri,
                                           std::string_view query, const CanonicalHeaders& headers,
                                           std::string_view payload_hash) {
  std::string cr;
  cr.reserve(256 + headers.block.size());
  cr.append(method).push_back('\n');
  cr.append(uri).push_back('\n');
  cr.append(query).push_back('\n');
  cr.append(headers.block).push_back('\n');
  cr.append(headers.signed_headers).push_back('\n');
  cr.append(payload_hash);
  return cr;
}

std::string SigV4Signer::credential_scope(std::string_view date, std::string_view region,
                                          std::string_view service) {
  std::string s(date);
  s.append("/").append(region).append("/").append(service).append("/aws4_request");
  return s;
}

std::string SigV4Signer::string_to_sign(std::string_view amz_date, std::string_view scope,
                                        std::string_view canonical_request) {
  std::string s = "AWS4-HMAC-SHA256\n";
  s.append(amz_date).push_back('\n');
  s.append(scope).push_back('\n');
  s += sha256_hex(canonical_request);
  return s;
}

std::string SigV4Signer::derive_signing_key(std::string_view secret, std::string_view date,
                                            std::string_view region, std::string_view service) {
  std::string k_secret = "AWS4";
  k_secret.append(secret);
  std::string k_date = hmac_sha256(k_secret, date);
  std::string k_region = hmac_sha256(k_date, region);
  std::string k_service = hmac_sha256(k_region, service);
  return hmac_sha256(k_service, "aws4_request");
}

std::string SigV4Signer::signature(std::string_view signing_key, std::string_view string_to_sign) {
  return hex_encode(hmac_sha256(signing_key, string_to_sign));
}

std::string SigV4Signer::signing_key(std::string_view secret, std::string_view date) const {
  std::lock_guard<std::mutex> lock(key_mu_);
  if (cached_date_ != date || cached_secret_ != secret || cached_key_.empty()) {
    cached_key_ = derive_signing_key(secret, date, region_, service_);
    cached_date_ = std::string(date);
    cached_secret_ = std::string(secret);
  }
  return cached_key_;
}

void SigV4Signer::sign(TransportRequest* req, const Credentials& creds) const {
  sign_at(req, creds, now_unix_ms());
}

void SigV4Signer::sign_at(TransportRequest* req, const Credentials& creds, int64_t unix_ms) const {
  const std::string amz_date = format_amz_date(unix_ms);
  const std::string date = amz_date.substr(0, 8);
  req->set_header("x-amz-date", amz_date);
  std::optional<std::string> payload = req->header("x-amz-content-sha256");
  if (!payload) {
    payload = req->body.empty() ? std::string(kEmptyPayloadSha256) : sha256_hex(req->body);
    req->set_header("x-amz-content-sha256", *payload);
  }
  if (!creds.session_token.empty()) {
    req->set_header("x-amz-security-token", creds.session_token);
  } else {
    std::erase_if(req->headers,
                  [](const auto& h) { return text::iequals(h.first, "x-amz-security-token"); });
  }
  std::erase_if(req->headers,
                [](const auto& h) { return text::iequals(h.first, "authorization"); });

  const CanonicalHeaders ch = canonical_headers(req->headers);
  const std::string cr = canonical_request(req->method, canonical_uri(req->path),
                                           canonical_query(req->query), ch, *payload);
  const std::string scope = credential_scope(date, region_, service_);
  const std::string sts = string_to_sign(amz_date, scope, cr);
  const std::string sig = signature(signing_key(creds.secret_access_key, date), sts);
  req->headers.emplace_back("Authorization",
                            fmt::format("AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, "
                                        "Signature={}",
                                        creds.access_key_id, scope, ch.signed_headers, sig));
}

}  // namespace sh::s3
