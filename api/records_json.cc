#include "api/records_json.h"

#include "api/json_writer.h"
#include "core/text/utf8.h"

namespace sh::api {
namespace {

// How a key or value is written: the one decision both the writer and the
// size calculation follow.
enum class Shape { kNull, kBase64, kString, kRaw };
struct Choice {
  Shape shape;
  std::string_view encoding;  // "" when no *_encoding field is needed
  JsonStringScan scan{};      // for kString
};

Choice choose(std::optional<std::string_view> v, RecordFormat fmt, bool allow_json) {
  if (!v) return {Shape::kNull, ""};
  if (fmt == RecordFormat::kBase64) return {Shape::kBase64, ""};
  if (allow_json && fmt == RecordFormat::kJson) {
    if (!text::valid_utf8(*v)) return {Shape::kBase64, "base64"};
    if (is_json_text(*v)) return {Shape::kRaw, ""};
    return {Shape::kString, "string", scan_json_string(*v)};
  }
  // One pass finds both the escapes and whether the bytes are plain ASCII;
  // only other bytes need the full UTF-8 check.
  const JsonStringScan scan = scan_json_string(*v);
  if (!scan.ascii && !text::valid_utf8(*v)) return {Shape::kBase64, "base64"};
  return {Shape::kString, "", scan};
}

// Writes a key or value and returns the encoding used.
std::string_view write_bytes(JsonWriter& w, std::optional<std::string_view> v, RecordFormat fmt,
                             bool allow_json) {
  const Choice c = choose(v, fmt, allow_json);
  switch (c.shape) {
    case Shape::kNull: w.null(); break;
    case Shape::kBase64: w.base64(*v); break;
    case Shape::kString: w.string(*v, c.scan); break;
    case Shape::kRaw: w.raw(*v); break;
  }
  return c.encoding;
}

// Bytes write_bytes writes, plus those of the `,"<field>_encoding":"..."` it calls for.
uint64_t bytes_size(std::optional<std::string_view> v, RecordFormat fmt, bool allow_json,
                    size_t encoding_field_name) {
  const Choice c = choose(v, fmt, allow_json);
  uint64_t n = 0;
  switch (c.shape) {
    case Shape::kNull: n = 4; break;
    case Shape::kBase64: n = json_base64_size(v->size()); break;
    case Shape::kString: n = json_string_size(*v, c.scan); break;
    case Shape::kRaw: n = v->size(); break;
  }
  // ,"key_encoding":"base64"
  if (!c.encoding.empty()) n += 1 + (encoding_field_name + 2) + 1 + (c.encoding.size() + 2);
  return n;
}

RecordFormat header_value_format(RecordFormat fmt) {
  return fmt == RecordFormat::kJson ? RecordFormat::kString : fmt;
}

}  // namespace

void append_record_json(std::string* out, const RecordView& r, RecordFormat fmt) {
  // Punctuation and field names go in as one literal each: a record is ~20
  // appends, not ~40.
  JsonWriter w(out);
  w.raw(R"({"offset":)").number(r.offset).raw(R"(,"timestamp":)").number(r.timestamp);
  w.raw(R"(,"key":)");
  std::string_view key_enc = write_bytes(w, r.key, fmt, false);
  w.raw(R"(,"value":)");
  std::string_view value_enc = write_bytes(w, r.value, fmt, true);
  w.raw(R"(,"headers":[)");
  bool first = true;
  for (const HeaderView& h : r.headers) {
    w.raw(first ? R"({"key":)" : R"(,{"key":)");
    first = false;
    std::string_view hk_enc = write_bytes(w, h.key, RecordFormat::kString, false);
    w.raw(R"(,"value":)");
    std::string_view hv_enc = write_bytes(w, h.value, header_value_format(fmt), false);
    if (!hk_enc.empty()) w.raw(R"(,"key_encoding":)").string(hk_enc);
    if (!hv_enc.empty()) w.raw(R"(,"value_encoding":)").string(hv_enc);
    w.ch('}');
  }
  if (key_enc.empty() && value_enc.empty()) {
    w.raw("]}");
    return;
  }
  w.ch(']');
  if (!key_enc.empty()) w.raw(R"(,"key_encoding":)").string(key_enc);
  if (!value_enc.empty()) w.raw(R"(,"value_encoding":)").string(value_enc);
  w.ch('}');
}

uint64_t encoded_record_size(const RecordView& r, RecordFormat fmt) {
  constexpr size_t kKeyEnc = sizeof("key_encoding") - 1, kValueEnc = sizeof("value_encoding") - 1;
  // {"offset":N,"timestamp":N,"key":K,"value":V,"headers":[...]}
  uint64_t n = sizeof(R"({"offset":,"timestamp":,"key":,"value":,"headers":[]})") - 1;
  n += json_number_size(r.offset) + json_number_size(r.timestamp);
  n += bytes_size(r.key, fmt, false, kKeyEnc);
  n += bytes_size(r.value, fmt, true, kValueEnc);
  for (size_t i = 0; i < r.headers.size(); ++i) {
    const HeaderView& h = r.headers[i];
    // {"key":K,"value":V}
    n += (i == 0 ? 0 : 1) + sizeof(R"({"key":,"value":})") - 1;
    n += bytes_size(h.key, RecordFormat::kString, false, kKeyEnc);
    n += bytes_size(h.value, header_value_format(fmt), false, kValueEnc);
  }
  return n;
}

std::string encode_records_response(std::string_view topic, int32_t partition,
                                    const read::ReadResult& result, RecordFormat fmt) {
  std::string out;
  // result.bytes counts the records' encoded bytes (LogReader charges encoded_record_size).
  out.reserve(256 + result.bytes + result.records.size());
  JsonWriter w(&out);
  w.ch('{').key("topic").string(topic).ch(',').key("partition").number(partition);
  w.ch(',').key("records").ch('[');
  if (!result.records.empty() && result.records.front().encoded != nullptr) {
    // Read with record_encoder(kRecords, fmt): each record's object and its
    // ',' are kept with its block; the last ',' goes.
    read::append_encoded(result.records, &out);
    out.pop_back();
  } else {
    std::vector<HeaderView> scratch;
    bool first = true;
    for (const read::RecordRef& ref : result.records) {
      if (!first) w.ch(',');
      first = false;
      append_record_json(&out, ref.block->record(ref.index, &scratch), fmt);
    }
  }
  w.ch(']');
  w.ch(',').key("next_offset").number(result.next_offset);
  w.ch(',').key("high_watermark").number(result.high_watermark);
  w.ch(',').key("log_start_offset").number(result.log_start_offset);
  w.ch('}');
  return out;
}

}  // namespace sh::api
