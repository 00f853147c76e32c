#include "core/storage/local_object_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

namespace sh {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {

std::atomic<bool> g_force_walk{false};
std::atomic<bool> g_openat2_unavailable{false};
std::atomic<uint64_t> g_temp_counter{0};

constexpr uint32_t kMaxListKeys = 1000;

// The key as it may appear in a message: printable ASCII kept, the rest escaped.
std::string printable(std::string_view key) {
  std::string out = "'";
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += "'";
  return out;
}

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer (not always buf).
  const char* msg = strerror_r(err, buf, sizeof buf);
  return msg;
}

// Maps an errno from touching `key` to an Error.
Error errno_error(int err, std::string_view op, std::string_view key) {
  std::string what = std::string(op) + " " + printable(key) + ": " + errno_text(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return not_found("no object " + printable(key));
    case ELOOP:
    case EXDEV:
      return invalid_argument("key " + printable(key) +
                              " traverses a symbolic link (symlinks are not followed)");
    case ENAMETOOLONG:
      return invalid_argument("key " + printable(key) + " is too long");
    case EACCES:
    case EPERM:
    case EROFS:
      return Error(Errc::kPermissionDenied, what);
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EIO:
    case ENOSPC:
    case EDQUOT:
    case EAGAIN:
    case EINTR:
    case EBUSY:
      return unavailable(what);
    default:
      return internal_error(what);
  }
}

bool valid_component(std::string_view c) {
  if (c.empty() || c == "." || c == "..") return false;
  if (c.size() > NAME_MAX) return false;
  if (c.substr(0, LocalObjectStore::kTempPrefix.size()) == LocalObjectStore::kTempPrefix) {
    return false;
  }
  for (char ch : c) {
    if (ch == '\0' || ch == '\\' || ch == '/') return false;
  }
  return true;
}

std::vector<std::string_view> split_components(std::string_view key) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) {
      parts.push_back(key.substr(start));
      return parts;
    }
    parts.push_back(key.substr(start, slash - start));
    start = slash + 1;
  }
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string make_etag(const struct stat& st) {
  const int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                           static_cast<int64_t>(st.st_mtim.tv_nsec);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%llx-%llx-%llx", static_cast<unsigned long long>(st.st_ino),
                static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(mtime_ns));
  return buf;
}

