// SHA-256 and HMAC-SHA256 on OpenSSL EVP, each context held by an RAII owner.
#pragma once

#include <string>
#include <string_view>

namespace sh::s3 {

// Raw 32-byte SHA-256 digest of `data`.
std::string sha256(std::string_view data);
// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);
// Raw 32-byte HMAC-SHA256(key, data).
std::string hmac_sha256(std::string_view key, std::string_view data);
// Lower-case hex of arbitrary bytes.
std::string hex_encode(std::string_view bytes);

}  // namespace sh::s3
