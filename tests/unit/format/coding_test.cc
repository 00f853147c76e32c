#include "core/format/coding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace sh::coding {
namespace {

std::vector<uint64_t> interesting_values() {
  std::vector<uint64_t> v = {0, 1, 127, 128, 255, 300, 16383, 16384,
                             std::numeric_limits<uint64_t>::max()};
  for (int bit = 0; bit < 64; ++bit) {
    const uint64_t p = uint64_t{1} << bit;
    v.push_back(p - 1);
    v.push_back(p);
    v.push_back(p + 1);
  }
  return v;
}

// Copies bytes into a heap buffer of exactly that size, so a read past the end
// is caught by AddressSanitizer.
std::unique_ptr<char[]> exact_copy(const std::string& s, size_t n) {
  auto buf = std::make_unique<char[]>(n);
  std::memcpy(buf.get(), s.data(), n);
  return buf;
}

TEST(CodingTest, FixedIntegersAreLittleEndian) {
  std::string s;
  put_fixed16(&s, 0x0102);
  put_fixed32(&s, 0x03040506);
  put_fixed64(&s, 0x0708090a0b0c0d0eULL);
  EXPECT_EQ(s, std::string("\x02\x01\x06\x05\x04\x03\x0e\x0d\x0c\x0b\x0a\x09\x08\x07", 14));
  EXPECT_EQ(decode_fixed16(s.data()), 0x0102);
  EXPECT_EQ(decode_fixed32(s.data() + 2), 0x03040506u);
  EXPECT_EQ(decode_fixed64(s.data() + 6), 0x0708090a0b0c0d0eULL);
}

TEST(CodingTest, UvarintRoundTripsAndLengthMatches) {
  for (uint64_t v : interesting_values()) {
    std::string s;
    put_uvarint(&s, v);
    ASSERT_EQ(static_cast<int>(s.size()), uvarint_length(v)) << "value " << v;
    ASSERT_LE(s.size(), static_cast<size_t>(kMaxVarint64Bytes));
    auto buf = exact_copy(s, s.size());
    uint64_t out = 0;
    const char* end = get_uvarint(buf.get(), buf.get() + s.size(), &out);
    ASSERT_EQ(end, buf.get() + s.size()) << "value " << v << " not fully consumed";
    EXPECT_EQ(out, v);
  }
}

TEST(CodingTest, KnownUvarintEncodings) {
  std::string s;
  put_uvarint(&s, 300);
  EXPECT_EQ(s, "\xac\x02");
  s.clear();
  put_uvarint(&s, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(s, std::string(9, '\xff') + "\x01");
}

TEST(CodingTest, EveryTruncationOfEveryVarintIsRejected) {
  for (uint64_t v : interesting_values()) {
    std::string s;
    put_uvarint(&s, v);
    for (size_t n = 0; n < s.size(); ++n) {
      auto buf = exact_copy(s, n);
      uint64_t out = 12345;
      EXPECT_EQ(get_uvarint(buf.get(), buf.get() + n, &out), nullptr)
          << "value " << v << " truncated to " << n << " bytes was accepted";
      EXPECT_EQ(out, 12345u) << "output written on failure";
      int64_t sout = 0;
      EXPECT_EQ(get_svarint(buf.get(), buf.get() + n, &sout), nullptr);
    }
  }
}

TEST(CodingTest, ElevenByteVarintIsRejected) {
  // Ten continuation bytes then a terminator: longer than 10 bytes.
  std::string s(10, '\x80');
  s.push_back('\x00');
  auto buf = exact_copy(s, s.size());
  uint64_t out = 0;
  EXPECT_EQ(get_uvarint(buf.get(), buf.get() + s.size(), &out), nullptr);
  // Also with the limit stopping exactly after the 10th byte.
  EXPECT_EQ(get_uvarint(buf.get(), buf.get() + 10, &out), nullptr);
}

TEST(CodingTest, TenthByteAboveOneOverflows) {
  for (int last = 2; last < 256; ++last) {
    std::string s(9, '\xff');
    s.push_back(static_cast<char>(last));
    s.push_back('\x00');  // terminator for the continuation case
    auto buf = exact_copy(s, s.size());
    uint64_t out = 0;
    EXPECT_EQ(get_uvarint(buf.get(), buf.get() + s.size(), &out), nullptr)
        << "10th byte " << last << " accepted";
  }
  // Non-canonical but in range: 10th byte 0 and 1 decode.
  std::string ok(9, '\x80');
  ok.push_back('\x01');
  uint64_t out = 0;
  ASSERT_NE(get_uvarint(ok.data(), ok.data() + ok.size(), &out), nullptr);
  EXPECT_EQ(out, uint64_t{1} << 63);
}

TEST(CodingTest, SvarintZigzagRoundTrips) {
  const int64_t values[] = {0,  1,   -1,  2,  -2, 63, -64, 64, -65,
                            std::numeric_limits<int64_t>::max(),
                            std::numeric_limits<int64_t>::min(), -1700000000000LL};
  for (int64_t v : values) {
    std::string s;
    put_svarint(&s, v);
    int64_t out = 0;
    ASSERT_EQ(get_svarint(s.data(), s.data() + s.size(), &out), s.data() + s.size())
        << "value " << v;
    EXPECT_EQ(out, v);
  }
  EXPECT_EQ(zigzag_encode(-1), 1u);
  EXPECT_EQ(zigzag_encode(1), 2u);
  EXPECT_EQ(zigzag_encode(std::numeric_limits<int64_t>::min()),
            std::numeric_limits<uint64_t>::max());
}

}  // namespace
}  // namespace sh::coding
