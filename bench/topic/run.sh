#!/usr/bin/env bash
# Topic-wide poll benchmark (issue "Consume", benchmark 4): a consumer group
# reads a whole 6-partition topic and commits after every poll, (a) with one
# GET /topics/{t}/records per poll (600 records over the 6 partitions) and (b)
# with 6 single-partition polls of 100 records each, then one commit. Same
# server, same data, rounds alternating; the server on core 1, the client on
# core 0. Both modes must read the same records exactly once (checksum).
#
# Usage: bench/topic/run.sh [BINARY]     (default build/release/service/streamhouse)
# Env:   ROUNDS (default 5)  RECORDS (per partition, default 20000)  PARTITIONS (6)  N (100)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/release/service/streamhouse}
rounds=${ROUNDS:-5}
records=${RECORDS:-20000}
parts=${PARTITIONS:-6}
n=${N:-100}
[[ -x "$bin" ]] || { echo "run.sh: no executable at $bin (build it first)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/sh-topic-XXXXXX)
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

for ((p = 0; p < parts; ++p)); do
  awk -v n="$records" -v p="$p" 'BEGIN { for (i = 0; i < n; i++)
    printf("{\"key\":\"k-%d\",\"value\":{\"partition\":%d,\"i\":%d,\"note\":\"%s\"}}\n", i, p, i, "some payload text of a typical event") }' |
    "$bin" segment write --store "file://$tmp/data" --topic events --partition "$p" --segment-records 5000 >/dev/null
done
port=$((20000 + RANDOM % 20000))
taskset -c 1 "$bin" serve --store "file://$tmp/data" --listen "127.0.0.1:$port" --log-level warn &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done

declare -a topic_s single_s
for ((r = 0; r < rounds; ++r)); do
  order=(topic single); ((r % 2)) && order=(single topic)
  for mode in "${order[@]}"; do
    line=$(taskset -c 0 /usr/bin/python3 "$root/bench/topic/poll.py" "http://127.0.0.1:$port" events "$parts" "$n" "$mode" "g-$mode-$r")
    echo "round $r: $line"
    secs=$(/usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['seconds'])" "$line")
    if [[ $mode == topic ]]; then topic_s+=("$secs"); topic_line=$line; else single_s+=("$secs"); single_line=$line; fi
  done
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mt=$(med "${topic_s[@]}"); ms=$(med "${single_s[@]}")
/usr/bin/python3 - "$topic_line" "$single_line" "$mt" "$ms" <<'PY'
import json, sys
t, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
mt, ms = float(sys.argv[3]), float(sys.argv[4])
assert t["records"] == s["records"] and t["checksum"] == s["checksum"], "the two modes read different records"
print(f"| mode | median s | records | HTTP round trips |")
print(f"|---|---:|---:|---:|")
print(f"| one topic poll (600 records) + commit | {mt:.3f} | {t['records']} | {t['round_trips']} |")
print(f"| 6 partition polls (100 each) + commit | {ms:.3f} | {s['records']} | {s['round_trips']} |")
print(f"topic poll time / 6 polls time = {mt / ms:.2f}; round trips {t['round_trips'] / s['round_trips']:.2f}x; same records (checksum {t['checksum']})")
PY
