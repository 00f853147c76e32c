#include "core/fs/file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace sh::fs {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer (not always buf).
  const char* msg = strerror_r(err, buf, sizeof buf);
  return msg;
}

Error errno_error(int err, std::string_view op, std::string_view what) {
  std::string message = fmt::format("{} {}: {}", op, what, errno_text(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return not_found(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS:
      return Error(Errc::kPermissionDenied, std::move(message));
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EIO:
    case ENOSPC:
    case EDQUOT:
    case EAGAIN:
    case EINTR:
    case EBUSY:
      return unavailable(std::move(message));
    default:
      return internal_error(std::move(message));
  }
}

Status pread_exact(int fd, uint64_t offset, char* buf, uint64_t length, std::string_view what) {
  uint64_t done = 0;
  while (done < length) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(length - done, 1u << 30));
    const ssize_t n = ::pread(fd, buf + done, chunk, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "reading", what);
    }
    if (n == 0) {
      return unavailable(
          fmt::format("reading {}: file shrank while being read (at {})", what, offset + done));
    }
    done += static_cast<uint64_t>(n);
  }
  return ok_status();
}

Status pread_exact(int fd, uint64_t offset, uint64_t length, std::string* out,
                   std::string_view what) {
  out->resize(length);
  return pread_exact(fd, offset, out->data(), length, what);
}

Status write_all(int fd, std::string_view data, std::string_view what) {
  size_t done = 0;
  while (done < data.size()) {
    const size_t chunk = std::min<size_t>(data.size() - done, 1u << 30);
    const ssize_t n = ::write(fd, data.data() + done, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "writing", what);
    }
    done += static_cast<size_t>(n);
  }
  return ok_status();
}

}  // namespace sh::fs
