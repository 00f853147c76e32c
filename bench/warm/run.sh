#!/usr/bin/env bash
# Warm fetch against nginx serving the identical response bytes (issue
# "consume", benchmark 1), in one run:
#   (a) service  GET /topics/orders/partitions/<p>/records?offset=<o>&max_records=100
#                at PATHS pre-drawn random offsets, every block already cached
#   (b) nginx    (Debian package, unprivileged prefix, 1 worker) serving, for
#                each of those requests, a file holding exactly the body (a)
#                answers, at /r/<i>.json
# Both servers are pinned to SERVER_CORE, wrk (-t1 -cCONNECTIONS) to
# CLIENT_CORE (taskset). Each wrk request picks one of the PATHS at random.
# The two scenarios alternate for ROUNDS rounds (order swapped each round);
# per scenario the median requests/s and p50/p99 latency over rounds are
# printed, with the ratio service/nginx. With GZIP=1 a third scenario asks the
# service with Accept-Encoding: gzip (its CPU cost shows as the ratio to (a)).
#
# Usage: bench/warm/run.sh [BINARY]   (default build/release/service/streamhouse;
#        builds nothing — build the binary first)
# Env:   ROUNDS (default 5)  DURATION (s per scenario per round, default 5)
#        CONNECTIONS (default 16)  PATHS (default 1000)  SERVER_THREADS (default:
#        the binary's default)  SERVER_CORE (1)  CLIENT_CORE (0)  GZIP (0)
#        NICE (default 0; e.g. -15 as root runs servers and wrk ahead of other
#        work on a shared machine — a 1-worker nginx otherwise loses CPU share
#        against a many-threaded server under foreign load)
# Needs: nginx, wrk, curl, taskset, ss.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
bin=${1:-$root/build/release/service/streamhouse}
rounds=${ROUNDS:-5}
duration=${DURATION:-5}
connections=${CONNECTIONS:-16}
npaths=${PATHS:-1000}
server_core=${SERVER_CORE:-1}
client_core=${CLIENT_CORE:-0}
gzip=${GZIP:-0}
pin=(nice -n "${NICE:-0}" taskset -c)  # pin CORE COMMAND...: one process, exec'd (so $! is it)
nginx=$(command -v nginx || echo /usr/sbin/nginx)
thread_args=()
[[ -n "${SERVER_THREADS:-}" ]] && thread_args=(--threads "$SERVER_THREADS")

