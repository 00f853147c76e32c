#!/usr/bin/env bash
# Load and soak (issue 9): a mix of warm fetches, cold reads (block cache far
# smaller than the data, so they decode again), long-polls, bounded and follow
# NDJSON streams and consumer-group commits, at SOAK_FRACTION (80%) of the
# capacity measured first, for SOAK_SECONDS. Fails (exit 1, says why) on any
# error, on RSS / fd / thread growth after warm-up, or on a p99 that grows.
#
#   1. builds the data with `streamhouse segment write` (local directory store)
#      and bench/soak/loadgen.cc with g++ (a few seconds)
#   2. starts `streamhouse serve` on core SERVER_CORE (taskset)
#   3. capacity: closed loop, CAP_CONCURRENCY busy requests in flight, CAP_SECONDS
#      (after 2 s of warm-up); the load generator on core CLIENT_CORE
#   4. soak: open loop at SOAK_FRACTION x capacity; bench/soak/soak.py samples the
#      server's VmRSS, fds (sockets / other) and threads every SAMPLE_SECONDS; the
#      generator writes per-interval p99 and error counts
#   5. after the load: fds and threads again, then the criteria (bench/README.md)
#      and the summary in bench/soak/last-run.md (also printed)
#
# Usage: bench/soak.sh [BINARY]   (default build/release/service/streamhouse; builds
#        nothing of the project — build the binary first)
# Env:   SOAK_SECONDS (600; CI 120)  SOAK_FRACTION (0.8)  SAMPLE_SECONDS (5)
#        CAP_SECONDS (8)  CAP_CONCURRENCY (16)  BLOCK_CACHE_BYTES (8 MiB)
#        SERVER_CORE (1)  CLIENT_CORE (0)  RSS_SLACK_MIB (32)  RSS_TREND_MIB (4)  FD_SLACK (2)
#        THREAD_SLACK (0)  P99_FLOOR_MS (200)  P99_COMMIT_FLOOR_MS (500)  SOAK_MD (bench/soak/last-run.md)
#        MIX (warm=45,cold=30,poll=6,stream=8,follow=4,commit=3)  KEEP_TMP=1 keeps the temp dir
# Needs: g++, curl, taskset, python3, ss.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
bin=${1:-$root/build/release/service/streamhouse}
soak_seconds=${SOAK_SECONDS:-600}
fraction=${SOAK_FRACTION:-0.8}
sample_seconds=${SAMPLE_SECONDS:-5}
cap_seconds=${CAP_SECONDS:-8}
cap_conc=${CAP_CONCURRENCY:-16}
block_cache=${BLOCK_CACHE_BYTES:-8388608}
server_core=${SERVER_CORE:-1}
client_core=${CLIENT_CORE:-0}
mix=${MIX:-warm=45,cold=30,poll=6,stream=8,follow=4,commit=3}
md=${SOAK_MD:-$root/bench/soak/last-run.md}
warm_records=5000 cold_parts=4 cold_records=100000
max_records=100 stream_records=500 poll_timeout_ms=500 follow_ms=1000 groups=32
py=/usr/bin/python3
soakpy=$root/bench/soak/soak.py

