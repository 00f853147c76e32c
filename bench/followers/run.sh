#!/usr/bin/env bash
# Followers and memory (issue 8, benchmark 3). Two runs against one data set, a
# partition of RECORDS (10M) records in a local-directory store:
#   A. FOLLOWERS (1,000) idle followers (records/stream?offset=latest&follow=true at
#      the head, kept open) plus ACTIVE (100) streams reading the partition as fast as
#      they can (bounded streams of SPAN records from random offsets, one after the
#      other on each connection), for SECONDS. Measured: RSS every second against
#      the cache budget (--block-cache-bytes: decoded blocks and the read-ahead
#      buffer carved out of it, both reported) + 64 MiB; the thread count (/proc/<pid>/task) before
#      clients, with the followers, with followers + active streams; /healthz
#      latency, one probe on a new connection every 100 ms during the run (p99 < 10 ms),
#      on the main port and, at the same time, on the admin listener (--admin-listen).
#   B. a fresh server, one stream of the whole partition read to the end (curl),
#      RSS every second: first / at a quarter / last / max.
# The server runs on core SERVER_CORE, the clients on CLIENT_CORE (taskset).
# Exits 1 if a target is missed (the figures are printed either way).
#
# Usage: bench/followers/run.sh [BINARY]   (default build/release/service/streamhouse)
# Env:   RECORDS (10000000)  FOLLOWERS (1000)  ACTIVE (100)  SPAN (100000)  DURATION (60: the clients in all, s)
#        BLOCK_CACHE_BYTES (64 MiB)  DATA_DIR (reuse/keep the data there; default: a temp dir)
#        SERVER_ARGS (extra `serve` flags, e.g. "--io-queue 4096")
#        SERVER_CORE (1)  CLIENT_CORE (0)  PROBE_NICE (-10: the /healthz prober's niceness)
#        PROBE_RT (unset; N runs the probers SCHED_FIFO at priority N, as root)
# Needs: curl, taskset, python3, ss.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
bin=${1:-$root/build/release/service/streamhouse}
records=${RECORDS:-10000000}
n_follow=${FOLLOWERS:-1000}
n_active=${ACTIVE:-100}
span=${SPAN:-100000}
seconds=${DURATION:-60}
block_cache=${BLOCK_CACHE_BYTES:-67108864}
server_core=${SERVER_CORE:-1}
client_core=${CLIENT_CORE:-0}
py=/usr/bin/python3
fpy=$root/bench/followers/followers.py
soakpy=$root/bench/soak/soak.py
need_tools run.sh curl taskset ss
[[ -x "$bin" ]] || { echo "run.sh: no executable at $bin (build it first)" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) > n_follow + n_active + 100)) || { echo "run.sh: ulimit -n $(ulimit -n) is too low" >&2; exit 2; }

tmp=$(mktemp -d /tmp/sh-followers-XXXXXX)
data=${DATA_DIR:-$tmp/data}
server_pid="" sampler_pid="" nginx_pid=""
cleanup() { stop_pid "$sampler_pid"; stop_pid "$server_pid"; stop_pid "$nginx_pid"; rm -rf "$tmp"; }
trap cleanup EXIT
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), binary $bin"

if [[ -f "$data/.complete-$records" ]]; then
  echo "== reusing $records records in $data"
else
  echo "== $records records (~100 B values, 64 KiB blocks, 250000-record segments) into $data"
  rm -rf "$data"
  t0=$(date +%s)
  awk -v n="$records" 'BEGIN { for (i = 0; i < n; i++)
    printf("{\"key\":\"order-%d\",\"timestamp\":%.0f,\"headers\":{\"source\":\"bench\"},\"value\":\"{\\\"order_id\\\":%d,\\\"user\\\":\\\"u%d\\\",\\\"note\\\":\\\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\\"}\"}\n", i, 1767225600000 + i, i, i % 97) }' |
    "$bin" segment write --store "file://$data" --topic big --partition 0 --segment-records 250000 \
      --block-bytes 65536 >/dev/null
  touch "$data/.complete-$records"
  echo "   written in $(($(date +%s) - t0)) s"
fi
stored_mb=$(du -sm "$data/big" | cut -f1)

port=$(free_port)
admin_port=$(free_port)
while [[ "$admin_port" == "$port" ]]; do admin_port=$(free_port); done
base="http://127.0.0.1:$port"
# shellcheck disable=SC2206
server_args=(--block-cache-bytes "$block_cache" --max-connections 4096 --max-connections-per-ip 0 --log-level warn
  ${SERVER_ARGS:-})
