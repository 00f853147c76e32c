#include "core/format/segment.h"

#include <lz4.h>

#include <algorithm>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/format/coding.h"
#include "core/format/crc32c.h"
#include "core/text/utf8.h"

namespace sh::format {
namespace {

using coding::decode_fixed16;
using coding::decode_fixed32;
using coding::decode_fixed64;
using coding::put_fixed16;
using coding::put_fixed32;
using coding::put_fixed64;

constexpr size_t kBlockHeaderBytes = 12;    // stored_len, raw_len, crc
constexpr size_t kPayloadHeaderBytes = 20;  // first_offset, first_timestamp, record_count
// Smallest record: offset delta, timestamp delta, key len, value len, header count (1 byte each).
constexpr size_t kMinRecordBytes = 5;
// Smallest header: name length and value length (1 byte each).
constexpr size_t kMinHeaderBytes = 2;
constexpr size_t kIndexOverheadBytes = 8;  // entry_count + CRC

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08" PRIx32, v);
  return buf;
}

// "<object>: <where> at <pos>: <what>"
Error corrupt_at(std::string_view object, std::string_view where, uint64_t pos,
                 std::string_view what) {
  std::string m;
  m.reserve(object.size() + where.size() + what.size() + 32);
  m.append(object).append(": ").append(where).append(" at ").append(std::to_string(pos));
  m.append(": ").append(what);
  return corrupt(std::move(m));
}

std::string crc_mismatch(uint32_t stored, uint32_t computed) {
  return "CRC mismatch (stored " + hex32(stored) + ", computed " + hex32(computed) + ")";
}

// Timestamp deltas are taken modulo 2^64, so every pair of int64 timestamps
// has a delta and the sum never overflows (no signed-overflow UB).
int64_t wrapping_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t wrapping_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// Reads an svarint length (-1 = null) and that many bytes from [p, limit).
const char* get_nullable_bytes(const char* p, const char* limit, const char* field,
                               std::optional<std::string_view>* out, std::string* why) {
  int64_t len = 0;
  const char* q = coding::get_svarint(p, limit, &len);
  if (q == nullptr) {
    *why = std::string(field) + " length is a truncated or malformed varint";
    return nullptr;
  }
  if (len == -1) {
    out->reset();
    return q;
  }
  const auto remaining = static_cast<uint64_t>(limit - q);
  if (len < -1 || static_cast<uint64_t>(len) > remaining) {
    *why = std::string(field) + " length " + std::to_string(len) + " invalid (" +
           std::to_string(remaining) + " bytes left)";
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
    *why = "header count " + std::to_string(count) + " exceeds the " +
           std::to_string(limit - p) + " bytes left";
    return nullptr;
  }
  headers->clear();
  for (uint64_t h = 0; h < count; ++h) {
    uint64_t name_len = 0;
    p = coding::get_uvarint(p, limit, &name_len);
    if (p == nullptr) {
      *why = "header " + std::to_string(h) + " name length is a truncated or malformed varint";
      return nullptr;
    }
    if (name_len > static_cast<uint64_t>(limit - p)) {
      *why = "header " + std::to_string(h) + " name length " + std::to_string(name_len) +
             " exceeds the " + std::to_string(limit - p) + " bytes left";
      return nullptr;
    }
    HeaderView& hv = headers->emplace_back();
    hv.key = std::string_view(p, static_cast<size_t>(name_len));
    p += name_len;
    if (check_utf8 && !text::valid_utf8(hv.key)) {
      *why = "header " + std::to_string(h) + " name is not valid UTF-8";
      return nullptr;
    }
    if ((p = get_nullable_bytes(p, limit, "header value", &hv.value, why)) == nullptr) {
      return nullptr;
    }
  }
  return p;
}

void put_nullable(std::string* dst, const std::optional<std::string_view>& s) {
  if (!s) {
    coding::put_svarint(dst, -1);
    return;
  }
  coding::put_svarint(dst, static_cast<int64_t>(s->size()));
  dst->append(*s);
}

uint64_t nullable_size(const std::optional<std::string_view>& s) {
  if (!s) return 1;
  return static_cast<uint64_t>(coding::uvarint_length(coding::zigzag_encode(
             static_cast<int64_t>(s->size())))) +
         s->size();
}

}  // namespace

