// FaultInjectingObjectStore: a decorator for tests (library sh_test_faults; never
// part of a production library) that makes any ObjectStore misbehave in the ways
// a real server cannot be made to on demand — errors, silent corruption, short or
// mislabelled answers, slowness (LevelDB ErrorEnv, Redpanda s3_imposter
// fail_request_if).
//
// Rules are checked in the order they were added. A rule *sees* a call when its
// operation and key match and its kind applies to that call (see Kind); of the
// calls it sees, it lets the first `skip` pass, then fires on the next `times`
// (-1 = forever); a rule that cannot apply to a call it sees stays armed.
// Several rules may fire on one call:
//   before the inner call: kDelay rules sleep, then the first firing kError rule
//                          answers (the inner store is not called; rules after it
//                          do not see the call);
//   after a successful inner read: kFlipByte, kTruncate and kWrongLength rules
//                          rewrite the answer (a failed inner call is passed on
//                          untouched and these rules do not see it).
//
// Thread-safe: rules may be added or cleared while other threads call the store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/storage/forwarding_object_store.h"

namespace sh::testing {

struct FaultRule {
  enum Kind {
    kError,        // answer Error(code, message); any operation
    kFlipByte,     // XOR data[byte_index] with flip_mask (get_range, get_suffix, get)
    kTruncate,     // keep only the first min(keep_bytes, size - 1) bytes (same reads, non-empty answers)
    kDelay,        // sleep delay_ms before the call; any operation. If the call's
                   // deadline comes first: wake at the deadline and answer kTimeout
    kWrongLength,  // report object_size = reported_size (reads) / size = reported_size (head)
  };

  // "get_range", "get_suffix", "get", "head", "list", "put", "put_if_absent", or "" for any.
  std::string operation;
  // The rule sees only keys containing this ("" = every key; for list: the prefix).
  std::string key_substring;
  int skip = 0;    // calls seen and let through before the first firing
  int times = -1;  // firings, then the rule stays quiet; -1 = forever

  Kind kind = kError;
  Errc code = Errc::kUnavailable;  // kError
  std::string message = "injected fault";  // kError
  int64_t delay_ms = 0;             // kDelay
  size_t byte_index = 0;            // kFlipByte: index into the answer's data
  bool from_end = false;            // kFlipByte: byte_index counts back from the last byte (0 = last)
  uint8_t flip_mask = 0xFF;         // kFlipByte: non-zero
  uint64_t keep_bytes = 0;          // kTruncate
  uint64_t reported_size = 0;       // kWrongLength

  // A kFlipByte rule whose byte falls outside an answer (or a kTruncate rule
  // meeting an empty one) sees the call but does not fire: it stays armed.

  static FaultRule error(std::string operation, Errc code, std::string message = "injected fault");
  static FaultRule flip(std::string operation, size_t byte_index, bool from_end = false);
  static FaultRule truncate(std::string operation, uint64_t keep_bytes);
  static FaultRule delay(std::string operation, int64_t delay_ms);
  static FaultRule wrong_length(std::string operation, uint64_t reported_size);

  // Chainable refinements: FaultRule::flip("get_range", 7).on_key("seg_").once().
  FaultRule& on_key(std::string substring) {
    key_substring = std::move(substring);
    return *this;
  }
  FaultRule& after(int n) {
    skip = n;
    return *this;
  }
  FaultRule& only(int n) {
    times = n;
    return *this;
  }
  FaultRule& once() { return only(1); }
};

class FaultInjectingObjectStore final : public ForwardingObjectStore {
 public:
  // REQUIRES: inner != nullptr.
  explicit FaultInjectingObjectStore(std::shared_ptr<ObjectStore> inner);

  // REQUIRES: rule.times >= -1, rule.skip >= 0, rule.delay_ms >= 0; flip_mask != 0 for kFlipByte.
  void add(FaultRule rule);
  // Removes every rule (calls in flight finish with what they already picked).
  void clear();
  // Faults injected so far (rule firings), over all rules ever added.
  uint64_t injected() const;
  // Calls of `operation` ("get_range", ...) that reached this store, faulted or not.
  uint64_t calls(std::string_view operation) const;

  Result<RangeRead> get_range(std::string_view key, uint64_t offset, uint64_t length,
                              const ReadOptions& opts) override;
  Result<RangeRead> get_suffix(std::string_view key, uint64_t length,
                               const ReadOptions& opts) override;
  Result<RangeRead> get(std::string_view key, const ReadOptions& opts) override;
  Result<ObjectInfo> head(std::string_view key, const ReadOptions& opts) override;
  Result<ListPage> list(const ListOptions& opts) override;
  Status put(std::string_view key, std::string_view data, Deadline deadline) override;
  Status put_if_absent(std::string_view key, std::string_view data, Deadline deadline) override;

 private:
  struct ActiveRule {
    FaultRule rule;
    int seen = 0;
    int fired = 0;
  };

  // Delays then the first error of the rules that fire before `operation` on `key`;
  // the error to answer with, if any.
  std::optional<Error> before_call(std::string_view operation, std::string_view key,
                                   Deadline deadline);
  // Rewrites a successful read answer with the transforming rules that fire.
  void after_read(std::string_view operation, std::string_view key, RangeRead& answer);
  void after_head(std::string_view key, ObjectInfo& info);
  Result<RangeRead> read(std::string_view operation, std::string_view key, Deadline deadline,
                         const std::function<Result<RangeRead>()>& call);

  mutable std::mutex mu_;
  std::vector<ActiveRule> rules_;
  uint64_t injected_ = 0;
  std::map<std::string, uint64_t, std::less<>> calls_;
};

}  // namespace sh::testing
