#!/bin/bash
# Start a throw-away single-node Ceph (Debian 12 packages, 16.2.x "pacific"):
# 1 monitor + 1 OSD (memstore: data lives in the OSD's RAM) + RADOS Gateway,
# everything bound to 127.0.0.1, all state under $STATE, cephx off inside the
# cluster (S3 SigV4 auth is done by RGW and is NOT affected by that).
#
#   S3 endpoint : http://127.0.0.1:$RGW_PORT   (path-style)
#   buckets     : $BUCKETS (space-separated, created empty; default streamhouse-test)
#   access key  : $S3_ACCESS (default TESTACCESSKEY0000001)
#   secret key  : $S3_SECRET (default testsecretkey0000000000000000000000000001)
#
# Idempotent: stops the processes recorded in $STATE/run/*.pid (only those),
# wipes $STATE, creates a new cluster, waits until S3 answers.
# Env: STATE (default /tmp/streamhouse-test-ceph), RGW_PORT (18380),
#      MON_PORT (18300), S3_ACCESS, S3_SECRET, BUCKETS.
# Fails loudly (exit 1 and a message naming the log directory) when the
# cluster cannot start: the integration tests must not silently skip.
# Needs (once): apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
set -euo pipefail

STATE="${STATE:-/tmp/streamhouse-test-ceph}"
RGW_PORT="${RGW_PORT:-18380}"
MON_PORT="${MON_PORT:-18300}"
S3_ACCESS="${S3_ACCESS:-TESTACCESSKEY0000001}"
S3_SECRET="${S3_SECRET:-testsecretkey0000000000000000000000000001}"
# OSD_STORE=memstore (default: objects held in the OSD's RAM) or
# OSD_STORE=bluestore (objects in a sparse 16 GiB file $STATE/osd/block)
OSD_STORE="${OSD_STORE:-memstore}"
BUCKETS="${BUCKETS:-streamhouse-test}"

for tool in monmaptool ceph-mon ceph-osd radosgw radosgw-admin ceph curl; do
  command -v "$tool" >/dev/null || {
    echo "ceph-rgw: '$tool' not found; install: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common curl" >&2
    exit 1; }
done

# stop a previous instance: only the PIDs recorded in $STATE/run whose command
# line still names $STATE (guards against PID reuse); zombies count as gone.
# radosgw first (it takes ~7 s to exit on SIGTERM), then osd + mon.
ours() { [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' </proc/$1/cmdline | grep -qF -- "$STATE/" \
         && [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]; }
term_wait() { # seconds name...
  local t=$1 pids=() n pid f i left; shift
  for n in "$@"; do
    f="$STATE/run/$n.pid"; [[ -f "$f" ]] || continue
    pid=$(cat "$f"); rm -f "$f"
    if ours "$pid"; then kill -TERM "$pid"; pids+=("$pid"); fi
  done
  for i in $(seq $((t * 10))); do
    left=0; for pid in "${pids[@]}"; do ours "$pid" && left=1; done
    (( left )) || return 0; sleep 0.1
  done
  for pid in "${pids[@]}"; do ours "$pid" && kill -KILL "$pid"; done
  return 0
}
term_wait 10 rgw
term_wait 5 osd mon
for p in $MON_PORT $RGW_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "ceph-rgw: port $p on 127.0.0.1 is already in use" >&2; exit 1; fi
done
rm -rf "$STATE"
mkdir -p "$STATE"/{run,log,mon,osd/ceph-0,rgw,crash,tmp}
CONF="$STATE/ceph.conf"
export CEPH_CONF="$CONF"
FSID=$(cat /proc/sys/kernel/random/uuid)

cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon_host = [v2:127.0.0.1:$MON_PORT]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
ms_bind_port_min = $((MON_PORT + 1))
ms_bind_port_max = $((MON_PORT + 60))
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
run_dir = $STATE/run
crash_dir = $STATE/crash
admin_socket = $STATE/run/\$cluster-\$name.asok
log_file = $STATE/log/\$cluster-\$name.log
log_to_stderr = false
err_to_stderr = true
keyring = $STATE/keyring
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
# throw-away cluster: make the mon commit map changes quickly (pool creation)
paxos_propose_interval = 0.05
paxos_min_wait = 0.01

[mon]
mon_data = $STATE/mon/\$cluster-\$id
mon_cluster_log_file = $STATE/log/\$cluster.mon-cluster.log

[osd]
osd_data = $STATE/osd/\$cluster-\$id
osd_objectstore = $OSD_STORE
memstore_device_bytes = 8589934592
bluestore_block_path = $STATE/osd/block
bluestore_block_size = 17179869184
bluestore_block_create = true
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
osd_memory_target = 1073741824
bluestore_cache_autotune = true
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1

[client.rgw.a]
# tcp_nodelay=1: without it, keep-alive clients see ~40 ms per small GET (Nagle + delayed ACK)
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw_data = $STATE/rgw
rgw_thread_pool_size = 64
rgw_enable_usage_log = false

# radosgw defaults to a cephx-"secure" mon connection; with auth=none use crc
ms_mon_client_mode = crc
EOF

# --- monitor ---
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$STATE/tmp/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$STATE/tmp/monmap" >"$STATE/log/mkfs-mon.out" 2>&1
ceph-mon -c "$CONF" -f -i a >"$STATE/log/mon.out" 2>&1 &
echo $! > "$STATE/run/mon.pid"

deadline=$((SECONDS + 60))
die() { echo "ceph-rgw: $*; see $STATE/log" >&2; exit 1; }
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null); [[ -n "$st" && "$st" != Z* ]]; }
alive() { for f in "$STATE"/run/*.pid; do running "$(cat "$f")" || die "$(basename "$f" .pid) died"; done; }
until timeout 5 ceph --connect-timeout 2 mon stat >/dev/null 2>&1; do
  alive; (( SECONDS < deadline )) || die "mon not up"; sleep 0.2
done

echo "[${SECONDS}s] mon up"
# --- OSD ---
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph osd new "$OSD_UUID")
ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >"$STATE/log/mkfs-osd.out" 2>&1
ceph-osd -c "$CONF" -f -i "$OSD_ID" >"$STATE/log/osd.out" 2>&1 &
echo $! > "$STATE/run/osd.pid"
until ceph osd dump 2>/dev/null | grep -q "^osd.$OSD_ID up"; do
  alive; (( SECONDS < deadline )) || die "osd not up"; sleep 0.2
done

echo "[${SECONDS}s] osd up"
# --- RGW ---
radosgw -c "$CONF" -f -n client.rgw.a >"$STATE/log/rgw.out" 2>&1 &
echo $! > "$STATE/run/rgw.pid"
until curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/"; do
  alive; (( SECONDS < deadline )) || die "rgw not up"; sleep 0.2
done
echo "[${SECONDS}s] rgw answering"
radosgw-admin user create --uid=test --display-name="Test User" \
  --access-key="$S3_ACCESS" --secret-key="$S3_SECRET" >"$STATE/log/user-create.out" 2>&1 \
  || die "radosgw-admin user create failed"
until curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS:$S3_SECRET" \
      -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$RGW_PORT/" >/dev/null; do
  alive; (( SECONDS < deadline )) || die "signed S3 request not accepted"; sleep 0.2
done
for b in $BUCKETS; do
  curl -sf -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS:$S3_SECRET" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$RGW_PORT/$b" >/dev/null \
    || die "cannot create bucket $b"
done
echo "[${SECONDS}s] ceph-rgw ready: endpoint=http://127.0.0.1:$RGW_PORT access=$S3_ACCESS buckets=$BUCKETS state=$STATE"
