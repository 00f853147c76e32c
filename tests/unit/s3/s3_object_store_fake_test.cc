// S3ObjectStore behaviour against a scripted transport: what is retried, how
// answers map to errors, length checks, clock-skew correction, metrics.
#include "core/storage/s3/s3_object_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <thread>
#include <prometheus/registry.h>

#include "core/storage/s3/aws_time.h"
#include "core/storage/s3/credentials.h"
#include "core/storage/s3/crypto.h"
#include "core/storage/s3/http_transport.h"
#include "core/text/ascii.h"

namespace sh::s3 {
namespace {

constexpr char kSecret[] = "SUPERSECRETVALUEdonotleak0000000000000000";
constexpr int64_t kNow = 1'700'000'000'000;

struct SeenRequest {
  std::string method, url, authorization, amz_date;
  std::map<std::string, std::string> headers;
  std::string body;
};

class FakeTransport final : public HttpTransport {
 public:
  using Handler = std::function<Result<TransportResponse>(const SeenRequest&, int call)>;
  explicit FakeTransport(Handler h) : handler_(std::move(h)) {}
  Result<TransportResponse> send(const TransportRequest& req, const SendOptions&) override {
    SeenRequest s;
    s.method = req.method;
    s.url = req.url();
    s.authorization = req.header("authorization").value_or("");
    s.amz_date = req.header("x-amz-date").value_or("");
    for (const auto& [k, v] : req.headers) s.headers[text::ascii_lowered(k)] = v;
    s.body = std::string(req.body);
    seen.push_back(s);
    return handler_(s, static_cast<int>(seen.size()));
  }
  std::vector<SeenRequest> seen;

 private:
  Handler handler_;
};

TransportResponse answer(long status, std::string body, HeaderList headers = {}) {
  TransportResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

std::string error_xml(const std::string& code) {
  return "<?xml version=\"1.0\"?><Error><Code>" + code + "</Code><Message></Message></Error>";
}

struct Harness {
  std::shared_ptr<FakeTransport> transport;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(kNow);
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::vector<int64_t> sleeps;
  std::unique_ptr<S3ObjectStore> store;

  explicit Harness(FakeTransport::Handler h, S3Options opts = {}) {
    transport = std::make_shared<FakeTransport>(std::move(h));
    if (opts.bucket.empty()) {
      opts.bucket = "bkt";
      opts.prefix = "pre/";
      opts.endpoint = "http://127.0.0.1:9";
    }
    Credentials c;
    c.access_key_id = "AKIATESTTESTTEST";
    c.secret_access_key = kSecret;
    S3Dependencies deps;
    deps.transport = transport;
    deps.credentials = std::make_unique<StaticCredentialsProvider>(c);
    deps.clock = clock;
    deps.registry = registry;
    deps.sleep = [this](int64_t ms) {
      sleeps.push_back(ms);
      clock->advance(Millis(ms));
    };
    deps.jitter = [] { return 0.99; };
    auto s = S3ObjectStore::create(opts, std::move(deps));
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    store = std::move(s).value();
  }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    double total = 0;
    for (const auto& fam : registry->Collect()) {
      if (fam.name != name) continue;
      for (const auto& m : fam.metric) {
        bool match = true;
        for (const auto& [k, v] : labels) {
          bool found = false;
          for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
          match = match && found;
        }
        if (match) total += fam.type == prometheus::MetricType::Histogram
                                ? static_cast<double>(m.histogram.sample_count)
                                : m.counter.value;
      }
    }
    return total;
  }
};

TEST(S3StoreRanges, GetRangeAsksExactRangeAndReturnsExactBytes) {
  Harness h([](const SeenRequest&, int) {
    return answer(206, "0123456789", {{"content-range", "bytes 10-19/100"}, {"etag", "\"e1\""}});
  });
  auto r = h.store->get_range("topic/0/seg", 10, 10);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->data, "0123456789");
  EXPECT_EQ(r->object_size, 100u);
  EXPECT_EQ(r->etag, "\"e1\"");
  ASSERT_EQ(h.transport->seen.size(), 1u);
  EXPECT_EQ(h.transport->seen[0].url, "http://127.0.0.1:9/bkt/pre/topic/0/seg");
  EXPECT_EQ(h.transport->seen[0].headers["range"], "bytes=10-19");
  EXPECT_NE(h.transport->seen[0].authorization.find("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"),
            std::string::npos);
  EXPECT_EQ(h.metric("streamhouse_s3_requests_total", {{"operation", "get_object"}, {"status", "206"}}), 1);
  EXPECT_EQ(h.metric("streamhouse_s3_received_bytes_total"), 10);
  EXPECT_EQ(h.metric("streamhouse_s3_request_duration_seconds", {{"operation", "get_object"}}), 1);
}

TEST(S3StoreRanges, TruncatedBodyIsRetriedAndResigned) {
  Harness h([](const SeenRequest&, int call) {
    if (call == 1) return answer(206, "01234", {{"content-range", "bytes 0-9/10"}});
    return answer(206, "0123456789", {{"content-range", "bytes 0-9/10"}});
  });
  auto r = h.store->get_range("k", 0, 10);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->data, "0123456789");
  ASSERT_EQ(h.transport->seen.size(), 2u);
  EXPECT_EQ(h.metric("streamhouse_s3_retries_total", {{"operation", "get_object"}}), 1);
}

