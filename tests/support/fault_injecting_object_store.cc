#include "tests/support/fault_injecting_object_store.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace sh::testing {
namespace {

bool retryable(Errc code) {
  return code == Errc::kUnavailable || code == Errc::kTimeout || code == Errc::kResourceExhausted;
}

std::string where(std::string_view operation, std::string_view key) {
  return fmt::format("{} of '{}'", operation, key);
}

// Position of the byte a kFlipByte rule flips in an answer of `size` bytes, or size if none.
size_t flip_position(const FaultRule& r, size_t size) {
  if (r.byte_index >= size) return size;
  return r.from_end ? size - 1 - r.byte_index : r.byte_index;
}

}  // namespace

FaultRule FaultRule::error(std::string operation, Errc code, std::string message) {
  FaultRule r;
  r.operation = std::move(operation);
  r.kind = kError;
  r.code = code;
  r.message = std::move(message);
  return r;
}

FaultRule FaultRule::flip(std::string operation, size_t byte_index, bool from_end) {
  FaultRule r;
  r.operation = std::move(operation);
  r.kind = kFlipByte;
  r.byte_index = byte_index;
  r.from_end = from_end;
  return r;
}

FaultRule FaultRule::truncate(std::string operation, uint64_t keep_bytes) {
  FaultRule r;
  r.operation = std::move(operation);
  r.kind = kTruncate;
  r.keep_bytes = keep_bytes;
  return r;
}

FaultRule FaultRule::delay(std::string operation, int64_t delay_ms) {
  FaultRule r;
  r.operation = std::move(operation);
  r.kind = kDelay;
  r.delay_ms = delay_ms;
  return r;
}

FaultRule FaultRule::wrong_length(std::string operation, uint64_t reported_size) {
  FaultRule r;
  r.operation = std::move(operation);
  r.kind = kWrongLength;
  r.reported_size = reported_size;
  return r;
}

FaultInjectingObjectStore::FaultInjectingObjectStore(std::shared_ptr<ObjectStore> inner)
    : ForwardingObjectStore(std::move(inner)) {}

void FaultInjectingObjectStore::add(FaultRule rule) {
  assert(rule.times >= -1 && rule.skip >= 0 && rule.delay_ms >= 0);
  assert(rule.kind != FaultRule::kFlipByte || rule.flip_mask != 0);
  std::lock_guard lock(mu_);
  rules_.push_back(ActiveRule{std::move(rule)});
}

void FaultInjectingObjectStore::clear() {
  std::lock_guard lock(mu_);
  rules_.clear();
}

uint64_t FaultInjectingObjectStore::injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

uint64_t FaultInjectingObjectStore::calls(std::string_view operation) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(operation);
  return it == calls_.end() ? 0 : it->second;
}

std::optional<Error> FaultInjectingObjectStore::before_call(std::string_view operation,
                                                            std::string_view key,
                                                            Deadline deadline) {
  int64_t delay_ms = 0;
  std::optional<Error> error;
  {
    std::lock_guard lock(mu_);
    auto it = calls_.find(operation);
    if (it == calls_.end()) it = calls_.emplace(std::string(operation), 0).first;
    ++it->second;
    for (ActiveRule& a : rules_) {
      const FaultRule& r = a.rule;
      if (r.kind != FaultRule::kError && r.kind != FaultRule::kDelay) continue;
      if (!r.operation.empty() && r.operation != operation) continue;
      if (key.find(r.key_substring) == std::string_view::npos) continue;
      if (++a.seen <= r.skip) continue;
      if (r.times >= 0 && a.fired >= r.times) continue;
      ++a.fired;
      ++injected_;
      if (r.kind == FaultRule::kDelay) {
        delay_ms += r.delay_ms;
      } else {
        error.emplace(r.code,
                      fmt::format("{} (injected into {})", r.message, where(operation, key)),
                      retryable(r.code));
        break;  // the call is answered: later rules do not see it
      }
    }
  }
  if (delay_ms > 0) {
    const SteadyTime wake = std::chrono::steady_clock::now() + Millis(delay_ms);
    if (!deadline.is_never() && deadline.at < wake) {
      std::this_thread::sleep_until(deadline.at);
      return Error(Errc::kTimeout,
                   fmt::format("{}: deadline passed during an injected delay of {} ms",
                               where(operation, key), delay_ms),
                   true);
    }
    std::this_thread::sleep_until(wake);
  }
  return error;
}

