#include "core/storage/s3/credentials.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/storage/s3/aws_time.h"
#include "core/text/ascii.h"

namespace sh::s3 {
namespace {

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string env_or(const EnvLookup& env, const std::string& name, std::string fallback = "") {
  auto v = env(name);
  return v && !v->empty() ? *v : fallback;
}

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

int64_t timeout_for(const Deadline& d, int64_t cap_ms) { return std::min(cap_ms, d.remaining_ms()); }

Result<TransportRequest> request_for(std::string method, std::string_view base_url,
                                     std::string_view path) {
  SH_ASSIGN_OR_RETURN(UrlParts u, parse_url(base_url));
  TransportRequest req;
  req.method = std::move(method);
  req.scheme = u.scheme;
  req.host = u.host;
  req.port = u.port;
  std::string p = u.path;
  while (!p.empty() && p.back() == '/' && !path.empty()) p.pop_back();
  p += path;
  req.path = p.empty() ? "/" : p;
  req.set_header("Host", req.host_header());
  return req;
}

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

// ---- static / environment -------------------------------------------------

StaticCredentialsProvider::StaticCredentialsProvider(Credentials creds) : creds_(std::move(creds)) {
  creds_.provider = "static";
}

Result<Credentials> StaticCredentialsProvider::fetch(Deadline) {
  if (creds_.empty()) return not_found("no explicit credentials");
  return creds_;
}

EnvCredentialsProvider::EnvCredentialsProvider(EnvLookup env) : env_(std::move(env)) {}

Result<Credentials> EnvCredentialsProvider::fetch(Deadline) {
  Credentials c;
  c.access_key_id = env_or(env_, "AWS_ACCESS_KEY_ID");
  c.secret_access_key = env_or(env_, "AWS_SECRET_ACCESS_KEY");
  c.session_token = env_or(env_, "AWS_SESSION_TOKEN");
  c.provider = "environment";
  if (c.access_key_id.empty() && c.secret_access_key.empty()) {
    return not_found("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set");
  }
  if (c.empty()) {
    return Error(Errc::kPermissionDenied,
                 "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set", false);
  }
  return c;
}

// ---- shared credentials file ------------------------------------------------

Result<Credentials> parse_shared_credentials(std::string_view text, std::string_view profile) {
  Credentials c;
  c.provider = "profile";
  bool in_profile = false, found = false;
  std::istringstream in{std::string(text)};
  std::string raw;
  while (std::getline(in, raw)) {
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        in_profile = false;
        continue;
      }
      std::string name = trim(std::string_view(line).substr(1, line.size() - 2));
      if (name.rfind("profile ", 0) == 0) name = trim(std::string_view(name).substr(8));
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = text::ascii_lowered(trim(std::string_view(line).substr(0, eq)));
    std::string value = trim(std::string_view(line).substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key_id = value;
    if (key == "aws_secret_access_key") c.secret_access_key = value;
    if (key == "aws_session_token") c.session_token = value;
  }
  if (!found) return not_found(fmt::format("profile [{}] not in the credentials file", profile));
  if (c.empty()) {
    return invalid_argument(
        fmt::format("profile [{}] lacks aws_access_key_id or aws_secret_access_key", profile));
  }
  return c;
}

ProfileCredentialsProvider::ProfileCredentialsProvider(EnvLookup env, std::string profile)
    : env_(std::move(env)), profile_(std::move(profile)) {}

Result<Credentials> ProfileCredentialsProvider::fetch(Deadline) {
  std::string path = env_or(env_, "AWS_SHARED_CREDENTIALS_FILE");
  const bool explicit_path = !path.empty();
  if (path.empty()) {
    std::string home = env_or(env_, "HOME");
    if (home.empty()) return not_found("no HOME for ~/.aws/credentials");
    path = fmt::format("{}/.aws/credentials", home);
  }
  std::ifstream f(path);
  if (!f) {
    if (explicit_path) {
      return Error(Errc::kPermissionDenied,
                   fmt::format("cannot read AWS_SHARED_CREDENTIALS_FILE {}", path), false);
    }
    return not_found(fmt::format("no {}", path));
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string profile = !profile_.empty() ? profile_ : env_or(env_, "AWS_PROFILE", "default");
  auto r = parse_shared_credentials(ss.str(), profile);
  if (!r.ok()) {
    Error e = std::move(r).error();
    // A profile named explicitly must exist; the implicit "default" may not.
    if (e.code() == Errc::kNotFound && profile != "default") {
      return Error(Errc::kPermissionDenied, fmt::format("{} ({})", e.message(), path), false);
    }
    return e.prefix(path);
  }
  return r;
}

// ---- JSON answers of the HTTP providers --------------------------------------

Result<Credentials> parse_credentials_json(std::string_view body, std::string_view source) {
  auto bad = [&](const std::string& m) {
    return Error(Errc::kBadResponse, fmt::format("{} credentials answer: {}", source, m), false);
  };
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (j.contains("Code") && j["Code"].is_string() && j["Code"].get<std::string>() != "Success") {
    return bad(fmt::format("Code is {}", j["Code"].get<std::string>()));
  }
  Credentials c;
  auto field = [&](const char* name, std::string* out, bool required) -> bool {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return !required;
    *out = it->get<std::string>();
    return !required || !out->empty();
  };
  if (!field("AccessKeyId", &c.access_key_id, true)) return bad("missing AccessKeyId");
  if (!field("SecretAccessKey", &c.secret_access_key, true)) return bad("missing SecretAccessKey");
  field("Token", &c.session_token, false);
  std::string expiration;
  field("Expiration", &expiration, false);
  if (!expiration.empty()) {
    auto t = parse_iso8601(expiration);
    if (!t) return bad("malformed Expiration");
    c.expiration_unix_ms = *t;
  }
  c.provider = std::string(source);
  return c;
}

// ---- container endpoint ----------------------------------------------------

ContainerCredentialsProvider::ContainerCredentialsProvider(EnvLookup env,
                                                           std::shared_ptr<HttpTransport> transport)
    : env_(std::move(env)), transport_(std::move(transport)) {}

Result<Credentials> ContainerCredentialsProvider::fetch(Deadline deadline) {
  std::string url = env_or(env_, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (url.empty()) {
    std::string rel = env_or(env_, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    if (rel.empty()) return not_found("no container credentials endpoint configured");
    url = fmt::format("http://169.254.170.2{}", rel);
  }
  std::string token;
  std::string token_file = env_or(env_, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  if (!token_file.empty()) {
    std::ifstream f(token_file);
    if (!f) {
      return Error(Errc::kPermissionDenied,
                   fmt::format("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}", token_file),
                   false);
    }
    std::stringstream ss;
    ss << f.rdbuf();
    token = trim(ss.str());
  } else {
    token = env_or(env_, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
  }
  if (has_line_break(token)) {
    return Error(Errc::kPermissionDenied, "container authorization token contains a line break", false);
  }

  // Split the query off: parse_url refuses one, but the endpoint may carry it.
  std::string query;
  if (size_t q = url.find('?'); q != std::string::npos) {
    query = url.substr(q + 1);
    url.resize(q);
  }
  auto req_or = request_for("GET", url, "");
  if (!req_or.ok()) {
    return Error(Errc::kPermissionDenied,
                 fmt::format("bad AWS_CONTAINER_CREDENTIALS_*_URI: {}", req_or.error().message()),
                 false);
  }
  TransportRequest req = std::move(req_or).value();
  for (size_t pos = 0; !query.empty() && pos <= query.size();) {
    size_t amp = query.find('&', pos);
    std::string_view pair = std::string_view(query).substr(pos, amp - pos);
    size_t eq = pair.find('=');
    req.query.emplace_back(std::string(pair.substr(0, eq)),
                           eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  if (!token.empty()) req.set_header("Authorization", token);
  req.set_header("Accept", "application/json");
  SendOptions so;
  so.timeout_ms = timeout_for(deadline, 5000);
  so.max_body_bytes = 64 * 1024;
  auto resp = transport_->send(req, so);
  if (!resp.ok()) {
    return Error(resp.error().code(),
                 fmt::format("container credentials endpoint: {}", resp.error().message()),
                 resp.error().retryable());
  }
  if (resp->status != 200) {
    return Error(resp->status >= 500 ? Errc::kUnavailable : Errc::kPermissionDenied,
                 fmt::format("container credentials endpoint answered HTTP {}", resp->status),
                 resp->status >= 500);
  }
  return parse_credentials_json(resp->body, "container");
}

// ---- EC2 instance metadata (IMDSv2) -------------------------------------------

ImdsCredentialsProvider::ImdsCredentialsProvider(EnvLookup env, std::shared_ptr<HttpTransport> transport)
    : env_(std::move(env)), transport_(std::move(transport)) {}

Result<Credentials> ImdsCredentialsProvider::fetch(Deadline deadline) {
  if (text::iequals(env_or(env_, "AWS_EC2_METADATA_DISABLED"), "true")) {
    return not_found("instance metadata disabled (AWS_EC2_METADATA_DISABLED)");
  }
  const std::string base = env_or(env_, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://169.254.169.254");
  constexpr int64_t kImdsTimeoutMs = 1000;
  SendOptions so;
  so.max_body_bytes = 64 * 1024;

  // 1. session token
  SH_ASSIGN_OR_RETURN(TransportRequest token_req, request_for("PUT", base, "/latest/api/token"));
  token_req.set_header("X-aws-ec2-metadata-token-ttl-seconds", "21600");
  so.timeout_ms = timeout_for(deadline, kImdsTimeoutMs);
  auto token_resp = transport_->send(token_req, so);
  if (!token_resp.ok()) {
    // Not on EC2 (or no route to the service): this source is simply absent.
    return not_found(fmt::format("no instance metadata service at {}: {}", base,
                                 token_resp.error().message()));
  }
  if (token_resp->status != 200 || token_resp->body.empty() || has_line_break(token_resp->body)) {
    return not_found(fmt::format("instance metadata service refused an IMDSv2 token (HTTP {})",
                                 token_resp->status));
  }
  const std::string token = token_resp->body;

  // 2. role name
  SH_ASSIGN_OR_RETURN(TransportRequest role_req,
                      request_for("GET", base, "/latest/meta-data/iam/security-credentials/"));
  role_req.set_header("X-aws-ec2-metadata-token", token);
  so.timeout_ms = timeout_for(deadline, kImdsTimeoutMs);
  auto role_resp = transport_->send(role_req, so);
  if (!role_resp.ok()) {
    return Error(role_resp.error().code(),
                 fmt::format("instance metadata: {}", role_resp.error().message()),
                 role_resp.error().retryable());
  }
  if (role_resp->status == 404) return not_found("no IAM role attached to this instance");
  if (role_resp->status != 200) {
    return unavailable(
        fmt::format("instance metadata role lookup answered HTTP {}", role_resp->status));
  }
  std::string role = trim(role_resp->body.substr(0, role_resp->body.find('\n')));
  if (role.empty() || role.find('/') != std::string::npos) {
    return Error(Errc::kBadResponse, "instance metadata returned no usable role name", false);
  }

  // 3. credentials of that role
  const std::string cred_path = fmt::format("/latest/meta-data/iam/security-credentials/{}", role);
  SH_ASSIGN_OR_RETURN(TransportRequest cred_req, request_for("GET", base, cred_path));
  cred_req.set_header("X-aws-ec2-metadata-token", token);
  so.timeout_ms = timeout_for(deadline, kImdsTimeoutMs);
  auto cred_resp = transport_->send(cred_req, so);
  if (!cred_resp.ok()) {
    return Error(cred_resp.error().code(),
                 fmt::format("instance metadata: {}", cred_resp.error().message()),
                 cred_resp.error().retryable());
  }
  if (cred_resp->status != 200) {
    return unavailable(fmt::format("instance metadata credentials of role {} answered HTTP {}",
                                   role, cred_resp->status));
  }
  return parse_credentials_json(cred_resp->body, "imds");
}

// ---- chain -----------------------------------------------------------------

ChainCredentialsProvider::ChainCredentialsProvider(
    std::vector<std::unique_ptr<CredentialsProvider>> providers)
    : providers_(std::move(providers)) {}

Result<Credentials> ChainCredentialsProvider::fetch(Deadline deadline) {
  std::string tried;
  for (auto& p : providers_) {
    auto r = p->fetch(deadline);
    if (r.ok()) return r;
    if (r.error().code() != Errc::kNotFound) return std::move(r).error().prefix(p->name());
    if (!tried.empty()) tried += "; ";
    tried += fmt::format("{}: {}", p->name(), r.error().message());
  }
  return Error(Errc::kPermissionDenied, fmt::format("no AWS credentials found ({})", tried), false);
}

std::unique_ptr<CredentialsProvider> make_default_credentials_chain(
    const Credentials& explicit_creds, std::string profile, EnvLookup env,
    std::shared_ptr<HttpTransport> transport) {
  std::vector<std::unique_ptr<CredentialsProvider>> ps;
  if (!explicit_creds.empty()) ps.push_back(std::make_unique<StaticCredentialsProvider>(explicit_creds));
  ps.push_back(std::make_unique<EnvCredentialsProvider>(env));
  ps.push_back(std::make_unique<ProfileCredentialsProvider>(env, std::move(profile)));
  ps.push_back(std::make_unique<ContainerCredentialsProvider>(env, transport));
  ps.push_back(std::make_unique<ImdsCredentialsProvider>(env, transport));
  return std::make_unique<ChainCredentialsProvider>(std::move(ps));
}

// ---- cache -----------------------------------------------------------------

CachingCredentials::CachingCredentials(std::unique_ptr<CredentialsProvider> provider,
                                       std::shared_ptr<Clock> clock, OnRefresh on_refresh,
                                       int64_t refresh_before_ms)
    : provider_(std::move(provider)),
      clock_(std::move(clock)),
      on_refresh_(std::move(on_refresh)),
      refresh_before_ms_(refresh_before_ms) {}

Result<Credentials> CachingCredentials::fetch_outside_lock(Deadline deadline) {
  // No exception may leave with refreshing_ set: every later caller would wait on it.
  try {
    return provider_->fetch(deadline);
  } catch (const std::exception& e) {
    return Error(Errc::kInternal, fmt::format("credentials provider {} failed: {}",
                                              provider_->name(), e.what()));
  } catch (...) {
    return Error(Errc::kInternal,
                 fmt::format("credentials provider {} failed", provider_->name()));
  }
}

Result<Credentials> CachingCredentials::get(Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const int64_t now = clock_->now_unix_ms();
    if (cached_ &&
        (!cached_->expiration_unix_ms || now < *cached_->expiration_unix_ms - refresh_before_ms_)) {
      return *cached_;
    }
    const bool usable = cached_ && cached_->expiration_unix_ms && now < *cached_->expiration_unix_ms;
    if (now < next_attempt_unix_ms_ && last_error_) {
      if (usable) return *cached_;  // a refresh just failed: keep these for now
      return *last_error_;
    }
    if (!refreshing_) break;
    // Another caller is fetching: still-valid credentials serve meanwhile; without
    // them, wait for its answer until our own deadline.
    if (usable) return *cached_;
    if (deadline.expired()) {
      return Error(Errc::kTimeout,
                   "S3 credentials: the refresh in progress did not finish before the deadline",
                   /*retryable=*/true);
    }
    // Bounded waits: the deadline may run on a test clock the condition variable cannot see.
    refreshed_.wait_for(lock, std::min<Millis>(deadline.remaining(), Millis(10)));
  }
  refreshing_ = true;
  lock.unlock();
  Result<Credentials> fresh = fetch_outside_lock(deadline);
  lock.lock();
  refreshing_ = false;
  refreshed_.notify_all();

  const int64_t now = clock_->now_unix_ms();
  const bool usable = cached_ && cached_->expiration_unix_ms && now < *cached_->expiration_unix_ms;
  if (!fresh.ok()) {
    next_attempt_unix_ms_ = now + kFailureCooldownMs;
    last_error_ = fresh.error();
    // The provider's message may name its endpoint (IMDS, container): debug only.
    spdlog::debug("S3 credentials lookup failed: {}", fresh.error().message());
    if (usable) {
      spdlog::warn("S3 credentials refresh failed ({}), keeping current ones until they expire",
                   errc_name(fresh.error().code()));
      return *cached_;
    }
    spdlog::warn("S3 credentials lookup from {} failed ({}); not asked again for {} ms",
                 provider_->name(), errc_name(fresh.error().code()), kFailureCooldownMs);
    cached_.reset();
    return std::move(fresh).error();
  }
  if (fresh->expiration_unix_ms && *fresh->expiration_unix_ms <= now) {
    return Error(Errc::kPermissionDenied,
                 fmt::format("credentials from {} are already expired", fresh->provider), false);
  }
  next_attempt_unix_ms_ = 0;
  last_error_.reset();
  cached_ = std::move(fresh).value();
  spdlog::info("S3 credentials from {} (access key {}){}", cached_->provider,
               cached_->redacted_key_id(), cached_->session_token.empty() ? "" : ", temporary");
  if (on_refresh_) on_refresh_(cached_->provider);
  return *cached_;
}

void CachingCredentials::invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  cached_.reset();
  next_attempt_unix_ms_ = 0;
  last_error_.reset();
}

void CachingCredentials::invalidate(const Credentials& rejected) {
  std::lock_guard<std::mutex> lock(mu_);
  // Concurrent operations rejected with the same old token refresh once, not once each.
  if (cached_ && (cached_->access_key_id != rejected.access_key_id ||
                  cached_->session_token != rejected.session_token)) {
    return;
  }
  cached_.reset();
  next_attempt_unix_ms_ = 0;
  last_error_.reset();
}

}  // namespace sh::s3