TEST(S3StoreRanges, RangePastEndIsOutOfRangeAndIgnoredRangeIsBadResponse) {
  Harness past([](const SeenRequest&, int) { return answer(206, "89", {{"content-range", "bytes 8-9/10"}}); });
  auto r = past.store->get_range("k", 8, 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kOutOfRange) << r.error().to_string();
  EXPECT_NE(r.error().message().find("size 10"), std::string::npos) << r.error().message();

  Harness ignored([](const SeenRequest&, int) { return answer(200, std::string(100, 'x')); });
  auto r2 = ignored.store->get_range("k", 0, 10);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code(), Errc::kBadResponse);
  EXPECT_EQ(ignored.transport->seen.size(), 1u) << "a server that ignores Range will not change its mind";

  Harness wrong([](const SeenRequest&, int) { return answer(206, "0123456789", {{"content-range", "bytes 5-14/100"}}); });
  EXPECT_EQ(wrong.store->get_range("k", 0, 10).error().code(), Errc::kBadResponse) << "wrong offset";
  Harness no_cr([](const SeenRequest&, int) { return answer(206, "0123456789"); });
  EXPECT_EQ(no_cr.store->get_range("k", 0, 10).error().code(), Errc::kBadResponse);
  EXPECT_EQ(no_cr.store->get_range("k", UINT64_MAX, 10).error().code(), Errc::kInvalidArgument);
}

TEST(S3StoreRanges, IfMatchIsSentAnd412IsPreconditionFailed) {
  Harness h([](const SeenRequest& s, int) {
    if (s.headers.count("if-match") && s.headers.at("if-match") == "\"old\"") {
      return answer(412, error_xml("PreconditionFailed"));
    }
    return answer(206, "0123456789", {{"content-range", "bytes 0-9/10"}, {"etag", "\"new\""}});
  });
  ReadOptions ro;
  ro.if_match_etag = "\"old\"";
  auto r = h.store->get_range("seg", 0, 10, ro);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kPreconditionFailed);
  EXPECT_EQ(h.transport->seen.size(), 1u) << "412 is not retried";
  ro.if_match_etag = "\"new\"";
  EXPECT_TRUE(h.store->get_range("seg", 0, 10, ro).ok());
}