// ---------------------------------------------------------------- header

void SegmentHeader::encode_to(std::string* dst) const {
  const size_t start = dst->size();
  dst->append(kMagic, 4);
  put_fixed16(dst, version);
  put_fixed16(dst, static_cast<uint16_t>(compression));
  put_fixed64(dst, base_offset);
  put_fixed64(dst, static_cast<uint64_t>(created_at_ms));
  put_fixed32(dst, 0);  // reserved
  put_fixed32(dst, crc32c::value(dst->data() + start, 28));
}

Result<SegmentHeader> SegmentHeader::decode_from(std::string_view bytes,
                                                 std::string_view object_name) {
  if (bytes.size() < kEncodedLength) {
    return corrupt_at(object_name, "header", 0,
                      "truncated (" + std::to_string(bytes.size()) + " of 32 bytes)");
  }
  const char* p = bytes.data();
  if (std::memcmp(p, kMagic, 4) != 0) return corrupt_at(object_name, "header", 0, "bad magic");
  const uint32_t stored = decode_fixed32(p + 28);
  const uint32_t computed = crc32c::value(p, 28);
  if (stored != computed) {
    return corrupt_at(object_name, "header", 0, crc_mismatch(stored, computed));
  }
  SegmentHeader h;
  h.version = decode_fixed16(p + 4);
  if (h.version != kVersion) {
    return corrupt_at(object_name, "header", 4,
                      "unsupported format version " + std::to_string(h.version));
  }
  const uint16_t compression = decode_fixed16(p + 6);
  if (compression != static_cast<uint16_t>(Compression::kNone) &&
      compression != static_cast<uint16_t>(Compression::kLz4)) {
    return corrupt_at(object_name, "header", 6,
                      "unknown compression " + std::to_string(compression));
  }
  h.compression = static_cast<Compression>(compression);
  h.base_offset = decode_fixed64(p + 8);
  h.created_at_ms = static_cast<int64_t>(decode_fixed64(p + 16));
  if (decode_fixed32(p + 24) != 0) {
    return corrupt_at(object_name, "header", 24, "reserved field is not 0");
  }
  return h;
}

// ---------------------------------------------------------------- index entry

void IndexEntry::encode_to(std::string* dst) const {
  put_fixed64(dst, first_offset);
  put_fixed64(dst, last_offset);
  put_fixed64(dst, handle.position);
  put_fixed32(dst, handle.size);
  put_fixed32(dst, record_count);
  put_fixed64(dst, static_cast<uint64_t>(first_timestamp));
  put_fixed64(dst, static_cast<uint64_t>(max_timestamp));
}

// ---------------------------------------------------------------- footer

void Footer::encode_to(std::string* dst) const {
  const size_t start = dst->size();
  put_fixed64(dst, index_position);
  put_fixed32(dst, index_length);
  put_fixed32(dst, block_count);
  put_fixed64(dst, base_offset);
  put_fixed64(dst, last_offset);
  put_fixed64(dst, static_cast<uint64_t>(max_timestamp));
  put_fixed32(dst, crc32c::value(dst->data() + start, 40));
  dst->append(kMagic, 4);
}

