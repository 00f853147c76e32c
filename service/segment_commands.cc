#include "service/segment_commands.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/records_json.h"
#include "core/format/segment.h"
#include "service/s3_flags.h"

namespace sh::service {
namespace {

using json = nlohmann::json;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool base64_decode(std::string_view in, std::string* out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out->clear();
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else {
        if (pad) return false;
        v[j] = val(c);
        if (v[j] < 0) return false;
      }
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out->push_back(static_cast<char>(n >> 16));
    if (pad < 2) out->push_back(static_cast<char>(n >> 8));
    if (pad < 1) out->push_back(static_cast<char>(n));
  }
  return true;
}

// Reads a key or value field: string (with optional "<field>_encoding":"base64"),
// null, or (for values) any other JSON stored compact.
std::optional<std::string> bytes_field(const json& line, const char* field, bool any_json,
                                       std::string* error) {
  const json& v = line[field];
  const std::string enc_field = std::string(field) + "_encoding";
  std::string encoding = "string";
  if (line.contains(enc_field)) {
    if (!line[enc_field].is_string()) {
      *error = enc_field + " must be \"string\" or \"base64\"";
      return std::nullopt;
    }
    encoding = line[enc_field].get<std::string>();
    if (encoding != "string" && encoding != "base64") {
      *error = enc_field + " must be \"string\" or \"base64\"";
      return std::nullopt;
    }
  }
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) {
    if (encoding == "base64") {
      std::string decoded;
      if (!base64_decode(v.get_ref<const std::string&>(), &decoded)) {
        *error = std::string(field) + " is not valid base64";
        return std::nullopt;
      }
      return decoded;
    }
    return v.get<std::string>();
  }
  if (!any_json) {
    *error = std::string(field) + " must be a string or null";
    return std::nullopt;
  }
  return v.dump();
}

