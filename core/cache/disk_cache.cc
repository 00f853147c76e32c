#include "core/cache/disk_cache.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/format/coding.h"
#include "core/format/crc32c.h"

namespace sh::cache {
namespace {

namespace stdfs = std::filesystem;

constexpr size_t kHeaderCrcOffset = 24;  // the header CRC covers [0, 24) + key
constexpr std::string_view kEntrySuffix = ".blk";

struct Header {
  uint32_t key_len = 0;
  uint64_t data_len = 0;
  uint32_t data_crc = 0;
  uint32_t header_crc = 0;
};

std::string encode_header(std::string_view key, std::string_view data) {
  std::string h;
  h.reserve(DiskCache::kHeaderBytes + key.size());
  coding::put_fixed32(&h, DiskCache::kMagic);
  coding::put_fixed16(&h, DiskCache::kVersion);
  coding::put_fixed16(&h, 0);
  coding::put_fixed32(&h, static_cast<uint32_t>(key.size()));
  coding::put_fixed64(&h, data.size());
  coding::put_fixed32(&h, crc32c::value(data));
  coding::put_fixed32(&h, crc32c::extend(crc32c::value(h.data(), kHeaderCrcOffset), key.data(),
                                         key.size()));
  h.append(key);
  return h;
}

// REQUIRES: p points at kHeaderBytes readable bytes. False if magic, version or the
// reserved field are not what this version writes.
bool decode_header(const char* p, Header* h) {
  if (coding::decode_fixed32(p) != DiskCache::kMagic) return false;
  if (coding::decode_fixed16(p + 4) != DiskCache::kVersion) return false;
  if (coding::decode_fixed16(p + 6) != 0) return false;
  h->key_len = coding::decode_fixed32(p + 8);
  h->data_len = coding::decode_fixed64(p + 12);
  h->data_crc = coding::decode_fixed32(p + 20);
  h->header_crc = coding::decode_fixed32(p + 24);
  return true;
}

// True when the header's lengths describe a file of exactly `file_size` bytes.
bool lengths_match(const Header& h, uint64_t file_size) {
  if (h.key_len > DiskCache::kMaxKeyBytes) return false;
  const uint64_t prefix = DiskCache::kHeaderBytes + h.key_len;
  return file_size >= prefix && h.data_len == file_size - prefix;
}

bool header_crc_matches(const char* fixed, std::string_view stored_key, const Header& h) {
  return crc32c::extend(crc32c::value(fixed, kHeaderCrcOffset), stored_key.data(),
                        stored_key.size()) == h.header_crc;
}

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace

// ---- Reservation ---------------------------------------------------------------------

DiskCache::Reservation::~Reservation() {
  if (cache_ == nullptr) return;
  std::lock_guard<std::mutex> l(cache_->mu_);
  cache_->reserved_bytes_ -= bytes_;
}

void DiskCache::Reservation::commit_locked() {
  cache_->reserved_bytes_ -= bytes_;
  cache_ = nullptr;
}

// ---- open / scan ---------------------------------------------------------------------

Result<std::unique_ptr<DiskCache>> DiskCache::open(DiskCacheOptions options,
                                                   DiskCacheMetrics& metrics,
                                                   std::shared_ptr<Clock> clock) {
  if (options.dir.empty()) return invalid_argument("disk cache: dir is empty");
  if (options.capacity_bytes == 0) return invalid_argument("disk cache: capacity_bytes is 0");
  if (!(options.trim_low_watermark > 0.0 && options.trim_low_watermark <= 1.0)) {
    return invalid_argument(fmt::format("disk cache: trim_low_watermark {} is not in (0, 1]",
                                        options.trim_low_watermark));
  }
  if (options.min_trim_interval.count() < 0) {
    return invalid_argument("disk cache: min_trim_interval is negative");
  }
  if (!clock) clock = system_clock();
  while (options.dir.size() > 1 && options.dir.back() == '/') options.dir.pop_back();
  const std::string& dir = options.dir;

  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return invalid_argument(
          fmt::format("disk cache directory '{}' exists and is not a directory", dir));
    }
  } else {
    std::error_code ec;
    stdfs::create_directories(dir, ec);
    if (ec) {
      if (ec.value() == ENOTDIR || ec.value() == EEXIST) {
        return invalid_argument(fmt::format(
            "disk cache directory '{}' cannot be created: a parent is not a directory", dir));
      }
      return fs::errno_error(ec.value(), "creating disk cache directory", fmt::format("'{}'", dir));
    }
  }