Result<Footer> Footer::decode_from(std::string_view tail, uint64_t object_size,
                                   std::string_view object_name) {
  if (tail.size() > object_size) {
    // The store contradicts itself about the object: its bytes cannot be trusted.
    return Error(Errc::kBadResponse, std::string(object_name) + ": tail of " +
                                         std::to_string(tail.size()) +
                                         " bytes is longer than the object (" +
                                         std::to_string(object_size) + " bytes)");
  }
  const uint64_t min_size = SegmentHeader::kEncodedLength + kEncodedLength;
  if (object_size < min_size || tail.size() < kEncodedLength) {
    return corrupt(std::string(object_name) + ": object of " + std::to_string(object_size) +
                   " bytes is too short to hold a segment header and footer");
  }
  const uint64_t at = object_size - kEncodedLength;
  const char* p = tail.data() + tail.size() - kEncodedLength;
  if (std::memcmp(p + 44, kMagic, 4) != 0) {
    return corrupt_at(object_name, "footer", at, "bad magic (not a segment v1 object)");
  }
  const uint32_t stored = decode_fixed32(p + 40);
  const uint32_t computed = crc32c::value(p, 40);
  if (stored != computed) return corrupt_at(object_name, "footer", at, crc_mismatch(stored, computed));
  Footer f;
  f.index_position = decode_fixed64(p);
  f.index_length = decode_fixed32(p + 8);
  f.block_count = decode_fixed32(p + 12);
  f.base_offset = decode_fixed64(p + 16);
  f.last_offset = decode_fixed64(p + 24);
  f.max_timestamp = static_cast<int64_t>(decode_fixed64(p + 32));
  if (f.index_position < SegmentHeader::kEncodedLength) {
    return corrupt_at(object_name, "footer", at,
                      "index position " + std::to_string(f.index_position) + " is inside the header");
  }
  // index_position + index_length + 48 == object_size, without overflow.
  if (f.index_position > at || at - f.index_position != f.index_length) {
    return corrupt_at(object_name, "footer", at,
                      "index at " + std::to_string(f.index_position) + " of " +
                          std::to_string(f.index_length) + " bytes does not end at the footer");
  }
  if (f.block_count == 0) return corrupt_at(object_name, "footer", at, "block count is 0");
  if (static_cast<uint64_t>(f.index_length) !=
      kIndexOverheadBytes + static_cast<uint64_t>(f.block_count) * IndexEntry::kEncodedLength) {
    return corrupt_at(object_name, "footer", at,
                      "index length " + std::to_string(f.index_length) + " does not fit " +
                          std::to_string(f.block_count) + " blocks");
  }
  if (f.base_offset > f.last_offset) {
    return corrupt_at(object_name, "footer", at,
                      "base offset " + std::to_string(f.base_offset) + " is after last offset " +
                          std::to_string(f.last_offset));
  }
  return f;
}

// ---------------------------------------------------------------- index

