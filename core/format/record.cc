#include "core/format/record.h"

#include "core/format/coding.h"

namespace sh {

Record RecordView::to_record() const {
  Record r;
  r.offset = offset;
  r.timestamp = timestamp;
  if (key) r.key.emplace(*key);
  if (value) r.value.emplace(*value);
  r.headers.reserve(headers.size());
  for (const HeaderView& h : headers) {
    RecordHeader& out = r.headers.emplace_back();
    out.key.assign(h.key);
    if (h.value) out.value.emplace(*h.value);
  }
  return r;
}

namespace {
size_t nullable_size(const std::optional<std::string>& s) {
  if (!s) return static_cast<size_t>(coding::uvarint_length(coding::zigzag_encode(-1)));
  return static_cast<size_t>(
             coding::uvarint_length(coding::zigzag_encode(static_cast<int64_t>(s->size())))) +
         s->size();
}
}  // namespace

size_t encoded_record_size(const Record& r, uint64_t first_offset, int64_t first_timestamp) {
  // Deltas are taken modulo 2^64 (see docs/segment-format.md), so no overflow.
  const auto ts_delta = static_cast<int64_t>(static_cast<uint64_t>(r.timestamp) -
                                             static_cast<uint64_t>(first_timestamp));
  size_t n = static_cast<size_t>(coding::uvarint_length(r.offset - first_offset));
  n += static_cast<size_t>(coding::uvarint_length(coding::zigzag_encode(ts_delta)));
  n += nullable_size(r.key);
  n += nullable_size(r.value);
  n += static_cast<size_t>(coding::uvarint_length(r.headers.size()));
  for (const RecordHeader& h : r.headers) {
    n += static_cast<size_t>(coding::uvarint_length(h.key.size())) + h.key.size();
    n += nullable_size(h.value);
  }
  return n;
}

}  // namespace sh
