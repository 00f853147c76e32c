#include "core/write/partition_appender.h"

#include <limits>
#include <utility>

#include <fmt/format.h>

#include "core/format/names.h"

namespace sh::write {

Result<PartitionAppender> PartitionAppender::open(std::shared_ptr<ObjectStore> store,
                                                  std::shared_ptr<MetadataStore> metadata,
                                                  std::string topic, int32_t partition,
                                                  AppendOptions opts) {
  if (!format::valid_topic_name(topic)) {
    return invalid_argument(format::invalid_name_message("topic name", topic));
  }
  if (partition < 0) return invalid_argument(fmt::format("invalid partition {}", partition));
  if (!opts.key_prefix.empty() && opts.key_prefix.back() != '/') {
    return invalid_argument(
        fmt::format("key prefix '{}' must be empty or end with '/'", opts.key_prefix));
  }
  if (!opts.clock) opts.clock = system_clock();

  // Continue the partition at its high watermark; a new one starts at 0.
  uint64_t next_offset = 0;
  auto info = metadata->get_partition(topic, partition);
  if (info.ok()) {
    next_offset = info->high_watermark;
  } else if (info.error().code() != Errc::kTopicNotFound &&
             info.error().code() != Errc::kPartitionNotFound) {
    return std::move(info).error();
  }
  return PartitionAppender(std::move(store), std::move(metadata), std::move(topic), partition,
                           std::move(opts), next_offset);
}

PartitionAppender::PartitionAppender(std::shared_ptr<ObjectStore> store,
                                     std::shared_ptr<MetadataStore> metadata, std::string topic,
                                     int32_t partition, AppendOptions opts, uint64_t next_offset)
    : store_(std::move(store)),
      metadata_(std::move(metadata)),
      topic_(std::move(topic)),
      partition_(partition),
      opts_(std::move(opts)),
      writer_(new_writer()),
      next_offset_(next_offset) {}

format::SegmentWriter PartitionAppender::new_writer() const {
  format::SegmentWriterOptions wo;
  wo.block_bytes = opts_.block_bytes;
  wo.compression = opts_.compression;
  wo.created_at_ms = opts_.clock->now_unix_ms();
  return format::SegmentWriter(wo);
}

Error PartitionAppender::failed_error() const {
  return internal_error(fmt::format(
      "appending to {}/{}: an earlier segment write failed; nothing more is accepted", topic_,
      partition_));
}

Status PartitionAppender::append(const Record& r) { return append_record(r); }
Status PartitionAppender::append(const RecordView& r) { return append_record(r); }

template <typename R>
Status PartitionAppender::append_record(const R& r) {
  if (failed_) return failed_error();
  if (r.offset < next_offset_) {
    return invalid_argument(fmt::format(
        "offset {} is below the next free offset {} (offsets must increase and continue the "
        "partition)",
        r.offset, next_offset_));
  }
  if (r.offset == std::numeric_limits<uint64_t>::max()) {
    return invalid_argument(fmt::format("offset {} leaves no next offset", r.offset));
  }
  SH_RETURN_IF_ERROR(writer_.add(r));
  next_offset_ = r.offset + 1;
  if (segment_full()) return flush();
  return ok_status();
}

bool PartitionAppender::segment_full() const {
  return (opts_.segment_records > 0 && writer_.record_count() >= opts_.segment_records) ||
         writer_.estimated_size() >= opts_.segment_bytes;
}

Status PartitionAppender::flush() {
  if (failed_) return failed_error();
  if (writer_.empty()) return ok_status();
  auto segment = write_segment();
  if (!segment.ok()) {
    failed_ = true;
    return std::move(segment).error();
  }
  written_.push_back(std::move(segment).value());
  writer_ = new_writer();
  return ok_status();
}

Result<SegmentInfo> PartitionAppender::write_segment() {
  SegmentInfo si;
  si.bucket = opts_.bucket;
  si.base_offset = writer_.base_offset();
  si.last_offset = writer_.last_offset();
  si.record_count = writer_.record_count();
  si.max_timestamp = writer_.max_timestamp();
  SH_ASSIGN_OR_RETURN(std::string bytes, writer_.finish());
  si.key = format::segment_key(opts_.key_prefix, topic_, partition_, si.base_offset);
  si.size_bytes = bytes.size();

  // Atomic: another writer's segment at this key is never overwritten.
  auto put = store_->put_if_absent(si.key, bytes, Deadline::after(opts_.put_timeout));
  if (!put.ok()) {
    if (put.error().code() == Errc::kAlreadyExists) {
      return Error(Errc::kAlreadyExists, fmt::format("segment object {} already exists", si.key));
    }
    return std::move(put).error();
  }
  SH_RETURN_IF_ERROR(metadata_->register_segment(topic_, partition_, si));
  return si;
}

AppendSummary PartitionAppender::summary() const {
  AppendSummary s;
  s.segments = written_.size();
  for (const SegmentInfo& si : written_) s.records += si.record_count;
  if (s.records > 0) {
    s.first_offset = written_.front().base_offset;
    s.last_offset = written_.back().last_offset;
  }
  s.next_offset = next_offset_;
  return s;
}

}  // namespace sh::write
