#!/usr/bin/env bash
# Writes the demo data set with `streamhouse segment write`:
#   orders  3 partitions x 40,000 records  (JSON values, keys, headers)
#   clicks  2 partitions x 30,000 records
#   audit   1 partition  x 10,000 records  (some tombstones, non-UTF-8 keys)
# Usage: scripts/make-demo-data.sh BINARY DATA_DIR
set -euo pipefail
bin=$1
dir=$2
mkdir -p "$dir"

gen() { # topic partition count
  awk -v topic="$1" -v part="$2" -v n="$3" 'BEGIN {
    srand(part * 7919 + length(topic));
    t0 = 1767225600000 + part * 1000;   # 2026-01-01T00:00:00Z
    split("alice bob carol dave erin frank grace heidi", users, " ");
    split("EUR USD GBP JPY", ccy, " ");
    for (i = 0; i < n; i++) {
      ts = t0 + i * 250 + int(rand() * 100);
      u = users[1 + i % 8];
      if (topic == "orders") {
        printf("{\"key\":\"order-%d\",\"timestamp\":%.0f,\"headers\":{\"source\":\"demo\",\"trace-id\":\"%08x\"},\"value\":{\"order_id\":%d,\"user\":\"%s\",\"amount\":%.2f,\"currency\":\"%s\",\"items\":%d}}\n",
             part * 1000000 + i, ts, int(rand() * 2147483647), part * 1000000 + i, u, rand() * 500, ccy[1 + i % 4], 1 + i % 5);
      } else if (topic == "clicks") {
        printf("{\"key\":\"%s\",\"timestamp\":%.0f,\"headers\":[{\"key\":\"ua\",\"value\":\"demo-browser/1.0\"}],\"value\":{\"page\":\"/products/%d\",\"user\":\"%s\",\"ms\":%d}}\n",
             u, ts, i % 250, u, int(rand() * 3000));
      } else {
        if (i % 10 == 9) {
          printf("{\"key\":\"user-%d\",\"timestamp\":%.0f,\"value\":null}\n", i % 100, ts);
        } else if (i % 25 == 0) {
          printf("{\"key\":\"/w==\",\"key_encoding\":\"base64\",\"timestamp\":%.0f,\"value\":\"binary key record %d\"}\n", ts, i);
        } else {
          printf("{\"key\":\"user-%d\",\"timestamp\":%.0f,\"headers\":{\"actor\":\"%s\"},\"value\":\"login from 10.0.%d.%d\"}\n",
               i % 100, ts, u, i % 256, (i * 7) % 256);
        }
      }
    }
  }'
}

write() { # topic partition count segment_records
  gen "$1" "$2" "$3" | "$bin" segment write --store "file://$dir" --topic "$1" --partition "$2" \
    --segment-records "$4" --block-bytes 65536 >/dev/null
}

for p in 0 1 2; do write orders "$p" 40000 10000; done
for p in 0 1; do write clicks "$p" 30000 8000; done
write audit 0 10000 2500
