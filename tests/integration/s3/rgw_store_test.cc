// S3ObjectStore against a real SigV4-enforcing S3 server (Ceph RGW started by
// the s3_rgw_start fixture). Environment: S3_ENDPOINT, S3_ACCESS, S3_SECRET, S3_BUCKET.
#include <fmt/format.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include <prometheus/registry.h>

#include "core/storage/s3/s3_object_store.h"

namespace sh::s3 {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A prefix no other run has used, so tests never see each other's objects.
std::string unique_prefix(const std::string& name) {
  static std::mt19937_64 rng(std::random_device{}());
  return "it-" + name + "-" + std::to_string(rng() % 1000000000) + "/";
}

struct Rgw {
  std::string endpoint = env("S3_ENDPOINT");
  std::string access = env("S3_ACCESS");
  std::string secret = env("S3_SECRET");
  std::string bucket = env("S3_BUCKET");

  S3Options options(const std::string& prefix) const {
    S3Options o;
    o.bucket = bucket;
    o.prefix = prefix;
    o.endpoint = endpoint;
    o.region = "us-east-1";
    o.access_key_id = access;
    o.secret_access_key = secret;
    return o;
  }
};

class RgwTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(rgw.endpoint.empty() || rgw.access.empty() || rgw.secret.empty() || rgw.bucket.empty())
        << "S3_ENDPOINT/S3_ACCESS/S3_SECRET/S3_BUCKET must be set (ctest sets them via the rgw fixture)";
  }
  std::shared_ptr<ObjectStore> store(const std::string& prefix, S3Options* tweak = nullptr,
                                     std::shared_ptr<Clock> clock = system_clock()) {
    S3Options o = tweak ? *tweak : rgw.options(prefix);
    auto s = make_s3_object_store(o, registry, std::move(clock));
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return s.ok() ? *s : nullptr;
  }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
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
        if (match) total += m.counter.value;
      }
    }
    return total;
  }
  Rgw rgw;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
};

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

TEST_F(RgwTest, PutThenRangedSuffixWholeAndHeadReadsAreByteExact) {
  auto s = store(unique_prefix("rw"));
  ASSERT_TRUE(s);
  const std::string data = random_bytes(1 << 20, 7);
  ASSERT_TRUE(s->put("topic/0/00000000000000000000.seg", data).ok());
  const double before = metric("streamhouse_s3_requests_total", {{"operation", "get_object"}});

  for (auto [off, len] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 1}, {0, 10}, {12345, 4096}, {(1 << 20) - 1, 1}, {1000, (1 << 20) - 1000}, {0, 1 << 20}}) {
    auto r = s->get_range("topic/0/00000000000000000000.seg", off, len);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_EQ(r->data.size(), len) << "206 must carry exactly the asked length";
    EXPECT_TRUE(r->data == data.substr(off, len)) << "bytes differ at [" << off << ", +" << len << ")";
    EXPECT_EQ(r->object_size, data.size());
    EXPECT_FALSE(r->etag.empty());
  }
  EXPECT_EQ(metric("streamhouse_s3_requests_total", {{"operation", "get_object"}, {"status", "206"}}) - before, 6)
      << "one GET per ranged read, no retries";

  auto suffix = s->get_suffix("topic/0/00000000000000000000.seg", 300);
  ASSERT_TRUE(suffix.ok()) << suffix.error().to_string();
  EXPECT_TRUE(suffix->data == data.substr(data.size() - 300));
  EXPECT_EQ(suffix->object_size, data.size());

  ASSERT_TRUE(s->put("small", "tiny object").ok());
  auto big_suffix = s->get_suffix("small", 4096);
  ASSERT_TRUE(big_suffix.ok()) << big_suffix.error().to_string();
  EXPECT_EQ(big_suffix->data, "tiny object") << "a suffix longer than the object returns the object";
  EXPECT_EQ(big_suffix->object_size, 11u);

  auto whole = s->get("topic/0/00000000000000000000.seg");
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(whole->data == data);

  auto head = s->head("topic/0/00000000000000000000.seg");
  ASSERT_TRUE(head.ok()) << head.error().to_string();
  EXPECT_EQ(head->size, data.size());
  EXPECT_EQ(head->etag, whole->etag);
  EXPECT_GT(head->mtime_ms, 1'600'000'000'000);
}

