// LruCache: an in-memory LRU cache bounded by the sum of entry *charges* (bytes),
// split into 2^shard_bits shards, each with its own mutex, so concurrent readers
// of different keys rarely contend.
//
// Values are held as std::shared_ptr<const V>. A caller that holds the pointer
// returned by lookup()/insert() keeps the value alive ("pinned") while it uses it;
// eviction only drops the cache's own reference and never invalidates a value in use.
// Pinned values still count against capacity only while the cache holds them.
//
// An entry larger than one shard's share (capacity >> shard_bits) but at most
// half the capacity goes to the *large* area (its own mutex and LRU, used only
// by such entries): the bytes it holds are taken from every shard's share, so
// shards plus large area never hold more than the capacity. An entry larger
// than half the capacity is not cached.
//
// Thread-safe. All operations are O(1) expected (plus evictions).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sh::cache {

template <class K, class V, class Hash = std::hash<K>>
class LruCache {
 public:
  // REQUIRES: 0 <= shard_bits <= 16. Each shard gets capacity_bytes >> shard_bits
  // bytes, less its part of what the large area holds.
  explicit LruCache(size_t capacity_bytes, int shard_bits = 4)
      : capacity_(capacity_bytes),
        shard_bits_(shard_bits < 0 ? 0 : (shard_bits > 16 ? 16 : shard_bits)),
        shards_(size_t{1} << shard_bits_) {
    const size_t per_shard = capacity_ / shards_.size();
    for (auto& s : shards_) s.capacity = per_shard;
    large_.capacity = shards_.size() > 1 ? capacity_ / 2 : 0;
  }

  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // The cached value or nullptr. A hit makes the entry the most recently used.
  std::shared_ptr<const V> lookup(const K& key) {
    if (auto v = find_in(shard_for(key), key)) return v;
    if (large_entries_.load(std::memory_order_acquire) > 0) {
      if (auto v = find_in(large_, key)) return v;
    }
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }

  // lookup() that also brings a hit's charge up to date with charge(value), for
  // values that grow after insert (a decoded block that keeps the encodings
  // built from it): the entry's area is trimmed to its capacity if it grew
  // past it. The value is returned even if that trim evicts it.
  // *recharged (if given) tells whether the charge changed.
  template <class ChargeFn>
  std::shared_ptr<const V> lookup_recharged(const K& key, ChargeFn&& charge,
                                            bool* recharged = nullptr) {
    std::vector<std::shared_ptr<const V>> dropped;  // released after the locks
    bool changed = false;
    if (recharged != nullptr) *recharged = false;
    if (auto v = find_in(shard_for(key), key, &charge, &dropped, &changed)) {
      if (recharged != nullptr) *recharged = changed;
      return v;
    }
    if (large_entries_.load(std::memory_order_acquire) > 0) {
      if (auto v = find_in(large_, key, &charge, &dropped, &changed)) {
        if (recharged != nullptr) *recharged = changed;
        return v;
      }
    }
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }

  // Inserts or replaces `key`. Evicts least recently used entries of the key's
  // shard (or of the large area) until it is within its capacity. If `charge`
  // exceeds what the cache can hold for one entry, the value is not cached (and
  // any previous entry for `key` is removed so a stale value is never served).
  // REQUIRES: value != nullptr.
  void insert(const K& key, std::shared_ptr<const V> value, size_t charge) {
    if (value == nullptr) return;
    Shard& s = shard_for(key);
    // Values released outside the locks: a value's destructor may be expensive.
    std::vector<std::shared_ptr<const V>> dropped;
    const bool large = charge > s.capacity && charge <= large_.capacity;
    // The key lives in at most one place: drop it from the other one first.
    if (large) {
      remove_from(s, key, &dropped);
    } else if (large_entries_.load(std::memory_order_acquire) > 0) {
      remove_from(large_, key, &dropped);
    }
    if (!large) {
      std::lock_guard<std::mutex> lock(s.mu);
      remove_locked(s, key, &dropped);
      if (charge > s.capacity) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      add_locked(s, key, std::move(value), charge);
      trim_locked(s, shard_limit(s), &dropped);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(large_.mu);
      remove_locked(large_, key, &dropped);
      add_locked(large_, key, std::move(value), charge);
      trim_locked(large_, large_.capacity, &dropped);
      large_entries_.store(large_.map.size(), std::memory_order_release);
      large_usage_.store(large_.usage, std::memory_order_release);
    }
    // The large area grew: every shard gives up its part (one lock at a time).
    for (Shard& other : shards_) {
      std::lock_guard<std::mutex> lock(other.mu);
      trim_locked(other, shard_limit(other), &dropped);
    }
  }

  void erase(const K& key) {
    std::vector<std::shared_ptr<const V>> dropped;
    remove_from(shard_for(key), key, &dropped);
    if (large_entries_.load(std::memory_order_acquire) > 0) remove_from(large_, key, &dropped);
  }

