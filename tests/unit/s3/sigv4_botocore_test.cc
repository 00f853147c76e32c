// Differential test: our signer against botocore's S3SigV4Auth over a few
// hundred randomized requests. Authorization headers must be byte-identical.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/storage/s3/crypto.h"
#include "core/storage/s3/sigv4.h"
#include "tests/support/test_paths.h"

namespace sh::s3 {
namespace {

constexpr int kCases = 400;

std::string random_key(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "a", "Z", "9", "-", "_", ".", "~", " ", "+", "%", "%2F", "/", "//", "=", "&", "?", "#", "*",
      "!", "'", "(", ")", ",", ";", ":", "@", "$", "[", "]", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
      "\xf0\x9f\x98\x80", "segment-00000000000000000042.seg", "topic", "..", "\t", "\"", "<", "^", "|"};
  std::uniform_int_distribution<size_t> len(1, 12), pick(0, pieces.size() - 1);
  std::string k;
  for (size_t i = 0, n = len(rng); i < n; ++i) k += pieces[pick(rng)];
  return k;
}

std::string random_token(std::mt19937& rng, size_t n) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(alphabet[pick(rng)]);
  return s;
}

struct Case {
  TransportRequest req;
  std::string body;
  std::string range;
  Credentials creds;
  std::string region;
  int64_t unix_ms;
};

Case random_case(std::mt19937& rng) {
  auto coin = [&](int percent) { return std::uniform_int_distribution<int>(0, 99)(rng) < percent; };
  Case c;
  static const std::vector<std::string> hosts = {"s3.us-east-1.amazonaws.com", "127.0.0.1", "localhost",
                                                 "my-bucket.s3.eu-west-3.amazonaws.com", "[::1]"};
  static const std::vector<std::string> regions = {"us-east-1", "eu-west-3", "ap-southeast-2", "auto"};
  c.req.scheme = coin(50) ? "https" : "http";
  c.req.host = hosts[std::uniform_int_distribution<size_t>(0, hosts.size() - 1)(rng)];
  int port_choice = std::uniform_int_distribution<int>(0, 3)(rng);
  c.req.port = port_choice == 0 ? 0 : port_choice == 1 ? 18380 : (c.req.scheme == "https" ? 443 : 80);
  const bool path_style = coin(50);
  c.req.path = (path_style ? "/bucket-" + std::to_string(rng() % 100) + "/" : "/") + random_key(rng);
  int op = std::uniform_int_distribution<int>(0, 3)(rng);
  if (op == 0) {  // ranged GET
    c.req.method = "GET";
    uint64_t a = rng() % 100000, len = 1 + rng() % 100000;
    c.range = coin(30) ? fmt::format("bytes=-{}", len) : "bytes=" + std::to_string(a) + fmt::format("-{}", a + len - 1);
  } else if (op == 1) {  // list
    c.req.method = "GET";
    c.req.path = path_style ? "/bucket-list" : "/";
    c.req.query.emplace_back("list-type", "2");
    if (coin(70)) c.req.query.emplace_back("prefix", random_key(rng));
    if (coin(50)) c.req.query.emplace_back("delimiter", coin(80) ? "/" : random_key(rng));
    if (coin(40)) c.req.query.emplace_back("continuation-token", random_token(rng, 40));
    if (coin(40)) c.req.query.emplace_back("start-after", random_key(rng));
    if (coin(50)) c.req.query.emplace_back("max-keys", std::to_string(1 + rng() % 1000));
    if (coin(50)) c.req.query.emplace_back("encoding-type", "url");
  } else if (op == 2) {  // HEAD
    c.req.method = "HEAD";
  } else {  // PUT with a body
    c.req.method = "PUT";
    size_t n = rng() % 300;
    for (size_t i = 0; i < n; ++i) c.body.push_back(static_cast<char>(rng() & 0xFF));
  }
  c.req.body = c.body;
  c.req.set_header("Host", c.req.host_header());
  if (!c.range.empty()) c.req.set_header("Range", c.range);
  c.creds.access_key_id = "AKIA" + random_token(rng, 16);
  c.creds.secret_access_key = random_token(rng, 40);
  if (coin(40)) c.creds.session_token = random_token(rng, 200);
  c.region = regions[std::uniform_int_distribution<size_t>(0, regions.size() - 1)(rng)];
  // whole seconds between 2001 and 2037
  c.unix_ms = static_cast<int64_t>(978307200 + rng() % 1136073600ull) * 1000;
  return c;
}

TEST(SigV4Botocore, RandomizedRequestsSignIdenticallyToBotocore) {
  ASSERT_EQ(access("/usr/bin/python3", X_OK), 0) << "/usr/bin/python3 is required (Debian python3-botocore)";
  std::mt19937 rng(20240601);
  std::vector<Case> cases;
  nlohmann::json j = nlohmann::json::array();
  for (int i = 0; i < kCases; ++i) {
    Case c = random_case(rng);
    nlohmann::json q = nlohmann::json::array();
    for (const auto& [k, v] : c.req.query) q.push_back({k, v});
    j.push_back({{"method", c.req.method}, {"scheme", c.req.scheme},
                 {"host", c.req.host.front() == '[' ? c.req.host : c.req.host}, {"port", c.req.port},
                 {"path", c.req.path}, {"query", q}, {"range", c.range}, {"body_hex", hex_encode(c.body)},
                 {"access", c.creds.access_key_id}, {"secret", c.creds.secret_access_key},
                 {"token", c.creds.session_token}, {"region", c.region}, {"unix_ms", c.unix_ms}});
    cases.push_back(std::move(c));
  }
  char path[] = "/tmp/sh_sigv4_cases_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  { std::ofstream(path) << j.dump(); }
  const std::string cmd = "/usr/bin/python3 " + sh::testing::source_dir() + "/tests/unit/s3/botocore_sign.py " + path;
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int rc = pclose(p);
    unlink(path);
    ASSERT_EQ(rc, 0) << "botocore signer failed: " << cmd;
  } else {
    unlink(path);
    FAIL() << "cannot run " << cmd;
  }
  nlohmann::json expected = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(expected.is_array()) << "botocore output is not a JSON array: " << out.substr(0, 200);
  ASSERT_EQ(expected.size(), cases.size());

  int mismatches = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    Case& c = cases[i];
    c.req.body = c.body;  // the view was taken before the Case moved into the vector
    SigV4Signer signer(c.region, "s3", std::make_shared<ManualClock>(0));
    signer.sign_at(&c.req, c.creds, c.unix_ms);
    const std::string ours = c.req.header("Authorization").value_or("");
    const std::string theirs = expected[i]["authorization"].get<std::string>();
    if (ours != theirs && ++mismatches <= 5) {
      ADD_FAILURE() << "case " << i << " " << c.req.method << " " << c.req.url() << " range '" << c.range
                    << "'\n ours:     " << ours << "\n botocore: " << theirs;
    }
    EXPECT_EQ(c.req.header("x-amz-date").value_or(""), expected[i]["x-amz-date"].get<std::string>());
    EXPECT_EQ(c.req.header("x-amz-content-sha256").value_or(""),
              expected[i]["x-amz-content-sha256"].get<std::string>());
  }
  EXPECT_EQ(mismatches, 0) << "of " << cases.size() << " randomized requests";
}

}  // namespace
}  // namespace sh::s3
