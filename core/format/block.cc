#include "core/format/block.h"

#include <lz4.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/format/coding.h"
#include "core/format/corruption.h"
#include "core/format/crc32c.h"
#include "core/text/utf8.h"

namespace sh::format {
namespace {

using coding::decode_fixed32;
using coding::decode_fixed64;
using internal::corrupt_at;
using internal::crc_mismatch;

// Smallest header: name length and value length (1 byte each).
constexpr size_t kMinHeaderBytes = 2;

// Timestamp deltas are taken modulo 2^64, so adding one back never overflows
// (no signed-overflow UB). BlockBuilder subtracts the same way.
int64_t add_timestamp_delta(int64_t first_timestamp, int64_t delta) {
  return static_cast<int64_t>(static_cast<uint64_t>(first_timestamp) +
                              static_cast<uint64_t>(delta));
}

// Reads an svarint length (-1 = null) and that many bytes from [p, limit).
const char* get_nullable_bytes(const char* p, const char* limit, std::string_view field,
                               std::optional<std::string_view>* out, std::string* why) {
  int64_t len = 0;
  const char* q = coding::get_svarint(p, limit, &len);
  if (q == nullptr) {
    *why = fmt::format("{} length is a truncated or malformed varint", field);
    return nullptr;
  }
  if (len == -1) {
    out->reset();
    return q;
  }
  const auto remaining = static_cast<uint64_t>(limit - q);
  if (len < -1 || static_cast<uint64_t>(len) > remaining) {
    *why = fmt::format("{} length {} invalid ({} bytes left)", field, len, remaining);
    return nullptr;
  }
  out->emplace(q, static_cast<size_t>(len));
  return q + len;
}

struct ParsedRecord {
  uint64_t offset_delta = 0;
  int64_t timestamp_delta = 0;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
};

// Parses one record from [p, limit); header views go to *headers. Returns the
// byte after the record, or nullptr with *why set.
const char* parse_record(const char* p, const char* limit, bool check_utf8, ParsedRecord* r,
                         std::vector<HeaderView>* headers, std::string* why) {
  p = coding::get_uvarint(p, limit, &r->offset_delta);
  if (p == nullptr) {
    *why = "offset delta is a truncated or malformed varint";
    return nullptr;
  }
  p = coding::get_svarint(p, limit, &r->timestamp_delta);
  if (p == nullptr) {
    *why = "timestamp delta is a truncated or malformed varint";
    return nullptr;
  }
  if ((p = get_nullable_bytes(p, limit, "key", &r->key, why)) == nullptr) return nullptr;
  if ((p = get_nullable_bytes(p, limit, "value", &r->value, why)) == nullptr) return nullptr;
  uint64_t count = 0;
  p = coding::get_uvarint(p, limit, &count);
  if (p == nullptr) {
    *why = "header count is a truncated or malformed varint";
    return nullptr;
  }
  if (count > static_cast<uint64_t>(limit - p) / kMinHeaderBytes) {
    *why = fmt::format("header count {} exceeds the {} bytes left", count, limit - p);
    return nullptr;
  }
  headers->clear();
  for (uint64_t h = 0; h < count; ++h) {
    uint64_t name_len = 0;
    p = coding::get_uvarint(p, limit, &name_len);
    if (p == nullptr) {
      *why = fmt::format("header {} name length is a truncated or malformed varint", h);
      return nullptr;
    }
    if (name_len > static_cast<uint64_t>(limit - p)) {
      *why = fmt::format("header {} name length {} exceeds the {} bytes left", h, name_len,
                         limit - p);
      return nullptr;
    }
    HeaderView& hv = headers->emplace_back();
    hv.key = std::string_view(p, static_cast<size_t>(name_len));
    p += name_len;
    if (check_utf8 && !text::valid_utf8(hv.key)) {
      *why = fmt::format("header {} name is not valid UTF-8", h);
      return nullptr;
    }
    if ((p = get_nullable_bytes(p, limit, "header value", &hv.value, why)) == nullptr) {
      return nullptr;
    }
  }
  return p;
}

}  // namespace

// ---------------------------------------------------------------- decoded block

uint32_t DecodedBlock::lower_bound(uint64_t offset) const {
  return static_cast<uint32_t>(std::lower_bound(offsets_.begin(), offsets_.end(), offset) -
                               offsets_.begin());
}

uint32_t DecodedBlock::first_with_timestamp_at_least(int64_t ts) const {
  // Timestamps are not sorted inside a block: linear scan, reading only the
  // two leading varints of each (already validated) record.
  const char* limit = payload_.data() + payload_.size();
  for (uint32_t i = 0; i < offsets_.size(); ++i) {
    const char* p = payload_.data() + positions_[i];
    uint64_t offset_delta = 0;
    int64_t ts_delta = 0;
    p = coding::get_uvarint(p, limit, &offset_delta);
    p = coding::get_svarint(p, limit, &ts_delta);
    if (add_timestamp_delta(first_timestamp_, ts_delta) >= ts) return i;
  }
  return record_count();
}

RecordView DecodedBlock::record(uint32_t i, std::vector<HeaderView>* scratch) const {
  const char* start = payload_.data() + positions_[i];
  const char* limit = payload_.data() + payload_.size();
  ParsedRecord r;
  std::string why;
  const char* end = parse_record(start, limit, /*check_utf8=*/false, &r, scratch, &why);
  if (end == nullptr) std::abort();  // parse() validated every record: cannot happen
  RecordView v;
  v.offset = offsets_[i];
  v.timestamp = add_timestamp_delta(first_timestamp_, r.timestamp_delta);
  v.key = r.key;
  v.value = r.value;
  v.headers = std::span<const HeaderView>(scratch->data(), scratch->size());
  return v;
}

uint32_t DecodedBlock::record_size(uint32_t i) const {
  const size_t end = i + 1 < positions_.size() ? positions_[i + 1] : payload_.size();
  return static_cast<uint32_t>(end - positions_[i]);
}

size_t DecodedBlock::memory_charge() const {
  return sizeof(*this) + payload_.capacity() + offsets_.capacity() * sizeof(uint64_t) +
         positions_.capacity() * sizeof(uint32_t) +
         encoded_charge_.load(std::memory_order_relaxed);
}

namespace {

// Encoding buffers kept between blocks: at most kKeptScratch of them, each at
// most kKeptScratchBytes, whatever the number of threads that encode.
constexpr size_t kKeptScratch = 4;
constexpr size_t kKeptScratchBytes = 1 << 20;
struct ScratchPool {
  std::mutex mu;
  std::vector<std::string> free;
};
// Never destroyed: a thread still encoding at exit finds it intact.
ScratchPool& scratch_pool() {
  static auto* pool = new ScratchPool;
  return *pool;
}

std::string take_scratch() {
  ScratchPool& pool = scratch_pool();
  std::lock_guard<std::mutex> l(pool.mu);
  if (pool.free.empty()) return {};
  std::string s = std::move(pool.free.back());
  pool.free.pop_back();
  return s;
}

void give_scratch(std::string s) {
  if (s.capacity() > kKeptScratchBytes) return;
  s.clear();
  ScratchPool& pool = scratch_pool();
  std::lock_guard<std::mutex> l(pool.mu);
  if (pool.free.size() < kKeptScratch) pool.free.push_back(std::move(s));
}

}  // namespace

const EncodedRecords& DecodedBlock::encoded(const RecordEncoder& enc) const {
  const size_t slot = enc.slot();
  if (slot >= RecordEncoder::kSlots) std::abort();  // a programming error, not data
  std::call_once(encoded_once_[slot], [&] {
    auto e = std::make_unique<EncodedRecords>();
    e->ends_.reserve(offsets_.size());
    // Encoded into a pooled buffer, then copied once into an exact allocation:
    // a pooled one is already mapped, where a fresh over-reserved buffer (then
    // shrunk) cost two buffers' page faults.
    std::string scratch = take_scratch();
    // JSON of typical records is a little larger than their raw bytes.
    scratch.reserve(payload_.size() + payload_.size() / 2 + offsets_.size() * 64);
    std::vector<HeaderView> headers;
    for (uint32_t i = 0; i < offsets_.size(); ++i) {
      enc.encode(record(i, &headers), &scratch);
      e->ends_.push_back(scratch.size());
    }
    e->bytes_.assign(scratch);
    give_scratch(std::move(scratch));
    encoded_charge_.fetch_add(e->memory(), std::memory_order_relaxed);
    encoded_[slot] = std::move(e);
  });
  return *encoded_[slot];
}

Result<std::shared_ptr<const DecodedBlock>> DecodedBlock::parse(std::string raw_payload,
                                                                const IndexEntry& entry,
                                                                std::string_view object_name) {
  const uint64_t at = entry.handle.position;
  auto bad = [&](std::string_view what) { return corrupt_at(object_name, "block", at, what); };
  if (raw_payload.size() < kPayloadHeaderBytes || raw_payload.size() > kMaxBlockBytes) {
    return bad(fmt::format("payload of {} bytes out of range", raw_payload.size()));
  }
  auto block = std::make_shared<DecodedBlock>();
  block->payload_ = std::move(raw_payload);
  const std::string& payload = block->payload_;
  const char* base = payload.data();
  const char* limit = base + payload.size();
  block->first_offset_ = decode_fixed64(base);
  block->first_timestamp_ = static_cast<int64_t>(decode_fixed64(base + 8));
  const uint32_t count = decode_fixed32(base + 16);
  if (count != entry.record_count) {
    return bad(fmt::format("record count {}, index says {}", count, entry.record_count));
  }
  if (count == 0 || count > (payload.size() - kPayloadHeaderBytes) / kMinRecordBytes) {
    return bad(fmt::format("record count {} does not fit a payload of {} bytes", count,
                           payload.size()));
  }
  if (block->first_offset_ != entry.first_offset) {
    return bad(fmt::format("first offset {}, index says {}", block->first_offset_,
                           entry.first_offset));
  }
  if (block->first_timestamp_ != entry.first_timestamp) {
    return bad(fmt::format("first timestamp {}, index says {}", block->first_timestamp_,
                           entry.first_timestamp));
  }
  block->offsets_.reserve(count);
  block->positions_.reserve(count);
  std::vector<HeaderView> headers;
  std::string why;
  int64_t max_timestamp = std::numeric_limits<int64_t>::min();
  const char* p = base + kPayloadHeaderBytes;
  for (uint32_t i = 0; i < count; ++i) {
    const auto record_at = static_cast<uint32_t>(p - base);
    auto bad_record = [&](std::string_view what) {
      return bad(fmt::format("record {} at payload byte {}: {}", i, record_at, what));
    };
    ParsedRecord r;
    p = parse_record(p, limit, /*check_utf8=*/true, &r, &headers, &why);
    if (p == nullptr) return bad_record(why);
    if (i == 0 && (r.offset_delta != 0 || r.timestamp_delta != 0)) {
      return bad_record("first record must have offset and timestamp deltas 0");
    }
    if (r.offset_delta > std::numeric_limits<uint64_t>::max() - block->first_offset_) {
      return bad_record(fmt::format("offset delta {} overflows", r.offset_delta));
    }
    const uint64_t offset = block->first_offset_ + r.offset_delta;
    if (i > 0 && offset <= block->offsets_.back()) {
      return bad_record(
          fmt::format("offset {} does not follow {}", offset, block->offsets_.back()));
    }
    max_timestamp =
        std::max(max_timestamp, add_timestamp_delta(block->first_timestamp_, r.timestamp_delta));
    block->offsets_.push_back(offset);
    block->positions_.push_back(record_at);
  }
  if (p != limit) {
    return bad(fmt::format("{} trailing bytes after {} records", limit - p, count));
  }
  if (block->offsets_.back() != entry.last_offset) {
    return bad(fmt::format("last offset {}, index says {}", block->offsets_.back(),
                           entry.last_offset));
  }
  if (max_timestamp != entry.max_timestamp) {
    return bad(fmt::format("max timestamp {}, index says {}", max_timestamp, entry.max_timestamp));
  }
  return std::shared_ptr<const DecodedBlock>(std::move(block));
}

// ---------------------------------------------------------------- stored block

Result<std::shared_ptr<const DecodedBlock>> decode_block(std::string_view stored_block,
                                                         const IndexEntry& entry,
                                                         std::optional<Compression> compression,
                                                         std::string_view object_name) {
  const uint64_t at = entry.handle.position;
  auto bad = [&](std::string_view what) { return corrupt_at(object_name, "block", at, what); };
  if (stored_block.size() != entry.handle.size) {
    return bad(fmt::format("got {} bytes, index says {}", stored_block.size(), entry.handle.size));
  }
  if (stored_block.size() < kBlockHeaderBytes) {
    return bad("shorter than the 12-byte block header");
  }
  const char* p = stored_block.data();
  const uint32_t stored_len = decode_fixed32(p);
  const uint32_t raw_len = decode_fixed32(p + 4);
  const uint32_t stored_crc = decode_fixed32(p + 8);
  if (static_cast<uint64_t>(stored_len) + kBlockHeaderBytes != stored_block.size()) {
    return bad(fmt::format("stored length {} does not match block size {}", stored_len,
                           stored_block.size()));
  }
  if (raw_len < kPayloadHeaderBytes || raw_len > kMaxBlockBytes) {
    return bad(fmt::format("raw length {} out of range", raw_len));
  }
  const std::string_view stored(p + kBlockHeaderBytes, stored_len);
  const uint32_t computed = crc32c::value(stored);
  if (computed != stored_crc) return bad(crc_mismatch(stored_crc, computed));
  if (!compression) {
    if (stored_len == raw_len) {
      return invalid_argument(fmt::format("{}: block at {}: compression unknown", object_name, at));
    }
    compression = Compression::kLz4;
  }
  std::string raw;
  switch (*compression) {
    case Compression::kNone:
      if (stored_len != raw_len) {
        return bad(fmt::format(
            "stored length {} differs from raw length {} in an uncompressed segment", stored_len,
            raw_len));
      }
      raw.assign(stored);
      break;
    case Compression::kLz4: {
      if (stored_len > static_cast<uint32_t>(LZ4_COMPRESSBOUND(kMaxBlockBytes))) {
        return bad(fmt::format("stored length {} out of range", stored_len));
      }
      // Checked before the raw buffer is allocated: a claimed raw length LZ4
      // could not produce from this many bytes must not cost its size in memory.
      if (raw_len > max_lz4_raw_bytes(stored_len)) {
        return bad(fmt::format("raw length {} is more than LZ4 can expand {} stored bytes to",
                               raw_len, stored_len));
      }
      raw.resize(raw_len);
      const int n = LZ4_decompress_safe(stored.data(), raw.data(), static_cast<int>(stored_len),
                                        static_cast<int>(raw_len));
      if (n != static_cast<int>(raw_len)) {
        return bad(fmt::format("LZ4 data does not decompress to {} bytes ({})", raw_len,
                               n < 0 ? std::string("malformed") : fmt::format("got {}", n)));
      }
      break;
    }
    default:
      return invalid_argument(fmt::format("{}: unknown compression {}", object_name,
                                          static_cast<uint16_t>(*compression)));
  }
  return DecodedBlock::parse(std::move(raw), entry, object_name);
}

}  // namespace sh::format
