#!/usr/bin/env bash
# Fleet routing: 3 replicas of the real binary (embedded local store, memory
# cache only) behind a real nginx, once routed by docker/nginx/fleet.conf
# (hash on topic/partition, consistent) and once round-robin (the same file with
# the hash line removed). Same data, same pre-drawn requests, cold replicas each
# time; reports the sum over replicas of what was fetched from the store.
#
#   bench/fleet/run.sh [BINARY]            full run  (24 partitions, 6000 requests; ~1 min)
#   bench/fleet/run.sh --check [BINARY]    short run (~20 s); exits 1 unless consistent
#                                          hashing fetches under 60% of round-robin's bytes
# Needs nginx (scripts/install-deps.sh --test) and /usr/bin/python3. Started as an
# unprivileged process (nobody when run as root) with its own prefix on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

check=0
if [[ "${1:-}" == "--check" ]]; then check=1; shift; fi
bin=${1:-$root/build/release/service/streamhouse}
[[ -x "$bin" ]] || { echo "no binary at $bin" >&2; exit 2; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x "$nginx" ]] || { echo "nginx not installed (scripts/install-deps.sh --test)" >&2; exit 2; }

partitions=${PARTITIONS:-24}
records=${RECORDS:-6000}          # per partition
requests=${REQUESTS:-6000}
cache_bytes=${CACHE_BYTES:-}      # per replica; default: half the decoded data set (measured)
if ((check)); then records=${RECORDS:-2500}; requests=${REQUESTS:-2500}; fi
replicas=3

work=$(mktemp -d /tmp/sh-fleet-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "timed out waiting for $1" >&2
  return 1
}

# --- data: one topic, $partitions partitions, 16 KiB blocks ---
data=$work/data
mkdir -p "$data"
for ((p = 0; p < partitions; p++)); do
  awk -v n="$records" -v p="$p" 'BEGIN { for (i = 0; i < n; i++)
      printf("{\"key\":\"k-%d-%d\",\"timestamp\":%d,\"value\":\"partition %d record %d %s\"}\n",
             p, i, 1767225600000 + i, p, i, "payload-payload-payload-payload-payload-payload-payload") }' |
    "$bin" segment write --store "file://$data" --topic fleet --partition "$p" \
      --segment-records 2000 --block-bytes 16384 >/dev/null
done
data_bytes=$(du -sb "$data" | cut -f1)

# Calibration: what the whole data set takes in a block cache (decoded blocks are
# larger than the stored LZ4 ones). Each replica then gets half of it: a third of
# the partitions (its share of the ring) fits, all of them (round-robin) do not.
if [[ -z "$cache_bytes" ]]; then
  port=$(free_port)
  "$bin" serve --store "file://$data" --listen "127.0.0.1:$port" --block-cache-bytes $((1 << 30)) \
    --readahead-max-bytes 0 --log-level warn 2>"$work/calibrate.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/healthz"
  decoded=$(/usr/bin/python3 - "$port" "$partitions" <<'PY'
import json, re, sys, urllib.request
port, parts = int(sys.argv[1]), int(sys.argv[2])
base = f"http://127.0.0.1:{port}"
for p in range(parts):
    off = 0
    while True:
        r = json.load(urllib.request.urlopen(f"{base}/topics/fleet/partitions/{p}/records?offset={off}&max_records=10000"))
        if not r["records"] or r["next_offset"] >= r["high_watermark"]:
            break
        off = r["next_offset"]
t = urllib.request.urlopen(f"{base}/metrics").read().decode()
print(int(float(re.search(r'^streamhouse_cache_bytes\{cache="block"\} (\S+)$', t, re.M).group(1))))
PY
)
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; pids=()
  cache_bytes=$((decoded / 2))
  echo "# whole data set decoded in a block cache: $decoded bytes"
fi

# --- requests: the same random (partition, offset) list for both modes ---
urls=$work/urls
/usr/bin/python3 - "$partitions" "$records" "$requests" >"$urls" <<'PY'
import random, sys
parts, recs, n = map(int, sys.argv[1:])
rng = random.Random(20261201)
for _ in range(n):
    print(f"/topics/fleet/partitions/{rng.randrange(parts)}/records?offset={rng.randrange(recs)}&max_records=20")
PY

