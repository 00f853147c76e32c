// End to end against the real binary: HTTP as proxies and browsers expect it.
// gzip when Accept-Encoding asks for it (bodies that inflate to exactly the
// identity bytes, each variant with its own strong ETag and its own 304),
// Vary on every JSON answer, ?pretty=true, and error bodies that are one line
// of JSON and a newline.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/support/process.h"

namespace sh::testing {
namespace {

using json = nlohmann::json;

// gunzip with zlib; fails the test on anything but one complete gzip member.
std::string gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_BUF_ERROR) break;
  }
  EXPECT_EQ(rc, Z_STREAM_END) << "not a complete gzip body";
  EXPECT_EQ(zs.avail_in, 0u) << "bytes after the gzip member";
  inflateEnd(&zs);
  return out;
}

bool is_one_line(const std::string& body) { return !body.empty() && body.find('\n') == body.size() - 1; }

class CompressionE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    store_ = "file://" + dir_->path();
    std::string lines;
    for (int i = 0; i < 200; ++i) {
      lines += "{\"key\":\"k" + std::to_string(i) + "\",\"value\":\"{\\\"n\\\":" + std::to_string(i) +
               ",\\\"text\\\":\\\"caf\\u00e9 value " + std::to_string(i) + "\\\"}\"}\n";
    }
    auto w = run_command({streamhouse_binary(), "segment", "write", "--store", store_, "--topic", "t",
                          "--partition", "0"},
                         lines);
    ASSERT_EQ(w.exit_code, 0) << w.err;
    server_ = new ServerProcess({"--store", store_});
    ASSERT_GT(server_->port(), 0);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
    server_ = nullptr;
    dir_ = nullptr;
  }
  static std::string url(const std::string& path) { return server_->url(path); }

  static inline TempDir* dir_ = nullptr;
  static inline std::string store_;
  static inline ServerProcess* server_ = nullptr;
};

const std::string kRange = "/topics/t/partitions/0/records?offset=10&max_records=50";  // below the HWM
const std::string kGzip = "Accept-Encoding: gzip, deflate";

TEST_F(CompressionE2E, GzipBodyInflatesToExactlyTheIdentityBody) {
  for (const std::string& path :
       {kRange, std::string("/topics/t/partitions/0/records?offset=150"),  // reaches the head
        std::string("/topics/t/records?offset=0&max_records=80&format=json"), std::string("/topics/t"),
        std::string("/topics/t/partitions/0/records?offset=0&max_records=40&pretty=true")}) {
    SCOPED_TRACE(path);
    auto plain = http_get(url(path));
    ASSERT_EQ(plain.status, 200) << plain.body;
    EXPECT_EQ(plain.headers.count("content-encoding"), 0u);
    EXPECT_NE(plain.headers["vary"].find("Accept-Encoding"), std::string::npos)
        << "caches must key on Accept-Encoding, also for the identity answer";
    if (plain.body.size() < 1024) continue;  // /topics/t: below the threshold (checked below)
    auto gz = http_get(url(path), {kGzip});
    ASSERT_EQ(gz.status, 200) << gz.error;
    EXPECT_EQ(gz.headers["content-encoding"], "gzip");
    EXPECT_NE(gz.headers["vary"].find("Accept-Encoding"), std::string::npos);
    EXPECT_EQ(gz.headers["content-length"], std::to_string(gz.body.size())) << "Content-Length of the gzip bytes";
    EXPECT_LT(gz.body.size(), plain.body.size());
    EXPECT_TRUE(gunzip(gz.body) == plain.body) << "the gzip body must inflate to the identity body byte for byte";
  }
}

