// CRC32C (Castagnoli), as used by segment format v1 (stored unmasked).
// Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sh::crc32c {

// Returns the CRC of `data` appended to a stream whose CRC so far is `crc`.
uint32_t extend(uint32_t crc, const char* data, size_t n);
inline uint32_t value(const char* data, size_t n) { return extend(0, data, n); }
inline uint32_t value(std::string_view s) { return extend(0, s.data(), s.size()); }

// The portable implementation, exposed so tests and benchmarks can compare.
uint32_t extend_portable(uint32_t crc, const char* data, size_t n);
// True when extend() uses the hardware instruction.
bool hardware_accelerated();

}  // namespace sh::crc32c
