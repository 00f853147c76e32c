#include "core/format/format.h"

#include <lz4.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "core/format/coding.h"
#include "core/format/corruption.h"
#include "core/format/crc32c.h"

namespace sh::format {
namespace {

using coding::decode_fixed16;
using coding::decode_fixed32;
using coding::decode_fixed64;
using coding::put_fixed16;
using coding::put_fixed32;
using coding::put_fixed64;
using internal::corrupt_at;
using internal::crc_mismatch;

// The store contradicts itself about the object: its bytes cannot be trusted.
Error tail_longer_than_object(std::string_view object_name, size_t tail_size,
                              uint64_t object_size) {
  return Error(Errc::kBadResponse,
               fmt::format("{}: tail of {} bytes is longer than the object ({} bytes)",
                           object_name, tail_size, object_size));
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
                      fmt::format("truncated ({} of {} bytes)", bytes.size(), kEncodedLength));
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
                      fmt::format("unsupported format version {}", h.version));
  }
  const uint16_t compression = decode_fixed16(p + 6);
  if (compression != static_cast<uint16_t>(Compression::kNone) &&
      compression != static_cast<uint16_t>(Compression::kLz4)) {
    return corrupt_at(object_name, "header", 6, fmt::format("unknown compression {}", compression));
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
    return tail_longer_than_object(object_name, tail.size(), object_size);
  }
  const uint64_t min_size = SegmentHeader::kEncodedLength + kEncodedLength;
  if (object_size < min_size || tail.size() < kEncodedLength) {
    return corrupt(fmt::format(
        "{}: object of {} bytes is too short to hold a segment header and footer", object_name,
        object_size));
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
  auto bad = [&](std::string_view what) { return corrupt_at(object_name, "footer", at, what); };
  if (f.index_position < SegmentHeader::kEncodedLength) {
    return bad(fmt::format("index position {} is inside the header", f.index_position));
  }
  // index_position + index_length + 48 == object_size, without overflow.
  if (f.index_position > at || at - f.index_position != f.index_length) {
    return bad(fmt::format("index at {} of {} bytes does not end at the footer", f.index_position,
                           f.index_length));
  }
  if (f.block_count == 0) return bad("block count is 0");
  if (static_cast<uint64_t>(f.index_length) !=
      kIndexOverheadBytes + static_cast<uint64_t>(f.block_count) * IndexEntry::kEncodedLength) {
    return bad(
        fmt::format("index length {} does not fit {} blocks", f.index_length, f.block_count));
  }
  if (f.base_offset > f.last_offset) {
    return bad(fmt::format("base offset {} is after last offset {}", f.base_offset, f.last_offset));
  }
  return f;
}

// ---------------------------------------------------------------- index

