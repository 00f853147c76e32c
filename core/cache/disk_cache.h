// DiskCache: stored (compressed) block ranges on local disk, LRU by bytes, kept across
// restarts.
//
// Every operation does blocking disk I/O (open, pread, write, rename, unlink): call it from
// I/O threads, never from HTTP threads.
//
// Layout under `dir` (one process per directory, enforced by flock on `dir/LOCK`):
//   LOCK                 held for the life of the DiskCache
//   tmp/<hex>.<n>.tmp    a put in progress; renamed into place when complete
//   tmp/<n>.dead         an evicted file about to be unlinked
//   <hh>/<hex>.blk       one entry; <hex> = first 16 bytes of SHA-256(key) in hex,
//                        <hh> = its first two hex digits (256 subdirectories)
//
// Entry file (integers little-endian):
//   offset  size     field
//   0       4        magic "SHDC"
//   4       2        version (1)
//   6       2        reserved (0)
//   8       4        key_len (<= kMaxKeyBytes)
//   12      8        data_len
//   20      4        CRC32C of the data
//   24      4        CRC32C of bytes [0, 24) followed by the key
//   28      key_len  key
//   28+key_len data_len  data
// A read checks the size, the header CRC, that the stored key equals the asked key (a hash
// collision is a miss) and the data CRC. The file's mtime holds the entry's last-use stamp
// (nanoseconds, strictly increasing within a process; set on put and on every hit), so a
// restart rebuilds the LRU order.
//
// Space (after Redpanda's cloud_storage::cache): a put first takes a reservation for the
// file's size. If used + reserved bytes would pass capacity, the cache trims least recently
// used entries down to trim_low_watermark * capacity, at most once per min_trim_interval;
// when it still cannot fit, the put is skipped (counted) instead of waiting or evicting
// again. A working set larger than the cache therefore evicts in batches, not on every put.
//
// Thread-safe. One mutex guards the index, the descriptor LRU and the byte counts; data
// reads and writes run outside it. Renames that commit a put or move an evicted file into
// tmp/ run under it, so the index and the directory never disagree about which file a key
// has; the slow unlink of evicted files runs after the lock is released.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/cache/disk_cache_metrics.h"
#include "core/clock.h"
#include "core/fs/file.h"
#include "core/result.h"

namespace sh::cache {

struct DiskCacheOptions {
  std::string dir;
  // On-disk bytes (headers included) the cache may hold.
  uint64_t capacity_bytes = uint64_t{1} << 30;
  // A trim evicts until used + reserved + incoming <= this fraction of capacity. (0, 1].
  double trim_low_watermark = 0.8;
  // At most one trim per interval (steady clock); puts that do not fit meanwhile are skipped.
  Millis min_trim_interval{5000};
  // Descriptors kept open for reads (LRU). 0 = open and close on every read.
  size_t max_open_files = 64;
};

// Counters since open() and current sizes, for tests and status pages.
struct DiskCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t read_bytes = 0;
  uint64_t written_bytes = 0;
  uint64_t evictions = 0;
  uint64_t corruptions = 0;    // bad, truncated or vanished files found (on get or at open)
  uint64_t collisions = 0;     // file held another key with the same hash (a miss)
  uint64_t skipped_puts = 0;
  uint64_t trims = 0;          // trims that ran (each evicts a batch)
  uint64_t bytes = 0;          // committed on-disk bytes
  uint64_t reserved_bytes = 0; // reservations of puts in progress
  uint64_t entries = 0;
  uint64_t open_files = 0;     // descriptors in the read LRU
};

class DiskCache {
 public:
  static constexpr uint32_t kMagic = 0x43444853;  // "SHDC" little-endian
  static constexpr uint16_t kVersion = 1;
  static constexpr size_t kHeaderBytes = 28;
  static constexpr size_t kMaxKeyBytes = 4096;

  // Creates `options.dir` (and parents) if missing and takes its LOCK; removes leftover
  // temp files and entry files whose header does not parse; rebuilds the index and LRU
  // order from the remaining files (trimming if they exceed capacity). Errors: a path that
  // is not a directory or bad options → kInvalidArgument; no permission → kPermissionDenied;
  // LOCK held by another DiskCache → kUnavailable.
  // REQUIRES: metrics outlives the DiskCache.
  static Result<std::unique_ptr<DiskCache>> open(DiskCacheOptions options,
                                                 DiskCacheMetrics& metrics,
                                                 std::shared_ptr<Clock> clock);
  ~DiskCache();
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  // Hit → true and *out = the data (CRC verified); the entry becomes most recently used.
  // Miss → false (*out cleared). A corrupt, truncated or vanished file is a miss: it is
  // counted, its entry and file are removed, and the caller refetches. A file holding a
  // different key (hash collision) is a miss and is left alone. Errors only for failures
  // not about the entry itself (e.g. out of descriptors: kUnavailable).
  Result<bool> get(std::string_view key, std::string* out);
  Result<std::optional<std::string>> get(std::string_view key);

  // Stores `data` under `key`, replacing an existing entry. Skipped (still OK, counted in
  // skipped_puts) when it cannot get space without waiting: the file is larger than the
  // capacity, or the cache is full and a trim ran less than min_trim_interval ago. Errors:
  // key longer than kMaxKeyBytes → kInvalidArgument; write/rename failures (disk full →
  // kUnavailable). Nothing partial is ever visible: data goes to a temp file, then rename.
  Status put(std::string_view key, std::string_view data);

