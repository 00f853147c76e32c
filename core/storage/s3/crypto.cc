#include "core/storage/s3/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <memory>

namespace sh::s3 {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct MacDeleter {
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using Mac = std::unique_ptr<EVP_MAC, MacDeleter>;
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;

// OpenSSL failing to hash in memory is not a recoverable condition (allocation
// failure or a broken library); there is no meaningful error to return.
[[noreturn]] void crypto_failure() { std::abort(); }

}  // namespace

std::string sha256(std::string_view data) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) crypto_failure();
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md.data(), &len) != 1) {
    crypto_failure();
  }
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}

std::string sha256_hex(std::string_view data) { return hex_encode(sha256(data)); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
  // EVP_MAC_fetch is relatively costly; the fetched algorithm is immutable and
  // thread-safe to share, so fetch it once.
  static const Mac mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) crypto_failure();
  MacCtx ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) crypto_failure();
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  size_t len = 0;
  if (EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1) {
    crypto_failure();
  }
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

}  // namespace sh::s3