TEST(S3StoreRanges, SuffixReadHandlesObjectsSmallerThanTheSuffix) {
  Harness h([](const SeenRequest& s, int) {
    if (s.headers.at("range") == "bytes=-4") return answer(206, "6789", {{"content-range", "bytes 6-9/10"}});
    if (s.headers.at("range") == "bytes=-100") return answer(206, "0123456789", {{"content-range", "bytes 0-9/10"}});
    return answer(200, "0123456789");  // bytes=-50: a server that sends the whole small object
  });
  auto a = h.store->get_suffix("k", 4);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(a->data, "6789");
  EXPECT_EQ(a->object_size, 10u);
  auto b = h.store->get_suffix("k", 100);
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_EQ(b->data, "0123456789");
  EXPECT_EQ(b->object_size, 10u);
  auto c = h.store->get_suffix("k", 50);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->data, "0123456789");
}

TEST(S3StoreRanges, SuffixOfAnEmptyObjectIsEmptyAfterA416) {
  Harness h([](const SeenRequest& s, int) {
    if (s.method == "HEAD") return answer(200, "", {{"content-length", "0"}, {"etag", "\"e\""}});
    return answer(416, error_xml("InvalidRange"));
  });
  auto r = h.store->get_suffix("k", 16);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->data, "");
  EXPECT_EQ(r->object_size, 0u);
  EXPECT_EQ(r->etag, "\"e\"");
}

TEST(S3StoreRetries, ServerErrorsAreRetriedWithGrowingBackoffThenSucceed) {
  Harness h([](const SeenRequest&, int call) {
    if (call == 1) return answer(503, error_xml("SlowDown"));
    if (call == 2) return answer(500, error_xml("InternalError"));
    return answer(200, "whole");
  });
  auto r = h.store->get("k");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->data, "whole");
  ASSERT_EQ(h.transport->seen.size(), 3u);
  ASSERT_EQ(h.sleeps.size(), 2u);
  EXPECT_LE(h.sleeps[0], 50);
  EXPECT_LE(h.sleeps[1], 100);
  EXPECT_GT(h.sleeps[1], h.sleeps[0]) << "the backoff ceiling doubles";
  EXPECT_EQ(h.metric("streamhouse_s3_requests_total", {{"operation", "get_object"}, {"status", "503"}}), 1);
  EXPECT_EQ(h.metric("streamhouse_s3_retries_total", {{"operation", "get_object"}}), 2);
}

TEST(S3StoreRetries, EveryAttemptIsSignedAgain) {
  S3Options o;
  o.bucket = "bkt";
  o.endpoint = "http://127.0.0.1:9";
  o.retry_base_delay_ms = 2000;
  o.retry_max_delay_ms = 8000;
  o.request_timeout_ms = 60000;
  Harness h([](const SeenRequest&, int call) {
    if (call < 3) return answer(503, "");
    return answer(200, "x");
  }, o);
  ASSERT_TRUE(h.store->get("k").ok());
  ASSERT_EQ(h.transport->seen.size(), 3u);
  EXPECT_NE(h.transport->seen[0].amz_date, h.transport->seen[1].amz_date);
  EXPECT_NE(h.transport->seen[1].amz_date, h.transport->seen[2].amz_date);
  EXPECT_NE(h.transport->seen[0].authorization, h.transport->seen[2].authorization)
      << "a retried request must carry a fresh signature for its own time";
}