TEST_F(CompressionE2E, SmallBodiesHeadStreamsAndRefusalsStayIdentity) {
  auto healthz = http_get(url("/healthz"), {kGzip});
  ASSERT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.headers.count("content-encoding"), 0u) << "below the 1 KiB threshold";
  EXPECT_EQ(healthz.body, "{\"status\":\"ok\"}\n");
  EXPECT_NE(healthz.headers["vary"].find("Accept-Encoding"), std::string::npos);

  auto identity = http_get(url(kRange));
  for (const char* refusal : {"Accept-Encoding: gzip;q=0", "Accept-Encoding: gzip;q=0, deflate",
                              "Accept-Encoding: *;q=0, identity", "Accept-Encoding: identity",
                              "Accept-Encoding: gzip;q=0.5, identity;q=1", "Accept-Encoding: br"}) {
    SCOPED_TRACE(refusal);
    auto r = http_get(url(kRange), {refusal});
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers.count("content-encoding"), 0u);
    EXPECT_TRUE(r.body == identity.body);
  }
  auto star = http_get(url(kRange), {"Accept-Encoding: br;q=1, *;q=0.5, identity;q=0.1"});
  EXPECT_EQ(star.headers["content-encoding"], "gzip") << "* covers gzip";

  auto head = http_request("HEAD", url(kRange), "", {kGzip});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.count("content-encoding"), 0u) << "HEAD bodies are never compressed";
  EXPECT_EQ(head.headers["content-length"], std::to_string(identity.body.size()));

  auto metrics = http_get(url("/metrics"), {kGzip});
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers.count("content-encoding"), 0u) << "only JSON is compressed";

  // NDJSON streams go out as they are produced: never compressed.
  auto stream = http_get(url("/topics/t/partitions/0/records/stream?offset=0"), {kGzip});
  ASSERT_EQ(stream.status, 200);
  EXPECT_EQ(stream.headers.count("content-encoding"), 0u);
  EXPECT_NE(stream.body.find("\"offset\":199"), std::string::npos) << "a plain NDJSON body";
}

TEST_F(CompressionE2E, EachVariantHasItsOwnStrongEtagAndItsOwn304) {
  auto plain = http_get(url(kRange));
  auto gz = http_get(url(kRange), {kGzip});
  ASSERT_EQ(plain.status, 200);
  ASSERT_EQ(gz.status, 200);
  const std::string etag = plain.headers["etag"];
  const std::string gz_etag = gz.headers["etag"];
  ASSERT_FALSE(etag.empty());
  ASSERT_EQ(etag.front(), '"') << "strong";
  ASSERT_EQ(gz_etag.front(), '"') << "strong";
  EXPECT_NE(gz_etag, etag) << "two representations, two validators";
  EXPECT_EQ(gz_etag, etag.substr(0, etag.size() - 1) + "-gzip\"");
  EXPECT_EQ(gz.headers["cache-control"], "public, max-age=31536000, immutable");

  auto nm = http_get(url(kRange), {"If-None-Match: " + etag});
  EXPECT_EQ(nm.status, 304);
  EXPECT_EQ(nm.headers["etag"], etag);
  EXPECT_TRUE(nm.body.empty());
  EXPECT_NE(nm.headers["vary"].find("Accept-Encoding"), std::string::npos) << "a 304 carries the Vary of its 200";

  auto gz_nm = http_get(url(kRange), {kGzip, "If-None-Match: " + gz_etag});
  EXPECT_EQ(gz_nm.status, 304) << gz_nm.body;
  EXPECT_EQ(gz_nm.headers["etag"], gz_etag);
  EXPECT_TRUE(gz_nm.body.empty());
  EXPECT_EQ(gz_nm.headers.count("content-encoding"), 0u);
  EXPECT_NE(gz_nm.headers["vary"].find("Accept-Encoding"), std::string::npos);
  EXPECT_EQ(http_get(url(kRange), {kGzip, "If-None-Match: \"x\", W/" + gz_etag}).status, 304)
      << "lists, weak comparison";

  // A cache holding one variant gets that one revalidated; the tag of the gzip
  // variant does not validate the identity body.
  auto cross = http_get(url(kRange), {"If-None-Match: " + gz_etag});
  EXPECT_EQ(cross.status, 200);
  EXPECT_EQ(cross.headers["etag"], etag);
  EXPECT_TRUE(cross.body == plain.body);
  auto both = http_get(url(kRange), {kGzip, "If-None-Match: " + etag + ", " + gz_etag});
  EXPECT_EQ(both.status, 304);

  // The head of the log has no validator in any encoding.
  auto head = http_get(url("/topics/t/partitions/0/records?offset=150"), {kGzip});
  EXPECT_EQ(head.headers.count("etag"), 0u);
  EXPECT_EQ(head.headers["cache-control"], "no-store");
}

