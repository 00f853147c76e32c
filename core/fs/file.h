// Small POSIX file helpers shared by the local object store and the disk cache:
// an RAII file descriptor, errno → Error, and exact-length pread / full write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace sh::fs {

// Owns one file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// strerror_r's text for `err`.
std::string errno_text(int err);

// Maps an errno of `op` ("reading", "opening", ...) on `what` (a file or key as it
// may appear in a message) to an Error: ENOENT/ENOTDIR → kNotFound, EACCES/EPERM/
// EROFS → kPermissionDenied, resource shortages and EIO → kUnavailable (retryable),
// anything else → kInternal.
Error errno_error(int err, std::string_view op, std::string_view what);

// Reads exactly `length` bytes at `offset` into `buf`, retrying short reads and
// EINTR. A file that ends first is kUnavailable ("shrank while being read").
Status pread_exact(int fd, uint64_t offset, char* buf, uint64_t length, std::string_view what);
// Same, into *out (resized to `length`).
Status pread_exact(int fd, uint64_t offset, uint64_t length, std::string* out,
                   std::string_view what);

// Writes all of `data`, retrying short writes and EINTR.
Status write_all(int fd, std::string_view data, std::string_view what);

}  // namespace sh::fs