  const std::string tmp = dir + "/tmp";
  if (::mkdir(tmp.c_str(), 0755) != 0 && errno != EEXIST) {
    return fs::errno_error(errno, "creating disk cache directory", fmt::format("'{}'", tmp));
  }
  if (::stat(tmp.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return invalid_argument(fmt::format("disk cache: '{}' is not a directory", tmp));
  }

  const std::string lock_path = dir + "/LOCK";
  fs::UniqueFd lock_fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock_fd.valid()) {
    return fs::errno_error(errno, "opening disk cache lock", fmt::format("'{}'", lock_path));
  }
  if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return unavailable(fmt::format(
          "disk cache directory '{}' is in use by another DiskCache ('{}' is locked)", dir,
          lock_path));
    }
    return fs::errno_error(errno, "locking", fmt::format("'{}'", lock_path));
  }

  std::unique_ptr<DiskCache> cache(
      new DiskCache(std::move(options), metrics, std::move(clock), std::move(lock_fd)));
  SH_RETURN_IF_ERROR(cache->scan());
  return cache;
}

DiskCache::DiskCache(DiskCacheOptions options, DiskCacheMetrics& metrics,
                     std::shared_ptr<Clock> clock, fs::UniqueFd lock_fd)
    : options_(std::move(options)),
      metrics_(metrics),
      clock_(std::move(clock)),
      lock_fd_(std::move(lock_fd)) {}

DiskCache::~DiskCache() {
  std::lock_guard<std::mutex> l(mu_);
  metrics_.bytes.Decrement(static_cast<double>(used_bytes_));
  metrics_.entries.Decrement(static_cast<double>(index_.size()));
}

Status DiskCache::scan() {
  const std::string& dir = options_.dir;
  std::error_code ec;

  // Puts that never reached their rename.
  for (auto it = stdfs::directory_iterator(dir + "/tmp", ec); !ec && it != stdfs::directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) ::unlink(it->path().c_str());
  }
  if (ec) return fs::errno_error(ec.value(), "listing", fmt::format("'{}/tmp'", dir));

  struct Found {
    Digest digest;
    uint64_t size;
    int64_t stamp;
  };
  std::vector<Found> found;
  const auto reject = [this](const std::string& path) {
    spdlog::warn("disk cache file {} failed its checks at open (header, size or name); removed",
                 path);
    ::unlink(path.c_str());
    corruptions_.fetch_add(1, std::memory_order_relaxed);
    metrics_.corruptions.Increment();
    metrics_.corrupt_reads.Increment();
  };

  for (auto sub = stdfs::directory_iterator(dir, ec); !ec && sub != stdfs::directory_iterator();
       sub.increment(ec)) {
    const std::string sub_name = sub->path().filename().string();
    std::error_code sub_ec;
    if (sub_name.size() != 2 || !sub->is_directory(sub_ec)) continue;
    if (!std::all_of(sub_name.begin(), sub_name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
      continue;
    }
    for (auto f = stdfs::directory_iterator(sub->path(), sub_ec);
         !sub_ec && f != stdfs::directory_iterator(); f.increment(sub_ec)) {
      const std::string name = f->path().filename().string();
      const std::string path = f->path().string();
      if (name.size() <= kEntrySuffix.size() ||
          name.compare(name.size() - kEntrySuffix.size(), kEntrySuffix.size(), kEntrySuffix) != 0) {
        continue;  // not ours: left alone
      }
      const std::string stem = name.substr(0, name.size() - kEntrySuffix.size());

      fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) {
        if (errno != ENOENT) reject(path);
        continue;
      }
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        reject(path);
        continue;
      }
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      Header h;
      std::string head;
      const uint64_t want = std::min<uint64_t>(size, kHeaderBytes + kMaxKeyBytes);
      if (size < kHeaderBytes || !fs::pread_exact(fd.get(), 0, want, &head, path).ok() ||
          !decode_header(head.data(), &h) || !lengths_match(h, size) ||
          !header_crc_matches(head.data(), std::string_view(head).substr(kHeaderBytes, h.key_len), h)) {
        reject(path);
        continue;
      }
      const Digest d = digest_of(std::string_view(head).substr(kHeaderBytes, h.key_len));
      if (hex(d) != stem || stem.compare(0, 2, sub_name) != 0) {
        reject(path);  // renamed or misplaced: its name does not match its key
        continue;
      }
      found.push_back({d, size, mtime_ns(st)});
    }
    if (sub_ec) return fs::errno_error(sub_ec.value(), "listing", fmt::format("'{}'", sub->path().string()));
  }
  if (ec) return fs::errno_error(ec.value(), "listing", fmt::format("'{}'", dir));

  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.stamp < b.stamp; });
  std::vector<std::string> doomed;
  {
    std::lock_guard<std::mutex> l(mu_);
    int64_t max_stamp = 0;
    for (const Found& f : found) {
      Entry e;
      e.size = f.size;
      e.generation = next_generation_++;
      e.lru = lru_.insert(lru_.end(), f.digest);
      index_.emplace(f.digest, e);
      account_locked(static_cast<int64_t>(f.size), 1);
      max_stamp = std::max(max_stamp, f.stamp);
    }
    last_stamp_.store(max_stamp);
    // A smaller capacity than last time: trim now, oldest first.
    if (used_bytes_ > options_.capacity_bytes) trim_locked(0, /*force=*/true, &doomed);
  }
  unlink_all(doomed);
  return ok_status();
}

