#!/bin/bash
# S3 cold-read benchmark: the service against a real Ceph RGW behind a delaying
# TCP proxy (bench/s3/delay_proxy.py, +2 x DELAY_MS per round trip, +1 round trip
# per new connection), each scenario beside its baseline (`curl --aws-sigv4` making
# the same GETs through the same proxy) in the same run. See bench/s3/README.md.
#
#   bench/s3/run.sh [--quick] [BINARY]     (default BINARY: build/release/service/streamhouse)
#
# Prints a Markdown report and writes it to bench/s3/last-run.md.
# Env knobs: STATE (/tmp/sh-bench-ceph), RGW_PORT (18480), MON_PORT (18400), PROXY_PORT (18481),
#   SVC_PORT (18485), DELAY_MS (10), ISO_DELAY_MS (50), SAMPLES (9; --quick 3),
#   PROBES (50; --quick 20), CONC (32), CATCHUP_ROUNDS (3; --quick 1),
#   SEG_RECORDS (38000 ~ 5 MB), SMALL_SEGMENTS (200), SMALL_RECORDS (200), BLOCK_BYTES (65536),
#   BIN_DESC (what the binary was built from, for the report; default: this tree's HEAD).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
U="$PY $HERE/bench_util.py"

QUICK=0
if [[ "${1:-}" == "--quick" ]]; then QUICK=1; shift; fi
BIN=${1:-$ROOT/build/release/service/streamhouse}
[[ -x "$BIN" ]] || { echo "run.sh: no streamhouse binary at $BIN (pass one as argument)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

export STATE=${STATE:-/tmp/sh-bench-ceph}
export RGW_PORT=${RGW_PORT:-18480}
export MON_PORT=${MON_PORT:-18400}
PROXY_PORT=${PROXY_PORT:-18481}
PROXY_STATUS=$((PROXY_PORT + 1))
ISO_PORT=$((PROXY_PORT + 2))
ISO_STATUS=$((PROXY_PORT + 3))
SVC_PORT=${SVC_PORT:-18485}
DELAY_MS=${DELAY_MS:-10}
ISO_DELAY_MS=${ISO_DELAY_MS:-50}
if (( QUICK )); then d_samples=3 d_probes=20 d_rounds=1; else d_samples=9 d_probes=50 d_rounds=3; fi
SAMPLES=${SAMPLES:-$d_samples}
PROBES=${PROBES:-$d_probes}
CATCHUP_ROUNDS=${CATCHUP_ROUNDS:-$d_rounds}
CONC=${CONC:-32}
SEG_RECORDS=${SEG_RECORDS:-38000}
SMALL_SEGMENTS=${SMALL_SEGMENTS:-200}
SMALL_RECORDS=${SMALL_RECORDS:-200}
BLOCK_BYTES=${BLOCK_BYTES:-65536}
export S3_ACCESS=${S3_ACCESS:-BENCHACCESSKEY000001}
export S3_SECRET=${S3_SECRET:-benchsecretkey00000000000000000000000001}
export BUCKETS=sh-bench
BUCKET=sh-bench
PREFIX=bench/
export AWS_ACCESS_KEY_ID=$S3_ACCESS AWS_SECRET_ACCESS_KEY=$S3_SECRET AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_PROFILE 2>/dev/null || true
SIGV4=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS:$S3_SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
RGW=http://127.0.0.1:$RGW_PORT
PROXY=http://127.0.0.1:$PROXY_PORT
SVC=http://127.0.0.1:$SVC_PORT
CLIENT=(taskset -c 0)
SERVER=(taskset -c 1)

WORK=$(mktemp -d /tmp/sh-bench-s3.XXXXXX)
SVC_PID="" PROXY_PID="" ISO_PID="" RGW_STARTED=0
log() { echo "[$(date +%T)] $*" >&2; }

stop_pid() { # pid: TERM, wait up to 10 s, then KILL
  local pid=$1 i
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  set +e
  stop_pid "$SVC_PID"; SVC_PID=""
  stop_pid "$PROXY_PID"; stop_pid "$ISO_PID"
  if (( RGW_STARTED )); then FAST=1 bash "$ROOT/tests/integration/s3/stop-rgw.sh" >/dev/null 2>&1; fi
  if (( rc != 0 )); then echo "run.sh: FAILED (rc=$rc); logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in taskset curl "$PY"; do command -v "$tool" >/dev/null || { echo "run.sh: $tool missing" >&2; exit 2; }; done
curl --help all 2>/dev/null | grep -q -- --aws-sigv4 || { echo "run.sh: curl lacks --aws-sigv4" >&2; exit 2; }

# ---------------------------------------------------------------- S3 server + proxies
log "starting Ceph RGW (STATE=$STATE, port $RGW_PORT)"
RGW_STARTED=1
bash "$ROOT/tests/integration/s3/start-rgw.sh" >"$WORK/rgw-start.log" 2>&1 \
  || { cat "$WORK/rgw-start.log" >&2; exit 1; }

start_proxy() { # port status delay_ms -> sets STARTED_PID
  local ready="$WORK/proxy-$1.ready" i
  $PY "$HERE/delay_proxy.py" --listen "127.0.0.1:$1" --upstream "127.0.0.1:$RGW_PORT" \
    --delay-ms "$3" --status "127.0.0.1:$2" --ready-file "$ready" >"$WORK/proxy-$1.log" 2>&1 </dev/null &
  STARTED_PID=$!
  for i in $(seq 100); do [[ -f "$ready" ]] && break; sleep 0.05; done
  [[ -f "$ready" ]] || { echo "run.sh: proxy on $1 did not start" >&2; exit 1; }
}
start_proxy "$PROXY_PORT" "$PROXY_STATUS" "$DELAY_MS"; PROXY_PID=$STARTED_PID
start_proxy "$ISO_PORT" "$ISO_STATUS" "$ISO_DELAY_MS"; ISO_PID=$STARTED_PID
proxy_stats() { curl -s "http://127.0.0.1:$1/"; }

# ---------------------------------------------------------------- data
gen() { # count seed: JSON lines, ~300 B raw / ~137 B stored (lz4) per record
  awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); t0 = 1767225600000;
    split("alice bob carol dave erin frank grace heidi", users, " "); split("EUR USD GBP JPY", ccy, " ");
    for (i = 0; i < n; i++) {
      note = ""; for (j = 0; j < 12; j++) note = note sprintf("%08x", int(rand() * 2147483647));
      printf("{\"key\":\"order-%d\",\"timestamp\":%.0f,\"headers\":{\"source\":\"bench\",\"trace-id\":\"%08x\"},\"value\":{\"order_id\":%d,\"user\":\"%s\",\"amount\":%.2f,\"currency\":\"%s\",\"items\":%d,\"note\":\"%s\"}}\n",
             i, t0 + i * 25 + int(rand() * 20), int(rand() * 2147483647), i, users[1 + i % 8], rand() * 500, ccy[1 + i % 4], 1 + i % 5, note);
    } }'
}
WRITE_ARGS=(--store "s3://$BUCKET/$PREFIX" --s3-endpoint "$RGW" --block-bytes "$BLOCK_BYTES")
CATCHUP_HW=$((4 * SEG_RECORDS))
SMALL_HW=$((SMALL_SEGMENTS * SMALL_RECORDS))
log "writing topic catchup: 4 segments x $SEG_RECORDS records (straight to RGW, no delay)"
# (long steps run as `cmd & wait $!` so that a signal reaches the trap at once)
{ gen "$CATCHUP_HW" 1 | "$BIN" segment write "${WRITE_ARGS[@]}" --topic catchup --partition 0 \
  --segment-records "$SEG_RECORDS" >"$WORK/write-catchup.json"; } & wait $!
