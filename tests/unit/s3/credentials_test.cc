// Credentials providers: environment, shared file, and the HTTP-based ones
// (container endpoint, IMDSv2) against local servers speaking their JSON.
#include "core/storage/s3/credentials.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "core/storage/s3/curl_transport.h"
#include "tests/unit/s3/test_http_server.h"

namespace sh::s3 {
namespace {

using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

EnvLookup env_of(std::map<std::string, std::string> m) {
  return [m = std::move(m)](const std::string& n) -> std::optional<std::string> {
    auto it = m.find(n);
    return it == m.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

std::shared_ptr<HttpTransport> transport() {
  CurlTransportOptions o;
  o.connect_timeout_ms = 500;
  return std::make_shared<CurlTransport>(o);
}

std::string temp_file(const std::string& content) {
  char path[] = "/tmp/sh_creds_XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  std::ofstream(path) << content;
  return path;
}

constexpr char kJson[] =
    R"({"AccessKeyId":"ASIATESTKEY","SecretAccessKey":"sekrit/+=","Token":"tok==","Expiration":"2030-01-01T00:00:00Z"})";

TEST(EnvCredentials, ReadsKeysAndToken) {
  EnvCredentialsProvider p(env_of({{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "S"},
                                   {"AWS_SESSION_TOKEN", "T"}}));
  auto c = p.fetch({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "AKID");
  EXPECT_EQ(c->secret_access_key, "S");
  EXPECT_EQ(c->session_token, "T");
  EXPECT_EQ(EnvCredentialsProvider(env_of({})).fetch({}).error().code(), Errc::kNotFound);
  auto half = EnvCredentialsProvider(env_of({{"AWS_ACCESS_KEY_ID", "AKID"}})).fetch({});
  EXPECT_EQ(half.error().code(), Errc::kPermissionDenied);
}

TEST(SharedCredentialsFile, ParsesProfiles) {
  const char* ini =
      "# comment\n[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key=SDEFAULT\n\n"
      "[prod]\n  aws_access_key_id=AKPROD  \n; other comment\naws_secret_access_key = SPROD\n"
      "aws_session_token = TPROD\n[profile cfgstyle]\naws_access_key_id=A\naws_secret_access_key=B\n"
      "[broken]\naws_access_key_id=ONLY\n";
  auto d = parse_shared_credentials(ini, "default");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->access_key_id, "AKDEFAULT");
  EXPECT_EQ(d->secret_access_key, "SDEFAULT");
  auto p = parse_shared_credentials(ini, "prod");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->access_key_id, "AKPROD");
  EXPECT_EQ(p->session_token, "TPROD");
  EXPECT_TRUE(parse_shared_credentials(ini, "cfgstyle").ok());
  EXPECT_EQ(parse_shared_credentials(ini, "missing").error().code(), Errc::kNotFound);
  auto broken = parse_shared_credentials(ini, "broken");
  EXPECT_EQ(broken.error().code(), Errc::kInvalidArgument);
}

TEST(SharedCredentialsFile, ProviderUsesEnvFileAndProfile) {
  std::string path = temp_file("[default]\naws_access_key_id=AK1\naws_secret_access_key=S1\n"
                               "[other]\naws_access_key_id=AK2\naws_secret_access_key=S2\n");
  auto c = ProfileCredentialsProvider(env_of({{"AWS_SHARED_CREDENTIALS_FILE", path}}), "").fetch({});
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->access_key_id, "AK1");
  c = ProfileCredentialsProvider(env_of({{"AWS_SHARED_CREDENTIALS_FILE", path}, {"AWS_PROFILE", "other"}}), "")
          .fetch({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "AK2");
  auto missing = ProfileCredentialsProvider(env_of({{"AWS_SHARED_CREDENTIALS_FILE", path}}), "nope").fetch({});
  EXPECT_EQ(missing.error().code(), Errc::kPermissionDenied) << "an explicitly named profile must exist";
  auto no_home = ProfileCredentialsProvider(env_of({{"HOME", "/nonexistent-home"}}), "").fetch({});
  EXPECT_EQ(no_home.error().code(), Errc::kNotFound) << "no ~/.aws/credentials: chain moves on";
  unlink(path.c_str());
}

TEST(ContainerCredentials, FetchesJsonWithAuthorizationToken) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    auto it = r.headers.find("authorization");
    if (r.path != "/v2/credentials" || it == r.headers.end() || it->second != "Bearer secret-token") {
      resp.status = 401;
      return resp;
    }
    resp.body = kJson;
    return resp;
  });
  ASSERT_TRUE(server.ok());
  ContainerCredentialsProvider p(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", server.base_url() + "/v2/credentials"},
                                         {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer secret-token"}}),
                                 transport());
  auto c = p.fetch(Deadline::after(Millis(5000)));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->access_key_id, "ASIATESTKEY");
  EXPECT_EQ(c->secret_access_key, "sekrit/+=");
  EXPECT_EQ(c->session_token, "tok==");
  EXPECT_EQ(c->expiration_unix_ms.value_or(0), 1893456000000);
  EXPECT_EQ(c->provider, "container");

