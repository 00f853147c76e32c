#include "core/format/segment_writer.h"

#include <lz4.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string_view>

#include <fmt/format.h>

#include "core/format/coding.h"
#include "core/format/crc32c.h"
#include "core/text/utf8.h"

namespace sh::format {

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
    return invalid_argument(fmt::format("segment writer: unknown compression {}",
                                        static_cast<uint16_t>(opts_.compression)));
  }
  if (record_count_ > 0 && r.offset <= last_offset_) {
    return invalid_argument(fmt::format("segment writer: offset {} does not increase (last {})",
                                        r.offset, last_offset_));
  }
  for (const HeaderView& h : r.headers) {
    if (!text::valid_utf8(h.key)) {
      return invalid_argument(fmt::format(
          "segment writer: record at offset {}: header name is not valid UTF-8", r.offset));
    }
  }
  const uint64_t alone = BlockBuilder::payload_size_alone(r);
  if (alone > kMaxBlockBytes) {
    return invalid_argument(
        fmt::format("segment writer: record at offset {} needs {} bytes, more than the block "
                    "limit {}",
                    r.offset, alone, kMaxBlockBytes));
  }
  // A record that fills a block on its own gets a block of its own.
  if (!block_.empty() &&
      (alone >= opts_.block_bytes || block_.payload_size_with(r) > kMaxBlockBytes)) {
    cut_block();
  }
  block_.add(r);
  if (record_count_ == 0) base_offset_ = r.offset;
  last_offset_ = r.offset;
  max_timestamp_ = std::max(max_timestamp_, r.timestamp);
  ++record_count_;
  if (block_.payload_size() >= opts_.block_bytes) cut_block();
  return ok_status();
}

void SegmentWriter::cut_block() {
  const std::string_view raw = block_.finish();
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
  e.first_offset = block_.first_offset();
  e.last_offset = block_.last_offset();
  e.handle.position = out_.size();
  e.handle.size = static_cast<uint32_t>(kBlockHeaderBytes + stored.size());
  e.record_count = block_.record_count();
  e.first_timestamp = block_.first_timestamp();
  e.max_timestamp = block_.max_timestamp();
  coding::put_fixed32(&out_, static_cast<uint32_t>(stored.size()));
  coding::put_fixed32(&out_, static_cast<uint32_t>(raw.size()));
  coding::put_fixed32(&out_, crc32c::value(stored));
  out_.append(stored);
  index_.push_back(e);
  block_.reset();
}

uint64_t SegmentWriter::estimated_size() const {
  const uint64_t open = block_.empty() ? 0 : kBlockHeaderBytes + block_.payload_size();
  const uint64_t blocks = index_.size() + (block_.empty() ? 0 : 1);
  return out_.size() + open + kIndexOverheadBytes + blocks * IndexEntry::kEncodedLength +
         Footer::kEncodedLength;
}

Result<std::string> SegmentWriter::finish() {
  if (empty()) return invalid_argument("segment writer: cannot finish a segment with no records");
  if (!block_.empty()) cut_block();
  const uint64_t index_length =
      kIndexOverheadBytes + static_cast<uint64_t>(index_.size()) * IndexEntry::kEncodedLength;
  if (index_length > std::numeric_limits<uint32_t>::max()) {
    return invalid_argument(fmt::format("segment writer: too many blocks ({})", index_.size()));
  }
  Footer footer;
  footer.index_position = out_.size();
  footer.index_length = static_cast<uint32_t>(index_length);
  footer.block_count = static_cast<uint32_t>(index_.size());
  footer.base_offset = base_offset_;
  footer.last_offset = last_offset_;
  footer.max_timestamp = max_timestamp_;

  const size_t index_start = out_.size();
  coding::put_fixed32(&out_, footer.block_count);
  for (const IndexEntry& e : index_) e.encode_to(&out_);
  coding::put_fixed32(&out_, crc32c::value(out_.data() + index_start, out_.size() - index_start));
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
  record_count_ = 0;
  base_offset_ = 0;
  last_offset_ = 0;
  max_timestamp_ = std::numeric_limits<int64_t>::min();
  return object;
}

}  // namespace sh::format