// Parses one input line into a record (offset filled by the caller when absent).
bool parse_line(const std::string& text, Record* r, bool* has_offset, std::string* error) {
  json line = json::parse(text, nullptr, false);
  if (line.is_discarded()) {
    *error = "not valid JSON";
    return false;
  }
  if (!line.is_object()) {
    *error = "each line must be a JSON object";
    return false;
  }
  static const char* kFields[] = {"offset", "timestamp", "key", "value", "headers",
                                  "key_encoding", "value_encoding"};
  for (const auto& [k, _] : line.items()) {
    if (std::find_if(std::begin(kFields), std::end(kFields), [&](const char* f) { return k == f; }) ==
        std::end(kFields)) {
      *error = "unknown field '" + k.substr(0, 64) + "'";
      return false;
    }
  }
  *r = Record{};
  *has_offset = line.contains("offset");
  if (*has_offset) {
    const json& o = line["offset"];
    if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<int64_t>() >= 0)) {
      *error = "offset must be a non-negative integer";
      return false;
    }
    r->offset = o.get<uint64_t>();
    if (r->offset > static_cast<uint64_t>(INT64_MAX)) {
      *error = "offset must be below 2^63";
      return false;
    }
  }
  if (line.contains("timestamp")) {
    if (!line["timestamp"].is_number_integer()) {
      *error = "timestamp must be an integer (milliseconds since the epoch)";
      return false;
    }
    r->timestamp = line["timestamp"].get<int64_t>();
  } else {
    r->timestamp = now_ms();
  }
  if (!line.contains("value")) {
    *error = "value is required (null for a tombstone)";
    return false;
  }
  error->clear();
  if (line.contains("key")) {
    r->key = bytes_field(line, "key", false, error);
    if (!error->empty()) return false;
  }
  r->value = bytes_field(line, "value", true, error);
  if (!error->empty()) return false;
  if (line.contains("headers")) {
    const json& h = line["headers"];
    auto header_value = [&](const json& v, std::optional<std::string>* out) {
      if (v.is_null()) return true;
      if (!v.is_string()) return false;
      *out = v.get<std::string>();
      return true;
    };
    if (h.is_object()) {
      for (const auto& [k, v] : h.items()) {
        RecordHeader rh{k, std::nullopt};
        if (!header_value(v, &rh.value)) {
          *error = "header '" + k.substr(0, 64) + "' must have a string or null value";
          return false;
        }
        r->headers.push_back(std::move(rh));
      }
    } else if (h.is_array()) {
      for (const json& e : h) {
        if (!e.is_object() || !e.contains("key") || !e["key"].is_string()) {
          *error = "headers list entries must be {\"key\": string, \"value\": string|null}";
          return false;
        }
        RecordHeader rh{e["key"].get<std::string>(), std::nullopt};
        if (e.contains("value") && !header_value(e["value"], &rh.value)) {
          *error = "header '" + rh.key.substr(0, 64) + "' must have a string or null value";
          return false;
        }
        r->headers.push_back(std::move(rh));
      }
    } else {
      *error = "headers must be an object of strings or a list of {key, value}";
      return false;
    }
  }
  return true;
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
      return invalid_argument("'" + o.target + "': expected s3://bucket/key");
    }
    auto registry = std::make_shared<prometheus::Registry>();
    std::string prefix;
    SH_ASSIGN_OR_RETURN(auto store, open_object_store(o.target.substr(0, slash), o.s3, registry, &prefix));
    SH_ASSIGN_OR_RETURN(RangeRead r, store->get(o.target.substr(slash + 1)));
    return std::move(r.data);
  }
  std::string path = o.target.rfind("file://", 0) == 0 ? o.target.substr(7) : o.target;
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return unavailable("error reading '" + path + "'");
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
    err << "segment write: invalid topic name '" << o.topic
        << "' (1-249 characters of [A-Za-z0-9._-], not '.' or '..')\n";
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
  // Continue the partition at its high watermark.
  uint64_t next_offset = 0;
  auto info = backends->metadata->get_partition(o.topic, o.partition);
  if (info.ok()) {
    next_offset = info->high_watermark;
  } else if (info.error().code() != Errc::kTopicNotFound &&
             info.error().code() != Errc::kPartitionNotFound) {
    err << "segment write: " << info.error().message() << "\n";
    return 1;
  }

  format::SegmentWriterOptions wo;
  wo.block_bytes = o.block_bytes;
  wo.compression = *compression;
  wo.created_at_ms = now_ms();
  format::SegmentWriter writer(wo);

  uint64_t segments = 0, records = 0, first_offset = 0, last_offset = 0;
  auto flush = [&]() -> Status {
    if (writer.empty()) return {};
    const uint64_t base = writer.base_offset();
    const uint64_t last = writer.last_offset();
    const uint64_t count = writer.record_count();
    const int64_t max_ts = writer.max_timestamp();
    SH_ASSIGN_OR_RETURN(std::string bytes, writer.finish());
    const std::string key = format::segment_key(backends->prefix, o.topic, o.partition, base);
    auto existing = backends->store->head(key, {});
    if (existing.ok()) {
      return Error(Errc::kAlreadyExists, "segment object " + key + " already exists");
    }
    if (existing.error().code() != Errc::kNotFound) return std::move(existing).error();
    SH_RETURN_IF_ERROR(backends->store->put(key, bytes, Deadline::after(Millis(120000))));
    SegmentInfo si;
    si.key = key;
    si.bucket = backends->bucket;
    si.base_offset = base;
    si.last_offset = last;
    si.record_count = count;
    si.size_bytes = bytes.size();
    si.max_timestamp = max_ts;
    SH_RETURN_IF_ERROR(backends->metadata->register_segment(o.topic, o.partition, si));
    wo.created_at_ms = now_ms();
    writer = format::SegmentWriter(wo);
    ++segments;
    return {};
  };
  auto written_summary = [&]() {
    std::ostringstream s;
    s << segments << " segment(s) with " << records << " record(s)";
    if (records > 0) s << " (offsets " << first_offset << ".." << last_offset << ")";
    s << " were written before it";
    return s.str();
  };

  std::string text;
  uint64_t line_no = 0;
  Record r;
  std::string error;
  uint64_t pending = 0;  // records in the open segment
  while (std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    bool has_offset = false;
    if (!parse_line(text, &r, &has_offset, &error)) {
      err << "segment write: line " << line_no << ": " << error << "; " << written_summary()
          << ", nothing after\n";
      return 1;
    }
    if (has_offset) {
      if (r.offset < next_offset) {
        err << "segment write: line " << line_no << ": offset " << r.offset
            << " is below the next free offset " << next_offset
            << " (offsets must increase and continue the partition); " << written_summary()
            << ", nothing after\n";
        return 1;
      }
    } else {
      r.offset = next_offset;
    }
    if (auto st = writer.add(r); !st.ok()) {
      err << "segment write: line " << line_no << ": " << st.error().message() << "; "
          << written_summary() << ", nothing after\n";
      return 1;
    }
    if (pending == 0 && segments == 0 && records == 0) first_offset = r.offset;
    next_offset = r.offset + 1;
    ++pending;
    if ((o.segment_records > 0 && writer.record_count() >= o.segment_records) ||
        writer.estimated_size() >= o.segment_bytes) {
      if (auto st = flush(); !st.ok()) {
        err << "segment write: " << st.error().message() << "; " << written_summary() << "\n";
        return 1;
      }
      records += pending;
      last_offset = next_offset - 1;
      pending = 0;
    }
  }
  if (in.bad()) {
    err << "segment write: error reading input; " << written_summary() << "\n";
    return 1;
  }
  if (auto st = flush(); !st.ok()) {
    err << "segment write: " << st.error().message() << "; " << written_summary() << "\n";
    return 1;
  }
  records += pending;
  if (pending > 0) last_offset = next_offset - 1;
  json summary{{"topic", o.topic},
               {"partition", o.partition},
               {"segments", segments},
               {"records", records},
               {"high_watermark", next_offset}};
  if (records > 0) {
    summary["first_offset"] = first_offset;
    summary["last_offset"] = last_offset;
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