// ---- names ---------------------------------------------------------------------------

DiskCache::Digest DiskCache::digest_of(std::string_view key) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Digest d;
  if (EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr) == 1 && len >= 16) {
    for (int i = 0; i < 8; ++i) d.hi = (d.hi << 8) | md[i];
    for (int i = 8; i < 16; ++i) d.lo = (d.lo << 8) | md[i];
    return d;
  }
  // Only on allocation failure inside OpenSSL. Two independent FNV-1a 64 streams: a
  // weaker name, still checked against the stored key on every read.
  d.hi = 0xcbf29ce484222325ULL;
  d.lo = 0x84222325cbf29ce4ULL;
  for (unsigned char c : key) {
    d.hi = (d.hi ^ c) * 0x100000001b3ULL;
    d.lo = (d.lo ^ static_cast<unsigned char>(c + 0x5b)) * 0x100000001b3ULL;
  }
  return d;
}

std::string DiskCache::hex(const Digest& d) { return fmt::format("{:016x}{:016x}", d.hi, d.lo); }

std::string DiskCache::path_of(const Digest& d) const {
  const std::string h = hex(d);
  return fmt::format("{}/{}/{}{}", options_.dir, std::string_view(h).substr(0, 2), h,
                     kEntrySuffix);
}

std::string DiskCache::file_path(std::string_view key) const { return path_of(digest_of(key)); }

// ---- stamps --------------------------------------------------------------------------

