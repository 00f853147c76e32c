#!/bin/bash
# Stop the processes started by start-ceph-rgw.sh: only the PIDs recorded in
# $STATE/run/*.pid whose command line still names $STATE. radosgw first
# (SIGTERM, it needs ~7 s; SIGKILL after 10 s), then osd + mon (SIGKILL after
# 5 s). The cluster is throw-away, so a SIGKILL loses nothing that matters.
# FAST=1: SIGKILL at once (fine for this throw-away cluster; ~0.3 s instead of ~9 s)
STATE="${STATE:-/tmp/streamhouse-test-ceph}"
SIG=TERM; [[ "${FAST:-0}" == 1 ]] && SIG=KILL
ours() { [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' </proc/$1/cmdline | grep -qF -- "$STATE/" \
         && [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]; }
stopped=()
term_wait() { # seconds name...
  local t=$1 pids=() n pid f i left; shift
  for n in "$@"; do
    f="$STATE/run/$n.pid"; [[ -f "$f" ]] || continue
    pid=$(cat "$f"); rm -f "$f"
    if ours "$pid"; then kill -$SIG "$pid"; pids+=("$pid"); stopped+=("$n:$pid"); fi
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
echo "stopped: ${stopped[*]:-none}"
