// The execution model, end to end in one process: HttpServer + ApiService over a
// real LocalObjectStore made slow by the fault-injecting decorator (slowness on
// demand is what a real store cannot give). Storage work runs on the IoEngine, so
// a slow store never delays /healthz; a full engine queue is 503 + Retry-After;
// a request's deadline counts from its arrival; /readyz never lists the store.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <atomic>
#include <future>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <prometheus/registry.h>

#include "api/api_service.h"
#include "api/http_server.h"
#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/watermark_notifier.h"
#include "core/storage/local_object_store.h"
#include "tests/e2e/support/process.h"
#include "tests/support/fault_injecting_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::api {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

struct Harness {
  Harness(exec::IoEngineOptions engine_options, int64_t request_timeout_ms,
          std::optional<exec::IoEngineOptions> commit_engine_options = std::nullopt) {
    auto local = LocalObjectStore::open(dir.path().string(), true);
    EXPECT_TRUE(local.ok());
    // One segment of 4,000 records in small blocks: reads at far-apart offsets
    // need different blocks (no single-flight sharing).
    format::SegmentWriterOptions wo;
    wo.block_bytes = 2048;
    format::SegmentWriter w(wo);
    for (uint64_t o = 0; o < 4000; ++o) {
      Record r;
      r.offset = o;
      r.timestamp = static_cast<int64_t>(o);
      r.value = std::string(100, static_cast<char>('a' + o % 26));
      EXPECT_TRUE(w.add(r).ok());
    }
    auto bytes = w.finish();
    EXPECT_TRUE(bytes.ok());
    EXPECT_TRUE((*local)->put(format::segment_key("", "t", 0, 0), *bytes, {}).ok());

    store = std::make_shared<testing::FaultInjectingObjectStore>(*local);
    metadata = std::make_shared<ListingMetadataStore>(store);
    registry = std::make_shared<prometheus::Registry>();
    reader = std::make_shared<read::LogReader>(metadata, store, read::LogReaderOptions{}, *registry);
    notifier = std::make_shared<read::WatermarkNotifier>(reader, read::WatermarkNotifierOptions{},
                                                         *registry);
    engine = std::make_shared<exec::IoEngine>(engine_options, *registry);
    prober = std::make_shared<ReadinessProber>(metadata, store);
    prober->start();
    ApiOptions ao;
    ao.request_timeout_ms = request_timeout_ms;
    if (commit_engine_options) {
      commit_engine = std::make_shared<exec::IoEngine>(*commit_engine_options, *registry);
      ao.commit_engine = commit_engine;
    }
    service = std::make_shared<ApiService>(reader, metadata, store, notifier, registry, engine,
                                           prober, ao);
    HttpServerOptions ho;
    ho.port = 0;
    ho.threads = 2;
    auto s = HttpServer::start(ho, [svc = service](HttpRequest&& req, Responder resp) {
      svc->handle(std::move(req), std::move(resp));
    });
    EXPECT_TRUE(s.ok());
    server = std::move(*s);
    // Index and footer loaded once, so later reads only fetch blocks.
    EXPECT_EQ(get("/topics/t/partitions/0/records?offset=0&max_records=1").status, 200);
    // That read ran on the engine, whose thread answers and only then counts
    // itself free: tests that count running tasks start from an idle engine
    // (under a sanitizer on a loaded machine the gap was seen to last long
    // enough for a test's own requests to arrive first).
    for (int i = 0; i < 2500 && (engine->running() > 0 || engine->queued() > 0); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_EQ(engine->running(), 0u) << "the harness's first read never let go of its engine thread";
  }
  ~Harness() {
    server->stop(2000);
    notifier->shutdown();
    prober->stop();
    engine->stop();
    if (commit_engine) commit_engine->stop();
  }

  testing::HttpResult get(const std::string& path, long timeout_ms = 20000) {
    return testing::http_get("http://127.0.0.1:" + std::to_string(server->port()) + path, {},
                             timeout_ms);
  }

  sh::testing::ScratchDir dir;
  std::shared_ptr<testing::FaultInjectingObjectStore> store;
  std::shared_ptr<ListingMetadataStore> metadata;
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<read::LogReader> reader;
  std::shared_ptr<read::WatermarkNotifier> notifier;
  std::shared_ptr<exec::IoEngine> engine;
  std::shared_ptr<exec::IoEngine> commit_engine;
  std::shared_ptr<ReadinessProber> prober;
  std::shared_ptr<ApiService> service;
  std::unique_ptr<HttpServer> server;
};

TEST(ApiEngineTest, ASlowStoreDoesNotDelayHealthzAndAFullQueueIs503) {
  // 2 engine threads, 2 queue slots, both HTTP workers free: 8 cold reads of
  // different blocks against a store that takes 1.5 s per block.
  Harness h({/*threads=*/2, /*max_queued=*/2}, 10000);
  h.store->add(testing::FaultRule::delay("get_range", 1500));
  // Sent in three waves so the outcome does not depend on how fast the engine
  // threads dequeue: 2 start running, 2 wait in the queue, 4 find it full.
  std::vector<std::future<testing::HttpResult>> reads;
  auto send = [&](int i) {
    reads.push_back(std::async(std::launch::async, [&h, i] {
      return h.get(fmt::format("/topics/t/partitions/0/records?max_records=1&offset={}", i * 450));
    }));
  };
  auto wait_until = [](auto pred) {
    for (int i = 0; i < 1000 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return pred();
  };
  send(1);
  send(2);
  ASSERT_TRUE(wait_until([&] { return h.engine->running() == 2; }))
      << "two cold reads should be running on the engine";
  send(3);
  send(4);
  ASSERT_TRUE(wait_until([&] { return h.engine->queued() == 2; }))
      << "two more should wait in the engine's queue";
  for (int i = 5; i <= 8; ++i) send(i);

  int64_t worst_ms = 0;
  for (int i = 0; i < 10; ++i) {
    const auto t0 = Clock::now();
    auto health = h.get("/healthz", 5000);
    worst_ms = std::max(worst_ms, ms_since(t0));
    ASSERT_EQ(health.status, 200) << health.error;
    EXPECT_EQ(h.get("/metrics", 5000).status, 200);
  }
  EXPECT_LT(worst_ms, 500) << "/healthz must not wait behind the slow store (1.5 s per block)";

  int ok = 0, busy = 0;
  for (auto& f : reads) {
    auto r = f.get();
    if (r.status == 200) {
      ++ok;
      EXPECT_EQ(json::parse(r.body)["records"].size(), 1u) << r.body;
    } else {
      ASSERT_EQ(r.status, 503) << r.body;
      EXPECT_EQ(json::parse(r.body)["error_code"], 50304) << r.body;
      EXPECT_EQ(r.headers["retry-after"], "1") << "a busy answer tells the client when to retry";
      ++busy;
    }
  }
  EXPECT_EQ(ok, 4) << "2 running + 2 queued are served";
  EXPECT_EQ(busy, 4) << "the rest are refused at once, not queued without bound";
  auto metrics = h.get("/metrics").body;
  EXPECT_NE(metrics.find("streamhouse_io_engine_rejected_total{engine=\"requests\"} 4"), std::string::npos)
      << "refusals are counted in metrics";
}

TEST(ApiEngineTest, ARequestDeadlineCountsFromItsArrivalNotFromWhenAThreadIsFree) {
  // One engine thread, a 1 s request deadline, a store that takes 3 s: the
  // second request waits in the queue and must be answered 504 about 1 s after
  // it arrived — not after the first one's 1 s plus its own.
  Harness h({1, 10}, 1000);
  h.store->add(testing::FaultRule::delay("get_range", 3000));
  auto first = std::async(std::launch::async,
                          [&] { return h.get("/topics/t/partitions/0/records?offset=900&max_records=1"); });
  ASSERT_TRUE([&] {
    for (int i = 0; i < 500 && h.engine->running() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return h.engine->running() == 1;
  }());
  const auto t0 = Clock::now();
  auto second = h.get("/topics/t/partitions/0/records?offset=2900&max_records=1");
  const int64_t took = ms_since(t0);
  EXPECT_EQ(second.status, 504) << second.body;
  EXPECT_EQ(json::parse(second.body)["error_code"], 50401) << second.body;
  EXPECT_LT(took, 1700) << "the deadline must start when the request arrives";
  EXPECT_GE(took, 900);
  auto f = first.get();
  EXPECT_EQ(f.status, 504) << "the slow read itself ends at its deadline: " << f.body;
}

TEST(ApiEngineTest, ReadyzAnswersFromTheProberAndNeverListsTheStore) {
  Harness h({2, 16}, 10000);
  const uint64_t lists_before = h.store->calls("list");
  for (int i = 0; i < 20; ++i) ASSERT_EQ(h.get("/readyz").status, 200);
  EXPECT_LE(h.store->calls("list") - lists_before, 1u)
      << "20 probes may cost at most the prober's own round, never one LIST each";

  // The store fails: a request sees it, /readyz follows soon without a restart.
  h.store->add(testing::FaultRule::error("", Errc::kUnavailable, "injected outage"));
  EXPECT_EQ(h.get("/topics/t/partitions/0/records?offset=3999").status, 503);
  bool not_ready = false;
  for (int i = 0; i < 100 && !not_ready; ++i) {
    auto r = h.get("/readyz");
    not_ready = r.status == 503 && json::parse(r.body)["checks"]["object_store"] == "unavailable";
    if (!not_ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(not_ready) << "/readyz must report the dead store within ~2 s";
  h.store->clear();
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    ready = h.get("/readyz").status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(ready) << "the prober must see the store come back";
}

TEST(ApiEngineTest, ReadyzShowsAStableStatusNeverTheErrorText) {
  Harness h({2, 16}, 10000);
  h.store->add(testing::FaultRule::error("", Errc::kUnavailable,
                                         "connect to http://10.1.2.3:9000/bucket failed: Connection refused"));
  EXPECT_EQ(h.get("/topics/t/partitions/0/records?offset=3999").status, 503);
  testing::HttpResult r;
  // The prober's next round sees the outage; a sanitizer build on a loaded
  // machine may take longer than the ~2 s it takes here, hence 15 s.
  const auto give_up = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < give_up) {
    r = h.get("/readyz");
    if (r.status == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(r.status, 503) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["checks"]["object_store"], "unavailable");
  EXPECT_EQ(r.body.find("10.1.2.3"), std::string::npos) << "/readyz leaks an internal endpoint: " << r.body;
  EXPECT_EQ(r.body.find("refused"), std::string::npos) << "/readyz leaks the error text: " << r.body;
  for (const auto& [k, v] : j["checks"].items()) {
    if (v.is_string()) {
      EXPECT_TRUE(v == "ok" || v == "unavailable" || v == "pending") << k << " = " << v;
    }
  }
}

TEST(ApiEngineTest, ALongPollArrivingWhileDrainingIsAnsweredAtOnce) {
  Harness h({2, 16}, 10000);
  h.service->set_draining(true);
  // Without the fix it would wait its 20 s (until the drain sweep); the client gives up after 5 s.
  auto r = h.get("/topics/t/partitions/0/records?offset=latest&timeout_ms=20000", /*timeout_ms=*/5000);
  ASSERT_EQ(r.status, 503) << r.error << " " << r.body;
  EXPECT_EQ(json::parse(r.body)["error_code"], 50302) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  auto plain = h.get("/topics/t/partitions/0/records?offset=latest");
  EXPECT_EQ(plain.status, 200) << "a read that does not wait is still served while draining: " << plain.body;
}

TEST(ApiEngineTest, SlowCommitsRunOnTheirOwnEngineAndNeverStarveReads) {
  // Listing-mode commits write the group's object; here each write takes 1.5 s.
  // Eight of them at once fill the commit engine (1 thread, 10 queued), never
  // the 2 threads and 2 slots of the requests engine: a read of a cached block
  // meanwhile is answered at once.
  Harness h({/*threads=*/2, /*max_queued=*/2}, 20000, exec::IoEngineOptions{1, 10, "commits"});
  h.store->add(testing::FaultRule::delay("put", 1500));
  const std::string base = "http://127.0.0.1:" + std::to_string(h.server->port());
  std::vector<std::future<testing::HttpResult>> commits;
  for (int i = 0; i < 8; ++i) {
    commits.push_back(std::async(std::launch::async, [&, i] {
      return testing::http_request("POST", base + fmt::format("/consumer-groups/g{}/offsets", i),
                                R"({"offsets":[{"topic":"t","partition":0,"offset":1}]})",
                                {"Content-Type: application/json"}, 30000);
    }));
  }
  ASSERT_TRUE([&] {
    for (int i = 0; i < 1000 && h.commit_engine->running() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return h.commit_engine->running() == 1;
  }()) << "the commits should run on the commit engine";
  EXPECT_EQ(h.engine->running(), 0u) << "no commit takes a requests-engine thread";
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    auto r = h.get("/topics/t/partitions/0/records?offset=0&max_records=1", 5000);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_LT(ms_since(t0), 1000) << "a cached read must not wait behind the slow commits";
  }
  for (auto& c : commits) EXPECT_EQ(c.get().status, 204);
}

TEST(ApiEngineTest, ACachedReadIsAnsweredOnTheWorkerEvenWithTheEngineFull) {
  // One engine thread and one queue slot, both taken by slow cold reads: a read
  // of what is in memory (the harness read offset 0 at start) needs no engine
  // and is answered at once; a cold one is refused (503), so the engine was full.
  Harness h({/*threads=*/1, /*max_queued=*/1}, 10000);
  h.store->add(testing::FaultRule::delay("get_range", 3000));
  auto slow1 = std::async(std::launch::async, [&] { return h.get("/topics/t/partitions/0/records?offset=3000&max_records=1"); });
  ASSERT_TRUE([&] {
    for (int i = 0; i < 1000 && h.engine->running() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return h.engine->running() == 1;
  }());
  auto slow2 = std::async(std::launch::async, [&] { return h.get("/topics/t/partitions/0/records?offset=3500&max_records=1"); });
  ASSERT_TRUE([&] {
    for (int i = 0; i < 1000 && h.engine->queued() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return h.engine->queued() == 1;
  }());
  const auto t0 = Clock::now();
  auto warm = h.get("/topics/t/partitions/0/records?offset=0&max_records=1", 5000);
  EXPECT_LT(ms_since(t0), 1000) << "a cached read must not wait for the engine";
  ASSERT_EQ(warm.status, 200) << warm.body;
  EXPECT_EQ(json::parse(warm.body)["records"][0]["offset"], 0);
  auto cold = h.get("/topics/t/partitions/0/records?offset=2000&max_records=1", 5000);
  EXPECT_EQ(cold.status, 503) << "a read that needs the store still goes to the (full) engine";
  EXPECT_EQ(slow1.get().status, 200);
  EXPECT_EQ(slow2.get().status, 200);
}

namespace stream_refusal {

// A raw HTTP/1.1 client: sends one GET and reads only when told to, so the
// server's stream fills the socket and its producer pauses for room.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;  // a small receive buffer: the server's writes stall early
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    timeval tv{60, 0};  // no read waits longer (a hung server fails the test, not CI)
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool send_get(const std::string& path) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    return ok_ && ::send(fd_, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size());
  }
  // Appends up to n bytes; false on EOF, error or timeout.
  bool read_some(std::string* out, size_t n = 65536) {
    std::string buf(n, '\0');
    const ssize_t got = ::recv(fd_, buf.data(), buf.size(), 0);
    if (got <= 0) return false;
    out->append(buf.data(), static_cast<size_t>(got));
    return true;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

}  // namespace stream_refusal

TEST(ApiEngineTest, AStreamWhoseNextReadFindsTheEngineFullWaitsForItAndRunsToItsEnd) {
  // One engine thread, one queue slot. A large stream fills the client's socket
  // and its producer pauses for room; then two slow reads take the thread and
  // the slot. When the client reads again, the pump resumes the producer: its
  // next read is a continuation, queued past the full queue (never refused for
  // room: a burst of followers re-reading together once ended them with 503s),
  // and the stream runs to its end after the slow reads — no busy error, and
  // no deadlock of the pump on its own lock.
  Harness h({/*threads=*/1, /*max_queued=*/1}, 10000);
  {
    format::SegmentWriterOptions wo;
    wo.block_bytes = 64 * 1024;
    format::SegmentWriter w(wo);
    for (uint64_t o = 0; o < 60000; ++o) {
      Record r;
      r.offset = o;
      r.timestamp = static_cast<int64_t>(o);
      r.value = std::string(100, 'v');
      ASSERT_TRUE(w.add(r).ok());
    }
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(h.store->put(format::segment_key("", "big", 0, 0), *bytes, {}).ok());
  }
  stream_refusal::RawClient client(h.server->port());
  ASSERT_TRUE(client.send_get("/topics/big/partitions/0/records/stream?offset=0"));
  std::string got;
  ASSERT_TRUE(client.read_some(&got, 4096)) << "the stream starts";
  // Let the producer fill its queue and pause (nothing runs on the engine then).
  ASSERT_TRUE([&] {
    for (int i = 0; i < 1000; ++i) {
      if (h.engine->running() == 0 && h.engine->queued() == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (h.engine->running() == 0 && h.engine->queued() == 0) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }()) << "the stream's producer should pause for room";

  h.store->add(testing::FaultRule::delay("get_range", 3000).on_key("t/0/"));  // topic t only
  auto slow1 = std::async(std::launch::async, [&] { return h.get("/topics/t/partitions/0/records?offset=3000&max_records=1"); });
  ASSERT_TRUE([&] {
    for (int i = 0; i < 1000 && h.engine->running() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return h.engine->running() == 1;
  }());
  auto slow2 = std::async(std::launch::async, [&] { return h.get("/topics/t/partitions/0/records?offset=3500&max_records=1"); });
  ASSERT_TRUE([&] {
    for (int i = 0; i < 1000 && h.engine->queued() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return h.engine->queued() == 1;
  }()) << "the engine's one queue slot should be taken";

  // Drain the stream: it must end (EOF after its last line) well within the timeout.
  const auto t0 = Clock::now();
  while (client.read_some(&got)) {
  }
  // A deadlock never ends; the bound is loose for sanitizer builds.
  EXPECT_LT(ms_since(t0), 60000) << "the stream never ended";
  EXPECT_EQ(got.find("{\"error\""), std::string::npos) << "no error line: the stream waited";
  EXPECT_NE(got.find("\"offset\":59999,"), std::string::npos) << "the last record came";
  EXPECT_NE(got.find("{\"end\":{\"next_offset\":60000,\"reason\":\"high_watermark\"}}"),
            std::string::npos)
      << got.substr(got.size() > 300 ? got.size() - 300 : 0);
  EXPECT_EQ(slow1.get().status, 200);
  EXPECT_EQ(slow2.get().status, 200);
}

}  // namespace
}  // namespace sh::api