TEST_F(CompressionE2E, PrettyIsTheSameJsonIndentedByTwoSpaces) {
  for (const std::string& path : {kRange, std::string("/topics/t/records?offset=0&max_records=5&format=json"),
                                  std::string("/topics/t"), std::string("/topics"), std::string("/healthz"),
                                  std::string("/readyz"), std::string("/topics/t/partitions/0"),
                                  std::string("/topics/t/partitions/0/segments"), std::string("/consumer-groups")}) {
    SCOPED_TRACE(path);
    const std::string sep = path.find('?') == std::string::npos ? "?" : "&";
    auto compact = http_get(url(path));
    auto pretty = http_get(url(path + sep + "pretty=true"));
    auto explicit_compact = http_get(url(path + sep + "pretty=false"));
    ASSERT_EQ(compact.status, 200) << compact.body;
    ASSERT_EQ(pretty.status, 200) << pretty.body;
    EXPECT_TRUE(is_one_line(compact.body)) << "compact JSON is one line and a newline: " << compact.body;
    if (path != "/readyz") {
      EXPECT_TRUE(explicit_compact.body == compact.body);
    }
    const json a = json::parse(compact.body), b = json::parse(pretty.body);
    if (path == "/readyz") {
      EXPECT_EQ(a["ready"], b["ready"]);
    } else {
      EXPECT_EQ(a, b) << "pretty=true changes the layout, not the value";
    }
    EXPECT_EQ(pretty.body.substr(0, 5), "{\n  \"") << pretty.body.substr(0, 40);
    EXPECT_EQ(pretty.body.back(), '\n');
    EXPECT_EQ(pretty.headers["content-length"], std::to_string(pretty.body.size()));
  }
  auto pretty = http_get(url(kRange + "&pretty=true"));
  EXPECT_NE(pretty.body.find("\n  \"records\": [\n    {\n      \"offset\": 10,"), std::string::npos)
      << pretty.body.substr(0, 300);
  auto pretty_gz = http_get(url(kRange + "&pretty=true"), {kGzip});
  EXPECT_EQ(pretty_gz.headers["content-encoding"], "gzip");
  EXPECT_TRUE(gunzip(pretty_gz.body) == pretty.body) << "pretty, then gzip";

  auto error = http_get(url("/topics/nope?pretty=true"));
  EXPECT_EQ(error.status, 404);
  EXPECT_EQ(json::parse(error.body)["error_code"], 40401);
  EXPECT_EQ(error.body.substr(0, 17), "{\n  \"error_code\":") << "errors are pretty too: " << error.body;
}

TEST_F(CompressionE2E, PrettyTakesTrueOrFalseOnJsonRoutesOnly) {
  for (const std::string& path : {std::string("/topics?pretty=bogus"), kRange + "&pretty=1",
                                  std::string("/topics/t/records?pretty=yes"), std::string("/healthz?pretty="),
                                  std::string("/topics?pretty=true&pretty=true")}) {
    SCOPED_TRACE(path);
    auto r = http_get(url(path));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(json::parse(r.body)["error_code"], 40001);
    EXPECT_NE(r.body.find("pretty"), std::string::npos) << r.body;
    EXPECT_TRUE(is_one_line(r.body)) << r.body;
  }
  for (const char* path : {"/metrics?pretty=true", "/openapi.yaml?pretty=true",
                           "/topics/t/partitions/0/records/stream?pretty=true"}) {
    SCOPED_TRACE(path);
    auto r = http_get(url(path));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(json::parse(r.body)["error_code"], 40002) << "not a JSON route: an unknown parameter";
  }
}

TEST_F(CompressionE2E, EveryErrorBodyIsOneLineOfJsonAndANewline) {
  struct Case {
    const char* method;
    std::string path;
    std::string body;
    long status;
    int error_code;
  };
  const std::vector<Case> cases = {
      {"GET", "/no/such/route", "", 404, 40400},
      {"POST", "/topics", "{}", 405, 40500},
      {"GET", "/topics/t/partitions/0/records?offset=-1", "", 400, 40001},
      {"GET", "/topics/t/partitions/0/records?nope=1", "", 400, 40002},
      {"GET", "/topics/bad%20name", "", 400, 40003},
      {"GET", "/topics/nope", "", 404, 40401},
      {"GET", "/topics/t/partitions/7", "", 404, 40402},
      {"GET", "/topics/t/partitions/0/records?offset=100000", "", 416, 41600},
      {"GET", "/topics/t%00x", "", 400, 40006},                             // answered by the HTTP server
      {"POST", "/consumer-groups/g/offsets", std::string(2 << 20, 'x'), 413, 41300},  // ditto
      {"POST", "/consumer-groups/g/offsets", "{not json", 400, 40005},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    auto r = http_request(c.method, url(c.path), c.body);
    EXPECT_EQ(r.status, c.status) << r.body << r.error;
    EXPECT_TRUE(is_one_line(r.body)) << "one line of JSON and a newline: [" << r.body << "]";
    const json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_EQ(j["error_code"], c.error_code) << r.body;
    EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
  }
}