int64_t mtime_ms_of(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

Status check_deadline(const Deadline& d, std::string_view op, std::string_view key) {
  if (d.expired()) {
    return Error(Errc::kTimeout, std::string(op) + " " + printable(key) + ": deadline passed",
                 true);
  }
  return ok_status();
}

// Is `name` inside `dirfd` a symbolic link?
bool is_symlink_at(int dirfd, const std::string& name) {
  struct stat st;
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

// Opens the directory `name` in `dirfd` without following a symlink.
int open_dir_at(int dirfd, const std::string& name) {
  int fd;
  do {
    fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && (errno == ENOTDIR || errno == ELOOP) && is_symlink_at(dirfd, name)) errno = ELOOP;
  return fd;
}

// Opens a validated relative path under root_fd component by component, never
// following a symlink. Returns the fd or -1 with errno set.
int walk_open(int root_fd, std::string_view path, int flags) {
  std::vector<std::string_view> parts = split_components(path);
  UniqueFd dir;
  int cur = root_fd;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int fd = open_dir_at(cur, std::string(parts[i]));
    if (fd < 0) return -1;
    dir.reset(fd);
    cur = fd;
  }
  const std::string last(parts.back());
  int fd;
  do {
    fd = ::openat(cur, last.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && (errno == ENOTDIR || errno == ELOOP) && is_symlink_at(cur, last)) errno = ELOOP;
  return fd;
}

// Opens a validated relative path strictly beneath root_fd with no symlink
// anywhere on the way: openat2 when the kernel has it, a component walk otherwise.
int open_beneath(int root_fd, std::string_view path, int flags) {
  if (!g_force_walk.load(std::memory_order_relaxed) &&
      !g_openat2_unavailable.load(std::memory_order_relaxed)) {
    const std::string p(path);
    struct open_how how;
    std::memset(&how, 0, sizeof how);
    how.flags = static_cast<uint64_t>(flags | O_NOFOLLOW | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd;
    do {
      fd = ::syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    if (fd >= 0) return static_cast<int>(fd);
    const int err = errno;
    if (err != ENOSYS && err != EPERM && err != E2BIG && err != EINVAL) return -1;
    // No openat2 (old kernel, seccomp filter): the walk gives the real answer.
    int walked = walk_open(root_fd, path, flags);
    if (walked >= 0 || err == ENOSYS) g_openat2_unavailable.store(true);
    return walked;
  }
  return walk_open(root_fd, path, flags);
}

Status pread_exact(int fd, uint64_t offset, uint64_t length, std::string* out,
                   std::string_view key) {
  out->resize(length);
  uint64_t done = 0;
  while (done < length) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(length - done, 1u << 30));
    ssize_t n = ::pread(fd, out->data() + done, chunk, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "reading", key);
    }
    if (n == 0) {
      return unavailable("reading " + printable(key) + ": object shrank while being read (at " +
                         std::to_string(offset + done) + ")");
    }
    done += static_cast<uint64_t>(n);
  }
  return ok_status();
}

Status write_all(int fd, std::string_view data, std::string_view key) {
  size_t done = 0;
  while (done < data.size()) {
    const size_t chunk = std::min<size_t>(data.size() - done, 1u << 30);
    ssize_t n = ::write(fd, data.data() + done, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "writing", key);
    }
    done += static_cast<size_t>(n);
  }
  return ok_status();
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

struct DirEntry {
  std::string name;
  bool is_dir = false;
  std::string sort_key;  // name, plus '/' for a directory: gives byte order of the keys below
};

enum class EntryType { kFile, kDir, kOther };

EntryType entry_type(int dirfd, const struct dirent* e) {
  switch (e->d_type) {
    case DT_REG:
      return EntryType::kFile;
    case DT_DIR:
      return EntryType::kDir;
    case DT_UNKNOWN: {
      struct stat st;
      if (::fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) return EntryType::kOther;
      if (S_ISREG(st.st_mode)) return EntryType::kFile;
      if (S_ISDIR(st.st_mode)) return EntryType::kDir;
      return EntryType::kOther;
    }
    default:
      return EntryType::kOther;  // symlinks, fifos, sockets, devices are not objects
  }
}

// Reads the entries of `fd` (taking ownership) that can be part of a key and
// whose name starts with `name_prefix`.
Result<std::vector<DirEntry>> read_dir(UniqueFd fd, std::string_view name_prefix,
                                       std::string_view dir_path) {
  const int raw = fd.get();
  UniqueDir dir(::fdopendir(raw));
  if (!dir) return errno_error(errno, "listing", dir_path);
  fd.release();  // owned by DIR now
  std::vector<DirEntry> out;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir.get());
    if (e == nullptr) {
      if (errno != 0) return errno_error(errno, "listing", dir_path);
      break;
    }
    std::string_view name(e->d_name);
    if (!valid_component(name) || !starts_with(name, name_prefix)) continue;
    EntryType t = entry_type(raw, e);
    if (t == EntryType::kOther) continue;
    DirEntry d;
    d.name = std::string(name);
    d.is_dir = t == EntryType::kDir;
    d.sort_key = d.is_dir ? d.name + "/" : d.name;
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.sort_key < b.sort_key; });
  return out;
}

// One ListObjectsV2 page over the directory tree, visited depth first in key order.
class Lister {
 public:
  Lister(const ListOptions& opts, uint32_t max_keys)
      : opts_(opts), token_(opts.continuation_token), max_keys_(max_keys) {}

  // Lists the directory `dir_path` ("" or ending with '/'), open as `fd`, keeping
  // only top-level names that start with `name_prefix`.
  Status run(UniqueFd fd, const std::string& dir_path, std::string_view name_prefix) {
    walk(std::move(fd), dir_path, name_prefix);
    return std::move(status_);
  }

  ListPage take_page() { return std::move(page_); }

 private:
  // All keys below a directory whose path is `dpath` are < `bound` (so they can be skipped)?
  static bool all_below(const std::string& dpath, const std::string& bound) {
    return !bound.empty() && dpath < bound && !starts_with(bound, dpath);
  }