  // The token file wins over the variable (EKS Pod Identity mounts a file).
  std::string token_file = temp_file("Bearer secret-token\n");
  ContainerCredentialsProvider from_file(
      env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", server.base_url() + "/v2/credentials"},
              {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong"},
              {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file}}),
      transport());
  EXPECT_TRUE(from_file.fetch(Deadline::after(Millis(5000))).ok());
  unlink(token_file.c_str());

  ContainerCredentialsProvider wrong(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", server.base_url() + "/v2/credentials"},
                                             {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer nope"}}),
                                     transport());
  auto denied = wrong.fetch(Deadline::after(Millis(5000)));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code(), Errc::kPermissionDenied);
  EXPECT_EQ(denied.error().message().find("nope"), std::string::npos) << "token leaked: " << denied.error().message();
  EXPECT_EQ(ContainerCredentialsProvider(env_of({}), transport()).fetch({}).error().code(), Errc::kNotFound);
}

TEST(ContainerCredentials, MalformedJsonIsBadResponse) {
  EXPECT_EQ(parse_credentials_json("{", "container").error().code(), Errc::kBadResponse);
  EXPECT_EQ(parse_credentials_json(R"({"AccessKeyId":"a"})", "container").error().code(), Errc::kBadResponse);
  EXPECT_EQ(parse_credentials_json(R"({"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"soon"})", "x")
                .error().code(),
            Errc::kBadResponse);
  auto fail = parse_credentials_json(R"({"Code":"Failed","AccessKeyId":"a","SecretAccessKey":"b"})", "imds");
  EXPECT_FALSE(fail.ok());
}

TEST(ImdsCredentials, TokenThenRoleThenCredentials) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    auto tok = r.headers.find("x-aws-ec2-metadata-token");
    if (r.method == "PUT" && r.path == "/latest/api/token") {
      if (r.headers.count("x-aws-ec2-metadata-token-ttl-seconds") == 0) {
        resp.status = 400;
      } else {
        resp.body = "IMDS-SESSION-TOKEN";
      }
      return resp;
    }
    if (tok == r.headers.end() || tok->second != "IMDS-SESSION-TOKEN") {
      resp.status = 401;
      return resp;
    }
    if (r.path == "/latest/meta-data/iam/security-credentials/") {
      resp.body = "my-role\n";
    } else if (r.path == "/latest/meta-data/iam/security-credentials/my-role") {
      resp.body = std::string(R"({"Code":"Success","Type":"AWS-HMAC",)") + (kJson + 1);
    } else {
      resp.status = 404;
    }
    return resp;
  });
  ASSERT_TRUE(server.ok());
  ImdsCredentialsProvider p(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", server.base_url()}}), transport());
  auto c = p.fetch(Deadline::after(Millis(5000)));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->access_key_id, "ASIATESTKEY");
  EXPECT_EQ(c->session_token, "tok==");
  EXPECT_EQ(c->provider, "imds");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].method, "PUT") << "IMDSv2 starts with a token PUT";

  ImdsCredentialsProvider disabled(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", server.base_url()},
                                           {"AWS_EC2_METADATA_DISABLED", "TRUE"}}),
                                   transport());
  EXPECT_EQ(disabled.fetch({}).error().code(), Errc::kNotFound);
  EXPECT_EQ(server.requests().size(), 3u) << "disabled IMDS must not be contacted";
}

