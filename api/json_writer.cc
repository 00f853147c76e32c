#include "api/json_writer.h"

#include <cctype>
#include <algorithm>
#include <charconv>
#include <cstring>

namespace sh::api {

namespace {

// Recursive-descent validator over [p, end); each function advances p past
// what it accepted.
class JsonValidator {
 public:
  JsonValidator(const char* p, const char* end) : p_(p), end_(end) {}

  bool text() {
    ws();
    if (!value(0)) return false;
    ws();
    return p_ == end_;
  }

 private:
  static constexpr int kMaxDepth = 256;

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0) {
      return false;
    }
    p_ += word.size();
    return true;
  }
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  bool digits() {
    const char* start = p_;
    while (p_ < end_ && digit(*p_)) ++p_;
    return p_ > start;
  }
  bool number() {
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ >= end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (!digits()) {
      return false;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digits()) return false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return false;
    }
    return true;
  }
  bool string() {
    ++p_;  // opening quote
    while (p_ < end_) {
      const auto c = static_cast<unsigned char>(*p_++);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (p_ >= end_) return false;
      const char e = *p_++;
      if (e == 'u') {
        for (int i = 0; i < 4; ++i, ++p_) {
          if (p_ >= end_ || !std::isxdigit(static_cast<unsigned char>(*p_))) return false;
        }
      } else if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0') {
        return false;
      }
    }
    return false;
  }
  bool value(int depth) {
    if (p_ >= end_) return false;
    switch (*p_) {
      case '{': {
        if (depth >= kMaxDepth) return false;
        ++p_;
        ws();
        if (p_ < end_ && *p_ == '}') return ++p_, true;
        for (;;) {
          ws();
          if (p_ >= end_ || *p_ != '"' || !string()) return false;
          ws();
          if (p_ >= end_ || *p_++ != ':') return false;
          ws();
          if (!value(depth + 1)) return false;
          ws();
          if (p_ >= end_) return false;
          if (*p_ == '}') return ++p_, true;
          if (*p_++ != ',') return false;
        }
      }
      case '[': {
        if (depth >= kMaxDepth) return false;
        ++p_;
        ws();
        if (p_ < end_ && *p_ == ']') return ++p_, true;
        for (;;) {
          ws();
          if (!value(depth + 1)) return false;
          ws();
          if (p_ >= end_) return false;
          if (*p_ == ']') return ++p_, true;
          if (*p_++ != ',') return false;
        }
      }
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  const char* p_;
  const char* end_;
};

}  // namespace

bool is_json_text(std::string_view s) { return JsonValidator(s.data(), s.data() + s.size()).text(); }

JsonWriter& JsonWriter::string(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out_->reserve(out_->size() + s.size() + 2);
  out_->push_back('"');
  size_t run_start = 0;
  // 8 bytes at a time while none of them needs escaping (< 0x20, '"' or '\\').
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  auto has_zero_byte = [](uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  auto needs_escape = [](unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; };
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      // Bytes >= 0x80 never need escaping: mask them out of the < 0x20 test.
      const uint64_t control = (w - 0x2020202020202020ULL) & ~w & kHighs;
      const uint64_t mask = control | has_zero_byte(w ^ (0x22 * kOnes)) | has_zero_byte(w ^ (0x5C * kOnes));
      if (mask == 0) {
        i += 8;
        continue;
      }
      // The lowest flagged byte is exact (borrows only flag bytes above a hit;
      // little-endian: lowest bit = first byte): jump straight to it.
      i += static_cast<size_t>(__builtin_ctzll(mask)) / 8;
    } else if (!needs_escape(static_cast<unsigned char>(s[i]))) {
      ++i;
      continue;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    out_->append(s.data() + run_start, i - run_start);
    run_start = ++i;
    switch (c) {
      case '"': out_->append("\\\"", 2); break;
      case '\\': out_->append("\\\\", 2); break;
      case '\n': out_->append("\\n", 2); break;
      case '\r': out_->append("\\r", 2); break;
      case '\t': out_->append("\\t", 2); break;
      case '\b': out_->append("\\b", 2); break;
      case '\f': out_->append("\\f", 2); break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out_->append(esc, 6);
      }
    }
  }
  out_->append(s.data() + run_start, s.size() - run_start);
  out_->push_back('"');
  return *this;
}

size_t json_string_size(std::string_view s) {
  size_t n = s.size() + 2;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    switch (c) {
      case '"': case '\\': case '\n': case '\r': case '\t': case '\b': case '\f': n += 1; break;
      default: n += 5;  // \u00XX
    }
  }
  return n;
}

size_t json_number_size(uint64_t v) {
  char buf[24];
  return static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf);
}

size_t json_number_size(int64_t v) {
  char buf[24];
  return static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf);
}

JsonWriter& JsonWriter::number(uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
  return *this;
}

JsonWriter& JsonWriter::number(int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
  return *this;
}

}  // namespace sh::api
