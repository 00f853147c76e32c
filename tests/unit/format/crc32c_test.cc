#include "core/format/crc32c.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sh::crc32c {
namespace {

TEST(Crc32cTest, CheckValueBothPaths) {
  EXPECT_EQ(value("123456789"), 0xE3069283u) << "hardware_accelerated=" << hardware_accelerated();
  EXPECT_EQ(extend_portable(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(value(""), 0u);
}

TEST(Crc32cTest, Rfc3720Vectors) {
  std::string zeros(32, '\0'), ones(32, '\xff'), up(32, '\0'), down(32, '\0');
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<char>(i);
    down[i] = static_cast<char>(31 - i);
  }
  for (auto f : {+[](const std::string& s) { return extend(0, s.data(), s.size()); },
                 +[](const std::string& s) { return extend_portable(0, s.data(), s.size()); }}) {
    EXPECT_EQ(f(zeros), 0x8A9136AAu);
    EXPECT_EQ(f(ones), 0x62A8AB43u);
    EXPECT_EQ(f(up), 0x46DD794Eu);
    EXPECT_EQ(f(down), 0x113FDB5Cu);
  }
}

TEST(Crc32cTest, HardwareMatchesPortableOnRandomDataAndSplits) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE(fmt::format("seed {}", seed));
  std::mt19937_64 rng(seed);
  std::string buf(70000, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (int iter = 0; iter < 500; ++iter) {
    const size_t start = rng() % 64;  // vary alignment
    const size_t len = rng() % (iter < 400 ? 300 : buf.size() - 64);
    const char* p = buf.data() + start;
    const uint32_t whole_hw = extend(0, p, len);
    const uint32_t whole_sw = extend_portable(0, p, len);
    ASSERT_EQ(whole_hw, whole_sw) << "start " << start << " len " << len;
    const size_t split = len == 0 ? 0 : rng() % (len + 1);
    ASSERT_EQ(extend(extend(0, p, split), p + split, len - split), whole_hw)
        << "hardware extend split at " << split << " of " << len;
    ASSERT_EQ(extend_portable(extend_portable(0, p, split), p + split, len - split), whole_sw)
        << "portable extend split at " << split << " of " << len;
    // Mixed: one path continues the other's CRC.
    ASSERT_EQ(extend_portable(extend(0, p, split), p + split, len - split), whole_hw);
  }
}

}  // namespace
}  // namespace sh::crc32c
