#include "core/format/block_builder.h"

#include <algorithm>

#include "core/format/coding.h"
#include "core/format/format.h"

namespace sh::format {
namespace {

// Timestamp deltas are taken modulo 2^64, so every pair of int64 timestamps
// has a delta (no signed-overflow UB). DecodedBlock adds them back the same way.
int64_t timestamp_delta(int64_t timestamp, int64_t first_timestamp) {
  return static_cast<int64_t>(static_cast<uint64_t>(timestamp) -
                              static_cast<uint64_t>(first_timestamp));
}

uint64_t nullable_size(const std::optional<std::string_view>& s) {
  if (!s) return 1;  // svarint -1
  return static_cast<uint64_t>(
             coding::uvarint_length(coding::zigzag_encode(static_cast<int64_t>(s->size())))) +
         s->size();
}

void put_nullable(std::string* dst, const std::optional<std::string_view>& s) {
  if (!s) {
    coding::put_svarint(dst, -1);
    return;
  }
  coding::put_svarint(dst, static_cast<int64_t>(s->size()));
  dst->append(*s);
}

// Bytes of `r` after its two deltas. Each term is bounded by the caller's
// memory, so the sum cannot overflow 64 bits.
uint64_t size_after_deltas(const RecordView& r) {
  uint64_t n = nullable_size(r.key) + nullable_size(r.value) +
               static_cast<uint64_t>(coding::uvarint_length(r.headers.size()));
  for (const HeaderView& h : r.headers) {
    n += static_cast<uint64_t>(coding::uvarint_length(h.key.size())) + h.key.size() +
         nullable_size(h.value);
  }
  return n;
}

}  // namespace

BlockBuilder::BlockBuilder() { reset(); }

uint64_t BlockBuilder::payload_size_alone(const RecordView& r) {
  return kPayloadHeaderBytes + 2 + size_after_deltas(r);  // deltas 0 and 0: one byte each
}

uint64_t BlockBuilder::payload_size_with(const RecordView& r) const {
  if (empty()) return payload_size_alone(r);
  return buf_.size() + static_cast<uint64_t>(coding::uvarint_length(r.offset - first_offset_)) +
         static_cast<uint64_t>(coding::uvarint_length(
             coding::zigzag_encode(timestamp_delta(r.timestamp, first_timestamp_)))) +
         size_after_deltas(r);
}

void BlockBuilder::add(const RecordView& r) {
  if (empty()) {
    first_offset_ = r.offset;
    first_timestamp_ = r.timestamp;
    max_timestamp_ = r.timestamp;
  }
  coding::put_uvarint(&buf_, r.offset - first_offset_);
  coding::put_svarint(&buf_, timestamp_delta(r.timestamp, first_timestamp_));
  put_nullable(&buf_, r.key);
  put_nullable(&buf_, r.value);
  coding::put_uvarint(&buf_, r.headers.size());
  for (const HeaderView& h : r.headers) {
    coding::put_uvarint(&buf_, h.key.size());
    buf_.append(h.key);
    put_nullable(&buf_, h.value);
  }
  last_offset_ = r.offset;
  max_timestamp_ = std::max(max_timestamp_, r.timestamp);
  ++record_count_;
}

std::string_view BlockBuilder::finish() {
  std::string header;
  header.reserve(kPayloadHeaderBytes);
  coding::put_fixed64(&header, first_offset_);
  coding::put_fixed64(&header, static_cast<uint64_t>(first_timestamp_));
  coding::put_fixed32(&header, record_count_);
  buf_.replace(0, kPayloadHeaderBytes, header);
  return buf_;
}

void BlockBuilder::reset() {
  buf_.assign(kPayloadHeaderBytes, '\0');
  first_offset_ = 0;
  last_offset_ = 0;
  first_timestamp_ = 0;
  max_timestamp_ = 0;
  record_count_ = 0;
}

}  // namespace sh::format