start_server() {
  taskset -c "$server_core" "$bin" serve --store "file://$data" --listen "127.0.0.1:$port" \
    --admin-listen "127.0.0.1:$admin_port" "${server_args[@]}" \
    >>"$tmp/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "$base/healthz" >/dev/null || { echo "run.sh: server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }
}
metric() { curl -sf "$base/metrics" | awk -v m="$1" '$1 == m { printf "%.0f\n", $2 }'; }
field() { $py -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
fails=()

# The floor of the /healthz figures: an idle nginx (1 worker) on the server's
# core, probed the same way at the same time. What it shows is this machine's
# own latency (scheduling, a busy core), not the service's.
nginx=$(command -v nginx || echo /usr/sbin/nginx)
nginx_port=""
if [[ -x "$nginx" ]]; then
  nginx_port=$(free_port)
  while [[ "$nginx_port" == "$port" || "$nginx_port" == "$admin_port" ]]; do nginx_port=$(free_port); done
  mkdir -p "$tmp/nginx/www" "$tmp/nginx/logs" && chmod 755 "$tmp" && echo '{"status":"ok"}' >"$tmp/nginx/www/healthz"
  chmod -R a+rX "$tmp/nginx/www"
  nginx_conf "$tmp/nginx" "$nginx_port" "$tmp/nginx/www" 1024 "  default_type application/json;"
  taskset -c "$server_core" "$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" &
  nginx_pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/healthz" && break; sleep 0.1; done
  curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/healthz" || { echo "run.sh: nginx did not start" >&2; exit 1; }
fi

# ---------- A. followers + active streams ----------
start_server
hwm=$(curl -sf "$base/topics/big/partitions/0" | $py -c 'import json,sys; print(json.load(sys.stdin)["high_watermark"])')
[[ "$hwm" == "$records" ]] || { echo "run.sh: high watermark $hwm, want $records" >&2; exit 1; }
idle=$($py "$soakpy" proc "$server_pid")
echo "== A: idle server: $idle"
$py "$soakpy" sample "$server_pid" "$tmp/samples.jsonl" 1 &
sampler_pid=$!
hold=12
taskset -c "$client_core" $py "$fpy" clients "$port" big "$n_follow" "$n_active" "$records" "$span" "$hold" \
  "$seconds" "$tmp/status.jsonl" >"$tmp/clients.out" 2>&1 &
clients_pid=$!
for _ in $(seq 600); do grep -q '"phase": "followers"' "$tmp/status.jsonl" 2>/dev/null && break; sleep 0.1; done
sleep 1
with_followers=$($py "$soakpy" proc "$server_pid")
echo "   with $n_follow followers: $with_followers"
probe_f_rc=0
# The prober shares the client core with the streams' reader, which keeps that
# core busy: it runs at a higher priority (when allowed), so that its figures
# are the server's answer time, not its own wait for the core behind the load.
# Two probers at once, each every 100 ms: the main port (where the streams are)
# and the admin listener (--admin-listen: its own thread; what the manifests probe).
probe=(taskset -c "$client_core" nice -n "${PROBE_NICE:--10}")
# PROBE_RT=N: the probers run SCHED_FIFO at priority N instead (chrt; root), so
# that none of their figures is their own wait behind the client core's load.
[[ -z "${PROBE_RT:-}" ]] || probe=(taskset -c "$client_core" chrt -f "$PROBE_RT")
probe+=($py "$fpy" probe)
"${probe[@]}" "$admin_port" 100 $((hold - 3)) "$tmp/probe_fa.txt" &
probe_fa_pid=$!
probe_fn_pid="" probe_n_pid=""
if [[ -n "$nginx_port" ]]; then "${probe[@]}" "$nginx_port" 100 $((hold - 3)) "$tmp/probe_fn.txt" & probe_fn_pid=$!; fi
"${probe[@]}" "$port" 100 $((hold - 3)) "$tmp/probe_f.txt" || probe_f_rc=$?
wait "$probe_fa_pid" || probe_f_rc=$?
for _ in $(seq 100); do grep -q '"phase": "active"' "$tmp/status.jsonl" 2>/dev/null && break; sleep 0.1; done
[[ -z "$probe_fn_pid" ]] || wait "$probe_fn_pid" || true
"${probe[@]}" "$admin_port" 100 $((seconds - hold - 8)) "$tmp/probe_a.txt" &
probe_a_pid=$!
if [[ -n "$nginx_port" ]]; then "${probe[@]}" "$nginx_port" 100 $((seconds - hold - 8)) "$tmp/probe_n.txt" & probe_n_pid=$!; fi
"${probe[@]}" "$port" 100 $((seconds - hold - 8)) "$tmp/probe.txt" &
probe_pid=$!
sleep 10
with_active=$($py "$soakpy" proc "$server_pid")
streams_active=$(metric streamhouse_streams_active)
echo "   with followers + $n_active active streams (server streams_active=$streams_active): $with_active"
probe_rc=0; wait "$probe_pid" || probe_rc=$?
wait "$probe_a_pid" || probe_rc=$?
clients_rc=0; wait "$clients_pid" || clients_rc=$?
block_bytes=$(curl -sf "$base/metrics" | awk '$1 == "streamhouse_cache_bytes{cache=\"block\"}" { printf "%.0f\n", $2 }')
ra_bytes=$(metric streamhouse_readahead_inflight_bytes)
stop_pid "$sampler_pid"; sampler_pid=""
final=$(tail -1 "$tmp/status.jsonl")
echo "   clients: $final"
((clients_rc == 0)) || { fails+=("A: client errors: $(field "$final" errors)"); cat "$tmp/clients.out" >&2; }
((probe_rc == 0 && probe_f_rc == 0)) || fails+=("A: /healthz probes failed")
read -r fn f50 f99 fmax < <($py "$fpy" pct "$tmp/probe_f.txt")
read -r pn p50 p99 pmax < <($py "$fpy" pct "$tmp/probe.txt")
read -r fan fa50 fa99 famax < <($py "$fpy" pct "$tmp/probe_fa.txt")
read -r pan pa50 pa99 pamax < <($py "$fpy" pct "$tmp/probe_a.txt")
nginx_rows="| baseline: nginx /healthz | nginx not installed | |"
if [[ -n "$nginx_port" ]]; then
  wait "$probe_n_pid" || true
  read -r fnn fn50 fn99 fnmax < <($py "$fpy" pct "$tmp/probe_fn.txt")
  read -r pnn pn50 pn99 pnmax < <($py "$fpy" pct "$tmp/probe_n.txt")
  nginx_rows="| baseline: idle nginx /healthz on the server's core, probed alongside, followers only ($fnn probes) p50 / p99 / max | $fn50 / $fn99 / $fnmax ms | (this machine's floor) |
| baseline: the same, followers + active streams ($pnn probes) p50 / p99 / max | $pn50 / $pn99 / $pnmax ms | (this machine's floor) |"
fi
budget_mib=$((block_cache / 1048576 + 64))
read -r rss_max_a rss_last_a thr_max_a < <($py -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("%.1f %.1f %d" % (max(x["rss_kib"] for x in s) / 1024, s[-1]["rss_kib"] / 1024, max(x["tasks"] for x in s)))' "$tmp/samples.jsonl")
thr_idle=$(field "$idle" tasks); thr_f=$(field "$with_followers" tasks); thr_a=$(field "$with_active" tasks)
secs_a=$(field "$final" t); bytes_a=$(field "$final" active_bytes); done_a=$(field "$final" active_streams_done)
awk -v m="$rss_max_a" -v b="$budget_mib" 'BEGIN { exit !(m > b) }' && fails+=("A: RSS max ${rss_max_a} MiB > budget ${budget_mib} MiB")
((thr_max_a <= thr_idle)) || fails+=("A: threads grew with clients: $thr_idle idle, max $thr_max_a")
awk -v p="$p99" 'BEGIN { exit !(p >= 10) }' && fails+=("A: /healthz p99 ${p99} ms >= 10 ms (followers + active streams)")
awk -v p="$f99" 'BEGIN { exit !(p >= 10) }' && fails+=("A: /healthz p99 ${f99} ms >= 10 ms (followers only)")
awk -v p="$pa99" 'BEGIN { exit !(p >= 10) }' && fails+=("A: admin /healthz p99 ${pa99} ms >= 10 ms (followers + active streams)")
awk -v p="$fa99" 'BEGIN { exit !(p >= 10) }' && fails+=("A: admin /healthz p99 ${fa99} ms >= 10 ms (followers only)")
[[ "$(field "$final" followers_open)" == "$n_follow" ]] || fails+=("A: not every follower was open")

# ---------- B. one stream of the whole partition ----------
stop_pid "$server_pid"; server_pid=""
start_server
b_idle=$($py "$soakpy" proc "$server_pid")
$py "$soakpy" sample "$server_pid" "$tmp/samples_b.jsonl" 1 &
sampler_pid=$!
t0=$(date +%s.%N)
taskset -c "$client_core" curl -sf -N "$base/topics/big/partitions/0/records/stream?offset=0" | tail -c 300 >"$tmp/tail_b.txt"
t1=$(date +%s.%N)
sleep 1
stop_pid "$sampler_pid"; sampler_pid=""
end_line=$(tail -1 "$tmp/tail_b.txt")
[[ "$end_line" == "{\"end\":{\"next_offset\":$records,\"reason\":\"high_watermark\"}}" ]] ||
  fails+=("B: the stream did not end at $records: $end_line")
read -r b_n b_first b_quarter b_last b_max < <($py -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = [x["rss_kib"] / 1024 for x in s]
print("%d %.1f %.1f %.1f %.1f" % (len(r), r[0], r[len(r) // 4], r[-1], max(r)))' "$tmp/samples_b.jsonl")
rss_series() { $py -c '
import json, sys
print(" ".join("%.0f" % (json.loads(l)["rss_kib"] / 1024) for l in open(sys.argv[1]) if l.strip()))' "$1"; }
series_a=$(rss_series "$tmp/samples.jsonl")
series_b=$(rss_series "$tmp/samples_b.jsonl")
secs_b=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
awk -v l="$b_last" -v q="$b_quarter" 'BEGIN { exit !(l > q + 8) }' && fails+=("B: RSS grew: ${b_quarter} MiB at a quarter, ${b_last} MiB at the end")
awk -v m="$b_max" -v b="$budget_mib" 'BEGIN { exit !(m > b) }' && fails+=("B: RSS max ${b_max} MiB > budget ${budget_mib} MiB")

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
cat <<EOF

== Followers and memory: $records records in topic big/0 ($stored_mb MB stored), block cache $((block_cache / 1048576)) MiB
server: taskset -c $server_core $bin serve ${server_args[*]}; clients taskset -c $client_core

A. $n_follow idle followers + $n_active active streams ($span-record bounded streams from random offsets), $secs_a s
| measure | value | target |
|---|---:|---|
| RSS idle / with followers / with followers + active | $(mib "$(field "$idle" rss_kib)") / $(mib "$(field "$with_followers" rss_kib)") / $(mib "$(field "$with_active" rss_kib)") MiB | |
| RSS max (1 s samples) / at the end | $rss_max_a / $rss_last_a MiB | <= $budget_mib MiB (block cache + 64 MiB) |
| decoded block cache / read-ahead buffer at the end (both within --block-cache-bytes) | $((block_bytes / 1048576)) MiB / $((ra_bytes / 1048576)) MiB | |
| RSS per idle follower (with followers - idle) / per active stream (with active - with followers - cache growth) | $(awk -v a="$(field "$with_followers" rss_kib)" -v b="$(field "$idle" rss_kib)" -v n="$n_follow" 'BEGIN { printf "%.1f KiB", (a - b) / n }') / $(awk -v a="$rss_last_a" -v f="$(field "$with_followers" rss_kib)" -v c="$block_bytes" -v r="$ra_bytes" -v n="$n_active" 'BEGIN { printf "%.2f MiB", (a * 1024 - f - c / 1024 - r / 1024) / 1024 / n }') | |
| threads idle / with followers / with followers + active / max | $thr_idle / $thr_f / $thr_a / $thr_max_a | no growth |
| fds idle / with followers / with followers + active | $(field "$idle" fds) / $(field "$with_followers" fds) / $(field "$with_active" fds) | |
| /healthz, new connection every 100 ms, followers only ($fn probes) p50 / p99 / max | $f50 / $f99 / $fmax ms | p99 < 10 ms |
| /healthz, the same with followers + active streams ($pn probes) p50 / p99 / max | $p50 / $p99 / $pmax ms | p99 < 10 ms |
| admin listener /healthz (--admin-listen), followers only ($fan probes) p50 / p99 / max | $fa50 / $fa99 / $famax ms | p99 < 10 ms |
| admin listener /healthz, followers + active streams ($pan probes) p50 / p99 / max | $pa50 / $pa99 / $pamax ms | p99 < 10 ms |
$nginx_rows
| active streams completed, bytes read | $done_a streams, $((bytes_a / 1000000)) MB ($(awk -v b="$bytes_a" -v s="$secs_a" 'BEGIN { printf "%.0f", b / s / 1e6 }') MB/s over the run) | |
RSS each second (MiB): $series_a

B. one stream of all $records records to the end: $secs_b s ($(awk -v n="$records" -v s="$secs_b" 'BEGIN { printf "%.0f", n / s }') records/s)
| RSS (1 s samples, $b_n) | idle before | first | at a quarter | last | max |
|---|---:|---:|---:|---:|---:|
| MiB | $(mib "$(field "$b_idle" rss_kib)") | $b_first | $b_quarter | $b_last | $b_max |
(flat: last <= at a quarter + 8 MiB; max <= $budget_mib MiB)
RSS each second (MiB): $series_b
EOF
if ((${#fails[@]})); then
  echo; echo "MISSED:"; printf -- '- %s\n' "${fails[@]}"; exit 1
fi
echo; echo "all targets met"
