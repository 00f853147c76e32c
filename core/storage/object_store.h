// ObjectStore: the seam between the read path and wherever segment objects live
// (a local directory, S3 or an S3-compatible server). Implementations are
// thread-safe: one instance serves every request of the process.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace sh {

// A byte range [offset, offset + length) that cannot overflow.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;

  // Fails with kInvalidArgument on length 0 or offset + length overflow.
  static Result<ByteRange> make(uint64_t offset, uint64_t length);
  uint64_t end() const { return offset + length; }  // exclusive
  // "bytes=<first>-<last>" as used in an HTTP Range header.
  std::string to_http_header_value() const;
};

struct ObjectInfo {
  std::string key;        // full key relative to the store root
  uint64_t size = 0;      // bytes
  std::string etag;       // opaque version tag; changes when the object is replaced
  int64_t mtime_ms = 0;   // last modified, ms since epoch (0 if unknown)
};

struct ReadOptions {
  Deadline deadline;
  // When set, the read fails with kPreconditionFailed if the object's current
  // ETag differs (the object was replaced since we first saw it).
  std::optional<std::string> if_match_etag;
};

struct RangeRead {
  std::string data;          // exactly the bytes asked for (clamped for suffix reads)
  uint64_t object_size = 0;  // total size of the object
  std::string etag;
};

struct ListOptions {
  std::string prefix;
  std::string delimiter;           // "" = flat listing; "/" = one level
  std::string continuation_token;  // from a previous ListPage, "" for the first page
  std::string start_after;         // keys strictly greater than this ("" = from the start)
  uint32_t max_keys = 1000;
  Deadline deadline;
};

struct ListPage {
  std::vector<ObjectInfo> objects;           // sorted by key (byte order)
  std::vector<std::string> common_prefixes;  // each ends with the delimiter
  std::string next_continuation_token;       // "" when the listing is complete
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Reads [offset, offset+length) of `key`. The answer has exactly `length` bytes:
  // a range that runs past the end of the object is kOutOfRange (naming the key
  // and the object's size), a missing key is kNotFound, a malformed range
  // (length 0, offset + length overflowing) is kInvalidArgument.
  virtual Result<RangeRead> get_range(std::string_view key, uint64_t offset, uint64_t length,
                                      const ReadOptions& opts = {}) = 0;

  // Reads the last min(length, size) bytes of `key` (HTTP "bytes=-N").
  virtual Result<RangeRead> get_suffix(std::string_view key, uint64_t length,
                                       const ReadOptions& opts = {}) = 0;

  // Reads the whole object (for small objects such as consumer offsets and tools).
  virtual Result<RangeRead> get(std::string_view key, const ReadOptions& opts = {}) = 0;

  virtual Result<ObjectInfo> head(std::string_view key, const ReadOptions& opts = {}) = 0;

  virtual Result<ListPage> list(const ListOptions& opts) = 0;

  // Writes the whole object atomically: readers see the old object or the new one.
  virtual Status put(std::string_view key, std::string_view data, Deadline deadline = {}) = 0;

  // Writes the whole object only if `key` does not exist yet, atomically: of
  // concurrent put_if_absent calls for one key exactly one succeeds, the others
  // (and any call after an object exists) fail with kAlreadyExists and change
  // nothing. Readers see no object or the complete new one.
  virtual Status put_if_absent(std::string_view key, std::string_view data,
                               Deadline deadline = {}) = 0;

  // "file:///abs/dir" or "s3://bucket/prefix" — never includes credentials.
  virtual std::string describe() const = 0;
};

// Lists every object under `prefix` (all pages). Convenience for tools and the
// listing metadata store.
Result<std::vector<ObjectInfo>> list_all(ObjectStore& store, std::string_view prefix,
                                         std::string_view start_after = {},
                                         Deadline deadline = {});

}  // namespace sh