int64_t DiskCache::next_stamp() {
  const int64_t now = std::max<int64_t>(0, clock_->now_unix_ms()) * 1'000'000;
  int64_t prev = last_stamp_.load(std::memory_order_relaxed);
  int64_t next;
  do {
    next = std::max(now, prev + 1);
  } while (!last_stamp_.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return next;
}

void DiskCache::set_stamp(int fd, int64_t stamp_ns) {
  struct timespec ts[2];
  ts[0].tv_sec = static_cast<time_t>(stamp_ns / 1'000'000'000);
  ts[0].tv_nsec = static_cast<long>(stamp_ns % 1'000'000'000);
  ts[1] = ts[0];
  // Best effort: a failure only loses recency across a restart.
  (void)::futimens(fd, ts);
}

// ---- index helpers (REQUIRES mu_) ----------------------------------------------------

void DiskCache::account_locked(int64_t bytes, int64_t entries) {
  used_bytes_ = static_cast<uint64_t>(static_cast<int64_t>(used_bytes_) + bytes);
  metrics_.bytes.Increment(static_cast<double>(bytes));
  metrics_.entries.Increment(static_cast<double>(entries));
}

void DiskCache::drop_fd_locked(const Digest& d) {
  auto it = fds_.find(d);
  if (it == fds_.end()) return;
  fd_lru_.erase(it->second.lru);
  fds_.erase(it);
}

std::shared_ptr<fs::UniqueFd> DiskCache::find_fd_locked(const Digest& d, uint64_t generation) {
  auto it = fds_.find(d);
  if (it == fds_.end()) return nullptr;
  if (it->second.generation != generation) {
    drop_fd_locked(d);
    return nullptr;
  }
  fd_lru_.splice(fd_lru_.end(), fd_lru_, it->second.lru);
  return it->second.fd;
}

void DiskCache::insert_fd_locked(const Digest& d, uint64_t generation,
                                 std::shared_ptr<fs::UniqueFd> fd) {
  if (options_.max_open_files == 0) return;
  auto e = index_.find(d);
  // The file was replaced or removed since this descriptor's read began: it may be the old
  // inode, so it must not serve later reads.
  if (e == index_.end() || e->second.generation != generation) return;
  if (fds_.count(d) != 0) return;  // another reader cached one first
  OpenFile of;
  of.fd = std::move(fd);
  of.generation = generation;
  of.lru = fd_lru_.insert(fd_lru_.end(), d);
  fds_.emplace(d, std::move(of));
  while (fds_.size() > options_.max_open_files) drop_fd_locked(fd_lru_.front());
}

void DiskCache::remove_locked(std::unordered_map<Digest, Entry, DigestHash>::iterator it,
                              std::vector<std::string>* doomed) {
  if (doomed != nullptr) {
    // A rename that replaces nothing is cheap; the unlink (freeing blocks) happens after
    // the lock is released. A crash in between leaves the file in tmp/, cleared by open().
    const std::string path = path_of(it->first);
    const std::string grave = fmt::format("{}/tmp/{}.dead", options_.dir,
                                          temp_counter_.fetch_add(1, std::memory_order_relaxed));
    if (::rename(path.c_str(), grave.c_str()) == 0) {
      doomed->push_back(grave);
    } else if (errno != ENOENT) {
      ::unlink(path.c_str());
    }
  }
  drop_fd_locked(it->first);
  lru_.erase(it->second.lru);
  account_locked(-static_cast<int64_t>(it->second.size), -1);
  index_.erase(it);
}

bool DiskCache::trim_locked(uint64_t incoming, bool force, std::vector<std::string>* doomed) {
  const SteadyTime now = clock_->now_steady();
  if (!force && last_trim_.has_value() && now - *last_trim_ < options_.min_trim_interval) {
    return false;
  }
  last_trim_ = now;
  trims_.fetch_add(1, std::memory_order_relaxed);
  const auto target =
      static_cast<uint64_t>(options_.trim_low_watermark * static_cast<double>(options_.capacity_bytes));
  while (!lru_.empty() && used_bytes_ + reserved_bytes_ + incoming > target) {
    remove_locked(index_.find(lru_.front()), doomed);
    evictions_.fetch_add(1, std::memory_order_relaxed);
    metrics_.evictions.Increment();
  }
  return true;
}

std::optional<DiskCache::Reservation> DiskCache::reserve(uint64_t bytes) {
  std::vector<std::string> doomed;
  std::optional<Reservation> reservation;
  {
    std::lock_guard<std::mutex> l(mu_);
    const uint64_t cap = options_.capacity_bytes;
    if (used_bytes_ + reserved_bytes_ + bytes > cap) trim_locked(bytes, /*force=*/false, &doomed);
    if (used_bytes_ + reserved_bytes_ + bytes <= cap) {
      reserved_bytes_ += bytes;
      reservation.emplace(this, bytes);
    }
  }
  unlink_all(doomed);
  return reservation;
}

void DiskCache::unlink_all(const std::vector<std::string>& paths) {
  for (const std::string& p : paths) ::unlink(p.c_str());
}

// ---- get -----------------------------------------------------------------------------

DiskCache::ReadOutcome DiskCache::read_entry(int fd, std::string_view key, uint64_t size,
                                             std::string* out) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ReadOutcome::kCorrupt;
  if (st.st_nlink == 0) return ReadOutcome::kCorrupt;  // vanished (deleted under us)
  if (static_cast<uint64_t>(st.st_size) != size || size < kHeaderBytes) {
    return ReadOutcome::kCorrupt;  // truncated or grown
  }
  std::string head;
  const uint64_t want = std::min<uint64_t>(size, kHeaderBytes + key.size());
  Header h;
  if (!fs::pread_exact(fd, 0, want, &head, "disk cache entry").ok() ||
      !decode_header(head.data(), &h) || !lengths_match(h, size)) {
    return ReadOutcome::kCorrupt;
  }
  std::string other_key;
  std::string_view stored_key;
  if (h.key_len == key.size()) {
    stored_key = std::string_view(head).substr(kHeaderBytes);
  } else {
    if (!fs::pread_exact(fd, kHeaderBytes, h.key_len, &other_key, "disk cache entry").ok()) {
      return ReadOutcome::kCorrupt;
    }
    stored_key = other_key;
  }
  if (!header_crc_matches(head.data(), stored_key, h)) return ReadOutcome::kCorrupt;
  if (stored_key != key) return ReadOutcome::kCollision;

  if (!fs::pread_exact(fd, kHeaderBytes + h.key_len, h.data_len, out, "disk cache entry").ok() ||
      crc32c::value(*out) != h.data_crc) {
    out->clear();
    return ReadOutcome::kCorrupt;
  }
  return ReadOutcome::kOk;
}

bool DiskCache::on_bad_entry(const Digest& d, uint64_t generation) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = index_.find(d);
  // A different generation (or none) means a put replaced it or a trim evicted it while
  // we read: a plain miss, not corruption.
  if (it == index_.end() || it->second.generation != generation) return false;
  // The file is small or already gone: removed under the lock so no later put is undone.
  remove_locked(it, nullptr);
  const std::string path = path_of(d);
  ::unlink(path.c_str());
  corruptions_.fetch_add(1, std::memory_order_relaxed);
  metrics_.corruptions.Increment();
  metrics_.corrupt_reads.Increment();
  spdlog::warn("disk cache file {} failed its checks (size, header CRC, key or data CRC); removed",
               path);
  return true;
}

Result<bool> DiskCache::get(std::string_view key, std::string* out) {
  out->clear();
  const auto miss = [this]() -> Result<bool> {
    misses_.fetch_add(1, std::memory_order_relaxed);
    metrics_.misses.Increment();
    return false;
  };
  if (key.size() > kMaxKeyBytes) return miss();
  const Digest d = digest_of(key);

  uint64_t generation = 0;
  uint64_t size = 0;
  std::shared_ptr<fs::UniqueFd> fd;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = index_.find(d);
    if (it == index_.end()) return miss();
    lru_.splice(lru_.end(), lru_, it->second.lru);
    generation = it->second.generation;
    size = it->second.size;
    fd = find_fd_locked(d, generation);
  }

  if (!fd) {
    const std::string path = path_of(d);
    const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw < 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) {
        on_bad_entry(d, generation);
        return miss();
      }
      return fs::errno_error(err, "opening disk cache file", fmt::format("'{}'", path));
    }
    fd = std::make_shared<fs::UniqueFd>(raw);
    if (options_.max_open_files > 0) {
      std::lock_guard<std::mutex> l(mu_);
      insert_fd_locked(d, generation, fd);
    }
  }

  switch (read_entry(fd->get(), key, size, out)) {
    case ReadOutcome::kOk:
      set_stamp(fd->get(), next_stamp());
      hits_.fetch_add(1, std::memory_order_relaxed);
      read_bytes_.fetch_add(out->size(), std::memory_order_relaxed);
      metrics_.hits.Increment();
      metrics_.read_bytes.Increment(static_cast<double>(out->size()));
      return true;
    case ReadOutcome::kCollision:
      collisions_.fetch_add(1, std::memory_order_relaxed);
      return miss();
    case ReadOutcome::kCorrupt:
      break;
  }
  on_bad_entry(d, generation);
  return miss();
}

