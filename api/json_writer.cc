#include "api/json_writer.h"

#include <cctype>
#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>

namespace sh::api {

namespace {

// SWAR masks over 8 bytes: the high bit of a byte is set when that byte
// matches. Exact per byte (no carry crosses a byte), so flagged bytes can be
// counted and visited one by one. The first byte in memory is the lowest one.
static_assert(std::endian::native == std::endian::little, "the SWAR scans assume little-endian words");
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;
constexpr uint64_t kLow7 = 0x7F7F7F7F7F7F7F7FULL;

inline uint64_t bytes_equal(uint64_t w, unsigned char c) {
  const uint64_t x = w ^ (c * kOnes);
  return ~(((x & kLow7) + kLow7) | x) & kHighs;
}
// Bytes < 0x20 (bytes >= 0x80 are not).
inline uint64_t bytes_control(uint64_t w) { return ~(((w & kLow7) + 0x6060606060606060ULL) | w) & kHighs; }
inline uint64_t bytes_escaped(uint64_t w) {
  return bytes_control(w) | bytes_equal(w, '"') | bytes_equal(w, '\\');
}
// Bytes flagged in a mask of high bits (no popcnt instruction in baseline x86-64).
inline size_t count_flagged(uint64_t mask) { return static_cast<size_t>(((mask >> 7) * kOnes) >> 56); }
inline uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }
// Bytes an escaped character adds to its own one: \" \\ \n \r \t \b \f add 1, \u00XX adds 5.
inline size_t escape_extra(unsigned char c) {
  switch (c) {
    case '"': case '\\': case '\n': case '\r': case '\t': case '\b': case '\f': return 1;
    default: return 5;
  }
}

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
      // 8 bytes at a time up to the next '"', '\\' or control byte.
      while (end_ - p_ >= 8) {
        const uint64_t mask = bytes_escaped(load8(p_));
        if (mask != 0) {
          p_ += __builtin_ctzll(mask) / 8;
          break;
        }
        p_ += 8;
      }
      if (p_ >= end_) return false;
      const auto c = static_cast<unsigned char>(*p_++);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (p_ >= end_) return false;
      const char e = *p_++;
      if (e == 'u') {
        // A UTF-16 code unit. Surrogates must pair up (a high one, then \u and
        // a low one): strict parsers refuse a lone one, and one such value
        // embedded as-is would break the whole response for them.
        int unit = hex4();
        if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) return false;
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
          p_ += 2;
          unit = hex4();
          if (unit < 0xDC00 || unit > 0xDFFF) return false;
        }
      } else if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0') {
        return false;
      }
    }
    return false;
  }
  // Four hex digits as a number, or -1.
  int hex4() {
    if (end_ - p_ < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (!std::isxdigit(c)) return -1;
      v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
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

JsonStringScan scan_json_string(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  size_t extra = 0, i = 0;
  uint64_t high = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t w = load8(p + i);
    high |= w;
    const uint64_t control = bytes_control(w);
    extra += count_flagged(bytes_equal(w, '"') | bytes_equal(w, '\\'));
    if (control != 0) {  // rare: \n \r \t \b \f add 1, the other controls 5
      const uint64_t short_form = control & (bytes_equal(w, '\n') | bytes_equal(w, '\r') |
                                             bytes_equal(w, '\t') | bytes_equal(w, '\b') |
                                             bytes_equal(w, '\f'));
      extra += count_flagged(short_form) + 5 * count_flagged(control & ~short_form);
    }
  }
  unsigned char tail_high = 0;
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    tail_high |= c;
    if (needs_escape(c)) extra += escape_extra(c);
  }
  return {extra, (high & kHighs) == 0 && tail_high < 0x80};
}

namespace {

// Writes the escape of `c` at `d`; returns the end.
inline char* write_escape(char* d, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  d[0] = '\\';
  switch (c) {
    case '"': d[1] = '"'; return d + 2;
    case '\\': d[1] = '\\'; return d + 2;
    case '\n': d[1] = 'n'; return d + 2;
    case '\r': d[1] = 'r'; return d + 2;
    case '\t': d[1] = 't'; return d + 2;
    case '\b': d[1] = 'b'; return d + 2;
    case '\f': d[1] = 'f'; return d + 2;
    default:
      d[1] = 'u'; d[2] = '0'; d[3] = '0'; d[4] = kHex[c >> 4]; d[5] = kHex[c & 15];
      return d + 6;
  }
}

}  // namespace

JsonWriter& JsonWriter::string(std::string_view s, const JsonStringScan& scan) {
  const size_t n = s.size();
  const size_t extra = scan.escape_extra;
  const size_t at = out_->size();
  if (extra == 0) {
    // Nothing to escape (the common case for keys and headers): one copy.
    out_->resize(at + n + 2);
    char* d = out_->data() + at;
    d[0] = '"';
    std::memcpy(d + 1, s.data(), n);
    d[n + 1] = '"';
    return *this;
  }
  // Sized exactly, plus 8 bytes of slack for the whole-word stores below.
  const size_t total = n + 2 + extra;
  out_->resize(at + total + 8);
  char* d = out_->data() + at;
  *d++ = '"';
  const char* p = s.data();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t w = load8(p + i);
    uint64_t mask = bytes_escaped(w);
    std::memcpy(d, &w, 8);
    if (mask == 0) {
      d += 8;
      continue;
    }
    // Each flagged byte, first to last (little-endian: the lowest set bit is
    // the first byte): keep the bytes before it, escape it, and store the rest
    // of the word again after the escape.
    size_t from = 0;  // bytes [0, from) of the word are done
    do {
      const size_t k = static_cast<size_t>(__builtin_ctzll(mask)) / 8;
      d += k - from;
      const auto c = static_cast<unsigned char>(p[i + k]);
      if (c == '"' || c == '\\') {
        d[0] = '\\';
        d[1] = static_cast<char>(c);
        d += 2;
      } else {
        d = write_escape(d, c);
      }
      from = k + 1;
      if (from < 8) {
        const uint64_t rest = w >> (8 * from);
        std::memcpy(d, &rest, 8);
      }
      mask &= mask - 1;
    } while (mask != 0);
    d += 8 - from;
  }
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (needs_escape(c)) {
      d = write_escape(d, c);
    } else {
      *d++ = static_cast<char>(c);
    }
  }
  *d = '"';
  out_->resize(at + total);
  return *this;
}

size_t json_string_size(std::string_view s) { return json_string_size(s, scan_json_string(s)); }

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
