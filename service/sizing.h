// How serve divides what its flags grant: the memory of --block-cache-bytes
// between decoded blocks and the read-ahead buffer, and the HTTP worker count.
#pragma once

#include <cstdint>

namespace sh::service {

struct BlockMemory {
  uint64_t decoded_cache_bytes;   // the decoded-block LRU
  uint64_t readahead_buffer_bytes;  // stored bytes prefetched or in flight
};

// One flag bounds the memory for blocks: with read-ahead on, the read-ahead
// buffer takes a quarter of it (at most 64 MiB) and the decoded cache the rest;
// with read-ahead off (readahead_max_bytes 0), the cache takes it all.
BlockMemory split_block_memory(uint64_t block_cache_bytes, uint64_t readahead_max_bytes);

// --threads: `flag` if set, else one per CPU core the process may run on (its
// affinity mask). HTTP workers never block, so more than one per core only take
// turns on it: with the server pinned to one core, 4 workers answered warm reads
// at 15.6k req/s with a p99 of 9.6 ms, one at 22.7k req/s and 2.1 ms
// (bench/warm, bench/RESULTS.md).
unsigned http_worker_threads(unsigned flag);

}  // namespace sh::service