void FaultInjectingObjectStore::after_read(std::string_view operation, std::string_view key,
                                           RangeRead& answer) {
  std::lock_guard lock(mu_);
  for (ActiveRule& a : rules_) {
    const FaultRule& r = a.rule;
    if (!r.operation.empty() && r.operation != operation) continue;
    if (key.find(r.key_substring) == std::string_view::npos) continue;
    if (r.kind == FaultRule::kError || r.kind == FaultRule::kDelay) continue;
    if (++a.seen <= r.skip) continue;
    if (r.times >= 0 && a.fired >= r.times) continue;
    // A rewrite that cannot apply to this answer waits, armed, for one it can.
    if (r.kind == FaultRule::kFlipByte &&
        flip_position(r, answer.data.size()) == answer.data.size()) {
      continue;
    }
    if (r.kind == FaultRule::kTruncate && answer.data.empty()) continue;
    ++a.fired;
    ++injected_;
    switch (r.kind) {
      case FaultRule::kFlipByte:
        answer.data[flip_position(r, answer.data.size())] ^= static_cast<char>(r.flip_mask);
        break;
      case FaultRule::kTruncate:
        answer.data.resize(std::min<uint64_t>(r.keep_bytes, answer.data.size() - 1));
        break;
      case FaultRule::kWrongLength: answer.object_size = r.reported_size; break;
      case FaultRule::kError:
      case FaultRule::kDelay: break;
    }
  }
}

void FaultInjectingObjectStore::after_head(std::string_view key, ObjectInfo& info) {
  std::lock_guard lock(mu_);
  for (ActiveRule& a : rules_) {
    const FaultRule& r = a.rule;
    if (r.kind != FaultRule::kWrongLength) continue;
    if (!r.operation.empty() && r.operation != "head") continue;
    if (key.find(r.key_substring) == std::string_view::npos) continue;
    if (++a.seen <= r.skip) continue;
    if (r.times >= 0 && a.fired >= r.times) continue;
    ++a.fired;
    ++injected_;
    info.size = r.reported_size;
  }
}

Result<RangeRead> FaultInjectingObjectStore::read(std::string_view operation, std::string_view key,
                                                  Deadline deadline,
                                                  const std::function<Result<RangeRead>()>& call) {
  if (auto e = before_call(operation, key, deadline)) return std::move(*e);
  auto r = call();
  if (r.ok()) after_read(operation, key, *r);
  return r;
}

Result<RangeRead> FaultInjectingObjectStore::get_range(std::string_view key, uint64_t offset,
                                                       uint64_t length, const ReadOptions& opts) {
  return read("get_range", key, opts.deadline,
              [&] { return inner().get_range(key, offset, length, opts); });
}

Result<RangeRead> FaultInjectingObjectStore::get_suffix(std::string_view key, uint64_t length,
                                                        const ReadOptions& opts) {
  return read("get_suffix", key, opts.deadline,
              [&] { return inner().get_suffix(key, length, opts); });
}

Result<RangeRead> FaultInjectingObjectStore::get(std::string_view key, const ReadOptions& opts) {
  return read("get", key, opts.deadline, [&] { return inner().get(key, opts); });
}

Result<ObjectInfo> FaultInjectingObjectStore::head(std::string_view key, const ReadOptions& opts) {
  if (auto e = before_call("head", key, opts.deadline)) return std::move(*e);
  auto r = inner().head(key, opts);
  if (r.ok()) after_head(key, *r);
  return r;
}

Result<ListPage> FaultInjectingObjectStore::list(const ListOptions& opts) {
  if (auto e = before_call("list", opts.prefix, opts.deadline)) return std::move(*e);
  return inner().list(opts);
}

Status FaultInjectingObjectStore::put(std::string_view key, std::string_view data,
                                      Deadline deadline) {
  if (auto e = before_call("put", key, deadline)) return std::move(*e);
  return inner().put(key, data, deadline);
}

Status FaultInjectingObjectStore::put_if_absent(std::string_view key, std::string_view data,
                                                Deadline deadline) {
  if (auto e = before_call("put_if_absent", key, deadline)) return std::move(*e);
  return inner().put_if_absent(key, data, deadline);
}

}  // namespace sh::testing