TEST(S3StoreRetries, GivesUpAfterMaxAttemptsAsUnavailable) {
  Harness h([](const SeenRequest&, int) { return answer(500, error_xml("InternalError")); });
  auto r = h.store->head("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kUnavailable);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_EQ(h.transport->seen.size(), 5u) << "max_attempts defaults to 5";
  EXPECT_NE(r.error().message().find("s3://bkt/pre/k"), std::string::npos) << r.error().message();
}

TEST(S3StoreRetries, TransportErrorsAreRetried) {
  Harness h([](const SeenRequest&, int call) -> Result<TransportResponse> {
    if (call <= 2) return Error(Errc::kUnavailable, "connection refused", true);
    return answer(200, "ok", {{"content-length", "2"}});
  });
  auto r = h.store->get("k");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(h.metric("streamhouse_s3_requests_total", {{"status", "transport_error"}}), 2);
}

TEST(S3StoreRetries, ForbiddenNotFoundAndRangeErrorsAreNotRetried) {
  for (auto [status, code, errc] : std::vector<std::tuple<long, std::string, Errc>>{
           {403, "SignatureDoesNotMatch", Errc::kPermissionDenied},
           {403, "AccessDenied", Errc::kPermissionDenied},
           {404, "NoSuchKey", Errc::kNotFound},
           {404, "NoSuchBucket", Errc::kUnavailable},
           {416, "InvalidRange", Errc::kOutOfRange}}) {
    Harness h([status = status, code = code](const SeenRequest&, int) { return answer(status, error_xml(code)); });
    auto r = h.store->get_range("dir/key.seg", 0, 10);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), errc) << code;
    EXPECT_EQ(h.transport->seen.size(), 1u) << code << " must not be retried";
    EXPECT_NE(r.error().message().find("s3://bkt/pre/dir/key.seg"), std::string::npos)
        << "message must name bucket and key: " << r.error().message();
    EXPECT_EQ(r.error().message().find(kSecret), std::string::npos) << "secret leaked";
    EXPECT_EQ(r.error().message().find("Signature="), std::string::npos) << "signature leaked";
  }
}

TEST(S3StoreRetries, ClockSkewIsCorrectedFromServerDateAndResignedOnce) {
  const int64_t server_time = kNow + 3 * 3600 * 1000;  // server is 3 h ahead of us
  Harness h([&](const SeenRequest& s, int) {
    auto ours = parse_iso8601(s.amz_date.substr(0, 4) + "-" + s.amz_date.substr(4, 2) + "-" +
                              s.amz_date.substr(6, 2) + "T" + s.amz_date.substr(9, 2) + ":" +
                              s.amz_date.substr(11, 2) + ":" + s.amz_date.substr(13, 2) + "Z");
    if (!ours || std::llabs(*ours - server_time) > 15 * 60 * 1000) {
      return answer(403, error_xml("RequestTimeTooSkewed"), {{"date", "Wed, 15 Nov 2023 01:13:20 GMT"}});
    }
    return answer(200, "ok");
  });
  ASSERT_EQ(parse_http_date("Wed, 15 Nov 2023 01:13:20 GMT").value(), server_time);
  auto r = h.store->get("k");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(h.transport->seen.size(), 2u);
  EXPECT_EQ(h.store->clock_offset_ms(), 3 * 3600 * 1000);
  EXPECT_TRUE(h.sleeps.empty()) << "re-signing after a skew answer needs no backoff";

  Harness stubborn([](const SeenRequest&, int) {
    return answer(403, error_xml("RequestTimeTooSkewed"), {{"date", "Wed, 15 Nov 2023 01:13:20 GMT"}});
  });
  auto r2 = stubborn.store->get("k");
  EXPECT_EQ(r2.error().code(), Errc::kPermissionDenied);
  EXPECT_EQ(stubborn.transport->seen.size(), 2u) << "the skew correction is tried once";
}

TEST(S3StoreRetries, DeadlineBoundsTheWholeOperation) {
  S3Options o;
  o.bucket = "bkt";
  o.endpoint = "http://127.0.0.1:9";
  o.max_attempts = 1000;
  o.retry_base_delay_ms = 20;
  o.retry_max_delay_ms = 40;
  Harness h([](const SeenRequest&, int) {
    std::this_thread::sleep_for(Millis(30));
    return answer(503, error_xml("SlowDown"));
  }, o);
  ReadOptions ro;
  ro.deadline = Deadline::after(Millis(300));
  auto start = std::chrono::steady_clock::now();
  auto r = h.store->get("k", ro);
  auto took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTimeout);
  EXPECT_LT(took, 400) << "the operation must end near its 300 ms deadline";
  EXPECT_NE(r.error().message().find("SlowDown"), std::string::npos) << "names the last failure: " << r.error().message();
}

