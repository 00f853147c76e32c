// Percent-encoding as AWS Signature V4 and S3 require it (RFC 3986 unreserved
// characters A-Z a-z 0-9 - _ . ~ stay literal, every other byte becomes %XX
// with upper-case hex), and the matching decoder.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sh::s3 {

// Encodes every byte outside the unreserved set. With keep_slash, '/' stays
// literal (S3 object paths: each segment encoded, separators kept, no
// normalisation of "//", ".", "..").
std::string uri_encode(std::string_view in, bool keep_slash);

// Decodes %XX sequences; with plus_as_space also '+' → ' ' (the form encoding
// S3 uses for keys in ListObjectsV2 answers with encoding-type=url).
// Returns nullopt on a malformed escape.
std::optional<std::string> uri_decode(std::string_view in, bool plus_as_space);

}  // namespace sh::s3
