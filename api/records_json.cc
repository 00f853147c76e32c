#include "api/records_json.h"

#include "api/json_writer.h"
#include "core/text/utf8.h"

namespace sh::api {
namespace {

// Writes `"<field>":<value>` for a key or value and returns the encoding used
// ("" when no *_encoding field is needed).
std::string_view write_bytes(JsonWriter& w, std::optional<std::string_view> v, RecordFormat fmt,
                             bool allow_json) {
  if (!v) {
    w.null();
    return "";
  }
  if (fmt == RecordFormat::kBase64) {
    w.base64(*v);
    return "";
  }
  if (!text::valid_utf8(*v)) {
    w.base64(*v);
    return "base64";
  }
  if (allow_json && fmt == RecordFormat::kJson) {
    if (is_json_text(*v)) {
      w.raw(*v);
      return "";
    }
    w.string(*v);
    return "string";
  }
  w.string(*v);
  return "";
}

}  // namespace

void append_record_json(std::string* out, const RecordView& r, RecordFormat fmt) {
  JsonWriter w(out);
  w.ch('{').key("offset").number(r.offset).ch(',').key("timestamp").number(r.timestamp);
  w.ch(',').key("key");
  std::string_view key_enc = write_bytes(w, r.key, fmt, false);
  w.ch(',').key("value");
  std::string_view value_enc = write_bytes(w, r.value, fmt, true);
  w.ch(',').key("headers").ch('[');
  bool first = true;
  for (const HeaderView& h : r.headers) {
    if (!first) w.ch(',');
    first = false;
    w.ch('{').key("key");
    std::string_view hk_enc = write_bytes(w, h.key, RecordFormat::kString, false);
    w.ch(',').key("value");
    std::string_view hv_enc = write_bytes(w, h.value, fmt == RecordFormat::kJson ? RecordFormat::kString : fmt, false);
    if (!hk_enc.empty()) w.ch(',').key("key_encoding").string(hk_enc);
    if (!hv_enc.empty()) w.ch(',').key("value_encoding").string(hv_enc);
    w.ch('}');
  }
  w.ch(']');
  if (!key_enc.empty()) w.ch(',').key("key_encoding").string(key_enc);
  if (!value_enc.empty()) w.ch(',').key("value_encoding").string(value_enc);
  w.ch('}');
}

std::string encode_records_response(std::string_view topic, int32_t partition,
                                    const read::ReadResult& result, RecordFormat fmt) {
  std::string out;
  // Encoded size is close to the record bytes plus per-record framing.
  out.reserve(256 + result.bytes + result.records.size() * 96);
  JsonWriter w(&out);
  w.ch('{').key("topic").string(topic).ch(',').key("partition").number(partition);
  w.ch(',').key("records").ch('[');
  std::vector<HeaderView> scratch;
  bool first = true;
  for (const read::RecordRef& ref : result.records) {
    if (!first) w.ch(',');
    first = false;
    append_record_json(&out, ref.block->record(ref.index, &scratch), fmt);
  }
  w.ch(']');
  w.ch(',').key("next_offset").number(result.next_offset);
  w.ch(',').key("high_watermark").number(result.high_watermark);
  w.ch(',').key("log_start_offset").number(result.log_start_offset);
  w.ch('}');
  return out;
}

}  // namespace sh::api
