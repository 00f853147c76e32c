// Synthetic records shaped like the demo "orders" topic: a short key, two
// headers and a ~200-byte JSON object as value (valid UTF-8, with quotes that
// format=string must escape).
#pragma once

#include <cstdint>
#include <random>

#include "core/format/record.h"

namespace sh::bench {

// Record number `n` at `offset`; deterministic for a given rng state.
Record make_order_record(uint64_t offset, int64_t timestamp, std::mt19937_64& rng);

}  // namespace sh::bench