log "writing topic small: $SMALL_SEGMENTS segments x $SMALL_RECORDS records"
{ gen "$SMALL_HW" 2 | "$BIN" segment write "${WRITE_ARGS[@]}" --topic small --partition 0 \
  --segment-records "$SMALL_RECORDS" >"$WORK/write-small.json"; } & wait $!

# download every object once (no delay) and parse its index: block positions for the baselines
mkdir -p "$WORK/obj"
keyargs=()
fetch_seg() { # topic base
  local key; key=$(printf '%s%s/0/seg_%020d.bin' "$PREFIX" "$1" "$2")
  curl -sf "${SIGV4[@]}" -o "$WORK/obj/$1-$2.bin" "$RGW/$BUCKET/$key" \
    || { echo "run.sh: cannot GET $key; bucket listing:" >&2; curl -s "${SIGV4[@]}" "$RGW/$BUCKET?max-keys=5" >&2; exit 1; }
  keyargs+=("$key=$WORK/obj/$1-$2.bin")
}
for i in 0 1 2 3; do fetch_seg catchup $((i * SEG_RECORDS)); done
for ((i = 0; i < SMALL_SEGMENTS; i++)); do fetch_seg small $((i * SMALL_RECORDS)); done
$U blocks "$WORK/blocks.json" "${keyargs[@]}"
CATCHUP_KEYS=() CATCHUP_STORED=0
for i in 0 1 2 3; do
  CATCHUP_KEYS+=("$(printf '%scatchup/0/seg_%020d.bin' "$PREFIX" $((i * SEG_RECORDS)))")
  CATCHUP_STORED=$((CATCHUP_STORED + $(stat -c %s "$WORK/obj/catchup-$((i * SEG_RECORDS)).bin")))
