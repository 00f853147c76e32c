// Errors as values at module boundaries.
//
// Every fallible operation in core/ returns Result<T> (or Status == Result<void>).
// The error enum is closed: api/ is the only place that maps it to HTTP.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sh {

enum class Errc {
  kInvalidArgument,     // caller passed something malformed (400)
  kNotFound,            // generic object / key not found
  kTopicNotFound,       // 40401
  kPartitionNotFound,   // 40402
  kGroupNotFound,       // 40403
  kOffsetOutOfRange,    // 416
  kOutOfRange,          // a byte range past the end of the object (stored data disagrees: 502)
  kCorrupt,             // bytes failed a CRC / bounds check (502)
  kBadResponse,         // upstream answered something we cannot use (502)
  kUnavailable,         // storage or metadata unreachable (503, retryable)
  kTimeout,             // deadline passed (504)
  kPermissionDenied,    // credentials rejected (503 for the API: it is our config)
  kPreconditionFailed,  // object changed under us (ETag mismatch)
  kResourceExhausted,   // overload (429)
  kAlreadyExists,
  kInternal,
  // The operation needs I/O and was asked to answer from memory only (e.g.
  // read::ReadRequest::cache_only); the caller retries where I/O may run.
  // Never reaches a client.
  kWouldBlock,
};

std::string_view errc_name(Errc c);

class [[nodiscard]] Error {
 public:
  Error(Errc code, std::string message, bool retryable = false)
      : code_(code), message_(std::move(message)), retryable_(retryable) {}

  Errc code() const { return code_; }
  const std::string& message() const { return message_; }
  bool retryable() const { return retryable_; }

  // Adds context in front of the message: "reading orders/0: <old message>".
  Error& prefix(std::string_view context) {
    message_ = std::string(context) + ": " + message_;
    return *this;
  }
  std::string to_string() const { return std::string(errc_name(code_)) + ": " + message_; }

 private:
  Errc code_;
  std::string message_;
  bool retryable_;
};

inline Error invalid_argument(std::string m) { return {Errc::kInvalidArgument, std::move(m)}; }
inline Error not_found(std::string m) { return {Errc::kNotFound, std::move(m)}; }
inline Error corrupt(std::string m) { return {Errc::kCorrupt, std::move(m)}; }
inline Error unavailable(std::string m) { return {Errc::kUnavailable, std::move(m), true}; }
inline Error internal_error(std::string m) { return {Errc::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}  // NOLINT

  bool ok() const { return !e_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& {
    assert(!ok());
    return *e_;
  }
  Error&& error() && {
    assert(!ok());
    return std::move(*e_);
  }

 private:
  std::optional<Error> e_;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace sh

#define SH_CONCAT_INNER(a, b) a##b
#define SH_CONCAT(a, b) SH_CONCAT_INNER(a, b)

// Returns the error of `expr` (a Result/Status) from the enclosing function.
#define SH_RETURN_IF_ERROR(expr)                         \
  do {                                                   \
    auto&& sh_status_ = (expr);                          \
    if (!sh_status_.ok()) return std::move(sh_status_).error(); \
  } while (0)

// `SH_ASSIGN_OR_RETURN(auto x, f());` binds x to the value or returns the error.
#define SH_ASSIGN_OR_RETURN(lhs, expr) \
  SH_ASSIGN_OR_RETURN_IMPL(SH_CONCAT(sh_result_, __LINE__), lhs, expr)
#define SH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return std::move(tmp).error();  \
  lhs = std::move(tmp).value()