TEST(S3StoreRetries, ExpiredTokenRefetchesCredentialsOnce) {
  Harness h([](const SeenRequest&, int call) {
    if (call == 1) return answer(403, error_xml("ExpiredToken"));
    return answer(200, "ok");
  });
  ASSERT_TRUE(h.store->get("k").ok());
  EXPECT_EQ(h.transport->seen.size(), 2u);
  EXPECT_EQ(h.metric("streamhouse_s3_credential_refreshes_total", {{"provider", "static"}}), 2);
}

TEST(S3StoreRetries, ExpiredTokenAnsweredWith400RefetchesCredentialsWhateverTheStatus) {
  // AWS answers an expired session token with 400 ExpiredToken, not 403.
  for (const char* code : {"ExpiredToken", "ExpiredTokenException", "InvalidToken",
                           "TokenRefreshRequired"}) {
    for (long status : {400L, 403L}) {
      SCOPED_TRACE(fmt::format("HTTP {} {}", status, code));
      Harness h([&](const SeenRequest&, int call) {
        if (call == 1) return answer(status, error_xml(code));
        return answer(200, "ok");
      });
      auto r = h.store->get("k");
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      EXPECT_EQ(h.transport->seen.size(), 2u) << "one re-signed attempt with fresh credentials";
      EXPECT_EQ(h.metric("streamhouse_s3_credential_refreshes_total", {{"provider", "static"}}), 2)
          << "the credentials were fetched again";
    }
  }
}

TEST(S3StoreRetries, ExpiredTokenIsRefreshedOnlyOnce) {
  Harness h([](const SeenRequest&, int) { return answer(400, error_xml("ExpiredToken")); });
  auto r = h.store->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(h.transport->seen.size(), 2u) << "no loop of refreshes";
  EXPECT_NE(r.error().message().find("ExpiredToken"), std::string::npos) << r.error().message();
}

TEST(S3StoreRetries, SecondExpiredTokenAfterTheRefreshIsCredentialsRejected) {
  // Fresh credentials that are still refused are the same as any other credential
  // rejection (kPermissionDenied: HTTP 503 50303), whether the server says 400 or 403.
  for (const char* code : {"ExpiredToken", "ExpiredTokenException", "InvalidToken",
                           "TokenRefreshRequired"}) {
    for (long status : {400L, 403L}) {
      SCOPED_TRACE(fmt::format("HTTP {} {} twice", status, code));
      Harness h([&](const SeenRequest&, int) { return answer(status, error_xml(code)); });
      auto r = h.store->get_range("dir/seg", 0, 10);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code(), Errc::kPermissionDenied) << r.error().to_string();
      EXPECT_FALSE(r.error().retryable());
      EXPECT_NE(r.error().message().find("credentials rejected"), std::string::npos)
          << r.error().message();
      EXPECT_NE(r.error().message().find("s3://bkt/pre/dir/seg"), std::string::npos)
          << r.error().message();
      EXPECT_EQ(r.error().message().find(kSecret), std::string::npos) << "secret leaked";
      EXPECT_EQ(h.transport->seen.size(), 2u) << "one refresh, then no retry";
      EXPECT_TRUE(h.sleeps.empty()) << "a rejection is not retried with backoff";
      EXPECT_EQ(h.metric("streamhouse_s3_requests_total",
                         {{"operation", "get_object"}, {"status", std::to_string(status)}}),
                2);
      EXPECT_EQ(h.metric("streamhouse_s3_credential_refreshes_total", {{"provider", "static"}}), 2);
    }
  }
}