done
SMALL_STORED=$(cat "$WORK"/obj/small-*.bin | wc -c)
CATCHUP_BLOCKS=$($PY -c "import json;d=json.load(open('$WORK/blocks.json'));print(sum(len(s['blocks']) for s in d['segments'] if s['topic']=='catchup'))")
SMALL_BLOCKS=$($PY -c "import json;d=json.load(open('$WORK/blocks.json'));print(sum(len(s['blocks']) for s in d['segments'] if s['topic']=='small'))")

# ---------------------------------------------------------------- service
SERVE_ARGS=(serve --store "s3://$BUCKET/$PREFIX" --s3-endpoint "$PROXY" --listen "127.0.0.1:$SVC_PORT" --log-level warn)
start_svc() { # extra serve args...
  "${SERVER[@]}" "$BIN" "${SERVE_ARGS[@]}" "$@" >>"$WORK/serve.log" 2>&1 &
  SVC_PID=$!
  local i
  for i in $(seq 500); do
    curl -s -o /dev/null --max-time 1 "$SVC/healthz" && return 0
    kill -0 "$SVC_PID" 2>/dev/null || { tail "$WORK/serve.log" >&2; echo "run.sh: serve died" >&2; exit 1; }
    sleep 0.02
  done
  echo "run.sh: serve did not answer /healthz" >&2; exit 1
}
stop_svc() { stop_pid "$SVC_PID"; SVC_PID=""; }
snap() { curl -s "$SVC/metrics" >"$WORK/m.txt"; $U metrics "$WORK/m.txt" >"$1"; }