  void walk(UniqueFd fd, const std::string& path, std::string_view name_prefix) {
    if (done_) return;
    if (opts_.deadline.expired()) {
      fail(Error(Errc::kTimeout, "listing " + printable(opts_.prefix) + ": deadline passed", true));
      return;
    }
    const int raw = fd.get();
    UniqueFd keep(::dup(raw));  // read_dir consumes one fd; keep one for openat/fstatat
    if (!keep.valid()) {
      fail(errno_error(errno, "listing", path));
      return;
    }
    auto entries = read_dir(std::move(fd), name_prefix, path);
    if (!entries.ok()) {
      fail(std::move(entries).error());
      return;
    }
    for (const DirEntry& e : *entries) {
      if (done_) return;
      if (!e.is_dir) {
        visit_file(keep.get(), path + e.name, e.name);
        continue;
      }
      std::string dpath = path + e.name + "/";
      if (all_below(dpath, opts_.start_after) || all_below(dpath, token_)) continue;
      int child = open_dir_at(keep.get(), e.name);
      if (child < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;  // raced away
        fail(errno_error(errno, "listing", dpath));
        return;
      }
      UniqueFd child_fd(child);
      // With a delimiter inside dpath (after the prefix), everything below rolls
      // up into one common prefix: only whether some key exists matters.
      if (!opts_.delimiter.empty()) {
        size_t pos = dpath.find(opts_.delimiter, opts_.prefix.size());
        if (pos != std::string::npos && pos + opts_.delimiter.size() <= dpath.size()) {
          std::string cp = dpath.substr(0, pos + opts_.delimiter.size());
          if (!token_.empty() && cp <= token_) continue;
          if (cp == last_prefix_) continue;
          auto has = has_key(std::move(child_fd), dpath);
          if (!has.ok()) {
            fail(std::move(has).error());
            return;
          }
          if (*has) emit(std::move(cp), /*is_prefix=*/true, nullptr);
          continue;
        }
      }
      walk(std::move(child_fd), dpath, "");
    }
  }

  // Is there a key > start_after below the directory `dpath` (open as fd)?
  Result<bool> has_key(UniqueFd fd, const std::string& dpath) {
    if (opts_.deadline.expired()) {
      return Error(Errc::kTimeout, "listing " + printable(opts_.prefix) + ": deadline passed",
                   true);
    }
    UniqueFd keep(::dup(fd.get()));
    if (!keep.valid()) return errno_error(errno, "listing", dpath);
    SH_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, read_dir(std::move(fd), "", dpath));
    for (const DirEntry& e : entries) {
      if (!e.is_dir) {
        if (opts_.start_after.empty() || dpath + e.name > opts_.start_after) return true;
        continue;
      }
      std::string child_path = dpath + e.name + "/";
      if (all_below(child_path, opts_.start_after)) continue;
      int child = open_dir_at(keep.get(), e.name);
      if (child < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;
        return errno_error(errno, "listing", child_path);
      }
      SH_ASSIGN_OR_RETURN(bool found, has_key(UniqueFd(child), child_path));
      if (found) return true;
    }
    return false;
  }

  void visit_file(int dirfd, std::string key, const std::string& name) {
    if (!opts_.start_after.empty() && key <= opts_.start_after) return;
    if (!opts_.delimiter.empty()) {
      size_t pos = key.find(opts_.delimiter, opts_.prefix.size());
      if (pos != std::string::npos) {
        std::string cp = key.substr(0, pos + opts_.delimiter.size());
        if ((!token_.empty() && cp <= token_) || cp == last_prefix_) return;
        emit(std::move(cp), /*is_prefix=*/true, nullptr);
        return;
      }
    }
    if (!token_.empty() && key <= token_) return;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      return;  // replaced or removed since readdir
    }
    emit(std::move(key), /*is_prefix=*/false, &st);
  }

  void emit(std::string item, bool is_prefix, const struct stat* st) {
    if (count_ == max_keys_) {
      // One more item exists: the page is full and the listing continues.
      page_.next_continuation_token = last_item_;
      done_ = true;
      return;
    }
    ++count_;
    last_item_ = item;
    if (is_prefix) {
      last_prefix_ = item;
      page_.common_prefixes.push_back(std::move(item));
    } else {
      ObjectInfo info;
      info.key = std::move(item);
      info.size = static_cast<uint64_t>(st->st_size);
      info.etag = make_etag(*st);
      info.mtime_ms = mtime_ms_of(*st);
      page_.objects.push_back(std::move(info));
    }
  }

  void fail(Error e) {
    if (status_.ok()) status_ = std::move(e);
    done_ = true;
  }

  const ListOptions& opts_;
  const std::string token_;  // the last item of the previous page
  const uint32_t max_keys_;
  ListPage page_;
  uint32_t count_ = 0;
  std::string last_item_;
  std::string last_prefix_;
  bool done_ = false;
  Status status_;
};

}  // namespace

struct LocalObjectStore::OpenFile {
  UniqueFd fd;
  uint64_t size = 0;
  std::string etag;
  int64_t mtime_ms = 0;
};

void LocalObjectStore::force_component_walk_for_testing(bool on) { g_force_walk.store(on); }

LocalObjectStore::LocalObjectStore(std::string root, UniqueFd root_fd)
    : root_(std::move(root)), root_fd_(std::move(root_fd)) {}