need_tools run.sh wrk curl taskset ss
[[ -x "$nginx" ]] || { echo "run.sh: nginx is not installed" >&2; exit 2; }
[[ -x "$bin" ]] || { echo "run.sh: no executable at $bin (build it first)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/sh-warm-bench-XXXXXX)
chmod 755 "$tmp"  # nginx workers (user nobody when started as root) read $tmp/www
server_pid=""
nginx_pid=""
cleanup() {
  stop_pid "$server_pid"
  stop_pid "$nginx_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT


echo "== demo data (scripts/make-demo-data.sh) into $tmp/data"
"$root/scripts/make-demo-data.sh" "$bin" "$tmp/data" >/dev/null

port=$(free_port)
base="http://127.0.0.1:$port"
"${pin[@]}" "$server_core" "$bin" serve --store "file://$tmp/data" --listen "127.0.0.1:$port" \
  --log-level warn --index-ttl-ms 3600000 "${thread_args[@]}" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$base/healthz" >/dev/null || { echo "run.sh: server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }
threads=$(awk '/^Threads:/ {print $2}' "/proc/$server_pid/status")

# PATHS random requests; each body saved for nginx (this also warms every block).
mkdir -p "$tmp/www/r"
chmod -R 755 "$tmp/www"
: >"$tmp/service.paths"
: >"$tmp/nginx.paths"
RANDOM=42
for ((i = 0; i < npaths; i++)); do
  p=$((RANDOM % 3))
  o=$(((RANDOM * 32768 + RANDOM) % (40000 - 100)))  # make-demo-data: orders 3 x 40,000
  path="/topics/orders/partitions/$p/records?offset=$o&max_records=100"
  echo "$path" >>"$tmp/service.paths"
  echo "/r/$i.json" >>"$tmp/nginx.paths"
  curl -sf -o "$tmp/www/r/$i.json" "$base$path"
done
# Warm check: the second fetch of every path is byte-identical to the first.
for i in 0 1 2 $((npaths - 1)); do
  cmp -s <(curl -sf "$base$(sed -n "$((i + 1))p" "$tmp/service.paths")") "$tmp/www/r/$i.json" ||
    { echo "run.sh: the service answered path $i differently twice" >&2; exit 1; }
done
body_bytes=$(cat "$tmp/www/r/"*.json | wc -c)

nport=$(free_port)
nginx_conf "$tmp/nginx" "$nport" "$tmp/www" 1024 "  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  open_file_cache max=$((npaths * 2)) inactive=60s;
  types { application/json json; }"
"${pin[@]}" "$server_core" "$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" &
nginx_pid=$!
nbase="http://127.0.0.1:$nport"
for _ in $(seq 100); do curl -sf -o /dev/null "$nbase/r/0.json" && break; sleep 0.1; done
cmp -s <(curl -sf "$nbase/r/7.json") "$tmp/www/r/7.json" || {
  echo "run.sh: nginx does not serve the same bytes" >&2; cat "$tmp/nginx/logs/error.log" >&2; exit 1; }

cat >"$tmp/load.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("SH_PATHS")) do paths[#paths + 1] = line end
local gz = os.getenv("SH_GZIP") == "1"
function init(args) math.randomseed(os.time()) end
function request()
  local h = gz and { ["Accept-Encoding"] = "gzip" } or nil
  return wrk.format("GET", paths[math.random(#paths)], h)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d requests=%d bytes=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.requests, summary.bytes, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

run_wrk() { # base paths-file gzip -> RESULT line
  SH_PATHS=$2 SH_GZIP=$3 "${pin[@]}" "$client_core" wrk -t1 -c "$connections" -d "${duration}s" \
    --latency -s "$tmp/load.lua" "$1" | grep '^RESULT'
}

scenarios=(service nginx)
[[ "$gzip" == 1 ]] && scenarios+=(service_gzip)
declare -A result
echo "== warm-up 3 s each"
DURATION_SAVE=$duration; duration=3
run_wrk "$base" "$tmp/service.paths" 0 >/dev/null
run_wrk "$nbase" "$tmp/nginx.paths" 0 >/dev/null
duration=$DURATION_SAVE
n=${#scenarios[@]}
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < n; k++)); do
    s=${scenarios[$(((k + r) % n))]}
    case $s in
      service) line=$(run_wrk "$base" "$tmp/service.paths" 0) ;;
      nginx) line=$(run_wrk "$nbase" "$tmp/nginx.paths" 0) ;;
      service_gzip) line=$(run_wrk "$base" "$tmp/service.paths" 1) ;;
    esac
    grep -q ' non2xx=0 errors=0$' <<<"$line" || { echo "run.sh: $s had failed requests: $line" >&2; exit 1; }
    echo "round $((r + 1)) $s: $line"
    result[$s]+="$line"$'\n'
  done
done

field() { # scenario name -> median over rounds
  sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"${result[$1]}" | sort -g |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
echo
echo "== warm fetch: $npaths paths, $((body_bytes / npaths)) body bytes on average, wrk -t1 -c$connections," \
  "${rounds}x${duration}s, server threads $threads (core $server_core), wrk on core $client_core"
printf '%-14s %10s %9s %9s %10s\n' "" "req/s" "p50 ms" "p99 ms" "vs nginx"
nginx_rps=$(field nginx rps)
for s in "${scenarios[@]}"; do
  awk -v s="$s" -v r="$(field "$s" rps)" -v p50="$(field "$s" p50_us)" -v p99="$(field "$s" p99_us)" \
    -v n="$nginx_rps" 'BEGIN { printf "%-14s %10.0f %9.2f %9.2f %10.3f\n", s, r, p50 / 1000, p99 / 1000, r / n }'
done
grep -E '^(VmRSS|VmHWM)' "/proc/$server_pid/status" | tr -s ' \t' ' ' | paste -sd' ' | sed 's/^/server /'