TEST(ImdsCredentials, UnreachableServiceMeansNotConfigured) {
  // Port 1 on loopback: connection refused at once.
  ImdsCredentialsProvider p(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1"}}), transport());
  EXPECT_EQ(p.fetch(Deadline::after(Millis(2000))).error().code(), Errc::kNotFound);
}

TEST(CredentialsChain, FirstConfiguredSourceWinsAndNoneGivesPermissionDenied) {
  Credentials explicit_creds;
  explicit_creds.access_key_id = "AKEXPLICIT";
  explicit_creds.secret_access_key = "S";
  auto env = env_of({{"AWS_ACCESS_KEY_ID", "AKENV"}, {"AWS_SECRET_ACCESS_KEY", "SENV"},
                     {"AWS_EC2_METADATA_DISABLED", "true"}, {"HOME", "/nonexistent-home"}});
  auto c = make_default_credentials_chain(explicit_creds, "", env, transport())->fetch({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "AKEXPLICIT");
  c = make_default_credentials_chain({}, "", env, transport())->fetch({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "AKENV");
  auto none = make_default_credentials_chain(
                  {}, "", env_of({{"AWS_EC2_METADATA_DISABLED", "true"}, {"HOME", "/nonexistent-home"}}),
                  transport())
                  ->fetch({});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), Errc::kPermissionDenied);
  EXPECT_NE(none.error().message().find("no AWS credentials found"), std::string::npos) << none.error().message();
}

class CountingProvider final : public CredentialsProvider {
 public:
  explicit CountingProvider(std::shared_ptr<ManualClock> clock) : clock_(std::move(clock)) {}
  Result<Credentials> fetch(Deadline) override {
    ++calls;
    if (fail) return unavailable("endpoint down");
    Credentials c;
    c.access_key_id = fmt::format("AK{}", calls);
    c.secret_access_key = "S";
    c.session_token = "T";
    c.expiration_unix_ms = clock_->now_unix_ms() + 3600 * 1000;
    c.provider = "counting";
    return c;
  }
  std::string_view name() const override { return "counting"; }
  int calls = 0;
  bool fail = false;

 private:
  std::shared_ptr<ManualClock> clock_;
};

TEST(CachingCredentials, FailedLookupIsNotRepeatedForEveryOperation) {
  auto clock = std::make_shared<ManualClock>(1'700'000'000'000);
  auto provider = std::make_unique<CountingProvider>(clock);
  CountingProvider* raw = provider.get();
  raw->fail = true;
  CachingCredentials cache(std::move(provider), clock);
  for (int i = 0; i < 50; ++i) {
    auto c = cache.get({});
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code(), Errc::kUnavailable) << "the lookup's own error is kept";
  }
  EXPECT_EQ(raw->calls, 1) << "50 operations within the cooldown cost one lookup";
  clock->advance(Millis(2100));
  raw->fail = false;
  auto c = cache.get({});
  ASSERT_TRUE(c.ok()) << "after the cooldown the chain is asked again";
  EXPECT_EQ(raw->calls, 2);
}

TEST(CachingCredentials, RefreshesBeforeExpiryAndKeepsOldOnesOnFailure) {
  auto clock = std::make_shared<ManualClock>(1'700'000'000'000);
  auto provider = std::make_unique<CountingProvider>(clock);
  CountingProvider* raw = provider.get();
  int refreshes = 0;
  CachingCredentials cache(std::move(provider), clock, [&](std::string_view p) {
    EXPECT_EQ(p, "counting");
    ++refreshes;
  });
  EXPECT_EQ(cache.get({}).value().access_key_id, "AK1");
  clock->advance(Millis(50 * 60 * 1000));  // 10 min left: still fresh enough
  EXPECT_EQ(cache.get({}).value().access_key_id, "AK1");
  EXPECT_EQ(raw->calls, 1);
  clock->advance(Millis(6 * 60 * 1000));  // 4 min left: refresh
  EXPECT_EQ(cache.get({}).value().access_key_id, "AK2");
  EXPECT_EQ(refreshes, 2);
  clock->advance(Millis(56 * 60 * 1000));  // within the refresh window again, provider down
  raw->fail = true;
  auto kept = cache.get({});
  ASSERT_TRUE(kept.ok()) << "still-valid credentials are kept when a refresh fails";
  EXPECT_EQ(kept->access_key_id, "AK2");
  clock->advance(Millis(5 * 60 * 1000));  // now expired and provider still down
  EXPECT_FALSE(cache.get({}).ok());
  raw->fail = false;
  cache.invalidate();
  EXPECT_TRUE(cache.get({}).ok());
}

}  // namespace
}  // namespace sh::s3
