#include "api/record_encoders.h"

#include <array>

#include "api/json_writer.h"

namespace sh::api {

void flatten_line_breaks(std::string* out, size_t from) {
  for (size_t i = from; i < out->size(); ++i) {
    char& c = (*out)[i];
    if (c == '\n' || c == '\r') c = ' ';
  }
}

void append_framed_record(std::string* out, const RecordView& r, RecordFraming framing,
                          RecordFormat fmt, int32_t partition) {
  switch (framing) {
    case RecordFraming::kRecords:
      append_record_json(out, r, fmt);
      out->push_back(',');
      return;
    case RecordFraming::kTopic: {
      // {"partition":P, then the record object's fields without its '{'.
      JsonWriter(out).ch('{').key("partition").number(partition).ch(',');
      const size_t at = out->size();
      append_record_json(out, r, fmt);
      out->erase(at, 1);
      out->push_back(',');
      return;
    }
    case RecordFraming::kNdjson: {
      const size_t from = out->size();
      append_record_json(out, r, fmt);
      if (fmt == RecordFormat::kJson) flatten_line_breaks(out, from);
      out->push_back('\n');
      return;
    }
    case RecordFraming::kTopicStream: {
      JsonWriter(out).ch('{').key("partition").number(partition).ch(',');
      const size_t at = out->size();
      append_record_json(out, r, fmt);
      out->erase(at, 1);
      if (fmt == RecordFormat::kJson) flatten_line_breaks(out, at);
      return;
    }
    case RecordFraming::kSse: {
      out->append("id: ");
      JsonWriter(out).number(r.offset);
      out->append("\ndata: ");
      const size_t from = out->size();
      append_record_json(out, r, fmt);
      if (fmt == RecordFormat::kJson) flatten_line_breaks(out, from);
      out->append("\n\n");
      return;
    }
  }
}

namespace {

constexpr size_t kFormats = 3;

size_t format_index(RecordFormat fmt) {
  switch (fmt) {
    case RecordFormat::kString: return 0;
    case RecordFormat::kBase64: return 1;
    case RecordFormat::kJson: return 2;
  }
  return 0;
}

class FramedEncoder final : public format::RecordEncoder {
 public:
  FramedEncoder(RecordFraming framing, RecordFormat fmt, int32_t partition)
      : framing_(framing), fmt_(fmt), partition_(partition) {}
  size_t slot() const override {
    return static_cast<size_t>(framing_) * kFormats + format_index(fmt_);
  }
  void encode(const RecordView& r, std::string* out) const override {
    append_framed_record(out, r, framing_, fmt_, partition_);
  }

 private:
  const RecordFraming framing_;
  const RecordFormat fmt_;
  const int32_t partition_;
};

static_assert((static_cast<size_t>(RecordFraming::kTopicStream) + 1) * kFormats <=
              format::RecordEncoder::kSlots);

}  // namespace

std::shared_ptr<const format::RecordEncoder> record_encoder(RecordFraming framing,
                                                            RecordFormat fmt,
                                                            int32_t partition) {
  if (framing != RecordFraming::kTopic && framing != RecordFraming::kTopicStream) {
    // One shared instance per framing and format: these never change.
    static const auto kShared = [] {
      std::array<std::shared_ptr<const format::RecordEncoder>, 4 * kFormats> all;
      const RecordFormat fmts[] = {RecordFormat::kString, RecordFormat::kBase64, RecordFormat::kJson};
      for (size_t f = 0; f < 4; ++f) {
        for (RecordFormat x : fmts) {
          all[f * kFormats + format_index(x)] =
              std::make_shared<FramedEncoder>(static_cast<RecordFraming>(f), x, 0);
        }
      }
      return all;
    }();
    return kShared[static_cast<size_t>(framing) * kFormats + format_index(fmt)];
  }
  return std::make_shared<FramedEncoder>(framing, fmt, partition);
}

}  // namespace sh::api