  // Removes the entry for `key`, if any. Not counted as an eviction.
  void erase(std::string_view key);

  bool contains(std::string_view key) const;
  DiskCacheStats stats() const;
  const DiskCacheOptions& options() const { return options_; }

  // Where the entry for `key` lives (whether or not it exists). For tests and operators.
  std::string file_path(std::string_view key) const;

 private:
  struct Digest {
    uint64_t hi = 0;
    uint64_t lo = 0;
    bool operator==(const Digest&) const = default;
  };
  struct DigestHash {
    size_t operator()(const Digest& d) const { return static_cast<size_t>(d.hi ^ d.lo); }
  };
  struct Entry {
    uint64_t size = 0;        // on-disk bytes
    uint64_t generation = 0;  // changes whenever the file for this digest is replaced
    std::list<Digest>::iterator lru;
  };
  struct OpenFile {
    std::shared_ptr<fs::UniqueFd> fd;  // shared: a read in progress keeps an evicted fd open
    uint64_t generation = 0;
    std::list<Digest>::iterator lru;
  };
  enum class ReadOutcome { kOk, kCollision, kCorrupt };

  // Space held for a put between reserve() and the commit that turns it into used bytes.
  class Reservation {
   public:
    Reservation(DiskCache* cache, uint64_t bytes) : cache_(cache), bytes_(bytes) {}
    ~Reservation();
    Reservation(Reservation&& o) noexcept : cache_(o.cache_), bytes_(o.bytes_) { o.cache_ = nullptr; }
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    Reservation& operator=(Reservation&&) = delete;
    // REQUIRES: cache's mutex held. The bytes become the committed entry's.
    void commit_locked();

   private:
    DiskCache* cache_;
    uint64_t bytes_;
  };

  DiskCache(DiskCacheOptions options, DiskCacheMetrics& metrics, std::shared_ptr<Clock> clock,
            fs::UniqueFd lock_fd);

  static Digest digest_of(std::string_view key);
  static std::string hex(const Digest& d);
  std::string path_of(const Digest& d) const;

  Status scan();
  // Returns a reservation for `bytes`, trimming first if needed; nullopt = skip the put.
  std::optional<Reservation> reserve(uint64_t bytes);
  // REQUIRES: mu_ held. Evicts LRU entries until used + reserved + incoming fits the low
  // watermark, unless a trim ran less than min_trim_interval ago (unless `force`).
  // Files removed are appended to *doomed (see remove_locked).
  bool trim_locked(uint64_t incoming, bool force, std::vector<std::string>* doomed);
  // REQUIRES: mu_ held. Drops the entry and its descriptor. With `doomed`, also moves its
  // file into tmp/ and appends the new path, for the caller to unlink_all() after unlocking.
  void remove_locked(std::unordered_map<Digest, Entry, DigestHash>::iterator it,
                     std::vector<std::string>* doomed);
  static void unlink_all(const std::vector<std::string>& paths);
  // Creates <dir>/<first byte of d in hex> unless this process already did.
  Status ensure_subdir(const Digest& d);
  void drop_fd_locked(const Digest& d);
  std::shared_ptr<fs::UniqueFd> find_fd_locked(const Digest& d, uint64_t generation);
  void insert_fd_locked(const Digest& d, uint64_t generation, std::shared_ptr<fs::UniqueFd> fd);
  void account_locked(int64_t bytes, int64_t entries);
  // A read of (d, generation) found the file bad: remove it if it is still that file.
  bool on_bad_entry(const Digest& d, uint64_t generation);
  ReadOutcome read_entry(int fd, std::string_view key, uint64_t size, std::string* out);
  // Next last-use stamp: max(clock, previous + 1) in ns since the epoch.
  int64_t next_stamp();
  static void set_stamp(int fd, int64_t stamp_ns);

  const DiskCacheOptions options_;
  DiskCacheMetrics& metrics_;
  const std::shared_ptr<Clock> clock_;
  const fs::UniqueFd lock_fd_;

  mutable std::mutex mu_;
  std::unordered_map<Digest, Entry, DigestHash> index_;  // guarded by mu_
  std::list<Digest> lru_;                                // guarded by mu_; front = oldest
  std::unordered_map<Digest, OpenFile, DigestHash> fds_; // guarded by mu_
  std::list<Digest> fd_lru_;                             // guarded by mu_; front = oldest
  uint64_t used_bytes_ = 0;                              // guarded by mu_
  uint64_t reserved_bytes_ = 0;                          // guarded by mu_
  uint64_t next_generation_ = 1;                         // guarded by mu_
  std::optional<SteadyTime> last_trim_;                  // guarded by mu_

  std::atomic<int64_t> last_stamp_{0};
  std::atomic<uint64_t> temp_counter_{0};
  std::array<std::atomic<bool>, 256> subdir_ready_{};
  std::atomic<uint64_t> hits_{0}, misses_{0}, read_bytes_{0}, written_bytes_{0}, evictions_{0},
      corruptions_{0}, collisions_{0}, skipped_puts_{0}, trims_{0};
};

}  // namespace sh::cache