run_mode() { # mode → prints "mode bytes gets misses hits per-replica-requests"
  local mode=$1 dir=$work/$1
  mkdir -p "$dir/nginx/logs" "$dir/nginx/tmp"
  local ports=() servers=""
  for ((r = 0; r < replicas; r++)); do
    local port
    port=$(free_port)
    "$bin" serve --store "file://$data" --listen "127.0.0.1:$port" --block-cache-bytes "$cache_bytes" \
      --readahead-max-bytes 0 --index-ttl-ms 3600000 --log-level warn 2>"$dir/replica-$r.log" &
    pids+=($!)
    ports+=("$port")
    servers+="    server 127.0.0.1:$port;\n"
  done
  local nport
  nport=$(free_port)
  # The shipped routing file, with this run's replicas and port.
  sed -e '/^ *server reader-[0-9]/d' \
      -e "s|^\( *\)keepalive 64;|${servers}\1keepalive 64;|" \
      -e "s|listen 8080;|listen 127.0.0.1:$nport;|" \
      "$root/docker/nginx/fleet.conf" >"$dir/nginx/fleet.conf"
  if [[ "$mode" == round-robin ]]; then sed -i '/hash \$streamhouse_route_key consistent;/d' "$dir/nginx/fleet.conf"; fi
  cat >"$dir/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/tmp/body;
  proxy_temp_path $dir/nginx/tmp/proxy;
  fastcgi_temp_path $dir/nginx/tmp/fastcgi;
  uwsgi_temp_path $dir/nginx/tmp/uwsgi;
  scgi_temp_path $dir/nginx/tmp/scgi;
  include $dir/nginx/fleet.conf;
}
CONF
  local run_as=()
  if [[ $(id -u) -eq 0 ]]; then
    chown -R nobody:nogroup "$dir/nginx"
    run_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  fi
  "${run_as[@]}" "$nginx" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/logs/error.log" &
  pids+=($!)
  for port in "${ports[@]}"; do wait_http "http://127.0.0.1:$port/healthz"; done
  wait_http "http://127.0.0.1:$nport/nginx-healthz"

  /usr/bin/python3 - "$nport" "$urls" <<'PY'
import http.client, sys
port, path = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
bad = 0
for url in open(path):
    conn.request("GET", url.strip())
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        bad += 1
if bad:
    sys.exit(f"{bad} requests did not answer 200")
PY

  /usr/bin/python3 - "$mode" "${ports[@]}" <<'PY'
import re, sys, urllib.request
mode, ports = sys.argv[1], sys.argv[2:]
def value(text, name, labels=""):
    total = 0.0
    for m in re.finditer(r"^" + re.escape(name) + r"(\{.*\})? (\S+)$", text, re.M):
        if labels in (m.group(1) or ""):
            total += float(m.group(2))
    return total
tot = {"bytes": 0, "gets": 0, "misses": 0, "hits": 0}
served = []
for p in ports:
    t = urllib.request.urlopen(f"http://127.0.0.1:{p}/metrics", timeout=10).read().decode()
    tot["bytes"] += value(t, "streamhouse_object_store_read_bytes_total")
    tot["gets"] += value(t, "streamhouse_object_store_requests_total", 'operation="get_range"')
    tot["misses"] += value(t, "streamhouse_cache_misses_total", 'cache="block"')
    tot["hits"] += value(t, "streamhouse_cache_hits_total", 'cache="block"')
    served.append(int(value(t, "streamhouse_http_requests_total",
                            'route="/topics/{topic}/partitions/{partition}/records"')))
print(mode, int(tot["bytes"]), int(tot["gets"]), int(tot["misses"]), int(tot["hits"]),
      "/".join(map(str, served)))
PY
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

echo "# $partitions partitions x $records records, stored $data_bytes bytes; $requests reads (20 records at a random offset)"
echo "# $replicas replicas, --block-cache-bytes $cache_bytes each, --readahead-max-bytes 0"
printf '%-12s %16s %12s %14s %12s %s\n' mode store_bytes get_ranges block_misses block_hits requests_per_replica
results=()
for mode in consistent round-robin; do
  line=$(run_mode "$mode")
  results+=("$line")
  read -r m b g mi h s <<<"$line"
  printf '%-12s %16s %12s %14s %12s %s\n' "$m" "$b" "$g" "$mi" "$h" "$s"
done
read -r _ cb _ <<<"${results[0]}"
read -r _ rb _ <<<"${results[1]}"
ratio=$(/usr/bin/python3 -c "print(f'{$cb / $rb:.3f}' if $rb else 'n/a')")
echo "store bytes, consistent / round-robin: $ratio"
if ((check)); then
  /usr/bin/python3 -c "import sys; sys.exit(0 if $rb > 0 and $cb < 0.6 * $rb else 1)" ||
    { echo "FAIL: consistent hashing should fetch well under round-robin's bytes" >&2; exit 1; }
  echo "OK"
fi
