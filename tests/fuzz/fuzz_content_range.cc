// The S3 store's checks of a GET/HEAD answer (core/storage/s3/s3_object_store.cc:
// Content-Range, Content-Length, status), driven through S3ObjectStore with a
// transport that answers with fuzzed bytes (the HttpTransport seam; no network).
//
// Input: [op u8][status u8][offset u32][length u16][body_len u16][header value...]
//   op % 4: get_range(offset, length + 1) | get_suffix(length + 1) | get | head;
//   op bit 2: the header is Content-Length instead of Content-Range;
//   op bit 3: no such header at all.
//
// Invariants: a successful get_range returns exactly the asked bytes at the
// asked position of an object at least that long; a successful get_suffix at
// most the asked length and exactly min(length, object size); get returns
// the whole body; never a retry (max_attempts 1) and never a wrong length.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/format/coding.h"
#include "core/storage/s3/credentials.h"
#include "core/storage/s3/http_transport.h"
#include "core/storage/s3/s3_object_store.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace sh;
using namespace sh::s3;

constexpr long kStatuses[] = {206, 200, 206, 416, 404, 412, 500, 503, 403, 204};

class ScriptedTransport final : public HttpTransport {
 public:
  explicit ScriptedTransport(TransportResponse r) : answer_(std::move(r)) {}
  Result<TransportResponse> send(const TransportRequest&, const SendOptions&) override {
    ++calls;
    return answer_;
  }
  int calls = 0;

 private:
  TransportResponse answer_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kFixed = 10;
  if (size < kFixed) return 0;
  const char* p = reinterpret_cast<const char*>(data);
  const uint8_t op = data[0];
  const long status = kStatuses[data[1] % std::size(kStatuses)];
  const uint64_t offset = sh::coding::decode_fixed32(p + 2);
  const uint64_t length = static_cast<uint64_t>(sh::coding::decode_fixed16(p + 6)) + 1;
  const size_t body_len = sh::coding::decode_fixed16(p + 8);
  const std::string header(p + kFixed, size - kFixed);

  TransportResponse answer;
  answer.status = status;
  answer.body.assign(body_len, 'x');
  if (!(op & 8)) answer.headers.emplace_back(op & 4 ? "content-length" : "content-range", header);
  answer.headers.emplace_back("etag", "\"e\"");
  auto transport = std::make_shared<ScriptedTransport>(answer);

  S3Options opts;
  opts.bucket = "bucket";
  opts.endpoint = "http://127.0.0.1:9";
  opts.max_attempts = 1;
  Credentials creds;
  creds.access_key_id = "AKIDFUZZ";
  creds.secret_access_key = "fuzz-secret";
  S3Dependencies deps;
  deps.transport = transport;
  deps.credentials = std::make_unique<StaticCredentialsProvider>(creds);
  deps.clock = std::make_shared<ManualClock>(1'700'000'000'000);
  deps.sleep = [](int64_t) {};
  deps.jitter = [] { return 0.0; };
  auto store = S3ObjectStore::create(opts, std::move(deps));
  FUZZ_CHECK(store.ok(), "the store is created");

  switch (op % 4) {
    case 0: {
      auto r = (*store)->get_range("t/0/seg", offset, length);
      if (r.ok()) {
        FUZZ_CHECK(status == 206, "get_range succeeds only on 206");
        FUZZ_CHECK(r->data.size() == length, "get_range returns exactly the asked length");
        FUZZ_CHECK(r->object_size >= offset + length, "the object holds the asked range");
      }
      break;
    }
    case 1: {
      auto r = (*store)->get_suffix("t/0/seg", length);
      if (r.ok()) {
        FUZZ_CHECK(r->data.size() <= length, "get_suffix returns at most the asked length");
        FUZZ_CHECK(r->data.size() == std::min(length, r->object_size), "suffix of the object size");
      }
      break;
    }
    case 2: {
      auto r = (*store)->get("t/0/seg");
      if (r.ok()) {
        FUZZ_CHECK(status == 200 && r->data.size() == body_len && r->object_size == body_len,
                   "get returns the whole body of a 200");
      }
      break;
    }
    default: {
      auto r = (*store)->head("t/0/seg");
      if (r.ok()) FUZZ_CHECK(status == 200, "head succeeds only on 200");
      break;
    }
  }
  FUZZ_CHECK(transport->calls <= 2, "one attempt (plus the HEAD of an empty suffix read)");
  return 0;
}
