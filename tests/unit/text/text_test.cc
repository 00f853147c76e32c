// core/text: ASCII case, UTF-8 validation and base64, each tested once here.
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "core/text/ascii.h"
#include "core/text/base64.h"
#include "core/text/utf8.h"

namespace sh::text {
namespace {

TEST(Ascii, FoldsOnlyAsciiLetters) {
  EXPECT_EQ(ascii_lowered("Content-TYPE: X-Amz-Date"), "content-type: x-amz-date");
  EXPECT_EQ(ascii_lowered("\xc3\x89t\xc3\xa9"), "\xc3\x89t\xc3\xa9") << "non-ASCII bytes are kept";
  EXPECT_EQ(ascii_lower('@'), '@');
  EXPECT_EQ(ascii_lower('['), '[');
  EXPECT_TRUE(iequals("Range", "rANGE"));
  EXPECT_FALSE(iequals("Range", "Ranges"));
  EXPECT_FALSE(iequals("a[", "A{")) << "'[' and '{' differ by the case bit but are not letters";
  EXPECT_TRUE(istarts_with("PostgreSQL://host/db", "postgresql://"));
  EXPECT_FALSE(istarts_with("post", "postgres://"));
}

TEST(Utf8, AcceptsWellFormedRejectsMalformed) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii that is longer than eight bytes"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_TRUE(valid_utf8("\xef\xbf\xbf"));          // U+FFFF
  EXPECT_TRUE(valid_utf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
  EXPECT_FALSE(valid_utf8("\xc3"));                 // truncated
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));             // overlong '/'
  EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));         // overlong 3-byte
  EXPECT_FALSE(valid_utf8("\xf0\x80\x80\xaf"));     // overlong 4-byte
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));         // surrogate U+D800
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));     // > U+10FFFF
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("abcdefgh\x80"));         // bad byte after the fast path
  EXPECT_FALSE(valid_utf8("\xe2\x82"));             // truncated 3-byte at the end
}

// Reference: decode code points one at a time, the way RFC 3629 states it.
bool reference_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + n >= s.size()) return false;  // invalid lead byte or truncated
    uint32_t cp = n == 0 ? c : c & (0x3F >> n);
    for (int k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

TEST(Utf8, AgreesWithAReferenceDecoderOnRandomBytes) {
  std::mt19937 rng(11);
  const unsigned char interesting[] = {0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0,
                                       0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x90, 0x8f};
  for (int n = 0; n < 20000; ++n) {
    std::string s;
    const int len = static_cast<int>(rng() % 24);
    for (int i = 0; i < len; ++i) {
      s.push_back(static_cast<char>(rng() % 3 ? interesting[rng() % sizeof interesting] : 'a'));
    }
    ASSERT_EQ(valid_utf8(s), reference_utf8(s)) << "disagreement on a " << s.size() << "-byte input";
  }
}

TEST(Base64, MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\x00\xfe", 3)), "/wD+");
}

TEST(Base64, DecodeRoundTripsAndRejectsMalformed) {
  std::mt19937 rng(3);
  for (int n = 0; n < 500; ++n) {
    std::string s;
    const int len = static_cast<int>(rng() % 40);
    for (int i = 0; i < len; ++i) s.push_back(static_cast<char>(rng()));
    auto back = base64_decode(base64_encode(s));
    ASSERT_TRUE(back.has_value());
    ASSERT_EQ(*back, s);
  }
  EXPECT_FALSE(base64_decode("Zg=").has_value()) << "length not a multiple of 4";
  EXPECT_FALSE(base64_decode("Z===").has_value()) << "padding in the second position";
  EXPECT_FALSE(base64_decode("Zg==Zm8=").has_value()) << "padding before the end";
  EXPECT_FALSE(base64_decode("Zm9*").has_value()) << "character outside the alphabet";
  EXPECT_EQ(base64_decode("").value(), "");
}

}  // namespace
}  // namespace sh::text