TEST_F(RgwTest, RangePastEndAndReplacedObjectAreErrorsNotWrongBytes) {
  auto s = store(unique_prefix("errs"));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->put("obj", std::string(100, 'a')).ok());
  auto past = s->get_range("obj", 90, 20);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code(), Errc::kOutOfRange) << past.error().to_string();
  auto beyond = s->get_range("obj", 500, 20);
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.error().code(), Errc::kOutOfRange) << beyond.error().to_string();

  auto first = s->get_range("obj", 0, 10);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(s->put("obj", std::string(100, 'b')).ok());
  ReadOptions pinned;
  pinned.if_match_etag = first->etag;
  auto changed = s->get_range("obj", 10, 10, pinned);
  ASSERT_FALSE(changed.ok()) << "a replaced object must not serve mixed bytes";
  EXPECT_EQ(changed.error().code(), Errc::kPreconditionFailed) << changed.error().to_string();
}

TEST_F(RgwTest, MissingObjectIsNotFoundNamingTheKey) {
  const std::string prefix = unique_prefix("missing");
  auto s = store(prefix);
  ASSERT_TRUE(s);
  auto r = s->get_range("no/such/segment.seg", 0, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kNotFound);
  EXPECT_NE(r.error().message().find(rgw.bucket + "/" + prefix + "no/such/segment.seg"), std::string::npos)
      << r.error().message();
  auto h = s->head("no/such/segment.seg");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code(), Errc::kNotFound);

  S3Options nb = rgw.options("");
  nb.bucket = "no-such-bucket-streamhouse";
  auto no_bucket = store("", &nb);
  ASSERT_TRUE(no_bucket);
  auto r2 = no_bucket->get_range("k", 0, 1);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code(), Errc::kUnavailable);
  EXPECT_NE(r2.error().message().find("bucket does not exist"), std::string::npos) << r2.error().message();
}

TEST_F(RgwTest, WrongSecretIsPermissionDeniedWithoutLeakingIt) {
  S3Options o = rgw.options(unique_prefix("auth"));
  o.secret_access_key = "WRONGsecretWRONGsecretWRONGsecret0000000";
  auto s = store("", &o);
  ASSERT_TRUE(s);
  const double before = metric("streamhouse_s3_requests_total");
  auto r = s->get_range("any", 0, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kPermissionDenied) << r.error().to_string();
  EXPECT_EQ(r.error().message().find(o.secret_access_key), std::string::npos) << "secret leaked";
  EXPECT_EQ(r.error().message().find(rgw.secret), std::string::npos) << "secret leaked";
  EXPECT_NE(r.error().message().find("SignatureDoesNotMatch"), std::string::npos) << r.error().message();
  EXPECT_EQ(metric("streamhouse_s3_requests_total") - before, 1) << "403 must not be retried";
  EXPECT_FALSE(s->list({}).ok());
  EXPECT_FALSE(s->put("x", "y").ok());
}

