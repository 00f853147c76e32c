#include "bench/read/bench_data.h"

#include <fmt/format.h>
#include <cstdio>
#include <string>

namespace sh::bench {

Record make_order_record(uint64_t offset, int64_t timestamp, std::mt19937_64& rng) {
  static constexpr const char* kUsers[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
  static constexpr const char* kCurrencies[] = {"EUR", "USD", "GBP", "JPY"};
  static constexpr const char* kCities[] = {"Lisbon", "Berlin", "Osaka", "Toronto", "Nairobi"};
  Record r;
  r.offset = offset;
  r.timestamp = timestamp;
  r.key = fmt::format("order-{}", offset);
  char trace[17];
  std::snprintf(trace, sizeof trace, "%016llx", static_cast<unsigned long long>(rng()));
  r.headers.push_back({"source", std::string("demo")});
  r.headers.push_back({"trace-id", std::string(trace)});
  char value[320];
  const int n = std::snprintf(
      value, sizeof value,
      R"({"order_id":%llu,"user":"%s","amount":%llu.%02llu,"currency":"%s","items":%llu,)"
      R"("shipping":{"street":"%llu Harbour Road","city":"%s","zip":"%05llu"},)"
      R"("tags":["express","gift"],"note":"leave at the door, ring twice"})",
      static_cast<unsigned long long>(offset), kUsers[rng() % 6],
      static_cast<unsigned long long>(rng() % 500), static_cast<unsigned long long>(rng() % 100),
      kCurrencies[rng() % 4], static_cast<unsigned long long>(1 + rng() % 5),
      static_cast<unsigned long long>(1 + rng() % 200), kCities[rng() % 5],
      static_cast<unsigned long long>(rng() % 100000));
  r.value = std::string(value, static_cast<size_t>(n));
  return r;
}

}  // namespace sh::bench
