// LruCache: an in-memory LRU cache bounded by the sum of entry *charges* (bytes),
// split into 2^shard_bits shards, each with its own mutex, so concurrent readers
// of different keys rarely contend.
//
// Values are held as std::shared_ptr<const V>. A caller that holds the pointer
// returned by lookup()/insert() keeps the value alive ("pinned") while it uses it;
// eviction only drops the cache's own reference and never invalidates a value in use.
// Pinned values still count against capacity only while the cache holds them.
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
  // bytes; an entry whose charge exceeds that is never cached.
  explicit LruCache(size_t capacity_bytes, int shard_bits = 4)
      : capacity_(capacity_bytes),
        shard_bits_(shard_bits < 0 ? 0 : (shard_bits > 16 ? 16 : shard_bits)),
        shards_(size_t{1} << shard_bits_) {
    const size_t per_shard = capacity_ / shards_.size();
    for (auto& s : shards_) s.capacity = per_shard;
  }

  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // The cached value or nullptr. A hit makes the entry the most recently used.
  std::shared_ptr<const V> lookup(const K& key) {
    Shard& s = shard_for(key);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    hits_.fetch_add(1, std::memory_order_relaxed);
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return it->second->value;
  }

  // Inserts or replaces `key`. Evicts least recently used entries of the key's
  // shard until the shard is within its capacity. If `charge` alone exceeds the
  // shard capacity, the value is not cached (and any previous entry for `key`
  // is removed so a stale value is never served).
  // REQUIRES: value != nullptr.
  void insert(const K& key, std::shared_ptr<const V> value, size_t charge) {
    if (value == nullptr) return;
    Shard& s = shard_for(key);
    // Values released outside the lock: a value's destructor may be expensive.
    std::vector<std::shared_ptr<const V>> dropped;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      auto it = s.map.find(key);
      if (it != s.map.end()) {
        s.usage -= it->second->charge;
        dropped.push_back(std::move(it->second->value));
        s.lru.erase(it->second);
        s.map.erase(it);
      }
      if (charge > s.capacity) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      s.lru.push_front(Entry{key, std::move(value), charge});
      s.map.emplace(key, s.lru.begin());
      s.usage += charge;
      while (s.usage > s.capacity && !s.lru.empty()) {
        Entry& victim = s.lru.back();
        s.usage -= victim.charge;
        dropped.push_back(std::move(victim.value));
        s.map.erase(victim.key);
        s.lru.pop_back();
        evictions_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  void erase(const K& key) {
    Shard& s = shard_for(key);
    std::shared_ptr<const V> dropped;
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return;
    s.usage -= it->second->charge;
    dropped = std::move(it->second->value);
    s.lru.erase(it->second);
    s.map.erase(it);
  }

  // Sum of the charges of cached entries.
  size_t usage() const {
    size_t total = 0;
    for (const auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s.mu);
      total += s.usage;
    }
    return total;
  }
  size_t capacity() const { return capacity_; }
  size_t entries() const {
    size_t total = 0;
    for (const auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s.mu);
      total += s.map.size();
    }
    return total;
  }
  size_t num_shards() const { return shards_.size(); }

  void clear() {
    for (auto& s : shards_) {
      std::list<Entry> dropped;
      std::lock_guard<std::mutex> lock(s.mu);
      s.map.clear();
      dropped.swap(s.lru);
      s.usage = 0;
    }
  }

  // Entries evicted to make room (not counting erase(), replacement or clear()).
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  // insert() calls whose charge exceeded a shard's capacity.
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
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace sh::cache
