// Byte coding for segment format v1: little-endian fixed-width integers and
// LEB128 / zigzag varints. Decoders take (p, limit) and never read at or past
// `limit`; they return nullptr when the input is truncated or malformed.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace sh::coding {

constexpr int kMaxVarint64Bytes = 10;

inline void put_fixed16(std::string* dst, uint16_t v) {
  char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  dst->append(b, 2);
}
inline void put_fixed32(std::string* dst, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 4);
}
inline void put_fixed64(std::string* dst, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 8);
}

// REQUIRES: p points at >= N readable bytes (caller has bounds-checked).
inline uint16_t decode_fixed16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
inline uint32_t decode_fixed32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) | (static_cast<uint32_t>(u[3]) << 24);
}
inline uint64_t decode_fixed64(const char* p) {
  return static_cast<uint64_t>(decode_fixed32(p)) |
         (static_cast<uint64_t>(decode_fixed32(p + 4)) << 32);
}

inline uint64_t zigzag_encode(int64_t n) {
  return (static_cast<uint64_t>(n) << 1) ^ static_cast<uint64_t>(n >> 63);
}
inline int64_t zigzag_decode(uint64_t n) {
  return static_cast<int64_t>(n >> 1) ^ -static_cast<int64_t>(n & 1);
}

void put_uvarint(std::string* dst, uint64_t v);
inline void put_svarint(std::string* dst, int64_t v) { put_uvarint(dst, zigzag_encode(v)); }
// Number of bytes put_uvarint writes for v.
int uvarint_length(uint64_t v);

// Decodes a uvarint from [p, limit). Returns the byte after it, or nullptr if
// the input ends first, the varint is longer than 10 bytes, or it overflows 64 bits.
const char* get_uvarint(const char* p, const char* limit, uint64_t* value);
const char* get_svarint(const char* p, const char* limit, int64_t* value);

}  // namespace sh::coding