TEST(S3StoreRetries, RequestTimeoutIsRetriedWithBackoffThenSucceeds) {
  // S3 answers 400 RequestTimeout when the client was too slow sending: retryable.
  Harness h([](const SeenRequest&, int call) {
    if (call <= 2) return answer(400, error_xml("RequestTimeout"));
    return answer(206, "0123456789", {{"content-range", "bytes 0-9/10"}});
  });
  auto r = h.store->get_range("seg", 0, 10);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->data, "0123456789");
  ASSERT_EQ(h.transport->seen.size(), 3u) << "two RequestTimeout answers, then the data";
  ASSERT_EQ(h.sleeps.size(), 2u) << "each retry waits its backoff";
  for (const auto& seen : h.transport->seen) EXPECT_NE(seen.authorization, "") << "every attempt is signed";
  EXPECT_EQ(h.metric("streamhouse_s3_requests_total", {{"operation", "get_object"}, {"status", "400"}}), 2);
  EXPECT_EQ(h.metric("streamhouse_s3_requests_total", {{"operation", "get_object"}, {"status", "206"}}), 1);
  EXPECT_EQ(h.metric("streamhouse_s3_retries_total", {{"operation", "get_object"}}), 2);
}

TEST(S3StoreRetries, RequestTimeoutEveryTimeGivesUpAsUnavailable) {
  Harness h([](const SeenRequest&, int) { return answer(400, error_xml("RequestTimeout")); });
  auto r = h.store->get_range("dir/seg", 0, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kUnavailable) << r.error().to_string();
  EXPECT_TRUE(r.error().retryable());
  EXPECT_EQ(h.transport->seen.size(), 5u) << "max_attempts defaults to 5";
  EXPECT_NE(r.error().message().find("s3://bkt/pre/dir/seg"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("HTTP 400 RequestTimeout (gave up after 5 attempts)"),
            std::string::npos)
      << r.error().message();
  EXPECT_EQ(h.metric("streamhouse_s3_requests_total", {{"operation", "get_object"}, {"status", "400"}}), 5);
  EXPECT_EQ(h.metric("streamhouse_s3_retries_total", {{"operation", "get_object"}}), 4);
}

TEST(S3StoreRetries, GivingUpOn500CountsEveryAttemptByStatus) {
  Harness h([](const SeenRequest&, int) { return answer(500, error_xml("InternalError")); });
  auto r = h.store->get_range("seg", 0, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kUnavailable);
  EXPECT_NE(r.error().message().find("HTTP 500 InternalError (gave up after 5 attempts)"),
            std::string::npos)
      << r.error().message();
  EXPECT_EQ(h.metric("streamhouse_s3_requests_total", {{"operation", "get_object"}, {"status", "500"}}), 5);
  EXPECT_EQ(h.metric("streamhouse_s3_retries_total", {{"operation", "get_object"}}), 4);
}

// What reaches a client (an error body) names the operation, bucket and key and
// the kind of failure — never the endpoint, libcurl's text or the server's prose.
void expect_no_internal_detail(const Error& e) {
  const std::string& m = e.message();
  EXPECT_EQ(m.find("http://"), std::string::npos) << m;
  EXPECT_EQ(m.find("https://"), std::string::npos) << m;
  EXPECT_EQ(m.find("127.0.0.1"), std::string::npos) << m;
  EXPECT_EQ(m.find(":9"), std::string::npos) << m;
  EXPECT_EQ(m.find("Operation timed out"), std::string::npos) << m;
  EXPECT_EQ(m.find("Failed to connect"), std::string::npos) << m;
  EXPECT_EQ(m.find("internal-host"), std::string::npos) << m;
  EXPECT_NE(m.find("s3://bkt/pre/k"), std::string::npos) << "must name bucket and key: " << m;
}

TEST(S3StoreMessages, TransportFailuresNameTheObjectAndTheClassNotTheEndpoint) {
  struct Case {
    Error error;
    Errc expect;
    const char* words;
  };
  const std::vector<Case> cases = {
      {Error(Errc::kTimeout,
             "GET http://127.0.0.1:9: Operation timed out after 5000 milliseconds with 0 bytes "
             "received",
             true),
       Errc::kTimeout, "timed out"},
      {Error(Errc::kUnavailable,
             "GET http://127.0.0.1:9: Failed to connect to 127.0.0.1 port 9: Connection refused",
             true),
       Errc::kUnavailable, "connection failed"},
      {Error(Errc::kUnavailable, "GET http://127.0.0.1:9: SSL certificate problem", false),
       Errc::kUnavailable, "connection refused by the TLS or URL setup"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error.message());
    Harness h([&](const SeenRequest&, int) -> Result<TransportResponse> { return c.error; });
    for (int op = 0; op < 3; ++op) {
      Error e = op == 0   ? h.store->get_range("k", 0, 10).error()
                : op == 1 ? h.store->get_suffix("k", 10).error()
                          : h.store->head("k").error();
      EXPECT_EQ(e.code(), c.expect) << e.to_string();
      expect_no_internal_detail(e);
      EXPECT_NE(e.message().find(c.words), std::string::npos) << e.message();
    }
  }
}

TEST(S3StoreMessages, ServerErrorTextStaysOutOfTheMessage) {
  Harness h([](const SeenRequest&, int) {
    return answer(400,
                  "<?xml version=\"1.0\"?><Error><Code>InvalidRequest</Code><Message>see "
                  "http://internal-host:8080/admin</Message></Error>");
  });
  auto r = h.store->get("k");
  ASSERT_FALSE(r.ok());
  expect_no_internal_detail(r.error());
  EXPECT_NE(r.error().message().find("HTTP 400 InvalidRequest"), std::string::npos)
      << r.error().message();
}

TEST(S3StoreMessages, CredentialFailuresNameNoEndpoint) {
  struct FailingProvider final : CredentialsProvider {
    Result<Credentials> fetch(Deadline) override {
      return Error(Errc::kUnavailable,
                   "GET http://169.254.169.254/latest/api/token: Failed to connect", false);
    }
    std::string_view name() const override { return "imds"; }
  };
  auto transport = std::make_shared<FakeTransport>(
      [](const SeenRequest&, int) -> Result<TransportResponse> { return answer(200, "ok"); });
  S3Options opts;
  opts.bucket = "bkt";
  opts.prefix = "pre/";
  opts.endpoint = "http://127.0.0.1:9";
  S3Dependencies deps;
  deps.transport = transport;
  deps.credentials = std::make_unique<FailingProvider>();
  deps.clock = std::make_shared<ManualClock>(kNow);
  deps.sleep = [](int64_t) {};
  auto store = S3ObjectStore::create(opts, std::move(deps));
  ASSERT_TRUE(store.ok()) << store.error().to_string();
  auto r = (*store)->get("k");
  ASSERT_FALSE(r.ok());
  expect_no_internal_detail(r.error());
  EXPECT_EQ(r.error().message().find("169.254"), std::string::npos) << r.error().message();
  EXPECT_TRUE(transport->seen.empty()) << "nothing is sent without credentials";
}

TEST(S3StoreList, StripsPrefixDecodesKeysAndPassesContinuation) {
  Harness h([](const SeenRequest& s, int) {
    if (s.url.find("continuation-token=") == std::string::npos) {
      return answer(200,
                    "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t+1/=</NextContinuationToken>"
                    "<Contents><Key>pre/a%20b</Key><Size>3</Size><ETag>&quot;x&quot;</ETag></Contents>"
                    "<CommonPrefixes><Prefix>pre/dir/</Prefix></CommonPrefixes></ListBucketResult>");
    }
    return answer(200, "<ListBucketResult><IsTruncated>false</IsTruncated>"
                       "<Contents><Key>pre/z</Key><Size>1</Size></Contents></ListBucketResult>");
  });
  ListOptions lo;
  lo.delimiter = "/";
  lo.start_after = "a";
  auto p1 = h.store->list(lo);
  ASSERT_TRUE(p1.ok()) << p1.error().to_string();
  ASSERT_EQ(p1->objects.size(), 1u);
  EXPECT_EQ(p1->objects[0].key, "a b");
  EXPECT_EQ(p1->objects[0].size, 3u);
  ASSERT_EQ(p1->common_prefixes.size(), 1u);
  EXPECT_EQ(p1->common_prefixes[0], "dir/");
  EXPECT_EQ(p1->next_continuation_token, "t+1/=");
  const std::string& url = h.transport->seen[0].url;
  EXPECT_NE(url.find("prefix=pre%2F"), std::string::npos) << url;
  EXPECT_NE(url.find("start-after=pre%2Fa"), std::string::npos) << url;
  EXPECT_NE(url.find("encoding-type=url"), std::string::npos) << url;
  lo.continuation_token = p1->next_continuation_token;
  auto p2 = h.store->list(lo);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->objects[0].key, "z");
  EXPECT_EQ(p2->next_continuation_token, "");
  EXPECT_NE(h.transport->seen[1].url.find("continuation-token=t%2B1%2F%3D"), std::string::npos);

  Harness bad([](const SeenRequest&, int) { return answer(200, "<ListBucketResult><Contents>"); });
  EXPECT_EQ(bad.store->list({}).error().code(), Errc::kBadResponse);
}