Result<std::optional<std::string>> DiskCache::get(std::string_view key) {
  std::string data;
  SH_ASSIGN_OR_RETURN(const bool hit, get(key, &data));
  if (!hit) return std::optional<std::string>();
  return std::optional<std::string>(std::move(data));
}

// ---- put / erase ---------------------------------------------------------------------

Status DiskCache::ensure_subdir(const Digest& d) {
  std::atomic<bool>& ready = subdir_ready_[d.hi >> 56];
  if (ready.load(std::memory_order_relaxed)) return ok_status();
  const std::string sub = fmt::format("{}/{:02x}", options_.dir, d.hi >> 56);
  if (::mkdir(sub.c_str(), 0755) != 0 && errno != EEXIST) {
    return fs::errno_error(errno, "creating disk cache directory", fmt::format("'{}'", sub));
  }
  ready.store(true, std::memory_order_relaxed);
  return ok_status();
}

Status DiskCache::put(std::string_view key, std::string_view data) {
  if (key.size() > kMaxKeyBytes) {
    return invalid_argument(
        fmt::format("disk cache key of {} bytes is longer than {}", key.size(), kMaxKeyBytes));
  }
  const auto skip = [this]() {
    skipped_puts_.fetch_add(1, std::memory_order_relaxed);
    metrics_.skipped_puts.Increment();
    return ok_status();
  };
  const uint64_t file_size = kHeaderBytes + key.size() + data.size();
  if (file_size > options_.capacity_bytes) return skip();
  std::optional<Reservation> reservation = reserve(file_size);
  if (!reservation) return skip();

  const Digest d = digest_of(key);
  const std::string h = hex(d);
  SH_RETURN_IF_ERROR(ensure_subdir(d));
  const std::string temp = fmt::format("{}/tmp/{}.{}.tmp", options_.dir, h,
                                       temp_counter_.fetch_add(1, std::memory_order_relaxed));
  fs::UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return fs::errno_error(errno, "creating disk cache file", fmt::format("'{}'", temp));
  const auto fail = [&temp](Error e) -> Status {
    ::unlink(temp.c_str());
    return e;
  };
  if (Status s = fs::write_all(fd.get(), encode_header(key, data), temp); !s.ok()) {
    return fail(std::move(s).error());
  }
  if (Status s = fs::write_all(fd.get(), data, temp); !s.ok()) return fail(std::move(s).error());
  set_stamp(fd.get(), next_stamp());
  if (::close(fd.release()) != 0) {
    return fail(fs::errno_error(errno, "closing disk cache file", fmt::format("'{}'", temp)));
  }

  const std::string final_path = path_of(d);
  int rename_errno = 0;
  std::vector<std::string> doomed;
  {
    std::lock_guard<std::mutex> l(mu_);
    // The old file moves aside first: a rename onto an existing file makes ext4 flush the
    // new one (auto_da_alloc), which would stall every reader behind this lock.
    auto it = index_.find(d);
    if (it != index_.end()) remove_locked(it, &doomed);
    int rc = ::rename(temp.c_str(), final_path.c_str());
    if (rc != 0 && errno == ENOENT) {
      // The subdirectory was removed behind our back: make it again, once.
      subdir_ready_[d.hi >> 56].store(false);
      if (ensure_subdir(d).ok()) rc = ::rename(temp.c_str(), final_path.c_str());
    }
    if (rc != 0) {
      rename_errno = errno;
    } else {
      Entry e;
      e.size = file_size;
      e.generation = next_generation_++;
      e.lru = lru_.insert(lru_.end(), d);
      index_.emplace(d, e);
      reservation->commit_locked();
      account_locked(static_cast<int64_t>(file_size), 1);
    }
  }
  unlink_all(doomed);
  if (rename_errno != 0) {
    return fail(fs::errno_error(rename_errno, "renaming disk cache file", fmt::format("'{}'", temp)));
  }
  written_bytes_.fetch_add(data.size(), std::memory_order_relaxed);
  metrics_.written_bytes.Increment(static_cast<double>(data.size()));
  return ok_status();
}

void DiskCache::erase(std::string_view key) {
  const Digest d = digest_of(key);
  std::vector<std::string> doomed;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = index_.find(d);
    if (it != index_.end()) remove_locked(it, &doomed);
  }
  unlink_all(doomed);
}

bool DiskCache::contains(std::string_view key) const {
  const Digest d = digest_of(key);
  std::lock_guard<std::mutex> l(mu_);
  return index_.count(d) != 0;
}

DiskCacheStats DiskCache::stats() const {
  DiskCacheStats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.read_bytes = read_bytes_.load(std::memory_order_relaxed);
  s.written_bytes = written_bytes_.load(std::memory_order_relaxed);
  s.evictions = evictions_.load(std::memory_order_relaxed);
  s.corruptions = corruptions_.load(std::memory_order_relaxed);
  s.collisions = collisions_.load(std::memory_order_relaxed);
  s.skipped_puts = skipped_puts_.load(std::memory_order_relaxed);
  s.trims = trims_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> l(mu_);
  s.bytes = used_bytes_;
  s.reserved_bytes = reserved_bytes_;
  s.entries = index_.size();
  s.open_files = fds_.size();
  return s;
}

}  // namespace sh::cache