// A loopback port nothing listens on (bound, read back, closed).
int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// Issue 9, defect 13: against a stopped S3 endpoint the client learns which
// bucket could not be read, never the endpoint, its port or libcurl's words.
TEST(ErrorBodiesE2E, FiveHundredsFromAStoppedS3NameTheBucketNotTheEndpoint) {
  const int port = unused_port();
  ASSERT_GT(port, 0);
  const std::string endpoint = "127.0.0.1:" + std::to_string(port);
  ServerProcess server({"--store", "s3://sh-defect13-bucket/prefix", "--s3-endpoint", "http://" + endpoint,
                        "--s3-max-attempts", "2", "--request-timeout-ms", "1500"},
                       {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"}, {"AWS_SECRET_ACCESS_KEY", "e2e-not-a-secret"},
                        {"AWS_REGION", "us-east-1"}, {"AWS_EC2_METADATA_DISABLED", "true"}});
  ASSERT_GT(server.port(), 0) << "serve must start (and report not ready) without its S3";
  for (const char* path : {"/topics", "/topics/t/partitions/0/records?offset=0", "/topics/t/records", "/readyz",
                           "/topics?pretty=true"}) {
    SCOPED_TRACE(path);
    auto r = http_get(server.url(path));
    ASSERT_TRUE(r.status == 503 || r.status == 504) << r.status << " " << r.body;
    const json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    for (const std::string& detail : {endpoint, std::to_string(port), std::string("127.0.0.1"), std::string("http://"),
                                      std::string("curl"), std::string("Failed to connect"),
                                      std::string("Connection refused"), std::string("e2e-not-a-secret")}) {
      EXPECT_EQ(r.body.find(detail), std::string::npos) << "'" << detail << "' reached the client: " << r.body;
    }
    if (std::string(path) != "/readyz") {
      EXPECT_NE(r.body.find("sh-defect13-bucket"), std::string::npos) << "the message names the bucket: " << r.body;
    }
  }
}

TEST(CompressionFlagE2E, GzipMinBytesSetsTheThreshold) {
  TempDir dir;
  const std::string store = "file://" + dir.path();
  std::string lines;
  for (int i = 0; i < 50; ++i) lines += "{\"value\":\"value number " + std::to_string(i) + "\"}\n";
  ASSERT_EQ(run_command({streamhouse_binary(), "segment", "write", "--store", store, "--topic", "t", "--partition",
                         "0"},
                        lines)
                .exit_code,
            0);
  const std::string records = "/topics/t/partitions/0/records?offset=0&max_records=3";
  {
    ServerProcess low({"--store", store, "--gzip-min-bytes", "100"});
    ASSERT_GT(low.port(), 0);
    auto small = http_get(low.url(records));
    ASSERT_GT(small.body.size(), 100u);
    ASSERT_LT(small.body.size(), 1024u);
    auto r = http_get(low.url(records), {kGzip});
    EXPECT_EQ(r.headers["content-encoding"], "gzip") << "above a threshold of 100 bytes";
    EXPECT_TRUE(gunzip(r.body) == small.body);
  }
  {
    ServerProcess off({"--store", store, "--gzip-min-bytes", "0"});
    ASSERT_GT(off.port(), 0);
    auto r = http_get(off.url("/topics/t/partitions/0/records?offset=0"), {kGzip});
    ASSERT_GT(r.body.size(), 1024u);
    EXPECT_EQ(r.headers.count("content-encoding"), 0u) << "0 turns compression off";
    EXPECT_NE(r.headers["vary"].find("Accept-Encoding"), std::string::npos);
  }
}

}  // namespace
}  // namespace sh::testing
