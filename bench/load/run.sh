#!/usr/bin/env bash
# End-to-end load run against a real `streamhouse serve` on 127.0.0.1, with its
# baseline in the same run (same server, same wrk settings):
#   (a) baseline  GET /healthz                     — the HTTP floor of this server
#   (b) records   GET /topics/orders/partitions/{0..2}/records?offset=<random>&max_records=100
#   (c) records   the same with max_records=1
# Offsets and partitions are drawn per request by a wrk Lua script. The three
# scenarios run interleaved in ROUNDS rounds (order rotated each round), so a
# change in background load hits all of them alike; per scenario the median
# over rounds of requests/s, latency p50 and p99 is printed with its ratio to
# the baseline, then the server's RSS (VmRSS, VmHWM) after start, after
# warm-up and at the end.
#
# Usage: bench/load/run.sh [BINARY]   (default build/release/service/streamhouse;
#        builds nothing — build the binary first)
# Env:   ROUNDS (default 3)  DURATION (s per scenario per round, default 4)  WARMUP (s, default 4)
#        CONNECTIONS (default 16)  WRK_THREADS (default 2)  SERVER_THREADS (default 4)
#        SERVER_ARGS (extra `serve` flags, word-split; e.g. "--index-ttl-ms 3600000")
# Needs: wrk, curl, ss. Creates the demo data set in a temp dir (removed at exit).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/release/service/streamhouse}
rounds=${ROUNDS:-3}
duration=${DURATION:-4}
warmup=${WARMUP:-4}
connections=${CONNECTIONS:-16}
wrk_threads=${WRK_THREADS:-2}
server_threads=${SERVER_THREADS:-4}
read -r -a server_args <<<"${SERVER_ARGS:-}"

for tool in wrk curl ss; do
  command -v "$tool" >/dev/null || { echo "run.sh: '$tool' is not installed" >&2; exit 2; }
done
[[ -x "$bin" ]] || { echo "run.sh: no executable at $bin (build it first)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/sh-load-XXXXXX)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

started=$(date +%s)
echo "== demo data (scripts/make-demo-data.sh) into $tmp/data"
"$root/scripts/make-demo-data.sh" "$bin" "$tmp/data"

# A free port: random, not listened on by anyone (checked with ss).
port=""
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 40000))
  if ! ss -Htln "sport = :$p" | grep -q .; then port=$p; break; fi
done
[[ -n "$port" ]] || { echo "run.sh: no free port found" >&2; exit 1; }
base="http://127.0.0.1:$port"

"$bin" serve --store "file://$tmp/data" --listen "127.0.0.1:$port" --threads "$server_threads" \
  --log-level warn "${server_args[@]}" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fs -o /dev/null "$base/healthz" && break
  kill -0 "$server_pid" 2>/dev/null || { echo "server exited:"; cat "$tmp/server.log"; exit 1; }
  sleep 0.1
done
curl -fs -o /dev/null "$base/healthz" || { echo "server not healthy"; cat "$tmp/server.log"; exit 1; }

rss() { # VmRSS and VmHWM of the server, in MiB
  awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {printf "VmRSS %.1f MiB  VmHWM %.1f MiB", r/1024, h/1024}' \
    "/proc/$server_pid/status"
}
rss_start=$(rss)

# Sanity: a records answer holds what was asked for.
n=$(curl -fs "$base/topics/orders/partitions/1/records?offset=123&max_records=100" |
  grep -o '"offset":' | wc -l)
[[ "$n" == 100 ]] || { echo "run.sh: expected 100 records from a sanity read, got $n" >&2; exit 1; }

# Lua: SH_MODE=healthz | records; SH_MAX_RECORDS; prints one RESULT line in done().
cat >"$tmp/load.lua" <<'LUA'
local mode = os.getenv("SH_MODE") or "healthz"
local max_records = tonumber(os.getenv("SH_MAX_RECORDS") or "100")
local records_per_partition = 40000  -- scripts/make-demo-data.sh: orders 3 x 40,000
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  end
  local p = math.random(0, 2)
  local o = math.random(0, records_per_partition - max_records)
  return wrk.format("GET", "/topics/orders/partitions/" .. p .. "/records?offset=" .. o ..
                    "&max_records=" .. max_records)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d requests=%d bytes=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.requests, summary.bytes, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

run_wrk() { # mode max_records seconds -> RESULT line
  SH_MODE=$1 SH_MAX_RECORDS=$2 wrk -t "$wrk_threads" -c "$connections" -d "${3}s" --latency \
    -s "$tmp/load.lua" "$base" | grep '^RESULT'
}

echo "== warm-up ${warmup}s (records, max_records=100)"
run_wrk records 100 "$warmup" >/dev/null
rss_warm=$(rss)

echo "== load: $rounds rounds x ${duration}s per scenario, wrk -t$wrk_threads -c$connections," \
  "server --threads $server_threads ${server_args[*]}"
scenarios=(healthz records100 records1)
declare -A result
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < 3; k++)); do
    s=${scenarios[$(((k + r) % 3))]}
    case $s in
      healthz) line=$(run_wrk healthz 0 "$duration") ;;
      records100) line=$(run_wrk records 100 "$duration") ;;
      records1) line=$(run_wrk records 1 "$duration") ;;
    esac
    if ! grep -q ' non2xx=0 errors=0$' <<<"$line"; then
      echo "run.sh: scenario $s had failed requests: $line" >&2
      exit 1
    fi
    result[$s]+="$line"$'\n'
  done
done
rss_end=$(rss)

field() { # scenario name -> median over rounds
  sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"${result[$1]}" | sort -g |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

echo
printf '%-44s %12s %10s %10s %11s %11s %11s\n' scenario "req/s" "p50" "p99" "req/s÷base" "p50÷base" "p99÷base"
base_rps=$(field healthz rps)
base_p50=$(field healthz p50_us)
base_p99=$(field healthz p99_us)
row() { # label scenario
  awk -v l="$1" -v r="$(field "$2" rps)" -v p50="$(field "$2" p50_us)" -v p99="$(field "$2" p99_us)" \
      -v br="$base_rps" -v b50="$base_p50" -v b99="$base_p99" 'BEGIN {
    printf "%-44s %12.0f %8.2fms %8.2fms %10.3fx %10.2fx %10.2fx\n",
      l, r, p50/1000, p99/1000, r/br, p50/b50, p99/b99 }'
}
row "(a) baseline GET /healthz" healthz
row "(b) GET records max_records=100 (orders/0..2)" records100
row "(c) GET records max_records=1   (orders/0..2)" records1
awk -v b="$(field records100 bytes)" -v n="$(field records100 requests)" \
  'BEGIN { if (n > 0) printf "(b) mean response size: %.0f bytes\n", b / n }'
echo "per round (req/s): healthz $(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"${result[healthz]}" | tr '\n' ' ')|" \
  "records100 $(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"${result[records100]}" | tr '\n' ' ')|" \
  "records1 $(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"${result[records1]}" | tr '\n' ' ')"
echo
echo "server RSS after start:   $rss_start"
echo "server RSS after warm-up: $rss_warm"
echo "server RSS at the end:    $rss_end"
echo "total wall time: $(($(date +%s) - started)) s"