Result<std::shared_ptr<LocalObjectStore>> LocalObjectStore::open(std::string root_dir,
                                                                 bool create_if_missing) {
  if (root_dir.empty()) return invalid_argument("object store root directory is empty");
  if (root_dir.find('\0') != std::string::npos) {
    return invalid_argument("object store root directory contains NUL");
  }
  if (create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(root_dir, ec);
    if (ec) {
      return unavailable("creating object store root " + printable(root_dir) + ": " +
                         ec.message());
    }
  }
  char* resolved = ::realpath(root_dir.c_str(), nullptr);
  if (resolved == nullptr) {
    const int err = errno;
    if (err == ENOENT) {
      return not_found("object store root " + printable(root_dir) + " does not exist");
    }
    return errno_error(err, "resolving object store root", root_dir);
  }
  std::string abs(resolved);
  std::free(resolved);
  int fd = ::open(abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOTDIR) {
      return invalid_argument("object store root " + printable(abs) + " is not a directory");
    }
    return errno_error(err, "opening object store root", abs);
  }
  return std::shared_ptr<LocalObjectStore>(new LocalObjectStore(std::move(abs), UniqueFd(fd)));
}

Status LocalObjectStore::validate_key(std::string_view key) {
  if (key.empty()) return invalid_argument("object key is empty");
  if (key.front() == '/') {
    return invalid_argument("object key " + printable(key) + " must not start with '/'");
  }
  if (key.size() > PATH_MAX - 1) {
    return invalid_argument("object key " + printable(key.substr(0, 64)) + "... is too long");
  }
  for (std::string_view c : split_components(key)) {
    if (!valid_component(c)) {
      return invalid_argument("object key " + printable(key) + " has an invalid component " +
                              printable(c) +
                              " (empty, '.', '..', NUL, backslash, over 255 bytes or reserved "
                              "prefix '.tmp-')");
    }
  }
  return ok_status();
}