svc_read() { # url_path out_file -> "code seconds"
  "${CLIENT[@]}" curl -s -o "$2" -w '%{http_code} %{time_total}\n' --max-time 60 "$SVC$1"
}
base_range() { # key pos size -> "code seconds"   (one ranged GET through the proxy)
  "${CLIENT[@]}" curl -s -o "$WORK/range.bin" -w '%{http_code} %{time_total}\n' --max-time 60 "${SIGV4[@]}" \
    -H "Range: bytes=$2-$(($2 + $3 - 1))" "$PROXY/$BUCKET/$1"
}
check_record() { # body expected_offset
  local got; got=$($U getrecord "$1")
  [[ "$got" == "$2" ]] || { echo "run.sh: expected record $2, got $got: $(head -c 300 "$1")" >&2; exit 1; }
}
ms() { $PY -c "import sys; print('%.1f' % (float(sys.argv[1]) * 1000))" "$1"; }
med() { $U stats "$@" | $U field - median; }  # integral medians print as integers
ratio() { $PY -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2fx' % (a/b) if b else 'n/a')" "$1" "$2"; }
fmt_by() { $PY -c "import json,sys; d=json.loads(sys.argv[1]); print(', '.join('%s %g' % kv for kv in sorted(d.items())) or '-')" "$1"; }

REPORT="$WORK/report.md"
out() { echo "$*" >>"$REPORT"; }

# ---------------------------------------------------------------- scenario 1: cold random read
declare -A S1
scenario1() { # topic hw seed
  local topic=$1 hw=$2 seed=$3 svc_t=() base_t=() reqs=() n key pos size idx code t
  local offs; offs=$($U offsets "$SAMPLES" "$hw" "$seed")
  local before="$WORK/m0.json" after="$WORK/m1.json" startup=""
  for n in $offs; do
    start_svc
    snap "$before"
    read -r code t < <(svc_read "/topics/$topic/partitions/0/records?offset=$n&max_records=1" "$WORK/body.json")
    [[ "$code" == 200 ]] || { echo "run.sh: cold read $topic@$n: HTTP $code $(head -c 300 "$WORK/body.json")" >&2; exit 1; }
    check_record "$WORK/body.json" "$n"
    snap "$after"
    svc_t+=("$t")
    $U summary "$before" "$after" >"$WORK/sum.json"
    reqs+=("$($U field "$WORK/sum.json" s3_requests)")
    S1[$topic.by]=$($U field "$WORK/sum.json" s3_by)
    S1[$topic.bytes]=$($U field "$WORK/sum.json" s3_bytes)
    stop_svc
    read -r key pos size idx < <($U locate "$WORK/blocks.json" "$topic" "$n")
    read -r code t < <(base_range "$key" "$pos" "$size")
    [[ "$code" == 206 ]] || { echo "run.sh: baseline GET $key: HTTP $code" >&2; exit 1; }
    base_t+=("$t")
  done
  S1[$topic.svc]=$(med "${svc_t[@]}")
  S1[$topic.base]=$(med "${base_t[@]}")
  S1[$topic.reqs]=$(med "${reqs[@]}")
  S1[$topic.reqs_all]="${reqs[*]}"
  S1[$topic.svc_all]="${svc_t[*]}"
  S1[$topic.base_all]="${base_t[*]}"
  S1[$topic.blocksize]=$size
}
log "scenario 1: cold random read (fresh process per sample, $SAMPLES samples per topic)"
scenario1 small "$SMALL_HW" 11
scenario1 catchup "$CATCHUP_HW" 12

# ---------------------------------------------------------------- scenario 2: footer cached, new block
log "scenario 2: cold block in a known segment"
s2_svc=() s2_base=() s2_reqs=() s2_reuse=() S2_REUSE_NOTE=""
for ((i = 0; i < SAMPLES; i++)); do
  read -r a b key pos size < <($U pick "$WORK/blocks.json" catchup $((100 + i)))
  start_svc
  read -r code t < <(svc_read "/topics/catchup/partitions/0/records?offset=$a&max_records=1" "$WORK/body.json")
  [[ "$code" == 200 ]] || { echo "run.sh: warm-up read: HTTP $code" >&2; exit 1; }
  snap "$WORK/m0.json"
  read -r code t < <(svc_read "/topics/catchup/partitions/0/records?offset=$b&max_records=1" "$WORK/body.json")
  [[ "$code" == 200 ]] || { echo "run.sh: scenario 2 read: HTTP $code" >&2; exit 1; }
  check_record "$WORK/body.json" "$b"
  snap "$WORK/m1.json"
  $U summary "$WORK/m0.json" "$WORK/m1.json" >"$WORK/sum.json"
  s2_reqs+=("$($U field "$WORK/sum.json" s3_requests)")
  S2_BY=$($U field "$WORK/sum.json" s3_by)
  stop_svc
  read -r code t2 < <(base_range "$key" "$pos" "$size")
  [[ "$code" == 206 ]] || { echo "run.sh: baseline GET: HTTP $code" >&2; exit 1; }
  # the same GET as the second of two on one connection (the first: the block of A), as the
  # service reuses its connection to S3 after the warm-up read
  read -r akey apos asize aidx < <($U locate "$WORK/blocks.json" catchup "$a")
  t3=$("${CLIENT[@]}" curl -s -o /dev/null -w '%{http_code} %{time_total} %{num_connects}\n' --max-time 60 \
       "${SIGV4[@]}" -H "Range: bytes=$apos-$((apos + asize - 1))" "$PROXY/$BUCKET/$akey" --next \
       -s -o /dev/null -w '%{http_code} %{time_total} %{num_connects}\n' --max-time 60 \
       "${SIGV4[@]}" -H "Range: bytes=$pos-$((pos + size - 1))" "$PROXY/$BUCKET/$key" | tail -1)
  [[ "${t3%% *}" == 206 ]] || { echo "run.sh: baseline GET (reused connection): $t3" >&2; exit 1; }
  t3c=$(awk '{print $3}' <<<"$t3"); t3=$(awk '{print $2}' <<<"$t3")
  [[ "$t3c" == 0 ]] || S2_REUSE_NOTE=" (curl opened a new connection for the 2nd GET: $t3c)"
  s2_svc+=("$t") s2_base+=("$t2") s2_reuse+=("$t3")
done
S2_SVC=$(med "${s2_svc[@]}") S2_BASE=$(med "${s2_base[@]}") S2_REQS=$(med "${s2_reqs[@]}")
S2_REUSE=$(med "${s2_reuse[@]}")

# ---------------------------------------------------------------- scenario 3: sequential catch-up
log "scenario 3: catch-up of 4 segments ($CATCHUP_HW records, $CATCHUP_STORED bytes stored), $CATCHUP_ROUNDS round(s)"
s3_cold=() s3_warm=() s3_full=() s3_half=()
for ((r = 0; r < CATCHUP_ROUNDS; r++)); do
  start_svc
  snap "$WORK/m0.json"
  "${CLIENT[@]}" $U catchup "$SVC" catchup "$CATCHUP_HW" >"$WORK/cold.json" & wait $!
  snap "$WORK/m1.json"
  "${CLIENT[@]}" $U catchup "$SVC" catchup "$CATCHUP_HW" >"$WORK/warm.json" & wait $!
  snap "$WORK/m2.json"
  stop_svc
  $U summary "$WORK/m0.json" "$WORK/m1.json" >"$WORK/sum-cold.json"
  $U summary "$WORK/m1.json" "$WORK/m2.json" >"$WORK/sum-warm.json"
  s3_cold+=("$($U field "$WORK/cold.json" seconds)")
  s3_warm+=("$($U field "$WORK/warm.json" seconds)")
  S3_REQS=$($U field "$WORK/cold.json" requests)
  S3_RECS=$($U field "$WORK/cold.json" records)
  S3_RESP_BYTES=$($U field "$WORK/cold.json" bytes)
  S3_FETCHED=$($U field "$WORK/sum-cold.json" s3_bytes)
  S3_S3REQ=$($U field "$WORK/sum-cold.json" s3_requests)
  S3_S3BY=$($U field "$WORK/sum-cold.json" s3_by)
  S3_WARM_S3REQ=$($U field "$WORK/sum-warm.json" s3_requests)
  # baseline A: the 4 objects, full GETs, in parallel (curl -Z, at most 8 at a time)
  urls=(); for k in "${CATCHUP_KEYS[@]}"; do urls+=("$PROXY/$BUCKET/$k" -o /dev/null); done
  t0=$(date +%s.%N)
  "${CLIENT[@]}" curl -sf --no-progress-meter -Z --parallel-max 8 "${SIGV4[@]}" "${urls[@]}" 2>>"$WORK/curl-parallel.log"
  t1=$(date +%s.%N)
  s3_full+=("$($PY -c "print($t1 - $t0)")")
  # baseline B: 8 parallel ranged GETs (each object in two halves): every stored byte once
  pids=(); t0=$(date +%s.%N)
  for i in 0 1 2 3; do
    sz=$(stat -c %s "$WORK/obj/catchup-$((i * SEG_RECORDS)).bin"); h=$((sz / 2))
    "${CLIENT[@]}" curl -sf -o /dev/null "${SIGV4[@]}" -H "Range: bytes=0-$((h - 1))" "$PROXY/$BUCKET/${CATCHUP_KEYS[$i]}" & pids+=($!)
    "${CLIENT[@]}" curl -sf -o /dev/null "${SIGV4[@]}" -H "Range: bytes=$h-$((sz - 1))" "$PROXY/$BUCKET/${CATCHUP_KEYS[$i]}" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t1=$(date +%s.%N)
  s3_half+=("$($PY -c "print($t1 - $t0)")")
done
S3_COLD=$(med "${s3_cold[@]}") S3_WARM=$(med "${s3_warm[@]}")
S3_FULL=$(med "${s3_full[@]}") S3_HALF=$(med "${s3_half[@]}")
rps() { $PY -c "import sys; print('{:,.0f}'.format(float(sys.argv[1]) / float(sys.argv[2])))" "$CATCHUP_HW" "$1"; }

# ---------------------------------------------------------------- scenario 4: restart with a disk cache
S4="n/a (no disk cache yet: \`streamhouse serve --help\` lists no \`--disk-cache-dir\`)"
serve_help=$("$BIN" serve --help 2>&1 || true)  # (grep -q on a pipe would SIGPIPE it under pipefail)
if grep -q -- '--disk-cache-dir' <<<"$serve_help"; then
  log "scenario 4: restart with --disk-cache-dir"
  dc="$WORK/disk-cache"; mkdir -p "$dc"
  offs=$($U offsets "$SAMPLES" "$CATCHUP_HW" 44)
  start_svc --disk-cache-dir "$dc"
  snap "$WORK/m0.json"
  for n in $offs; do svc_read "/topics/catchup/partitions/0/records?offset=$n&max_records=1" "$WORK/body.json" >/dev/null; done
  snap "$WORK/m1.json"; stop_svc
  start_svc --disk-cache-dir "$dc"
  snap "$WORK/m2.json"
  rt=()
  for n in $offs; do
    read -r code t < <(svc_read "/topics/catchup/partitions/0/records?offset=$n&max_records=1" "$WORK/body.json")
    [[ "$code" == 200 ]] || { echo "run.sh: scenario 4 read: HTTP $code" >&2; exit 1; }
    rt+=("$t")
  done
  snap "$WORK/m3.json"; stop_svc
  first=$($U summary "$WORK/m0.json" "$WORK/m1.json" | $U field - s3_by)
  again=$($U summary "$WORK/m2.json" "$WORK/m3.json" | $U field - s3_by)
  S4="before restart: S3 requests $(fmt_by "$first"); after restart, same $SAMPLES offsets: S3 requests $(fmt_by "$again"), median read $(ms "$(med "${rt[@]}")") ms"
fi

# ---------------------------------------------------------------- scenario 5: isolation
log "scenario 5: /healthz while $CONC cold reads wait on the slow store (+$((2 * ISO_DELAY_MS)) ms per round trip)"
probe() { # count -> seconds per probe, one per line
  local i
  for ((i = 0; i < $1; i++)); do
    "${CLIENT[@]}" curl -s -o /dev/null -w '%{time_total}\n' --max-time 30 "$SVC/healthz" || true
    sleep 0.01
  done
}
SERVE_ARGS_ISO=(serve --store "s3://$BUCKET/$PREFIX" --s3-endpoint "http://127.0.0.1:$ISO_PORT" --listen "127.0.0.1:$SVC_PORT" --log-level warn)
saved=("${SERVE_ARGS[@]}"); SERVE_ARGS=("${SERVE_ARGS_ISO[@]}")
start_svc
probe "$PROBES" >"$WORK/probe-idle.txt"
offs=($($U offsets "$CONC" "$SMALL_HW" 55))
rpids=()
iso_t0=$(date +%s.%N)
for ((i = 0; i < CONC; i++)); do
  "${CLIENT[@]}" curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 60 \
    "$SVC/topics/small/partitions/0/records?offset=${offs[$i]}&max_records=1" >"$WORK/iso-read-$i.txt" 2>&1 &
  rpids+=($!)
done
sleep 0.05
probe "$PROBES" >"$WORK/probe-load.txt"
iso_t1=$(date +%s.%N)
pending=0; for p in "${rpids[@]}"; do kill -0 "$p" 2>/dev/null && pending=$((pending + 1)); done
for p in "${rpids[@]}"; do wait "$p" || true; done
iso_t2=$(date +%s.%N)
stop_svc
SERVE_ARGS=("${saved[@]}")
idle=$($U stats $(cat "$WORK/probe-idle.txt")); load=$($U stats $(cat "$WORK/probe-load.txt"))
read_codes=$(cat "$WORK"/iso-read-*.txt | awk '{c[$1]++} END {for (k in c) printf "%s x%d ", k, c[k]}')
read_med=$(med $(cat "$WORK"/iso-read-*.txt | awk '{print $2}'))
read_max=$($U stats $(cat "$WORK"/iso-read-*.txt | awk '{print $2}') | $U field - max)
probe_window=$($PY -c "print($iso_t1 - $iso_t0)")
slow_idle=$(awk '$1 > 0.1' "$WORK/probe-idle.txt" | wc -l); slow_load=$(awk '$1 > 0.1' "$WORK/probe-load.txt" | wc -l)
reads_window=$($PY -c "print($iso_t2 - $iso_t0)")

PX=$(proxy_stats "$PROXY_STATUS"); PXI=$(proxy_stats "$ISO_STATUS")

# ---------------------------------------------------------------- report
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -v '^??' | wc -l || true)
cat >"$REPORT" <<EOF
### Run of $(date -u '+%Y-%m-%d %H:%M UTC') — \`bench/s3/run.sh$( ((QUICK)) && echo ' --quick')\`

