#include "service/segment_commands.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/records_json.h"
#include "core/format/names.h"
#include "core/format/segment.h"
#include "core/text/base64.h"
#include "core/write/partition_appender.h"
#include "service/jsonl_input.h"
#include "service/s3_flags.h"

namespace sh::service {
namespace {

using json = nlohmann::json;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<format::Compression> parse_compression(const std::string& s) {
  if (s == "lz4") return format::Compression::kLz4;
  if (s == "none") return format::Compression::kNone;
  return std::nullopt;
}

// Reads a segment object named by a path, file:// URL or s3:// URL.
Result<std::string> read_target(const SegmentReadOptions& o) {
  if (o.target.rfind("s3://", 0) == 0) {
    auto slash = o.target.find('/', 5);
    if (slash == std::string::npos || slash + 1 >= o.target.size()) {
      return invalid_argument(fmt::format("'{}': expected s3://bucket/key", o.target));
    }
    auto registry = std::make_shared<prometheus::Registry>();
    std::string prefix;
    SH_ASSIGN_OR_RETURN(auto store, open_object_store(o.target.substr(0, slash), o.s3, registry, &prefix));
    SH_ASSIGN_OR_RETURN(RangeRead r, store->get(o.target.substr(slash + 1)));
    return std::move(r.data);
  }
  std::string path = o.target.rfind("file://", 0) == 0 ? o.target.substr(7) : o.target;
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found(fmt::format("cannot open '{}'", path));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return unavailable(fmt::format("error reading '{}'", path));
  return ss.str();
}

}  // namespace

void add_segment_write_flags(CLI::App* cmd, SegmentWriteOptions* o) {
  add_backend_flags(cmd, &o->backend);
  cmd->add_option("--topic", o->topic, "Topic to append to")->required();
  cmd->add_option("--partition", o->partition, "Partition to append to")
      ->check(CLI::Range(0, INT32_MAX))
      ->capture_default_str();
  cmd->add_option("--segment-records", o->segment_records,
                  "Cut a segment after this many records (0 = no limit)")
      ->capture_default_str();
  cmd->add_option("--segment-bytes", o->segment_bytes, "Cut a segment when it reaches this size")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 40))
      ->capture_default_str();
  cmd->add_option("--block-bytes", o->block_bytes, "Cut a block when its raw size reaches this")
      ->check(CLI::Range(uint32_t{64}, format::kMaxBlockBytes / 2))
      ->capture_default_str();
  cmd->add_option("--compression", o->compression, "lz4 or none")
      ->check(CLI::IsMember({"lz4", "none"}))
      ->capture_default_str();
}

void add_segment_read_flags(CLI::App* cmd, SegmentReadOptions* o) {
  cmd->add_option("target", o->target, "Segment file path, file:///path or s3://bucket/key")
      ->required();
  add_s3_flags(cmd, &o->s3);
}

