// Where AWS credentials come from, in the order the AWS SDKs look:
//   1. explicit options           (StaticCredentialsProvider)
//   2. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
//   3. shared credentials file    (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
//                                  profile from options, AWS_PROFILE or "default")
//   4. container endpoint         (AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI,
//                                  Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
//                                  or AWS_CONTAINER_AUTHORIZATION_TOKEN) — ECS, EKS Pod Identity
//   5. EC2 instance metadata, IMDSv2 (off with AWS_EC2_METADATA_DISABLED=true;
//                                  AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the address)
// CachingCredentials keeps the answer and refreshes it before it expires.
// Nothing here logs or returns a secret in an error message.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "core/storage/s3/http_transport.h"
#include "core/storage/s3/sigv4.h"

namespace sh::s3 {

// Environment lookup seam (tests pass a map).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_environment();

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // kNotFound: this source is not configured here (the chain moves on).
  // Any other error: the source is configured but failed.
  virtual Result<Credentials> fetch(Deadline deadline) = 0;
  virtual std::string_view name() const = 0;
};

class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(Credentials creds);
  Result<Credentials> fetch(Deadline deadline) override;
  std::string_view name() const override { return "static"; }

 private:
  Credentials creds_;
};

class EnvCredentialsProvider final : public CredentialsProvider {
 public:
  explicit EnvCredentialsProvider(EnvLookup env);
  Result<Credentials> fetch(Deadline deadline) override;
  std::string_view name() const override { return "environment"; }

 private:
  EnvLookup env_;
};

// Parses the INI text of a shared credentials file and returns `profile`
// (aws_access_key_id, aws_secret_access_key, aws_session_token). kNotFound
// when the profile is absent, kInvalidArgument when it lacks a key.
Result<Credentials> parse_shared_credentials(std::string_view text, std::string_view profile);

class ProfileCredentialsProvider final : public CredentialsProvider {
 public:
  // `profile` "" = AWS_PROFILE, else "default".
  ProfileCredentialsProvider(EnvLookup env, std::string profile);
  Result<Credentials> fetch(Deadline deadline) override;
  std::string_view name() const override { return "profile"; }

 private:
  EnvLookup env_;
  std::string profile_;
};

// Parses {"AccessKeyId","SecretAccessKey","Token","Expiration"} (container
// endpoint and IMDS answers). kBadResponse when a field is missing or malformed.
Result<Credentials> parse_credentials_json(std::string_view body, std::string_view source);

class ContainerCredentialsProvider final : public CredentialsProvider {
 public:
  ContainerCredentialsProvider(EnvLookup env, std::shared_ptr<HttpTransport> transport);
  Result<Credentials> fetch(Deadline deadline) override;
  std::string_view name() const override { return "container"; }

 private:
  EnvLookup env_;
  std::shared_ptr<HttpTransport> transport_;
};

class ImdsCredentialsProvider final : public CredentialsProvider {
 public:
  ImdsCredentialsProvider(EnvLookup env, std::shared_ptr<HttpTransport> transport);
  Result<Credentials> fetch(Deadline deadline) override;
  std::string_view name() const override { return "imds"; }

 private:
  EnvLookup env_;
  std::shared_ptr<HttpTransport> transport_;
};

// Tries providers in order; the first that answers wins. When none is
// configured: kPermissionDenied listing the sources tried.
class ChainCredentialsProvider final : public CredentialsProvider {
 public:
  explicit ChainCredentialsProvider(std::vector<std::unique_ptr<CredentialsProvider>> providers);
  Result<Credentials> fetch(Deadline deadline) override;
  std::string_view name() const override { return "chain"; }

 private:
  std::vector<std::unique_ptr<CredentialsProvider>> providers_;
};

// The standard chain above. `explicit_creds` is used when non-empty.
std::unique_ptr<CredentialsProvider> make_default_credentials_chain(
    const Credentials& explicit_creds, std::string profile, EnvLookup env,
    std::shared_ptr<HttpTransport> transport);

// Thread-safe cache in front of a provider. Credentials with an expiration are
// refreshed once less than `refresh_before_ms` remain; if that refresh fails
// while the old ones are still valid, the old ones are kept.
// One caller at a time fetches, outside the lock and within its own deadline;
// meanwhile other callers get the still-valid credentials at once, or — when
// there are none — wait for the fetch until their own deadline (kTimeout).
class CachingCredentials {
 public:
  using OnRefresh = std::function<void(std::string_view provider)>;
  CachingCredentials(std::unique_ptr<CredentialsProvider> provider, std::shared_ptr<Clock> clock,
                     OnRefresh on_refresh = {}, int64_t refresh_before_ms = 5 * 60 * 1000);

  Result<Credentials> get(Deadline deadline);
  // Forgets the cached credentials.
  void invalidate();
  // Forgets the cached credentials if they are `rejected` (same key id and
  // token), e.g. after an ExpiredToken answer to a request signed with them.
  void invalidate(const Credentials& rejected);

 private:
  Result<Credentials> fetch_outside_lock(Deadline deadline);

  std::unique_ptr<CredentialsProvider> provider_;
  std::shared_ptr<Clock> clock_;
  OnRefresh on_refresh_;
  int64_t refresh_before_ms_;
  std::mutex mu_;
  std::condition_variable refreshed_;  // a fetch ended (refreshing_ cleared)
  bool refreshing_ = false;            // guarded by mu_: one caller is fetching
  std::optional<Credentials> cached_;  // guarded by mu_
  // After a failed lookup, the next one waits this long: a host without
  // credentials must not ask IMDS (and wait for its timeout) on every operation.
  static constexpr int64_t kFailureCooldownMs = 2000;
  int64_t next_attempt_unix_ms_ = 0;  // guarded by mu_
  std::optional<Error> last_error_;   // guarded by mu_
};

}  // namespace sh::s3