Result<std::vector<IndexEntry>> decode_index(std::string_view bytes, const Footer& footer,
                                             std::string_view object_name) {
  const uint64_t at = footer.index_position;
  if (bytes.size() != footer.index_length || bytes.size() < kIndexOverheadBytes) {
    return corrupt_at(object_name, "index", at,
                      "got " + std::to_string(bytes.size()) + " bytes, footer says " +
                          std::to_string(footer.index_length));
  }
  const char* p = bytes.data();
  const size_t crc_at = bytes.size() - 4;
  const uint32_t stored = decode_fixed32(p + crc_at);
  const uint32_t computed = crc32c::value(p, crc_at);
  if (stored != computed) return corrupt_at(object_name, "index", at, crc_mismatch(stored, computed));
  const uint32_t count = decode_fixed32(p);
  if (count != footer.block_count ||
      static_cast<uint64_t>(count) * IndexEntry::kEncodedLength + kIndexOverheadBytes !=
          bytes.size()) {
    return corrupt_at(object_name, "index", at,
                      "entry count " + std::to_string(count) + " does not match block count " +
                          std::to_string(footer.block_count));
  }
  std::vector<IndexEntry> entries;
  entries.reserve(count);
  uint64_t expected_position = SegmentHeader::kEncodedLength;
  int64_t max_timestamp = std::numeric_limits<int64_t>::min();
  for (uint32_t i = 0; i < count; ++i) {
    const char* e = p + 4 + static_cast<size_t>(i) * IndexEntry::kEncodedLength;
    const uint64_t entry_at = at + 4 + static_cast<uint64_t>(i) * IndexEntry::kEncodedLength;
    IndexEntry x;
    x.first_offset = decode_fixed64(e);
    x.last_offset = decode_fixed64(e + 8);
    x.handle.position = decode_fixed64(e + 16);
    x.handle.size = decode_fixed32(e + 24);
    x.record_count = decode_fixed32(e + 28);
    x.first_timestamp = static_cast<int64_t>(decode_fixed64(e + 32));
    x.max_timestamp = static_cast<int64_t>(decode_fixed64(e + 40));
    auto bad = [&](const std::string& what) {
      return corrupt_at(object_name, "index entry " + std::to_string(i), entry_at, what);
    };
    if (x.handle.position != expected_position) {
      return bad("block position " + std::to_string(x.handle.position) + ", expected " +
                 std::to_string(expected_position) + " (blocks must be contiguous)");
    }
    // A block holds its 12-byte header and at least one stored byte (an LZ4
    // block of a 20+ byte payload can be shorter than 20 bytes).
    if (x.handle.size <= kBlockHeaderBytes ||
        x.handle.size > kBlockHeaderBytes + static_cast<uint64_t>(LZ4_COMPRESSBOUND(kMaxBlockBytes))) {
      return bad("block size " + std::to_string(x.handle.size) + " out of range");
    }
    expected_position += x.handle.size;
    if (expected_position > footer.index_position) {
      return bad("block at " + std::to_string(x.handle.position) + " of " +
                 std::to_string(x.handle.size) + " bytes runs into the index at " +
                 std::to_string(footer.index_position));
    }
    if (x.record_count == 0) return bad("record count is 0");
    if (x.first_offset > x.last_offset) {
      return bad("first offset " + std::to_string(x.first_offset) + " is after last offset " +
                 std::to_string(x.last_offset));
    }
    if (x.record_count - 1 > x.last_offset - x.first_offset) {
      return bad(std::to_string(x.record_count) + " records cannot have distinct offsets in [" +
                 std::to_string(x.first_offset) + ", " + std::to_string(x.last_offset) + "]");
    }
    if (x.first_timestamp > x.max_timestamp) {
      return bad("first timestamp " + std::to_string(x.first_timestamp) +
                 " is after max timestamp " + std::to_string(x.max_timestamp));
    }
    if (i == 0 && x.first_offset != footer.base_offset) {
      return bad("first offset " + std::to_string(x.first_offset) +
                 " differs from the footer's base offset " + std::to_string(footer.base_offset));
    }
    if (i > 0 && x.first_offset <= entries.back().last_offset) {
      return bad("first offset " + std::to_string(x.first_offset) +
                 " does not follow the previous block's last offset " +
                 std::to_string(entries.back().last_offset));
    }
    if (x.record_count == 1 && (x.first_offset != x.last_offset ||
                                x.first_timestamp != x.max_timestamp)) {
      return bad("single-record block with different first/last offset or timestamps");
    }
    max_timestamp = std::max(max_timestamp, x.max_timestamp);
    entries.push_back(x);
  }
  if (expected_position != footer.index_position) {
    return corrupt_at(object_name, "index", at,
                      "blocks end at " + std::to_string(expected_position) +
                          ", not at the index");
  }
  if (entries.back().last_offset != footer.last_offset) {
    return corrupt_at(object_name, "index", at,
                      "last block ends at offset " + std::to_string(entries.back().last_offset) +
                          ", footer says " + std::to_string(footer.last_offset));
  }
  if (max_timestamp != footer.max_timestamp) {
    return corrupt_at(object_name, "index", at,
                      "blocks' max timestamp " + std::to_string(max_timestamp) +
                          " differs from the footer's " + std::to_string(footer.max_timestamp));
  }
  return entries;
}

// ---------------------------------------------------------------- segment meta

size_t SegmentMeta::block_for_offset(uint64_t offset) const {
  auto it = std::partition_point(index.begin(), index.end(),
                                 [offset](const IndexEntry& e) { return e.last_offset < offset; });
  return static_cast<size_t>(it - index.begin());
}

size_t SegmentMeta::first_block_with_max_timestamp_at_least(int64_t ts) const {
  // max_timestamp is not monotonic across blocks (timestamps may go backwards),
  // so this is a linear scan over the index (48 bytes an entry, cheap next to a block read).
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i].max_timestamp >= ts) return i;
  }
  return index.size();
}

size_t SegmentMeta::memory_charge() const {
  return sizeof(*this) + etag.capacity() + index.capacity() * sizeof(IndexEntry);
}

// ---------------------------------------------------------------- tail

