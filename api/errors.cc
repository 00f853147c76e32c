#include "api/errors.h"

#include "api/json_writer.h"
#include "core/text/utf8.h"

namespace sh::api {

ApiError to_api_error(const Error& e) {
  switch (e.code()) {
    case Errc::kInvalidArgument: return {kBadParameter, e.message()};
    case Errc::kTopicNotFound: return {kUnknownTopic, e.message()};
    case Errc::kPartitionNotFound: return {kUnknownPartition, e.message()};
    case Errc::kGroupNotFound: return {kUnknownGroup, e.message()};
    case Errc::kOffsetOutOfRange: return {kOffsetOutOfRange, e.message()};
    case Errc::kNotFound:
      // A segment the metadata names but the store does not have: the log is unreadable.
      return {kBadUpstreamResponse, "segment object missing: " + e.message()};
    case Errc::kOutOfRange:
      // A range read past the end of a stored object (its own footer or metadata
      // placed the range there): the stored data disagrees with itself.
      return {kBadUpstreamResponse, "stored object is shorter than the range its index names: " + e.message()};
    case Errc::kCorrupt: return {kCorruptSegment, "corrupt segment: " + e.message()};
    case Errc::kBadResponse: return {kBadUpstreamResponse, e.message()};
    case Errc::kPreconditionFailed:
      return {kBadUpstreamResponse, "segment object changed while reading: " + e.message()};
    case Errc::kUnavailable: return {kStorageUnavailable, e.message()};
    case Errc::kPermissionDenied: return {kStorageDenied, e.message()};
    case Errc::kTimeout: return {kUpstreamTimeout, e.message()};
    case Errc::kResourceExhausted: return {kOverloaded, e.message()};
    case Errc::kAlreadyExists:
    case Errc::kInternal: return {kInternal, "internal error: " + e.message()};
  }
  return {kInternal, "internal error"};
}

namespace {

HttpResponse json_error(int error_code, const std::string& message, std::string extra_fields) {
  HttpResponse r;
  r.status = error_code / 100;
  r.body.reserve(64 + message.size());
  JsonWriter w(&r.body);
  w.ch('{').key("error_code").number(static_cast<int64_t>(error_code)).ch(',').key("message");
  if (text::valid_utf8(message)) {
    w.string(message);
  } else {
    w.string("(message not valid UTF-8)");
  }
  w.raw(extra_fields).ch('}');
  if (r.status == 503 || r.status == 429) r.with_header("Retry-After", "1");
  return r;
}

}  // namespace

HttpResponse error_response(const ApiError& e) { return json_error(e.error_code, e.message, ""); }

HttpResponse error_response(int error_code, std::string message) {
  return json_error(error_code, message, "");
}

HttpResponse offset_out_of_range_response(const std::string& message, uint64_t log_start_offset,
                                          uint64_t high_watermark) {
  std::string extra;
  JsonWriter w(&extra);
  w.ch(',').key("log_start_offset").number(log_start_offset);
  w.ch(',').key("high_watermark").number(high_watermark);
  return json_error(kOffsetOutOfRange, message, extra);
}

}  // namespace sh::api