TEST(S3StorePut, SendsBodyWithItsHash) {
  Harness h([](const SeenRequest&, int) { return answer(200, ""); });
  std::string body = "segment bytes";
  ASSERT_TRUE(h.store->put("t/0/seg", body).ok());
  ASSERT_EQ(h.transport->seen.size(), 1u);
  EXPECT_EQ(h.transport->seen[0].method, "PUT");
  EXPECT_EQ(h.transport->seen[0].body, body);
  EXPECT_EQ(h.transport->seen[0].headers["x-amz-content-sha256"], sha256_hex(body));
  EXPECT_EQ(h.store->describe(), "s3://bkt/pre/");
  EXPECT_EQ(h.transport->seen[0].headers.count("if-none-match"), 0u) << "a plain put is unconditional";
}

TEST(S3StorePut, PutIfAbsentSendsIfNoneMatchAnd412IsAlreadyExists) {
  Harness created([](const SeenRequest&, int) { return answer(200, ""); });
  ASSERT_TRUE(created.store->put_if_absent("t/0/seg", "bytes").ok());
  ASSERT_EQ(created.transport->seen.size(), 1u);
  EXPECT_EQ(created.transport->seen[0].method, "PUT");
  EXPECT_EQ(created.transport->seen[0].headers["if-none-match"], "*");

  Harness exists([](const SeenRequest&, int) { return answer(412, error_xml("PreconditionFailed")); });
  auto st = exists.store->put_if_absent("t/0/seg", "bytes");
  ASSERT_FALSE(st.ok()) << "a 412 to If-None-Match: * means the key exists";
  EXPECT_EQ(st.error().code(), Errc::kAlreadyExists) << st.error().to_string();
  EXPECT_NE(st.error().message().find("s3://bkt/pre/t/0/seg"), std::string::npos) << st.error().message();
  EXPECT_EQ(exists.transport->seen.size(), 1u) << "412 must not be retried";

  Harness flaky([](const SeenRequest&, int call) {
    return call == 1 ? answer(503, error_xml("SlowDown")) : answer(200, "");
  });
  ASSERT_TRUE(flaky.store->put_if_absent("t/0/seg", "bytes").ok());
  ASSERT_EQ(flaky.transport->seen.size(), 2u);
  EXPECT_EQ(flaky.transport->seen[1].headers["if-none-match"], "*") << "every attempt stays conditional";
}

}  // namespace
}  // namespace sh::s3