Result<TailParse> parse_tail(std::string_view tail, uint64_t object_size, std::string_view etag,
                             std::string_view object_name) {
  if (tail.size() > object_size) {
    // The store contradicts itself about the object: its bytes cannot be trusted.
    return Error(Errc::kBadResponse, std::string(object_name) + ": tail of " +
                                         std::to_string(tail.size()) +
                                         " bytes is longer than the object (" +
                                         std::to_string(object_size) + " bytes)");
  }
  TailParse out;
  if (tail.size() < Footer::kEncodedLength &&
      object_size >= SegmentHeader::kEncodedLength + Footer::kEncodedLength) {
    out.need_suffix_bytes = Footer::kEncodedLength;  // then the footer says how much more
    return out;
  }
  SH_ASSIGN_OR_RETURN(Footer footer, Footer::decode_from(tail, object_size, object_name));
  const uint64_t needed = static_cast<uint64_t>(footer.index_length) + Footer::kEncodedLength;
  if (tail.size() < needed) {
    out.need_suffix_bytes = needed;
    return out;
  }
  const std::string_view index_bytes =
      tail.substr(tail.size() - needed, footer.index_length);
  SH_ASSIGN_OR_RETURN(std::vector<IndexEntry> index, decode_index(index_bytes, footer, object_name));
  SegmentMeta meta;
  if (tail.size() == object_size) {
    SH_ASSIGN_OR_RETURN(SegmentHeader header, SegmentHeader::decode_from(tail, object_name));
    if (header.base_offset != footer.base_offset) {
      return corrupt_at(object_name, "header", 8,
                        "base offset " + std::to_string(header.base_offset) +
                            " differs from the footer's " + std::to_string(footer.base_offset));
    }
    meta.header = header;
  }
  meta.object_size = object_size;
  meta.etag.assign(etag);
  meta.footer = footer;
  meta.index = std::move(index);
  out.meta = std::move(meta);
  return out;
}

// ---------------------------------------------------------------- blocks

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
    if (wrapping_add(first_timestamp_, ts_delta) >= ts) return i;
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
  v.timestamp = wrapping_add(first_timestamp_, r.timestamp_delta);
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
         positions_.capacity() * sizeof(uint32_t);
}

Result<std::shared_ptr<const DecodedBlock>> DecodedBlock::parse(std::string raw_payload,
                                                                const IndexEntry& entry,
                                                                std::string_view object_name) {
  const uint64_t at = entry.handle.position;
  auto bad = [&](const std::string& what) { return corrupt_at(object_name, "block", at, what); };
  if (raw_payload.size() < kPayloadHeaderBytes || raw_payload.size() > kMaxBlockBytes) {
    return bad("payload of " + std::to_string(raw_payload.size()) + " bytes out of range");
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
    return bad("record count " + std::to_string(count) + ", index says " +
               std::to_string(entry.record_count));
  }
  if (count == 0 || count > (payload.size() - kPayloadHeaderBytes) / kMinRecordBytes) {
    return bad("record count " + std::to_string(count) + " does not fit a payload of " +
               std::to_string(payload.size()) + " bytes");
  }
  if (block->first_offset_ != entry.first_offset) {
    return bad("first offset " + std::to_string(block->first_offset_) + ", index says " +
               std::to_string(entry.first_offset));
  }
  if (block->first_timestamp_ != entry.first_timestamp) {
    return bad("first timestamp " + std::to_string(block->first_timestamp_) + ", index says " +
               std::to_string(entry.first_timestamp));
  }
  block->offsets_.reserve(count);
  block->positions_.reserve(count);
  std::vector<HeaderView> headers;
  std::string why;
  int64_t max_timestamp = std::numeric_limits<int64_t>::min();
  const char* p = base + kPayloadHeaderBytes;
  for (uint32_t i = 0; i < count; ++i) {
    const auto record_at = static_cast<uint32_t>(p - base);
    auto bad_record = [&](const std::string& what) {
      return bad("record " + std::to_string(i) + " at payload byte " + std::to_string(record_at) +
                 ": " + what);
    };
    ParsedRecord r;
    p = parse_record(p, limit, /*check_utf8=*/true, &r, &headers, &why);
    if (p == nullptr) return bad_record(why);
    if (i == 0 && (r.offset_delta != 0 || r.timestamp_delta != 0)) {
      return bad_record("first record must have offset and timestamp deltas 0");
    }
    if (r.offset_delta > std::numeric_limits<uint64_t>::max() - block->first_offset_) {
      return bad_record("offset delta " + std::to_string(r.offset_delta) + " overflows");
    }
    const uint64_t offset = block->first_offset_ + r.offset_delta;
    if (i > 0 && offset <= block->offsets_.back()) {
      return bad_record("offset " + std::to_string(offset) + " does not follow " +
                        std::to_string(block->offsets_.back()));
    }
    max_timestamp = std::max(max_timestamp, wrapping_add(block->first_timestamp_, r.timestamp_delta));
    block->offsets_.push_back(offset);
    block->positions_.push_back(record_at);
  }
  if (p != limit) {
    return bad(std::to_string(limit - p) + " trailing bytes after " + std::to_string(count) +
               " records");
  }
  if (block->offsets_.back() != entry.last_offset) {
    return bad("last offset " + std::to_string(block->offsets_.back()) + ", index says " +
               std::to_string(entry.last_offset));
  }
  if (max_timestamp != entry.max_timestamp) {
    return bad("max timestamp " + std::to_string(max_timestamp) + ", index says " +
               std::to_string(entry.max_timestamp));
  }
  return std::shared_ptr<const DecodedBlock>(std::move(block));
}