Result<LocalObjectStore::OpenFile> LocalObjectStore::open_object(std::string_view key,
                                                                 const ReadOptions& opts) {
  SH_RETURN_IF_ERROR(validate_key(key));
  SH_RETURN_IF_ERROR(check_deadline(opts.deadline, "reading", key));
  int fd = open_beneath(root_fd_.get(), key, O_RDONLY);
  if (fd < 0) return errno_error(errno, "opening", key);
  OpenFile f;
  f.fd.reset(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno_error(errno, "stat of", key);
  if (!S_ISREG(st.st_mode)) return not_found("no object " + printable(key) + " (not a file)");
  f.size = static_cast<uint64_t>(st.st_size);
  f.etag = make_etag(st);
  f.mtime_ms = mtime_ms_of(st);
  if (opts.if_match_etag && *opts.if_match_etag != f.etag) {
    return Error(Errc::kPreconditionFailed, "object " + printable(key) + " changed: etag " +
                                                f.etag + ", expected " + *opts.if_match_etag);
  }
  return f;
}

Result<RangeRead> LocalObjectStore::get_range(std::string_view key, uint64_t offset,
                                              uint64_t length, const ReadOptions& opts) {
  auto range = ByteRange::make(offset, length);
  if (!range.ok()) return std::move(range).error().prefix("reading " + printable(key));
  SH_ASSIGN_OR_RETURN(OpenFile f, open_object(key, opts));
  if (range->end() > f.size) {
    return invalid_argument("reading " + printable(key) + ": range [" + std::to_string(offset) +
                            ", " + std::to_string(range->end()) + ") beyond object size " +
                            std::to_string(f.size));
  }
  RangeRead out;
  SH_RETURN_IF_ERROR(pread_exact(f.fd.get(), offset, length, &out.data, key));
  out.object_size = f.size;
  out.etag = std::move(f.etag);
  return out;
}

Result<RangeRead> LocalObjectStore::get_suffix(std::string_view key, uint64_t length,
                                               const ReadOptions& opts) {
  if (length == 0) return invalid_argument("reading " + printable(key) + ": empty suffix range");
  SH_ASSIGN_OR_RETURN(OpenFile f, open_object(key, opts));
  const uint64_t n = std::min(length, f.size);
  RangeRead out;
  SH_RETURN_IF_ERROR(pread_exact(f.fd.get(), f.size - n, n, &out.data, key));
  out.object_size = f.size;
  out.etag = std::move(f.etag);
  return out;
}

Result<RangeRead> LocalObjectStore::get(std::string_view key, const ReadOptions& opts) {
  SH_ASSIGN_OR_RETURN(OpenFile f, open_object(key, opts));
  RangeRead out;
  SH_RETURN_IF_ERROR(pread_exact(f.fd.get(), 0, f.size, &out.data, key));
  out.object_size = f.size;
  out.etag = std::move(f.etag);
  return out;
}

Result<ObjectInfo> LocalObjectStore::head(std::string_view key, const ReadOptions& opts) {
  SH_ASSIGN_OR_RETURN(OpenFile f, open_object(key, opts));
  ObjectInfo info;
  info.key = std::string(key);
  info.size = f.size;
  info.etag = std::move(f.etag);
  info.mtime_ms = f.mtime_ms;
  return info;
}

Result<ListPage> LocalObjectStore::list(const ListOptions& opts) {
  if (opts.deadline.expired()) {
    return Error(Errc::kTimeout, "listing " + printable(opts.prefix) + ": deadline passed", true);
  }
  ListPage empty;
  if (opts.max_keys == 0) return empty;
  const uint32_t max_keys = std::min(opts.max_keys, kMaxListKeys);

  // Start in the deepest directory the prefix names; the rest filters its entries.
  const size_t slash = opts.prefix.rfind('/');
  const std::string dir_path =
      slash == std::string::npos ? std::string() : opts.prefix.substr(0, slash + 1);
  const std::string_view name_prefix = std::string_view(opts.prefix).substr(dir_path.size());
  if (name_prefix.find('\0') != std::string_view::npos) return empty;

  int fd;
  if (dir_path.empty()) {
    // A fresh description of the root: a dup() would share the readdir position.
    fd = ::openat(root_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_error(errno, "listing", opts.prefix);
  } else {
    const std::string_view dir_no_slash = std::string_view(dir_path).substr(0, dir_path.size() - 1);
    if (!validate_key(dir_no_slash).ok()) return empty;  // no valid key can start with it
    fd = open_beneath(root_fd_.get(), dir_no_slash, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV) return empty;
      return errno_error(errno, "listing", opts.prefix);
    }
  }
  Lister lister(opts, max_keys);
  SH_RETURN_IF_ERROR(lister.run(UniqueFd(fd), dir_path, name_prefix));
  return lister.take_page();
}

Status LocalObjectStore::put(std::string_view key, std::string_view data, Deadline deadline) {
  SH_RETURN_IF_ERROR(validate_key(key));
  SH_RETURN_IF_ERROR(check_deadline(deadline, "writing", key));
  std::vector<std::string_view> parts = split_components(key);

  // Walk (and create) the parent directories without following symlinks.
  UniqueFd dir;
  int cur = root_fd_.get();
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string comp(parts[i]);
    bool created = false;
    if (::mkdirat(cur, comp.c_str(), 0755) == 0) {
      created = true;
    } else if (errno != EEXIST) {
      return errno_error(errno, "creating a directory for", key);
    }
    int fd = open_dir_at(cur, comp);
    if (fd < 0) {
      if (errno == ENOTDIR) {
        return Error(Errc::kAlreadyExists, "writing " + printable(key) + ": component " +
                                               printable(comp) + " is an existing object");
      }
      return errno_error(errno, "opening a directory for", key);
    }
    if (created && ::fsync(cur) != 0) return errno_error(errno, "syncing a directory for", key);
    dir.reset(fd);
    cur = fd;
  }

  const std::string last(parts.back());
  std::string tmp = std::string(kTempPrefix) + std::to_string(::getpid()) + "-" +
                    std::to_string(g_temp_counter.fetch_add(1)) + "-";
  tmp += last.substr(0, NAME_MAX - tmp.size());

  int tfd = ::openat(cur, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (tfd < 0) return errno_error(errno, "creating a temp file for", key);
  UniqueFd file(tfd);
  // Removes the temp file unless it was renamed into place.
  struct TempGuard {
    int dirfd;
    const std::string& name;
    bool armed = true;
    ~TempGuard() {
      if (armed) ::unlinkat(dirfd, name.c_str(), 0);
    }
  } guard{cur, tmp};

  SH_RETURN_IF_ERROR(write_all(file.get(), data, key));
  if (::fsync(file.get()) != 0) return errno_error(errno, "syncing", key);
  if (::close(file.release()) != 0) return errno_error(errno, "closing", key);
  if (::renameat(cur, tmp.c_str(), cur, last.c_str()) != 0) {
    if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
      return Error(Errc::kAlreadyExists,
                   "writing " + printable(key) + ": the key is an existing directory");
    }
    return errno_error(errno, "renaming into place", key);
  }
  guard.armed = false;
  if (::fsync(cur) != 0) return errno_error(errno, "syncing the directory of", key);
  return ok_status();
}

std::string LocalObjectStore::describe() const { return "file://" + root_; }

}  // namespace sh