TEST_F(RgwTest, ListingPagesThroughMoreThanAThousandKeys) {
  const std::string prefix = unique_prefix("list");
  auto s = store(prefix);
  ASSERT_TRUE(s);
  constexpr int kKeys = 1100;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "t%d/p/%05d.seg", i % 3, i);
    keys.push_back(buf);
  }
  std::vector<std::thread> writers;
  std::atomic<int> failed{0};
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < kKeys; i += 8) {
        if (!s->put(keys[i], keys[i]).ok()) failed++;
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failed.load(), 0);
  std::sort(keys.begin(), keys.end());

  auto all = list_all(*s, "");
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  ASSERT_EQ(all->size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ((*all)[i].key, keys[i]) << "listing must be complete, sorted and relative to the store prefix";
    ASSERT_EQ((*all)[i].size, keys[i].size());
  }

  // S3 may return fewer than max-keys on a page (RGW sometimes does); what must
  // hold: pages of at most 1000, a continuation token until the end, all keys once.
  ListOptions lo;
  size_t pages = 0, total = 0;
  for (;;) {
    auto page = s->list(lo);
    ASSERT_TRUE(page.ok()) << page.error().to_string();
    EXPECT_LE(page->objects.size(), 1000u);
    total += page->objects.size();
    ++pages;
    if (page->next_continuation_token.empty()) break;
    ASSERT_LT(pages, 10u) << "listing does not end";
    lo.continuation_token = page->next_continuation_token;
  }
  EXPECT_GE(pages, 2u) << "1,100 keys need more than one page";
  EXPECT_EQ(total, keys.size());

  ListOptions dl;
  dl.delimiter = "/";
  auto dirs = s->list(dl);
  ASSERT_TRUE(dirs.ok());
  EXPECT_TRUE(dirs->objects.empty());
  EXPECT_EQ(dirs->common_prefixes, (std::vector<std::string>{"t0/", "t1/", "t2/"}));

  auto after = list_all(*s, "t1/", "t1/p/01000.seg");
  ASSERT_TRUE(after.ok());
  for (const auto& o : *after) EXPECT_GT(o.key, "t1/p/01000.seg");
  EXPECT_EQ(after->size(), static_cast<size_t>(std::count_if(keys.begin(), keys.end(), [](const std::string& k) {
              return k.rfind("t1/", 0) == 0 && k > "t1/p/01000.seg";
            })));
}

TEST_F(RgwTest, OddKeyNamesRoundTrip) {
  auto s = store(unique_prefix("odd"));
  ASSERT_TRUE(s);
  const std::vector<std::string> keys = {
      "with space", "plus+sign", "percent%25and%", "tilde~", "\xc3\xa9t\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac",
      "double//slash", "q?and#hash", "a=b&c=d", "star*(paren)!'", "semi;colon:at@dollar$",
      "emoji\xf0\x9f\x98\x80", "trailing.", "-leading-dash"};
  for (const auto& k : keys) {
    ASSERT_TRUE(s->put(k, "value of " + k).ok()) << "put " << k;
    auto g = s->get(k);
    ASSERT_TRUE(g.ok()) << k << ": " << g.error().to_string();
    EXPECT_EQ(g->data, "value of " + k);
    auto r = s->get_range(k, 0, 5);
    ASSERT_TRUE(r.ok()) << k;
    EXPECT_EQ(r->data, "value");
  }
  auto all = list_all(*s, "");
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  std::set<std::string> listed;
  for (const auto& o : *all) listed.insert(o.key);
  EXPECT_EQ(listed, std::set<std::string>(keys.begin(), keys.end())) << "listing must return the exact key bytes";
}

TEST_F(RgwTest, DotSegmentKeysReachTheServerExactlyAsSigned) {
  auto s = store(unique_prefix("dots"));
  ASSERT_TRUE(s);
  // curl would squash "/./" and "/../" (and the signature would then not match
  // the path RGW sees) without CURLOPT_PATH_AS_IS.
  const std::vector<std::string> keys = {"a/./b.seg", "a/../b.seg", "c/.", "d/..", "./e", "../f"};
  for (const auto& k : keys) {
    auto p = s->put(k, "value of " + k);
    ASSERT_TRUE(p.ok()) << "put " << k << ": " << p.error().to_string();
    auto g = s->get(k);
    ASSERT_TRUE(g.ok()) << k << ": " << g.error().to_string();
    EXPECT_EQ(g->data, "value of " + k) << "key " << k << " must name its own object";
  }
  auto all = list_all(*s, "");
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  std::set<std::string> listed;
  for (const auto& o : *all) listed.insert(o.key);
  EXPECT_EQ(listed, std::set<std::string>(keys.begin(), keys.end()));
}

