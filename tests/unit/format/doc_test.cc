// Keeps docs/segment-format.md and the code together: the annotated hex dump
// in the doc, the checked-in golden file and SegmentWriter's output must be the
// same bytes, and every layout table in the doc must match the encoded structs.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "core/format/coding.h"
#include "core/format/crc32c.h"
#include "core/format/format.h"
#include "core/format/segment_reader.h"
#include "core/format/segment_writer.h"
#include "tests/support/test_paths.h"

namespace sh::format {
namespace {

constexpr std::string_view kName = "golden_v1.bin";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string doc() { return read_file(sh::testing::source_dir() + "/docs/segment-format.md"); }
std::string golden() {
  return read_file(sh::testing::source_dir() + "/tests/data/format/golden_v1.bin");
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) out.push_back(line);
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// The bytes of the ```hex golden_v1 block: hex pairs, '#' starts a comment.
std::string doc_hex_dump(const std::string& text) {
  const auto lines = lines_of(text);
  std::string bytes;
  bool inside = false, found = false;
  for (const std::string& line : lines) {
    if (!inside) {
      if (trim(line) == "```hex golden_v1") inside = found = true;
      continue;
    }
    if (trim(line) == "```") break;
    std::stringstream ss(line.substr(0, line.find('#')));
    for (std::string tok; ss >> tok;) {
      EXPECT_EQ(tok.size(), 2u) << "bad hex token \"" << tok << "\" in line: " << line;
      EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(tok[0])) &&
                  std::isxdigit(static_cast<unsigned char>(tok[1])))
          << "bad hex token \"" << tok << "\" in line: " << line;
      bytes.push_back(static_cast<char>(std::stoi(tok, nullptr, 16)));
    }
  }
  EXPECT_TRUE(found) << "no ```hex golden_v1 block in docs/segment-format.md";
  return bytes;
}

struct Row {
  uint64_t at = 0;
  uint64_t size = 0;
  std::string type, field, value;
};

// Rows of the table following "<!-- layout: <name> -->".
std::vector<Row> doc_table(const std::string& text, const std::string& name) {
  const auto lines = lines_of(text);
  std::vector<Row> rows;
  size_t i = 0;
  while (i < lines.size() && trim(lines[i]) != "<!-- layout: " + name + " -->") ++i;
  EXPECT_LT(i, lines.size()) << "no layout table \"" << name << "\" in the doc";
  i += 3;  // marker, column names, separator
  for (; i < lines.size() && !trim(lines[i]).empty() && trim(lines[i])[0] == '|'; ++i) {
    std::vector<std::string> cells;
    std::stringstream ss(trim(lines[i]).substr(1));
    for (std::string cell; std::getline(ss, cell, '|');) cells.push_back(trim(cell));
    EXPECT_EQ(cells.size(), 5u) << "table " << name << ": bad row: " << lines[i];
    if (cells.size() != 5) continue;
    rows.push_back({std::stoull(cells[0]), std::stoull(cells[1]), cells[2], cells[3], cells[4]});
  }
  EXPECT_FALSE(rows.empty()) << "layout table " << name << " is empty";
  return rows;
}

// The three records and options listed in the doc's worked example.
Result<std::string> write_golden() {
  SegmentWriter w({.block_bytes = kDefaultBlockBytes,
                   .compression = Compression::kNone,
                   .created_at_ms = 1700000000000});
  Record a{.offset = 100, .timestamp = 1700000000000, .key = "k1", .value = "hello",
           .headers = {{"trace", "abc"}}};
  Record b{.offset = 101, .timestamp = 1699999999990, .key = std::nullopt, .value = "v2",
           .headers = {{"h", std::nullopt}}};
  Record c{.offset = 105, .timestamp = 1700000000005, .key = "k1", .value = std::nullopt};
  for (const Record* r : {&a, &b, &c}) SH_RETURN_IF_ERROR(w.add(*r));
  return w.finish();
}

TEST(DocTest, HexDumpInDocEqualsGoldenFile) {
  const std::string g = golden();
  const std::string dump = doc_hex_dump(doc());
  ASSERT_EQ(dump.size(), g.size()) << "doc hex dump and golden file differ in length";
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_EQ(static_cast<unsigned char>(dump[i]), static_cast<unsigned char>(g[i]))
        << "doc hex dump differs from tests/data/format/golden_v1.bin at byte " << i;
  }
}

TEST(DocTest, WriterReproducesGoldenFile) {
  auto obj = write_golden();
  ASSERT_TRUE(obj.ok()) << obj.error().to_string();
  const std::string g = golden();
  ASSERT_EQ(obj->size(), g.size()) << "SegmentWriter output changed length: format change?";
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_EQ(static_cast<unsigned char>((*obj)[i]), static_cast<unsigned char>(g[i]))
        << "SegmentWriter output differs from golden_v1.bin at byte " << i;
  }
  // And the golden file reads back as the documented records.
  auto contents = read_segment(g, kName);
  ASSERT_TRUE(contents.ok()) << contents.error().to_string();
  ASSERT_EQ(contents->records.size(), 3u);
  EXPECT_FALSE(contents->records[1].key.has_value()) << "record 1 has a null key";
  EXPECT_FALSE(contents->records[2].value.has_value()) << "record 2 is a tombstone";
  EXPECT_EQ(contents->records[1].timestamp - contents->records[0].timestamp, -10);
}

