// S3's XML and the text fields around it (core/storage/s3): <Error> bodies
// (parse_s3_error, s3_error_to_error), ListObjectsV2 pages
// (parse_list_objects_v2, with and without encoding-type=url), the percent
// decoder behind them, and the date parsers.
//
// Input: [flags][body]. flags picks the HTTP status of the error answer and
// whether the listing was url-encoded.
//
// Invariants: the retryable flag is is_retryable_s3_error's and never set for
// 403/404/412/416; the error names the operation first; a truncated page has
// a continuation token and every object a key; uri_decode inverts uri_encode.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/storage/s3/aws_time.h"
#include "core/storage/s3/s3_errors.h"
#include "core/storage/s3/s3_xml.h"
#include "core/storage/s3/uri_encoding.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace sh;
using namespace sh::s3;

constexpr long kStatuses[] = {200, 206, 301, 400, 403, 404, 409, 412, 416, 429, 500, 501, 503, 504};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const long status = kStatuses[(flags >> 1) % std::size(kStatuses)];

  const S3ErrorInfo info = parse_s3_error(status, body);
  FUZZ_CHECK(info.http_status == status, "status kept");
  FUZZ_CHECK(info.retryable == is_retryable_s3_error(status, info.code), "retryable flag");
  if (status == 403 || status == 404 || status == 412 || status == 416) {
    FUZZ_CHECK(!info.retryable, "403/404/412/416 are never retried");
  }
  const std::string what = "GET s3://bucket/key bytes=0-9";
  const Error e = s3_error_to_error(info, what);
  FUZZ_CHECK(e.message().rfind(what, 0) == 0, "the error names the operation first");
  FUZZ_CHECK(!e.retryable() || info.retryable, "only retryable answers give retryable errors");

  auto page = parse_list_objects_v2(body, flags & 1);
  if (page.ok()) {
    FUZZ_CHECK(!page->is_truncated || !page->next_continuation_token.empty(),
               "a truncated page has a continuation token");
    for (const ObjectInfo& o : page->objects) FUZZ_CHECK(!o.key.empty(), "objects have keys");
  } else {
    FUZZ_CHECK(page.error().code() == Errc::kBadResponse, "a bad listing is kBadResponse");
  }

  for (bool keep_slash : {false, true}) {
    const std::string enc = uri_encode(body, keep_slash);
    auto dec = uri_decode(enc, /*plus_as_space=*/true);
    FUZZ_CHECK(dec && *dec == body, "uri_decode(uri_encode(x)) == x");
  }
  if (auto dec = uri_decode(body, flags & 1)) {
    FUZZ_CHECK(dec->size() <= body.size(), "decoding never grows");
  }
  (void)parse_iso8601(body);
  (void)parse_http_date(body);
  return 0;
}