- binary: \`${BIN#$ROOT/}\` (${BIN_DESC:-HEAD $commit, $dirty tracked file(s) modified in the working tree at run time}),
  Ceph RGW $(radosgw --version 2>/dev/null | awk '{print $3}') (memstore), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)
- delay proxy: +${DELAY_MS} ms each direction (round trip +$((2 * DELAY_MS)) ms, a new connection +$((2 * DELAY_MS)) ms more);
  isolation scenario through a second proxy at +${ISO_DELAY_MS} ms each direction
- server \`taskset -c 1\`, clients (curl, Python loop) \`taskset -c 0\`; RGW and proxies unpinned
- data: \`catchup\` 4 segments x $SEG_RECORDS records ($CATCHUP_STORED bytes stored, $CATCHUP_BLOCKS blocks of
  ${BLOCK_BYTES} B raw); \`small\` $SMALL_SEGMENTS segments x $SMALL_RECORDS records ($SMALL_STORED bytes, $SMALL_BLOCKS blocks);
  records ~300 B raw / ~137 B stored (lz4)
- $SAMPLES samples per cold-read row, medians; "S3 requests" = \`streamhouse_s3_requests_total\` delta of that read

| scenario | service | baseline (curl --aws-sigv4 via proxy) | service / baseline | S3 requests by the service |
|---|---:|---:|---:|---|
| 1a. cold random read, \`small\` ($SMALL_SEGMENTS segments), fresh process | $(ms "${S1[small.svc]}") ms | $(ms "${S1[small.base]}") ms (1 ranged GET of the block) | $(ratio "${S1[small.svc]}" "${S1[small.base]}") | median ${S1[small.reqs]} (last: $(fmt_by "${S1[small.by]}")) |
| 1b. cold random read, \`catchup\` (4 segments), fresh process | $(ms "${S1[catchup.svc]}") ms | $(ms "${S1[catchup.base]}") ms (1 ranged GET of the block) | $(ratio "${S1[catchup.svc]}" "${S1[catchup.base]}") | median ${S1[catchup.reqs]} (last: $(fmt_by "${S1[catchup.by]}")) |
| 2. new block of a segment whose footer is cached | $(ms "$S2_SVC") ms | $(ms "$S2_BASE") ms (1 ranged GET of the block, new connection) | $(ratio "$S2_SVC" "$S2_BASE") | median $S2_REQS (last: $(fmt_by "$S2_BY")) |
| 2'. the same, baseline on a reused connection | $(ms "$S2_SVC") ms | $(ms "$S2_REUSE") ms (2nd ranged GET on one connection$S2_REUSE_NOTE) | $(ratio "$S2_SVC" "$S2_REUSE") | |

Per-sample seconds — 1a service: $($U fmt3 ${S1[small.svc_all]}); baseline: $($U fmt3 ${S1[small.base_all]}); S3 requests: ${S1[small.reqs_all]}.
1b service: $($U fmt3 ${S1[catchup.svc_all]}); baseline: $($U fmt3 ${S1[catchup.base_all]}); S3 requests: ${S1[catchup.reqs_all]}.
2 service: $($U fmt3 ${s2_svc[*]}); baseline: $($U fmt3 ${s2_base[*]}); reused connection: $($U fmt3 ${s2_reuse[*]}); S3 requests: ${s2_reqs[*]}.

**3. Sequential catch-up** of \`catchup\` ($CATCHUP_HW records, $CATCHUP_STORED bytes stored), client loop
\`records?offset=N&max_records=10000\` (keep-alive, $S3_REQS requests, $S3_RESP_BYTES response bytes; default \`max_bytes\` 1 MiB caps each answer), median of $CATCHUP_ROUNDS round(s):

| run | seconds | records/s | vs cold |
|---|---:|---:|---:|
| cold (fresh process) | $(printf %.3f "$S3_COLD") | $(rps "$S3_COLD") | 1.00x |
| warm (same process, again) | $(printf %.3f "$S3_WARM") | $(rps "$S3_WARM") | $(ratio "$S3_COLD" "$S3_WARM") faster |
| baseline: 4 full GETs in parallel (\`curl -Z --parallel-max 8\`) | $(printf %.3f "$S3_FULL") | $(rps "$S3_FULL") (raw bytes only) | cold is $(ratio "$S3_COLD" "$S3_FULL") of it |
| baseline: 8 parallel ranged GETs (the 4 objects in halves) | $(printf %.3f "$S3_HALF") | $(rps "$S3_HALF") (raw bytes only) | cold is $(ratio "$S3_COLD" "$S3_HALF") of it |

Cold loop: $S3_S3REQ S3 requests ($(fmt_by "$S3_S3BY")), $S3_FETCHED bytes received from S3 =
$($PY -c "print('%.3f' % ($S3_FETCHED / $CATCHUP_STORED))")x the stored size; warm loop: $S3_WARM_S3REQ S3 requests.
Per-round seconds — cold: $($U fmt3 ${s3_cold[*]}); warm: $($U fmt3 ${s3_warm[*]}); 4 full GETs: $($U fmt3 ${s3_full[*]}); 8 ranged: $($U fmt3 ${s3_half[*]}).

**4. Restart with a disk cache:** $S4

**5. Isolation:** \`/healthz\` ($PROBES sequential probes, 10 ms apart) with no load, then while $CONC concurrent cold reads
of \`small\` (fresh process, \`--threads\` default) wait on the store through the +${ISO_DELAY_MS} ms proxy:

| /healthz | p50 | p99 | max | probes > 100 ms |
|---|---:|---:|---:|---:|
| no load | $(ms "$($U field - p50 <<<"$idle")") ms | $(ms "$($U field - p99 <<<"$idle")") ms | $(ms "$($U field - max <<<"$idle")") ms | $slow_idle / $PROBES |
| $CONC cold reads in flight | $(ms "$($U field - p50 <<<"$load")") ms | $(ms "$($U field - p99 <<<"$load")") ms | $(ms "$($U field - max <<<"$load")") ms | $slow_load / $PROBES |
| ratio loaded / idle | $(ratio "$($U field - p50 <<<"$load")" "$($U field - p50 <<<"$idle")") | $(ratio "$($U field - p99 <<<"$load")" "$($U field - p99 <<<"$idle")") | | |

The probes took $(printf %.2f "$probe_window") s; $pending of the $CONC reads were still in flight after the last probe; all reads
were done after $(printf %.2f "$reads_window") s (answers: ${read_codes}; median $(ms "$read_med") ms, max $(ms "$read_max") ms).

Proxy counters (whole run) — main: \`$PX\`; isolation: \`$PXI\`.

Commands (as run):
\`\`\`sh
STATE=$STATE RGW_PORT=$RGW_PORT MON_PORT=$MON_PORT BUCKETS=$BUCKET S3_ACCESS=$S3_ACCESS S3_SECRET=… tests/integration/s3/start-rgw.sh
/usr/bin/python3 bench/s3/delay_proxy.py --listen 127.0.0.1:$PROXY_PORT --upstream 127.0.0.1:$RGW_PORT --delay-ms $DELAY_MS --status 127.0.0.1:$PROXY_STATUS
/usr/bin/python3 bench/s3/delay_proxy.py --listen 127.0.0.1:$ISO_PORT --upstream 127.0.0.1:$RGW_PORT --delay-ms $ISO_DELAY_MS --status 127.0.0.1:$ISO_STATUS
export AWS_ACCESS_KEY_ID=$S3_ACCESS AWS_SECRET_ACCESS_KEY=… AWS_REGION=us-east-1
gen $CATCHUP_HW 1 | streamhouse segment write --store s3://$BUCKET/$PREFIX --s3-endpoint $RGW --block-bytes $BLOCK_BYTES --topic catchup --partition 0 --segment-records $SEG_RECORDS
gen $SMALL_HW 2 | streamhouse segment write --store s3://$BUCKET/$PREFIX --s3-endpoint $RGW --block-bytes $BLOCK_BYTES --topic small --partition 0 --segment-records $SMALL_RECORDS
taskset -c 1 streamhouse ${SERVE_ARGS[*]}          # fresh process per cold sample
taskset -c 0 curl -s -o body -w '%{http_code} %{time_total}' '$SVC/topics/<topic>/partitions/0/records?offset=<N>&max_records=1'
taskset -c 0 curl -s -o range.bin -w '%{http_code} %{time_total}' --aws-sigv4 aws:amz:us-east-1:s3 --user \$KEY:\$SECRET -H 'Range: bytes=<pos>-<pos+size-1>' $PROXY/$BUCKET/<segment key>
taskset -c 0 /usr/bin/python3 bench/s3/bench_util.py catchup $SVC catchup $CATCHUP_HW       # cold, then warm
taskset -c 0 curl -sf -Z --parallel-max 8 --aws-sigv4 aws:amz:us-east-1:s3 --user \$KEY:\$SECRET $PROXY/$BUCKET/${PREFIX}catchup/0/seg_….bin -o /dev/null …   # x4
taskset -c 1 streamhouse ${SERVE_ARGS_ISO[*]}      # isolation
taskset -c 0 curl -s -o /dev/null -w '%{time_total}' $SVC/healthz                        # x$PROBES, idle then loaded
\`\`\`
(\`gen COUNT SEED\` is the awk generator in bench/s3/run.sh; block positions for the baselines come from
the segments' own index, parsed by \`bench_util.py blocks\`.)
EOF
cp "$REPORT" "$HERE/last-run.md"
cat "$REPORT"
log "done; report also in bench/s3/last-run.md"
