#include "core/format/coding.h"

namespace sh::coding {

void put_uvarint(std::string* dst, uint64_t v) {
  char buf[kMaxVarint64Bytes];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  dst->append(buf, static_cast<size_t>(n));
}

int uvarint_length(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

const char* get_uvarint(const char* p, const char* limit, uint64_t* value) {
  uint64_t result = 0;
  for (int i = 0; i < kMaxVarint64Bytes; ++i) {
    if (p >= limit) return nullptr;  // truncated
    const uint64_t byte = static_cast<unsigned char>(*p++);
    // The 10th byte holds bit 63 only: anything above 1 (including a
    // continuation bit) overflows 64 bits or makes the varint longer than 10 bytes.
    if (i == kMaxVarint64Bytes - 1 && byte > 1) return nullptr;
    result |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      *value = result;
      return p;
    }
  }
  return nullptr;  // unreachable: the 10th byte either ends the varint or is rejected
}

const char* get_svarint(const char* p, const char* limit, int64_t* value) {
  uint64_t u = 0;
  p = get_uvarint(p, limit, &u);
  if (p == nullptr) return nullptr;
  *value = zigzag_decode(u);
  return p;
}

}  // namespace sh::coding