need_tools soak.sh g++ curl taskset ss
[[ -x "$bin" ]] || { echo "soak.sh: no executable at $bin (build it first)" >&2; exit 2; }
# warm-up: the first quarter of the run (caches fill); the rest is cut in thirds
warmup=$((soak_seconds / 4))
((soak_seconds >= 60)) || { echo "soak.sh: SOAK_SECONDS must be >= 60" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d /tmp/sh-soak-XXXXXX)
server_pid="" sampler_pid=""
cleanup() {
  stop_pid "$sampler_pid"
  stop_pid "$server_pid"
  if [[ -n "${KEEP_TMP:-}" ]]; then echo "soak.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== soak: $soak_seconds s at $fraction of capacity; binary $bin; load average $load_start"

echo "== load generator and data into $tmp"
g++ -std=c++20 -O2 -Wall -Wextra -Werror -o "$tmp/loadgen" "$root/bench/soak/loadgen.cc"
gen() {  # gen COUNT PARTITION: records shaped like the demo orders (~230 B JSON values)
  awk -v n="$1" -v p="$2" 'BEGIN { for (i = 0; i < n; i++)
    printf("{\"key\":\"order-%d\",\"timestamp\":%.0f,\"headers\":{\"source\":\"soak\",\"p\":\"%d\"},\"value\":{\"order_id\":%d,\"user\":\"u%d\",\"items\":[{\"sku\":\"sku-%d\",\"qty\":%d}],\"note\":\"%s\"}}\n",
      i, 1767225600000 + i, p, i, i % 997, i % 101, 1 + i % 7, "some payload text of a typical order event, padded a little") }'
}
store="file://$tmp/data"
gen "$warm_records" 0 | "$bin" segment write --store "$store" --topic warm --partition 0 \
  --segment-records "$warm_records" --block-bytes 65536 >/dev/null
for ((p = 0; p < cold_parts; ++p)); do
  gen "$cold_records" "$p" | "$bin" segment write --store "$store" --topic cold --partition "$p" \
    --segment-records 20000 --block-bytes 65536 >/dev/null
done
data_desc="topic warm 1 partition x $warm_records records (reads in its first 2000 offsets: stays in the block cache); topic cold $cold_parts partitions x $cold_records records, 20000-record segments, 64 KiB LZ4 blocks, $(du -sm "$tmp/data/cold" | cut -f1) MB stored; block cache $((block_cache / 1048576)) MiB"

port=$(free_port)
base="http://127.0.0.1:$port"
server_args="--block-cache-bytes $block_cache --max-connections 4096 --max-connections-per-ip 0 --log-level warn"
# shellcheck disable=SC2086
taskset -c "$server_core" "$bin" serve --store "$store" --listen "127.0.0.1:$port" $server_args \
  >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$base/healthz" >/dev/null || { echo "soak.sh: server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }

lg_args=(--port "$port" --mix "$mix" --warm-topic warm --warm-parts 1 --warm-records "$warm_records"
  --warm-window 2000 --cold-topic cold --cold-parts "$cold_parts" --cold-records "$cold_records"
  --max-records "$max_records" --stream-records "$stream_records" --poll-timeout-ms "$poll_timeout_ms"
  --follow-ms "$follow_ms" --groups "$groups")
echo "== capacity: closed loop, $cap_conc busy requests in flight, 2 + $cap_seconds s"
taskset -c "$client_core" "$tmp/loadgen" "${lg_args[@]}" --mode closed --concurrency "$cap_conc" \
  --seconds $((cap_seconds + 2)) --interval-ms 1000 --out "$tmp/capacity.jsonl" >/dev/null
cap_err=$($py -c "import json,sys; print(sum(json.loads(l).get('err',0) for l in open(sys.argv[1]) if '\"summary\"' in l))" "$tmp/capacity.jsonl")
[[ "$cap_err" == 0 ]] || { echo "soak.sh: $cap_err error(s) already in the capacity run:" >&2; grep -o '"errors":{[^}]*}' "$tmp/capacity.jsonl" | sort | uniq -c >&2; exit 1; }
capacity=$($py "$soakpy" capacity "$tmp/capacity.jsonl" 2)
rate=$($py -c "print(f'{float(\"$capacity\") * float(\"$fraction\"):.1f}')")
echo "capacity $capacity req/s -> soak at $rate req/s"