uint64_t width_of(const std::string& type, uint64_t size) {
  if (type == "u16") return 2;
  if (type == "u32") return 4;
  if (type == "u64" || type == "i64") return 8;
  if (type == "bytes") return size;
  ADD_FAILURE() << "unknown type " << type;
  return 0;
}

// Decodes the field at `p` per its documented type, rendered the way the doc writes it.
std::string render(const Row& row, const char* p) {
  if (row.type == "bytes") return std::string(p, row.size);
  uint64_t v = 0;
  if (row.type == "u16") v = coding::decode_fixed16(p);
  if (row.type == "u32") v = coding::decode_fixed32(p);
  if (row.type == "u64" || row.type == "i64") v = coding::decode_fixed64(p);
  if (row.field == "crc") {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(v));
    return buf;
  }
  if (row.type == "i64") return std::to_string(static_cast<int64_t>(v));
  return std::to_string(v);
}

struct Layout {
  std::string name;
  size_t length;     // the code's encoded length
  uint64_t base;     // where the structure sits in golden_v1
  // field -> value the code decoded (rendered like the doc)
  std::map<std::string, std::string> fields;
};

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

TEST(DocTest, LayoutTablesMatchEncodedStructs) {
  const std::string text = doc();
  const std::string g = golden();
  auto contents = read_segment(g, kName);
  ASSERT_TRUE(contents.ok()) << contents.error().to_string();
  const SegmentHeader& h = contents->header;
  const Footer& f = contents->meta.footer;
  ASSERT_EQ(contents->meta.index.size(), 1u);
  const IndexEntry& e = contents->meta.index[0];
  const uint64_t block = e.handle.position;
  const uint64_t entry_at = f.index_position + 4;
  const uint64_t footer_at = g.size() - Footer::kEncodedLength;
  const std::string_view stored = std::string_view(g).substr(block + 12, e.handle.size - 12);
  const std::string magic(kMagic, 4);
  const auto s = [](auto v) { return std::to_string(v); };

  const Layout layouts[] = {
      {"header", SegmentHeader::kEncodedLength, 0,
       {{"magic", magic},
        {"version", s(h.version)},
        {"compression", s(static_cast<uint16_t>(h.compression))},
        {"base_offset", s(h.base_offset)},
        {"created_at_ms", s(h.created_at_ms)},
        {"reserved", "0"},
        {"crc", hex(crc32c::value(g.data(), 28))}}},
      {"block_header", 12, block,
       {{"stored_len", s(stored.size())},
        {"raw_len", s(stored.size())},  // compression 0: raw == stored
        {"crc", hex(crc32c::value(stored))}}},
      {"payload_header", 20, block + 12,
       {{"first_offset", s(e.first_offset)},
        {"first_timestamp", s(e.first_timestamp)},
        {"record_count", s(e.record_count)}}},
      {"index_entry", IndexEntry::kEncodedLength, entry_at,
       {{"first_offset", s(e.first_offset)},
        {"last_offset", s(e.last_offset)},
        {"position", s(e.handle.position)},
        {"size", s(e.handle.size)},
        {"record_count", s(e.record_count)},
        {"first_timestamp", s(e.first_timestamp)},
        {"max_timestamp", s(e.max_timestamp)}}},
      {"footer", Footer::kEncodedLength, footer_at,
       {{"index_position", s(f.index_position)},
        {"index_length", s(f.index_length)},
        {"block_count", s(f.block_count)},
        {"base_offset", s(f.base_offset)},
        {"last_offset", s(f.last_offset)},
        {"max_timestamp", s(f.max_timestamp)},
        {"crc", hex(crc32c::value(g.data() + footer_at, 40))},
        {"magic", magic}}},
  };
  for (const Layout& l : layouts) {
    SCOPED_TRACE("layout table " + l.name);
    const std::vector<Row> rows = doc_table(text, l.name);
    uint64_t next = 0;
    std::set<std::string> seen;
    for (const Row& r : rows) {
      EXPECT_EQ(r.at, next) << r.field << ": not contiguous with the previous field";
      EXPECT_EQ(width_of(r.type, r.size), r.size) << r.field << ": size does not match type";
      next = r.at + r.size;
      ASSERT_LE(l.base + next, g.size());
      EXPECT_EQ(render(r, g.data() + l.base + r.at), r.value)
          << r.field << " at " << r.at << ": golden bytes do not hold the documented value";
      auto it = l.fields.find(r.field);
      ASSERT_NE(it, l.fields.end()) << "doc field " << r.field << " unknown to the code";
      EXPECT_EQ(it->second, r.value) << r.field << ": the decoded struct disagrees with the doc";
      seen.insert(r.field);
    }
    EXPECT_EQ(next, l.length) << "documented length differs from the encoded length";
    EXPECT_EQ(seen.size(), l.fields.size()) << "doc table lacks fields the code has";
  }

  // encode_to of the decoded structs writes exactly the golden bytes.
  std::string enc;
  h.encode_to(&enc);
  EXPECT_EQ(enc, g.substr(0, SegmentHeader::kEncodedLength)) << "SegmentHeader::encode_to";
  enc.clear();
  e.encode_to(&enc);
  EXPECT_EQ(enc, g.substr(entry_at, IndexEntry::kEncodedLength)) << "IndexEntry::encode_to";
  enc.clear();
  f.encode_to(&enc);
  EXPECT_EQ(enc, g.substr(footer_at)) << "Footer::encode_to";
}

}  // namespace
}  // namespace sh::format
