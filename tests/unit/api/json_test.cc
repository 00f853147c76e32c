// Record JSON encoding: escaping, JSON validation and the three formats.
#include <algorithm>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/json_writer.h"
#include "core/text/utf8.h"
#include "api/records_json.h"

namespace sh::api {
namespace {

using json = nlohmann::json;

TEST(JsonWriter, EscapesEveryControlCharacterAndParsesBack) {
  std::string all;
  for (int c = 0; c < 128; ++c) all.push_back(static_cast<char>(c));
  all += "\"\\ caf\xc3\xa9";
  std::string out;
  JsonWriter(&out).string(all);
  EXPECT_EQ(json::parse(out).get<std::string>(), all);
}

TEST(JsonWriter, RandomStringsRoundTripAtEveryAlignment) {
  // The writer scans 8 bytes at a time: put escapes at every position and length.
  std::mt19937 rng(7);
  const std::string alphabet = std::string("ab\"\\\n\x01\x1f ~\x7f") + "\xc3\xa9";
  for (int n = 0; n < 2000; ++n) {
    std::string s;
    const int len = static_cast<int>(rng() % 40);
    for (int i = 0; i < len; ++i) {
      char c = alphabet[rng() % (alphabet.size() - 2)];
      s.push_back(rng() % 4 == 0 ? c : static_cast<char>('a' + rng() % 26));
    }
    std::string out;
    JsonWriter(&out).string(s);
    ASSERT_EQ(json::parse(out).get<std::string>(), s) << out;
  }
}

// The escaping of RFC 8259, one byte at a time: what the word-at-a-time writer
// must produce byte for byte.
std::string reference_json_string(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

TEST(JsonWriter, MatchesTheByteLoopAndItsOwnSizeForEveryMixOfEscapes) {
  // Dense and sparse escapes, long and short strings, runs of 8 flagged bytes,
  // ASCII and not: output, size and the ASCII flag agree with the byte loop.
  std::mt19937 rng(11);
  const std::string specials = std::string("\"\\\n\r\t\b\f\x01\x1f\x7f", 11) + "\xc3\xa9";
  int dense = 0;
  for (int n = 0; n < 5000; ++n) {
    std::string s;
    const int len = static_cast<int>(rng() % 300);
    const unsigned density = 1 + rng() % 8;  // 1: every byte special
    for (int i = 0; i < len; ++i) {
      if (rng() % density == 0) {
        s.push_back(specials[rng() % specials.size()]);
      } else {
        s.push_back(static_cast<char>(' ' + rng() % 95));
      }
    }
    if (density == 1) ++dense;
    std::string out = "prefix";
    JsonWriter(&out).string(s);
    const std::string want = reference_json_string(s);
    ASSERT_EQ(out, "prefix" + want) << "length " << len;
    EXPECT_EQ(json_string_size(s), want.size());
    const bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    EXPECT_EQ(scan_json_string(s).ascii, ascii);
  }
  EXPECT_GT(dense, 100);
}

TEST(JsonText, AgreesWithNlohmannOnValidAndInvalidDocuments) {
  const char* docs[] = {
      "0", "-0", "1.5e10", "-1.25E-3", "01", "1.", ".5", "-", "1e", "+1", "true", "tru", "null",
      "nul", "false", "\"\"", "\"a\\u00e9\\n\"", "\"\\x\"", "\"\\u12\"", "\"tab\there\"",
      "[]", "[1,2,[3,{}]]", "[1,]", "[,1]", "{}", "{\"a\":1}", "{\"a\":1,}", "{a:1}",
      "{\"a\" 1}", " {\"k\": [true, false, null]} ", "{} {}", "[1] x", "", " ", "\"unterminated",
      "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":\"e\"}]}}}", "1 2", "[\"\\/\"]"};
  for (const char* d : docs) {
    EXPECT_EQ(is_json_text(d), json::accept(d)) << "document: " << d;
  }
  // Random ASCII soup made of JSON's own tokens: both must agree on every one.
  std::mt19937 rng(11);
  const char* tokens[] = {"{", "}", "[", "]", ",", ":", "\"", "\\", "u", "0", "1", "-", ".", "e",
                          "+", " ", "true", "null", "\"k\"", "\t", "\n", "x"};
  for (int n = 0; n < 20000; ++n) {
    std::string d;
    const int len = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < len; ++i) d += tokens[rng() % std::size(tokens)];
    ASSERT_EQ(is_json_text(d), json::accept(d)) << "document: " << d;
  }
  // Long strings (the validator skips 8 bytes at a time inside them): quotes,
  // backslashes, escapes and control bytes at every position.
  const char* pieces[] = {"a", "bcdefgh", "0123456789abcdef", "\"", "\\", "\\n", "\\u00e9", "\\x",
                          "\x01", "\t", "\xc3\xa9", " "};
  for (int n = 0; n < 20000; ++n) {
    std::string d = rng() % 2 ? "\"" : "[\"";
    const int len = static_cast<int>(rng() % 16);
    for (int i = 0; i < len; ++i) d += pieces[rng() % std::size(pieces)];
    d += rng() % 2 ? "\"" : "\"]";
    ASSERT_EQ(is_json_text(d), json::accept(d)) << "document: " << d;
  }
  // \u escapes of UTF-16 surrogates must pair up, as nlohmann (and serde_json) demand.
  const char* surrogates[] = {"\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"", "\"\\ud83d\"", "\"\\ude00\"",
                              "\"\\ud83d\\u0041\"", "\"\\ud83dx\"", "\"\\ud83d\\\"", "\"\\udae3ser\"",
                              "\"\\ud7ff\\ue000\"", "\"\\ud83d\\ud83d\\ude00\""};
  for (const char* d : surrogates) {
    EXPECT_EQ(is_json_text(d), json::accept(d)) << "document: " << d;
  }
  EXPECT_TRUE(is_json_text("\"\\ud83d\\ude00\""));
  EXPECT_FALSE(is_json_text("\"\\udae3\""));
  EXPECT_TRUE(is_json_text(std::string(256, '[') + std::string(256, ']')));
  EXPECT_FALSE(is_json_text(std::string(100000, '[') + std::string(100000, ']')))
      << "deep nesting is refused, not a stack overflow";
}

std::string encode(const RecordView& r, RecordFormat f) {
  std::string out;
  append_record_json(&out, r, f);
  return out;
}

TEST(RecordJson, StringFormatWithNullsHeadersAndNonUtf8) {
  std::vector<HeaderView> headers = {{"trace", std::string_view("abc")}, {"empty", std::nullopt}};
  RecordView r;
  r.offset = 42;
  r.timestamp = -5;
  r.key = std::string_view("k\"1");
  r.value = std::string_view("\xff\xfe", 2);
  r.headers = headers;
  json j = json::parse(encode(r, RecordFormat::kString));
  EXPECT_EQ(j["offset"], 42);
  EXPECT_EQ(j["timestamp"], -5);
  EXPECT_EQ(j["key"], "k\"1");
  EXPECT_EQ(j["value"], "//4=");
  EXPECT_EQ(j["value_encoding"], "base64");
  EXPECT_FALSE(j.contains("key_encoding"));
  ASSERT_EQ(j["headers"].size(), 2u);
  EXPECT_EQ(j["headers"][0]["key"], "trace");
  EXPECT_EQ(j["headers"][0]["value"], "abc");
  EXPECT_TRUE(j["headers"][1]["value"].is_null());

  RecordView tomb;
  tomb.offset = 1;
  j = json::parse(encode(tomb, RecordFormat::kString));
  EXPECT_TRUE(j["key"].is_null());
  EXPECT_TRUE(j["value"].is_null()) << "a tombstone stays null";
}

TEST(RecordJson, Base64FormatEncodesKeyValueAndHeaderValues) {
  std::vector<HeaderView> headers = {{"h", std::string_view("v")}};
  RecordView r;
  r.key = std::string_view("key");
  r.value = std::string_view("value");
  r.headers = headers;
  json j = json::parse(encode(r, RecordFormat::kBase64));
  EXPECT_EQ(j["key"], "a2V5");
  EXPECT_EQ(j["value"], "dmFsdWU=");
  EXPECT_EQ(j["headers"][0]["value"], "dg==");
  EXPECT_FALSE(j.contains("value_encoding"));
}

TEST(RecordJson, JsonFormatEmbedsValidJsonOnly) {
  RecordView r;
  r.value = std::string_view(R"({"a":[1,2,{"b":null}]})");
  json j = json::parse(encode(r, RecordFormat::kJson));
  EXPECT_EQ(j["value"]["a"][2]["b"], nullptr);
  EXPECT_FALSE(j.contains("value_encoding"));

  r.value = std::string_view("not json {");
  j = json::parse(encode(r, RecordFormat::kJson));
  EXPECT_EQ(j["value"], "not json {");
  EXPECT_EQ(j["value_encoding"], "string");

  r.value = std::string_view("{\"a\":1} trailing");
  j = json::parse(encode(r, RecordFormat::kJson));
  EXPECT_EQ(j["value"], "{\"a\":1} trailing") << "trailing garbage is not JSON";
}

}  // namespace
}  // namespace sh::api