TEST_F(RgwTest, PutIfAbsentNeverReplacesAndHasOneWinnerUnderRace) {
  auto s = store(unique_prefix("cond"));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->put_if_absent("t/0/seg", "first").ok());
  auto again = s->put_if_absent("t/0/seg", "second");
  ASSERT_FALSE(again.ok()) << "RGW accepted a PUT with If-None-Match: * over an existing key";
  EXPECT_EQ(again.error().code(), Errc::kAlreadyExists) << again.error().to_string();
  auto g = s->get("t/0/seg");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->data, "first");

  constexpr int kThreads = 8;
  for (int round = 0; round < 5; ++round) {
    const std::string key = fmt::format("race/{}", round);
    std::vector<Status> results(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] { results[i] = s->put_if_absent(key, fmt::format("writer {}", i)); });
    }
    for (auto& t : threads) t.join();
    int winners = 0, winner = -1;
    for (int i = 0; i < kThreads; ++i) {
      if (results[i].ok()) {
        ++winners;
        winner = i;
      } else {
        EXPECT_EQ(results[i].error().code(), Errc::kAlreadyExists) << results[i].error().to_string();
      }
    }
    ASSERT_EQ(winners, 1) << "round " << round << ": concurrent conditional PUTs of one key";
    auto got = s->get(key);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->data, fmt::format("writer {}", winner));
  }
}

TEST_F(RgwTest, ConcurrentReadsShareFewConnectionsOnEitherTransport) {
  for (auto kind : {S3Options::Transport::kMulti, S3Options::Transport::kEasy}) {
    SCOPED_TRACE(kind == S3Options::Transport::kMulti ? "multi" : "easy");
    S3Options o = rgw.options(unique_prefix("conc"));
    o.transport = kind;
    o.max_connections = 8;
    auto s = store("", &o);
    ASSERT_TRUE(s);
    std::string data(64 * 1024, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + 3);
    ASSERT_TRUE(s->put("obj", data).ok());
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 32; ++t) {
      threads.emplace_back([&, t] {
        for (int j = 0; j < 8; ++j) {
          const uint64_t off = static_cast<uint64_t>((t * 8 + j) * 200);
          auto r = s->get_range("obj", off, 100);
          if (!r.ok() || r->data != data.substr(off, 100)) wrong++;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0) << "concurrent ranged reads returned errors or wrong bytes";
  }
}

TEST_F(RgwTest, ClockSkewIsCorrectedFromTheServerDate) {
  auto skewed = std::make_shared<ManualClock>(system_clock()->now_unix_ms() - 2 * 3600 * 1000);
  auto s = store(unique_prefix("skew"), nullptr, skewed);
  ASSERT_TRUE(s);
  auto r = s->put("k", "v");
  ASSERT_TRUE(r.ok()) << "a 2 h slow clock must be corrected from RequestTimeTooSkewed: " << r.error().to_string();
  EXPECT_EQ(metric("streamhouse_s3_requests_total", {{"operation", "put_object"}, {"status", "403"}}), 1);
}

TEST_F(RgwTest, UnreachableServerFailsWithinTheDeadline) {
  // Nothing listens here: connection refused on every attempt.
  S3Options o = rgw.options("");
  o.endpoint = "http://127.0.0.1:18399";
  auto s = store("", &o);
  ASSERT_TRUE(s);
  ReadOptions ro;
  ro.deadline = Deadline::after(Millis(1500));
  auto start = std::chrono::steady_clock::now();
  auto r = s->get_range("k", 0, 10, ro);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().code() == Errc::kUnavailable || r.error().code() == Errc::kTimeout) << r.error().to_string();
  EXPECT_LE(took, 1700);

  // A server that accepts connections but never answers (a hung RGW).
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  o.endpoint = fmt::format("http://127.0.0.1:{}", ntohs(addr.sin_port));
  auto hung = store("", &o);
  ASSERT_TRUE(hung);
  ro.deadline = Deadline::after(Millis(1000));
  start = std::chrono::steady_clock::now();
  auto r2 = hung->get_range("k", 0, 10, ro);
  took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  close(fd);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code(), Errc::kTimeout) << r2.error().to_string();
  EXPECT_LE(took, 1300) << "a hung server must not hold the caller past its deadline";
}

}  // namespace
}  // namespace sh::s3