Result<std::shared_ptr<const DecodedBlock>> decode_block(std::string_view stored_block,
                                                         const IndexEntry& entry,
                                                         std::optional<Compression> compression,
                                                         std::string_view object_name) {
  const uint64_t at = entry.handle.position;
  auto bad = [&](const std::string& what) { return corrupt_at(object_name, "block", at, what); };
  if (stored_block.size() != entry.handle.size) {
    return bad("got " + std::to_string(stored_block.size()) + " bytes, index says " +
               std::to_string(entry.handle.size));
  }
  if (stored_block.size() < kBlockHeaderBytes) {
    return bad("shorter than the 12-byte block header");
  }
  const char* p = stored_block.data();
  const uint32_t stored_len = decode_fixed32(p);
  const uint32_t raw_len = decode_fixed32(p + 4);
  const uint32_t stored_crc = decode_fixed32(p + 8);
  if (static_cast<uint64_t>(stored_len) + kBlockHeaderBytes != stored_block.size()) {
    return bad("stored length " + std::to_string(stored_len) + " does not match block size " +
               std::to_string(stored_block.size()));
  }
  if (raw_len < kPayloadHeaderBytes || raw_len > kMaxBlockBytes) {
    return bad("raw length " + std::to_string(raw_len) + " out of range");
  }
  const std::string_view stored(p + kBlockHeaderBytes, stored_len);
  const uint32_t computed = crc32c::value(stored);
  if (computed != stored_crc) return bad(crc_mismatch(stored_crc, computed));
  if (!compression) {
    if (stored_len == raw_len) {
      return invalid_argument(std::string(object_name) + ": block at " + std::to_string(at) +
                              ": compression unknown");
    }
    compression = Compression::kLz4;
  }
  std::string raw;
  switch (*compression) {
    case Compression::kNone:
      if (stored_len != raw_len) {
        return bad("stored length " + std::to_string(stored_len) + " differs from raw length " +
                   std::to_string(raw_len) + " in an uncompressed segment");
      }
      raw.assign(stored);
      break;
    case Compression::kLz4: {
      if (stored_len > static_cast<uint32_t>(LZ4_COMPRESSBOUND(kMaxBlockBytes))) {
        return bad("stored length " + std::to_string(stored_len) + " out of range");
      }
      raw.resize(raw_len);
      const int n = LZ4_decompress_safe(stored.data(), raw.data(), static_cast<int>(stored_len),
                                        static_cast<int>(raw_len));
      if (n != static_cast<int>(raw_len)) {
        return bad("LZ4 data does not decompress to " + std::to_string(raw_len) + " bytes (" +
                   (n < 0 ? std::string("malformed") : "got " + std::to_string(n)) + ")");
      }
      break;
    }
    default:
      return invalid_argument(std::string(object_name) + ": unknown compression " +
                              std::to_string(static_cast<uint16_t>(*compression)));
  }
  return DecodedBlock::parse(std::move(raw), entry, object_name);
}

// ---------------------------------------------------------------- writer

SegmentWriter::SegmentWriter(SegmentWriterOptions opts) : opts_(opts) {
  out_.assign(SegmentHeader::kEncodedLength, '\0');  // header written by finish()
}

Status SegmentWriter::add(const Record& r) {
  std::vector<HeaderView> headers;
  headers.reserve(r.headers.size());
  for (const RecordHeader& h : r.headers) {
    HeaderView& hv = headers.emplace_back();
    hv.key = h.key;
    if (h.value) hv.value = std::string_view(*h.value);
  }
  RecordView v;
  v.offset = r.offset;
  v.timestamp = r.timestamp;
  if (r.key) v.key = std::string_view(*r.key);
  if (r.value) v.value = std::string_view(*r.value);
  v.headers = headers;
  return add(v);
}