int run_segment_write(const SegmentWriteOptions& o, std::istream& in, std::ostream& out,
                      std::ostream& err) {
  if (!format::valid_topic_name(o.topic)) {
    err << "segment write: " << format::invalid_name_message("topic name", o.topic) << "\n";
    return 2;
  }
  auto compression = parse_compression(o.compression);
  if (!compression) {
    err << "segment write: --compression must be lz4 or none\n";
    return 2;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  auto backends = open_backends(o.backend, registry);
  if (!backends.ok()) {
    err << "segment write: " << backends.error().message() << "\n";
    return 1;
  }
  write::AppendOptions ao;
  ao.segment_records = o.segment_records;
  ao.segment_bytes = o.segment_bytes;
  ao.block_bytes = o.block_bytes;
  ao.compression = *compression;
  ao.key_prefix = backends->prefix;
  ao.bucket = backends->bucket;
  auto opened = write::PartitionAppender::open(backends->store, backends->metadata, o.topic,
                                               o.partition, std::move(ao));
  if (!opened.ok()) {
    err << "segment write: " << opened.error().message() << "\n";
    return 1;
  }
  write::PartitionAppender& appender = *opened;

  auto written_summary = [&]() {
    const write::AppendSummary s = appender.summary();
    std::string offsets;
    if (s.records > 0) offsets = fmt::format(" (offsets {}..{})", *s.first_offset, *s.last_offset);
    return fmt::format("{} segment(s) with {} record(s){} were written before it", s.segments,
                       s.records, offsets);
  };

  std::string text;
  uint64_t line_no = 0;
  Record r;
  std::string error;
  while (std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    bool has_offset = false;
    if (!parse_jsonl_record(text, now_ms(), &r, &has_offset, &error)) {
      err << "segment write: line " << line_no << ": " << error << "; " << written_summary()
          << ", nothing after\n";
      return 1;
    }
    if (!has_offset) r.offset = appender.next_offset();
    if (auto st = appender.append(r); !st.ok()) {
      if (appender.failed()) {  // the record was taken; writing its segment failed
        err << "segment write: " << st.error().message() << "; " << written_summary() << "\n";
      } else {
        err << "segment write: line " << line_no << ": " << st.error().message() << "; "
            << written_summary() << ", nothing after\n";
      }
      return 1;
    }
  }
  if (in.bad()) {
    err << "segment write: error reading input; " << written_summary() << "\n";
    return 1;
  }
  if (auto st = appender.flush(); !st.ok()) {
    err << "segment write: " << st.error().message() << "; " << written_summary() << "\n";
    return 1;
  }
  const write::AppendSummary s = appender.summary();
  json summary{{"topic", o.topic},
               {"partition", o.partition},
               {"segments", s.segments},
               {"records", s.records},
               {"high_watermark", s.next_offset}};
  if (s.records > 0) {
    summary["first_offset"] = *s.first_offset;
    summary["last_offset"] = *s.last_offset;
  }
  out << summary.dump() << "\n";
  return 0;
}

int run_segment_dump(const SegmentReadOptions& o, std::ostream& out, std::ostream& err) {
  auto bytes = read_target(o);
  if (!bytes.ok()) {
    err << "segment dump: " << bytes.error().message() << "\n";
    return 1;
  }
  auto contents = format::read_segment(*bytes, o.target);
  if (!contents.ok()) {
    err << "segment dump: " << contents.error().message() << "\n";
    return 1;
  }
  std::string line;
  std::vector<HeaderView> headers;
  for (const Record& r : contents->records) {
    headers.clear();
    for (const auto& h : r.headers) {
      headers.push_back({h.key, h.value ? std::optional<std::string_view>(*h.value) : std::nullopt});
    }
    RecordView v;
    v.offset = r.offset;
    v.timestamp = r.timestamp;
    if (r.key) v.key = *r.key;
    if (r.value) v.value = *r.value;
    v.headers = headers;
    line.clear();
    api::append_record_json(&line, v, api::RecordFormat::kString);
    line.push_back('\n');
    out << line;
  }
  return out.good() ? 0 : 1;
}

int run_segment_verify(const SegmentReadOptions& o, std::ostream& out, std::ostream& err) {
  auto bytes = read_target(o);
  if (!bytes.ok()) {
    err << "segment verify: " << bytes.error().message() << "\n";
    return 1;
  }
  auto contents = format::read_segment(*bytes, o.target);
  if (!contents.ok()) {
    err << "segment verify: CORRUPT " << contents.error().message() << "\n";
    return 1;
  }
  // The file name, when it is a segment name, must agree with the contents.
  std::string_view name = o.target;
  if (auto slash = name.rfind('/'); slash != std::string_view::npos) name = name.substr(slash + 1);
  if (auto base = format::parse_segment_file_name(name);
      base && *base != contents->header.base_offset) {
    err << "segment verify: CORRUPT " << o.target << ": file name says base offset " << *base
        << " but the header says " << contents->header.base_offset << "\n";
    return 1;
  }
  const auto& f = contents->meta.footer;
  out << "OK " << o.target << ": " << contents->records.size() << " records in " << f.block_count
      << " blocks, offsets " << f.base_offset << ".." << f.last_offset << ", "
      << (contents->header.compression == format::Compression::kLz4 ? "lz4" : "uncompressed")
      << ", " << bytes->size() << " bytes\n";
  return 0;
}

}  // namespace sh::service