  // Sum of the charges of cached entries.
  size_t usage() const {
    size_t total = 0;
    for (const auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s.mu);
      total += s.usage;
    }
    std::lock_guard<std::mutex> lock(large_.mu);
    return total + large_.usage;
  }
  size_t capacity() const { return capacity_; }
  size_t entries() const {
    size_t total = 0;
    for (const auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s.mu);
      total += s.map.size();
    }
    std::lock_guard<std::mutex> lock(large_.mu);
    return total + large_.map.size();
  }
  // Entries held by the large area (charge above one shard's share).
  size_t large_entries() const { return large_entries_.load(std::memory_order_acquire); }
  size_t num_shards() const { return shards_.size(); }

  void clear() {
    for (auto& s : shards_) clear_shard(s);
    clear_shard(large_);
    large_entries_.store(0, std::memory_order_release);
    large_usage_.store(0, std::memory_order_release);
  }

  // Entries evicted to make room (not counting erase(), replacement or clear()).
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  // insert() calls whose charge exceeded what the cache holds for one entry.
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    K key;
    std::shared_ptr<const V> value;
    size_t charge;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru;  // front = most recently used
    std::unordered_map<K, typename std::list<Entry>::iterator, Hash> map;
    size_t usage = 0;
    size_t capacity = 0;
  };

  static void clear_shard(Shard& s) {
    std::list<Entry> dropped;
    std::lock_guard<std::mutex> lock(s.mu);
    s.map.clear();
    dropped.swap(s.lru);
    s.usage = 0;
  }

  struct NoRecharge {
    size_t operator()(const V&) const { return 0; }
  };
  // The value of `key` in `s` (made most recently used), or nullptr. With a
  // `charge` function, the entry's charge becomes charge(value) and `s` is
  // trimmed if it grew past its limit (evicted values go to *dropped).
  template <class ChargeFn = NoRecharge>
  std::shared_ptr<const V> find_in(Shard& s, const K& key, ChargeFn* charge = nullptr,
                                   std::vector<std::shared_ptr<const V>>* dropped = nullptr,
                                   bool* changed = nullptr) {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return nullptr;
    hits_.fetch_add(1, std::memory_order_relaxed);
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    std::shared_ptr<const V> value = it->second->value;
    if (charge != nullptr) {
      const size_t now = (*charge)(*value);
      if (now != it->second->charge) {
        *changed = true;
        s.usage = s.usage - it->second->charge + now;
        it->second->charge = now;
        trim_locked(s, &s == &large_ ? large_.capacity : shard_limit(s), dropped);
        if (&s == &large_) {
          large_entries_.store(large_.map.size(), std::memory_order_release);
          large_usage_.store(large_.usage, std::memory_order_release);
        }
      }
    }
    return value;
  }

  // What shard `s` may hold now: its share less its part of the large area.
  size_t shard_limit(const Shard& s) const {
    const size_t n = shards_.size();
    const size_t taken = (large_usage_.load(std::memory_order_acquire) + n - 1) / n;
    return s.capacity > taken ? s.capacity - taken : 0;
  }

  void remove_locked(Shard& s, const K& key, std::vector<std::shared_ptr<const V>>* dropped) {
    auto it = s.map.find(key);
    if (it == s.map.end()) return;
    s.usage -= it->second->charge;
    dropped->push_back(std::move(it->second->value));
    s.lru.erase(it->second);
    s.map.erase(it);
  }

  void remove_from(Shard& s, const K& key, std::vector<std::shared_ptr<const V>>* dropped) {
    std::lock_guard<std::mutex> lock(s.mu);
    remove_locked(s, key, dropped);
    if (&s == &large_) {
      large_entries_.store(large_.map.size(), std::memory_order_release);
      large_usage_.store(large_.usage, std::memory_order_release);
    }
  }

  static void add_locked(Shard& s, const K& key, std::shared_ptr<const V> value, size_t charge) {
    s.lru.push_front(Entry{key, std::move(value), charge});
    s.map.emplace(key, s.lru.begin());
    s.usage += charge;
  }

  // Evicts least recently used entries of `s` until it holds at most `limit`
  // bytes, the most recently used entry excepted in the large area (it was
  // just admitted for its size).
  void trim_locked(Shard& s, size_t limit, std::vector<std::shared_ptr<const V>>* dropped) {
    const size_t keep = &s == &large_ ? 1 : 0;
    while (s.usage > limit && s.lru.size() > keep) {
      Entry& victim = s.lru.back();
      s.usage -= victim.charge;
      dropped->push_back(std::move(victim.value));
      s.map.erase(victim.key);
      s.lru.pop_back();
      evictions_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  Shard& shard_for(const K& key) {
    if (shard_bits_ == 0) return shards_[0];
    // std::hash of integers is the identity: mix before taking the top bits.
    uint64_t h = static_cast<uint64_t>(Hash{}(key));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return shards_[h >> (64 - shard_bits_)];
  }

  const size_t capacity_;
  const int shard_bits_;
  std::vector<Shard> shards_;
  Shard large_;  // entries above one shard's share, at most capacity / 2 bytes in all
  std::atomic<size_t> large_entries_{0};
  std::atomic<size_t> large_usage_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace sh::cache