Status SegmentWriter::add(const RecordView& r) {
  if (opts_.compression != Compression::kNone && opts_.compression != Compression::kLz4) {
    return invalid_argument("segment writer: unknown compression " +
                            std::to_string(static_cast<uint16_t>(opts_.compression)));
  }
  if (record_count_ > 0 && r.offset <= last_offset_) {
    return invalid_argument("segment writer: offset " + std::to_string(r.offset) +
                            " does not increase (last " + std::to_string(last_offset_) + ")");
  }
  // Size of everything after the two deltas. Each term is bounded by the
  // caller's memory, so the sum cannot overflow 64 bits.
  uint64_t body = nullable_size(r.key) + nullable_size(r.value) +
                  static_cast<uint64_t>(coding::uvarint_length(r.headers.size()));
  for (const HeaderView& h : r.headers) {
    if (!text::valid_utf8(h.key)) {
      return invalid_argument("segment writer: record at offset " + std::to_string(r.offset) +
                              ": header name is not valid UTF-8");
    }
    body += static_cast<uint64_t>(coding::uvarint_length(h.key.size())) + h.key.size() +
            nullable_size(h.value);
  }
  const uint64_t alone = kPayloadHeaderBytes + 2 + body;  // deltas 0 and 0: one byte each
  if (alone > kMaxBlockBytes) {
    return invalid_argument("segment writer: record at offset " + std::to_string(r.offset) +
                            " needs " + std::to_string(alone) +
                            " bytes, more than the block limit " + std::to_string(kMaxBlockBytes));
  }
  if (block_records_ > 0) {
    const uint64_t appended =
        kPayloadHeaderBytes + block_.size() +
        static_cast<uint64_t>(coding::uvarint_length(r.offset - block_first_offset_)) +
        static_cast<uint64_t>(coding::uvarint_length(
            coding::zigzag_encode(wrapping_sub(r.timestamp, block_first_timestamp_)))) +
        body;
    // A record that fills a block on its own gets a block of its own.
    if (alone >= opts_.block_bytes || appended > kMaxBlockBytes) cut_block();
  }
  if (block_records_ == 0) {
    block_first_offset_ = r.offset;
    block_first_timestamp_ = r.timestamp;
    block_max_timestamp_ = r.timestamp;
  }
  coding::put_uvarint(&block_, r.offset - block_first_offset_);
  coding::put_svarint(&block_, wrapping_sub(r.timestamp, block_first_timestamp_));
  put_nullable(&block_, r.key);
  put_nullable(&block_, r.value);
  coding::put_uvarint(&block_, r.headers.size());
  for (const HeaderView& h : r.headers) {
    coding::put_uvarint(&block_, h.key.size());
    block_.append(h.key);
    put_nullable(&block_, h.value);
  }
  block_last_offset_ = r.offset;
  block_max_timestamp_ = std::max(block_max_timestamp_, r.timestamp);
  ++block_records_;
  if (record_count_ == 0) base_offset_ = r.offset;
  last_offset_ = r.offset;
  max_timestamp_ = std::max(max_timestamp_, r.timestamp);
  ++record_count_;
  if (kPayloadHeaderBytes + block_.size() >= opts_.block_bytes) cut_block();
  return ok_status();
}

void SegmentWriter::cut_block() {
  std::string raw;
  raw.reserve(kPayloadHeaderBytes + block_.size());
  put_fixed64(&raw, block_first_offset_);
  put_fixed64(&raw, static_cast<uint64_t>(block_first_timestamp_));
  put_fixed32(&raw, block_records_);
  raw.append(block_);
  std::string compressed;
  std::string_view stored = raw;
  if (opts_.compression == Compression::kLz4) {
    compressed.resize(static_cast<size_t>(LZ4_compressBound(static_cast<int>(raw.size()))));
    const int n = LZ4_compress_default(raw.data(), compressed.data(), static_cast<int>(raw.size()),
                                       static_cast<int>(compressed.size()));
    // Cannot fail: the destination holds LZ4_compressBound bytes and add()
    // keeps raw payloads within kMaxBlockBytes.
    if (n <= 0) std::abort();
    compressed.resize(static_cast<size_t>(n));
    stored = compressed;
  }
  IndexEntry e;
  e.first_offset = block_first_offset_;
  e.last_offset = block_last_offset_;
  e.handle.position = out_.size();
  e.handle.size = static_cast<uint32_t>(kBlockHeaderBytes + stored.size());
  e.record_count = block_records_;
  e.first_timestamp = block_first_timestamp_;
  e.max_timestamp = block_max_timestamp_;
  put_fixed32(&out_, static_cast<uint32_t>(stored.size()));
  put_fixed32(&out_, static_cast<uint32_t>(raw.size()));
  put_fixed32(&out_, crc32c::value(stored));
  out_.append(stored);
  index_.push_back(e);
  block_.clear();
  block_records_ = 0;
}

