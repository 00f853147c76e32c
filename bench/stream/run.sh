#!/usr/bin/env bash
# NDJSON record stream throughput, with its baseline in the same run:
#   (a) baseline  nginx (Debian package, unprivileged, own prefix on 127.0.0.1)
#                 serving a static file holding exactly the bytes of (b)
#   (b) stream    GET /topics/bench/partitions/0/records/stream of RECORDS records
# Both servers are pinned to core 1 and curl to core 0 (taskset). The two
# scenarios alternate for ROUNDS rounds (order swapped each round); per scenario
# the median records/s over rounds is printed with the ratio stream/nginx, and
# the server's RSS (VmRSS, VmHWM) at the end.
#
# Usage: bench/stream/run.sh [BINARY]   (default build/release/service/streamhouse;
#        builds nothing — build the binary first)
# Env:   RECORDS (default 1000000)  ROUNDS (default 5)  VALUE_BYTES (default 100)
#        SERVER_CORE (default 1)  CLIENT_CORE (default 0)
#        BLOCK_CACHE_BYTES (default 1 GiB: "warm" means every block and its NDJSON
#        encoding stay cached — 1M records hold ~0.4 GB of both)
#        NICE (default 0; e.g. -15 as root puts servers and curl ahead of other work)
# Needs: nginx, curl, taskset, python3, ss.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
bin=${1:-$root/build/release/service/streamhouse}
records=${RECORDS:-1000000}
rounds=${ROUNDS:-5}
value_bytes=${VALUE_BYTES:-100}
server_core=${SERVER_CORE:-1}
client_core=${CLIENT_CORE:-0}
block_cache=${BLOCK_CACHE_BYTES:-1073741824}
pin=(nice -n "${NICE:-0}" taskset -c)  # pin CORE COMMAND...
nginx=$(command -v nginx || echo /usr/sbin/nginx)

need_tools run.sh curl taskset python3 ss
[[ -x "$nginx" ]] || { echo "run.sh: nginx is not installed" >&2; exit 2; }
[[ -x "$bin" ]] || { echo "run.sh: no executable at $bin (build it first)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/sh-stream-bench-XXXXXX)
chmod 755 "$tmp"  # nginx workers (user nobody when started as root) read $tmp/www
server_pid=""
nginx_pid=""
cleanup() {
  stop_pid "$server_pid"
  stop_pid "$nginx_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT


echo "== $records records (value ${value_bytes} B) into $tmp/data"
python3 - "$records" "$value_bytes" >"$tmp/input.jsonl" <<'EOF'
import json, sys
n, vb = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
for i in range(n):
    v = ('{"order_id":%d,"user":"u%d","note":"' % (i, i % 97))
    v += 'x' * max(0, vb - len(v) - 2) + '"}'
    out.write(json.dumps({"key": "order-%d" % i, "timestamp": 1767225600000 + i,
                          "headers": {"source": "bench"}, "value": v}) + "\n")
EOF
"$bin" segment write --store "file://$tmp/data" --topic bench --partition 0 \
  --segment-records 100000 <"$tmp/input.jsonl" >/dev/null
rm -f "$tmp/input.jsonl"

port=$(free_port)
base="http://127.0.0.1:$port"
"${pin[@]}" "$server_core" "$bin" serve --store "file://$tmp/data" --listen "127.0.0.1:$port" \
  --block-cache-bytes "$block_cache" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$base/healthz" >/dev/null || { echo "run.sh: server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }

url="$base/topics/bench/partitions/0/records/stream?offset=0"
mkdir -p "$tmp/www"
chmod 755 "$tmp/www"
echo "== reference body: $url"
"${pin[@]}" "$client_core" curl -sf -o "$tmp/www/stream.ndjson" "$url"
lines=$(wc -l <"$tmp/www/stream.ndjson")
want=$((records + 1))
[[ "$lines" -eq "$want" ]] || { echo "run.sh: stream has $lines lines, want $want" >&2; exit 1; }
tail -1 "$tmp/www/stream.ndjson"
bytes=$(stat -c %s "$tmp/www/stream.ndjson")

nport=$(free_port)
nginx_conf "$tmp/nginx" "$nport" "$tmp/www" 64 "  sendfile on;
  tcp_nopush on;
  types { application/x-ndjson ndjson; }"
"${pin[@]}" "$server_core" "$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" &
nginx_pid=$!
nurl="http://127.0.0.1:$nport/stream.ndjson"
for _ in $(seq 100); do curl -sf -o /dev/null "$nurl" && break; sleep 0.1; done
cmp -s <(curl -sf "$nurl") "$tmp/www/stream.ndjson" || {
  echo "run.sh: nginx does not serve the same bytes" >&2; cat "$tmp/nginx/logs/error.log" >&2; exit 1; }

# One timed GET; prints seconds.
fetch() {
  local got
  got=$("${pin[@]}" "$client_core" curl -sf -o /dev/null -w '%{time_total} %{size_download}' "$1")
  [[ "${got#* }" -eq "$bytes" ]] || { echo "run.sh: $1 sent ${got#* } bytes, want $bytes" >&2; exit 1; }
  echo "${got% *}"
}

declare -a t_stream t_nginx
for r in $(seq "$rounds"); do
  if ((r % 2)); then
    t_stream+=("$(fetch "$url")"); t_nginx+=("$(fetch "$nurl")")
  else
    t_nginx+=("$(fetch "$nurl")"); t_stream+=("$(fetch "$url")")
  fi
  echo "round $r: stream ${t_stream[-1]} s, nginx ${t_nginx[-1]} s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ms=$(median "${t_stream[@]}")
mn=$(median "${t_nginx[@]}")
rss=$(grep -E '^(VmRSS|VmHWM)' "/proc/$server_pid/status" | tr -s ' \t' ' ' | paste -sd' ')
echo
echo "== $records records, $bytes body bytes, $rounds rounds (median)"
awk -v n="$records" -v b="$bytes" -v s="$ms" -v g="$mn" 'BEGIN {
  printf "%-8s %10s %14s %10s\n", "", "seconds", "records/s", "MB/s";
  printf "%-8s %10.3f %14.0f %10.1f\n", "stream", s, n / s, b / s / 1e6;
  printf "%-8s %10.3f %14.0f %10.1f\n", "nginx", g, n / g, b / g / 1e6;
  printf "ratio stream/nginx (records/s): %.3f\n", g / s;
}'
echo "server $rss"
