#include "service/sizing.h"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace sh::service {

BlockMemory split_block_memory(uint64_t block_cache_bytes, uint64_t readahead_max_bytes) {
  const uint64_t readahead =
      readahead_max_bytes == 0 ? 0 : std::min<uint64_t>(block_cache_bytes / 4, uint64_t{64} << 20);
  return BlockMemory{block_cache_bytes - readahead, readahead};
}

unsigned http_worker_threads(unsigned flag) {
  if (flag != 0) return flag;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::clamp(CPU_COUNT(&set), 1, 256));
}

}  // namespace sh::service