uint64_t SegmentWriter::estimated_size() const {
  const uint64_t open = block_records_ > 0 ? kBlockHeaderBytes + kPayloadHeaderBytes + block_.size() : 0;
  const uint64_t blocks = index_.size() + (block_records_ > 0 ? 1 : 0);
  return out_.size() + open + kIndexOverheadBytes + blocks * IndexEntry::kEncodedLength +
         Footer::kEncodedLength;
}

Result<std::string> SegmentWriter::finish() {
  if (empty()) return invalid_argument("segment writer: cannot finish a segment with no records");
  if (block_records_ > 0) cut_block();
  const uint64_t index_length =
      kIndexOverheadBytes + static_cast<uint64_t>(index_.size()) * IndexEntry::kEncodedLength;
  if (index_length > std::numeric_limits<uint32_t>::max()) {
    return invalid_argument("segment writer: too many blocks (" + std::to_string(index_.size()) + ")");
  }
  Footer footer;
  footer.index_position = out_.size();
  footer.index_length = static_cast<uint32_t>(index_length);
  footer.block_count = static_cast<uint32_t>(index_.size());
  footer.base_offset = base_offset_;
  footer.last_offset = last_offset_;
  footer.max_timestamp = max_timestamp_;

  const size_t index_start = out_.size();
  put_fixed32(&out_, footer.block_count);
  for (const IndexEntry& e : index_) e.encode_to(&out_);
  put_fixed32(&out_, crc32c::value(out_.data() + index_start, out_.size() - index_start));
  footer.encode_to(&out_);

  SegmentHeader header;
  header.compression = opts_.compression;
  header.base_offset = base_offset_;
  header.created_at_ms = opts_.created_at_ms;
  std::string header_bytes;
  header.encode_to(&header_bytes);
  out_.replace(0, SegmentHeader::kEncodedLength, header_bytes);

  std::string object = std::move(out_);
  out_.assign(SegmentHeader::kEncodedLength, '\0');
  index_.clear();
  block_.clear();
  block_records_ = 0;
  record_count_ = 0;
  base_offset_ = 0;
  last_offset_ = 0;
  max_timestamp_ = std::numeric_limits<int64_t>::min();
  return object;
}

// ---------------------------------------------------------------- whole object

Result<SegmentContents> read_segment(std::string_view object, std::string_view object_name) {
  SegmentContents out;
  SH_ASSIGN_OR_RETURN(out.header, SegmentHeader::decode_from(object, object_name));
  SH_ASSIGN_OR_RETURN(TailParse tail, parse_tail(object, object.size(), "", object_name));
  if (!tail.meta) {  // cannot happen: the tail is the whole object
    return corrupt(std::string(object_name) + ": index does not fit in the object");
  }
  out.meta = std::move(*tail.meta);
  uint64_t total = 0;
  for (const IndexEntry& e : out.meta.index) total += e.record_count;
  out.records.reserve(static_cast<size_t>(std::min<uint64_t>(total, object.size() / kMinRecordBytes)));
  std::vector<HeaderView> scratch;
  for (const IndexEntry& e : out.meta.index) {
    const std::string_view stored = object.substr(e.handle.position, e.handle.size);
    SH_ASSIGN_OR_RETURN(std::shared_ptr<const DecodedBlock> block,
                        decode_block(stored, e, out.header.compression, object_name));
    for (uint32_t i = 0; i < block->record_count(); ++i) {
      out.records.push_back(block->record(i, &scratch).to_record());
    }
  }
  return out;
}

}  // namespace sh::format