sleep 2  # connections of the capacity run are gone
pre=$($py "$soakpy" proc "$server_pid")
metric() { curl -sf "$base/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
bh0=$(metric 'streamhouse_cache_hits_total{cache="block"}')
bm0=$(metric 'streamhouse_cache_misses_total{cache="block"}')

echo "== soak: open loop at $rate req/s for $soak_seconds s (samples every $sample_seconds s)"
$py "$soakpy" sample "$server_pid" "$tmp/samples.jsonl" "$sample_seconds" &
sampler_pid=$!
taskset -c "$client_core" "$tmp/loadgen" "${lg_args[@]}" --mode open --rate "$rate" --seconds "$soak_seconds" \
  --interval-ms $((sample_seconds * 1000)) --out "$tmp/soak.jsonl"
stop_pid "$sampler_pid"
sampler_pid=""
bh1=$(metric 'streamhouse_cache_hits_total{cache="block"}')
bm1=$(metric 'streamhouse_cache_misses_total{cache="block"}')
# fds and threads after the load: every connection closed by the client must be
# closed by the server too; libmicrohttpd may keep one until --connection-timeout-s
# (15 s), so wait up to 25 s for the fds to come back before calling it a leak
# (the listening socket is the only one left then; other fds as before the soak)
pre_other=$($py -c "import json,sys; print(json.loads(sys.argv[1])['fd_other'])" "$pre")
post_wait=0 post_states=""
while :; do
  sleep 1
  post_wait=$((post_wait + 1))
  post=$($py "$soakpy" proc "$server_pid")
  read -r post_sockets post_other < <($py -c "import json,sys; j=json.loads(sys.argv[1]); print(j['fd_sockets'], j['fd_other'])" "$post")
  [[ -z "$post_states" ]] && post_states=$(ss -Htan "sport = :$port" | awk '{print $1}' | sort | uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep=", "}')
  ((post_sockets <= 1 + ${FD_SLACK:-2} && post_other <= pre_other + ${FD_SLACK:-2} || post_wait >= 25)) && break
done
kill -0 "$server_pid" 2>/dev/null || { echo "soak.sh: the server died" >&2; cat "$tmp/server.log" >&2; exit 1; }

log_errors=$(grep -cE '\] \[(error|critical)\] ' "$tmp/server.log" || true)
log_warnings=$(grep -cE '\] \[warning\] ' "$tmp/server.log" || true)
if ((log_errors > 0)); then
  echo "== server log: $log_errors error line(s), the first ones:" >&2
  grep -E '\] \[(error|critical)\] ' "$tmp/server.log" | sed 20q >&2 || true
fi
cat >"$tmp/report.json" <<EOF
{"loadgen": "$tmp/soak.jsonl", "samples": "$tmp/samples.jsonl", "md": "$md",
 "soak_seconds": $soak_seconds, "warmup_seconds": $warmup,
 "rate": $rate, "capacity": $capacity, "fraction": $fraction, "cap_seconds": $cap_seconds,
 "cap_concurrency": $cap_conc, "rss_slack_mib": ${RSS_SLACK_MIB:-32}, "rss_trend_mib": ${RSS_TREND_MIB:-4}, "fd_slack": ${FD_SLACK:-2},
 "thread_slack": ${THREAD_SLACK:-0}, "p99_floor_ms": ${P99_FLOOR_MS:-200},
 "p99_commit_floor_ms": ${P99_COMMIT_FLOOR_MS:-500}, "poll_timeout_ms": $poll_timeout_ms,
 "pre": $pre, "post": $post, "post_wait": $post_wait, "post_states": "$post_states",
 "block_cache": {"hits": $((${bh1%.*} - ${bh0%.*})), "misses": $((${bm1%.*} - ${bm0%.*}))},
 "binary": "$bin", "started": "$started", "loadavg_start": "$load_start",
 "loadavg_end": "$(cut -d' ' -f1-3 /proc/loadavg)", "server_core": $server_core, "client_core": $client_core,
 "server_args": "serve --store file://… $server_args", "data": "$data_desc", "mix": "$mix",
 "log_errors": $log_errors, "log_warnings": $log_warnings,
 "log_warning_kinds": $(grep -E '\] \[warning\] ' "$tmp/server.log" | sed -E 's/^\[[^]]*\] \[[^]]*\] \[warning\] //' | sort | uniq -c | sort -rn | sed 5q | $py -c 'import json,sys; print(json.dumps([l.strip() for l in sys.stdin]))'),
 "max_records": $max_records, "stream_records": $stream_records, "follow_ms": $follow_ms, "groups": $groups}
EOF
mkdir -p "$(dirname "$md")"
$py "$soakpy" report "$tmp/report.json"