Result<std::vector<IndexEntry>> decode_index(std::string_view bytes, const Footer& footer,
                                             std::string_view object_name) {
  const uint64_t at = footer.index_position;
  auto bad_index = [&](std::string_view what) {
    return corrupt_at(object_name, "index", at, what);
  };
  if (bytes.size() != footer.index_length || bytes.size() < kIndexOverheadBytes) {
    return bad_index(
        fmt::format("got {} bytes, footer says {}", bytes.size(), footer.index_length));
  }
  const char* p = bytes.data();
  const size_t crc_at = bytes.size() - 4;
  const uint32_t stored = decode_fixed32(p + crc_at);
  const uint32_t computed = crc32c::value(p, crc_at);
  if (stored != computed) return bad_index(crc_mismatch(stored, computed));
  const uint32_t count = decode_fixed32(p);
  if (count != footer.block_count ||
      static_cast<uint64_t>(count) * IndexEntry::kEncodedLength + kIndexOverheadBytes !=
          bytes.size()) {
    return bad_index(fmt::format("entry count {} does not match block count {}", count,
                                 footer.block_count));
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
    auto bad = [&](std::string_view what) {
      return corrupt_at(object_name, fmt::format("index entry {}", i), entry_at, what);
    };
    if (x.handle.position != expected_position) {
      return bad(fmt::format("block position {}, expected {} (blocks must be contiguous)",
                             x.handle.position, expected_position));
    }
    // A block holds its 12-byte header and at least one stored byte (an LZ4
    // block of a 20+ byte payload can be shorter than 20 bytes).
    if (x.handle.size <= kBlockHeaderBytes ||
        x.handle.size > kBlockHeaderBytes + static_cast<uint64_t>(LZ4_COMPRESSBOUND(kMaxBlockBytes))) {
      return bad(fmt::format("block size {} out of range", x.handle.size));
    }
    expected_position += x.handle.size;
    if (expected_position > footer.index_position) {
      return bad(fmt::format("block at {} of {} bytes runs into the index at {}",
                             x.handle.position, x.handle.size, footer.index_position));
    }
    if (x.record_count == 0) return bad("record count is 0");
    if (x.first_offset > x.last_offset) {
      return bad(fmt::format("first offset {} is after last offset {}", x.first_offset,
                             x.last_offset));
    }
    if (x.record_count - 1 > x.last_offset - x.first_offset) {
      return bad(fmt::format("{} records cannot have distinct offsets in [{}, {}]",
                             x.record_count, x.first_offset, x.last_offset));
    }
    if (x.first_timestamp > x.max_timestamp) {
      return bad(fmt::format("first timestamp {} is after max timestamp {}", x.first_timestamp,
                             x.max_timestamp));
    }
    if (i == 0 && x.first_offset != footer.base_offset) {
      return bad(fmt::format("first offset {} differs from the footer's base offset {}",
                             x.first_offset, footer.base_offset));
    }
    if (i > 0 && x.first_offset <= entries.back().last_offset) {
      return bad(fmt::format("first offset {} does not follow the previous block's last offset {}",
                             x.first_offset, entries.back().last_offset));
    }
    if (x.record_count == 1 && (x.first_offset != x.last_offset ||
                                x.first_timestamp != x.max_timestamp)) {
      return bad("single-record block with different first/last offset or timestamps");
    }
    max_timestamp = std::max(max_timestamp, x.max_timestamp);
    entries.push_back(x);
  }
  if (expected_position != footer.index_position) {
    return bad_index(fmt::format("blocks end at {}, not at the index", expected_position));
  }
  if (entries.back().last_offset != footer.last_offset) {
    return bad_index(fmt::format("last block ends at offset {}, footer says {}",
                                 entries.back().last_offset, footer.last_offset));
  }
  if (max_timestamp != footer.max_timestamp) {
    return bad_index(fmt::format("blocks' max timestamp {} differs from the footer's {}",
                                 max_timestamp, footer.max_timestamp));
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

std::string_view corrupt_part(std::string_view message, std::string_view object_name) {
  if (message.size() < object_name.size() + 2 || message.substr(0, object_name.size()) != object_name ||
      message.substr(object_name.size(), 2) != ": ") {
    return "";
  }
  const std::string_view rest = message.substr(object_name.size() + 2);
  for (std::string_view part : {"header", "block", "index", "footer"}) {
    if (rest.substr(0, part.size()) == part && rest.size() > part.size() &&
        rest[part.size()] == ' ') {
      return part;
    }
  }
  return "";
}

Result<TailParse> parse_tail(std::string_view tail, uint64_t object_size, std::string_view etag,
                             std::string_view object_name) {
  if (tail.size() > object_size) {
    return tail_longer_than_object(object_name, tail.size(), object_size);
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
  const std::string_view index_bytes = tail.substr(tail.size() - needed, footer.index_length);
  SH_ASSIGN_OR_RETURN(std::vector<IndexEntry> index, decode_index(index_bytes, footer, object_name));
  SegmentMeta meta;
  if (tail.size() == object_size) {
    SH_ASSIGN_OR_RETURN(SegmentHeader header, SegmentHeader::decode_from(tail, object_name));
    if (header.base_offset != footer.base_offset) {
      return corrupt_at(object_name, "header", 8,
                        fmt::format("base offset {} differs from the footer's {}",
                                    header.base_offset, footer.base_offset));
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

}  // namespace sh::format
