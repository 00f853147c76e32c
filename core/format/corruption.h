// Corruption messages shared by the segment decoders (format.cc, block.cc).
// Internal to core/format: no public header includes it.
//
// Every message starts with the object name and says where the bad bytes are:
//   "orders/0/seg_…bin: footer at 1234: CRC mismatch (stored 0x…, computed 0x…)"
// Tests and tools match these texts (tests/unit/format/corruption_test.cc), so
// change them only together with the tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/result.h"

namespace sh::format::internal {

// kCorrupt "<object>: <where> at <pos>: <what>".
inline Error corrupt_at(std::string_view object, std::string_view where, uint64_t pos,
                        std::string_view what) {
  return corrupt(fmt::format("{}: {} at {}: {}", object, where, pos, what));
}

// "CRC mismatch (stored 0x0000abcd, computed 0x1234ef00)".
inline std::string crc_mismatch(uint32_t stored, uint32_t computed) {
  return fmt::format("CRC mismatch (stored 0x{:08x}, computed 0x{:08x})", stored, computed);
}

}  // namespace sh::format::internal
