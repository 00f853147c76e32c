#!/usr/bin/python3
"""Helpers of bench/soak.sh (stdlib only).

  soak.py proc PID                      one JSON line: RSS, fds (sockets / other), threads, CPU ticks
  soak.py sample PID OUT INTERVAL_S     appends such a line (with "t", seconds since start) to OUT
                                        every INTERVAL_S until PID is gone or SIGTERM
  soak.py capacity LOADGEN_JSONL SKIP_S  completed requests/s of a closed-loop run, intervals after SKIP_S
  soak.py report ARGS_JSON              checks the pass criteria, writes the markdown summary,
                                        prints it; exit status 1 if a criterion failed
"""
import json
import math
import os
import signal
import sys
import time

BUCKET_BASE, BUCKET_GROWTH = 1e-5, 1.05  # as in loadgen.cc
READ_KINDS = ("warm", "cold", "stream")


def proc(pid):
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    sockets = other = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:"):
            sockets += 1
        else:
            other += 1
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return {
        "rss_kib": int(st["VmRSS"].split()[0]),
        "hwm_kib": int(st["VmHWM"].split()[0]),
        "threads": int(st["Threads"]),
        "tasks": len(os.listdir(f"/proc/{pid}/task")),
        "fds": sockets + other,
        "fd_sockets": sockets,
        "fd_other": other,
        "cpu_ticks": int(fields[11]) + int(fields[12]),  # utime + stime
    }


def sample(pid, out, interval):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    t0 = time.monotonic()
    nxt = t0
    with open(out, "a") as f:
        while not stop:
            try:
                s = proc(pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            s["t"] = round(time.monotonic() - t0, 3)
            f.write(json.dumps(s) + "\n")
            f.flush()
            nxt += interval
            time.sleep(max(0.0, nxt - time.monotonic()))


def load_jsonl(path):
    rows, summary = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            j = json.loads(line)
            if j.get("summary"):
                summary = j
            else:
                rows.append(j)
    return rows, summary


def capacity(path, skip):
    rows, _ = load_jsonl(path)
    n = secs = 0.0
    for r in rows:
        if r["t"] - r["dt"] >= skip - 1e-6:
            n += sum(r["ok"].values()) + sum(r["err"].values())
            secs += r["dt"]
    print(f"{n / secs:.1f}" if secs > 0 else "0")


def merge(rows, kinds):
    h = {}
    for r in rows:
        for k in kinds:
            for b, c in r["hist"].get(k, {}).items():
                h[int(b)] = h.get(int(b), 0) + c
    return h


def pct(h, q):
    n = sum(h.values())
    if n == 0:
        return 0.0
    want, acc = math.ceil(q * n), 0
    for b in sorted(h):
        acc += h[b]
        if acc >= want:
            return BUCKET_BASE * BUCKET_GROWTH ** b * 1e3
    return 0.0


def report(args):
    a = json.load(open(args))
    rows, summary = load_jsonl(a["loadgen"])
    samples = [json.loads(l) for l in open(a["samples"]) if l.strip()]
    secs = a["soak_seconds"]
    warm = a["warmup_seconds"]
    fails, notes = [], []

    # 1. errors: every due request sent and answered as expected
    total_err = sum(sum(r["err"].values()) for r in rows)
    reasons = {}
    for r in rows:
        for k, v in r["errors"].items():
            reasons[k] = reasons.get(k, 0) + v
    sent = summary["sent"] if summary else 0
    ok = summary["ok"] if summary else 0
    if summary is None:
        fails.append("the load generator wrote no summary (it did not finish)")
    else:
        if total_err or summary["err"]:
            fails.append(f"{summary['err']} request(s) failed: {reasons}")
        if summary["unsent"]:
            fails.append(f"{summary['unsent']} due request(s) never sent (backlog at the end: the server fell behind)")
        if summary["ok"] + summary["err"] != summary["sent"]:
            fails.append(f"sent {summary['sent']} but {summary['ok'] + summary['err']} ended")
    scheduled = a["rate"] * secs
    if sent < 0.99 * scheduled:
        fails.append(f"only {sent} of {scheduled:.0f} scheduled requests were sent")

    # 1b. stalls: an interval after warm-up whose reads p99 passed 1 s, or with more than
    # 4x the connections the generator held in warm-up (the server fell behind at 80% load)
    warm_conns = max([r["conns"] for r in rows if r["t"] <= warm] or [1])
    stalls = [r for r in rows if r["t"] > warm and (pct(merge([r], READ_KINDS), 0.99) > 1000
                                                    or r["conns"] > 4 * max(warm_conns, 25))]
    if stalls:
        fails.append("stall: " + "; ".join(
            f"t={r['t']:.0f}s p99 {pct(merge([r], READ_KINDS), 0.99):.0f} ms, {r['conns']} connections"
            for r in stalls[:5]) + f" (warm-up max {warm_conns} connections): the server fell behind")
    stall_note = (f" (after the stall at t={stalls[0]['t']:.0f}s: the memory of the requests then in flight, "
                  f"kept by the allocator)") if stalls else ""

    # 2. RSS, fds, threads flat after warm-up
    def med(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if xs else 0

    after = [s for s in samples if s["t"] >= warm]
    warm_half = [s for s in samples if warm / 2 <= s["t"] < warm] or samples[:1]
    quarter = (secs - warm) / 3
    first_q = [s for s in after if s["t"] < warm + quarter]
    last_q = [s for s in after if s["t"] >= secs - quarter]
    if not after or not first_q or not last_q:
        fails.append("no resource sample after warm-up")
    else:
        base = max(s["rss_kib"] for s in warm_half)
        rss_max = max(s["rss_kib"] for s in after)
        if rss_max > base + a["rss_slack_mib"] * 1024:
            fails.append(f"RSS grew after warm-up: max {rss_max / 1024:.1f} MiB > {base / 1024:.1f} MiB (max of the "
                         f"second half of warm-up) + {a['rss_slack_mib']} MiB{stall_note}")
        # A leak keeps growing: the last third sits above everything before it.
        # A one-time step (a burst of requests in flight, whose memory the
        # allocator keeps) followed by a flat line does not.
        m1, m2 = med(s["rss_kib"] for s in first_q), med(s["rss_kib"] for s in last_q)
        earlier = [s for s in after if s["t"] < secs - quarter]
        ceiling = max(s["rss_kib"] for s in earlier) if earlier else m1
        if m2 > ceiling + a["rss_trend_mib"] * 1024:
            fails.append(f"RSS trend: median of the last third after warm-up {m2 / 1024:.1f} MiB > the highest RSS "
                         f"before it {ceiling / 1024:.1f} MiB + {a['rss_trend_mib']} MiB (still growing){stall_note}")
        o1, o2 = med(s["fd_other"] for s in first_q), med(s["fd_other"] for s in last_q)
        if o2 > o1 + a["fd_slack"]:
            fails.append(f"non-socket fds grew: median {o2} in the last third after warm-up > {o1} in the first third "
                         f"+ {a['fd_slack']}")
        thr_base = max(s["threads"] for s in warm_half)
        thr_max = max(s["threads"] for s in after)
        if thr_max > thr_base + a["thread_slack"]:
            fails.append(f"threads grew after warm-up: max {thr_max} > {thr_base} + {a['thread_slack']}")
        notes.append(f"RSS after warm-up: max {rss_max / 1024:.1f} MiB against {base / 1024:.1f} MiB in warm-up; median "
                     f"{m1 / 1024:.1f} MiB (first third) -> {m2 / 1024:.1f} MiB (last third); non-socket fds median "
                     f"{o1} -> {o2}; threads max {thr_max} (warm-up {thr_base})")
    pre, post = a["pre"], a["post"]
    if post["fd_sockets"] > 1 + a["fd_slack"] or post["fd_other"] > pre["fd_other"] + a["fd_slack"]:
        fails.append(f"fds {a['post_wait']} s after the load ended: {post['fd_sockets']} sockets (want <= 1 listening + "
                     f"{a['fd_slack']}), {post['fd_other']} others (before it {pre['fd_other']} + {a['fd_slack']}): "
                     f"descriptors leaked")
    if post["threads"] > pre["threads"] + a["thread_slack"]:
        fails.append(f"threads after the load ended: {post['threads']} > {pre['threads']} before it + {a['thread_slack']}")

    # 3. p99 stable: the last third after warm-up against the first third
    first_w = [r for r in rows if warm <= r["t"] - r["dt"] + 1e-6 and r["t"] <= warm + quarter + 1e-6]
    last_w = [r for r in rows if r["t"] - r["dt"] >= secs - quarter - 1e-6]
    p99 = {}
    for name, kinds, floor in (("reads", READ_KINDS, a["p99_floor_ms"]), ("commits", ("commit",), a["p99_commit_floor_ms"])):
        f, l = pct(merge(first_w, kinds), 0.99), pct(merge(last_w, kinds), 0.99)
        p99[name] = (f, l, floor)
        if not first_w or not last_w:
            fails.append("no latency window (run too short for the warm-up and windows)")
        elif l > max(2 * f, floor):
            fails.append(f"p99 of {name} grew: last third {l:.2f} ms > max(2 x {f:.2f} ms of the first third after "
                         f"warm-up, floor {floor} ms)")
    # 4. long-polls waited their timeout (no early empty answers)
    poll_mins = [r["poll_min_ms"] for r in rows if r["ok"]["poll"] > 0]
    if poll_mins and min(poll_mins) < 0.9 * a["poll_timeout_ms"]:
        fails.append(f"a long-poll answered after {min(poll_mins):.0f} ms, before its timeout_ms={a['poll_timeout_ms']}")

    # Markdown
    ok_kind = summary["ok_by_kind"] if summary else {}
    out = []
    out.append(f"# Soak run {a['started']} ({'PASS' if not fails else 'FAIL'})\n")
    out.append(f"- binary: `{a['binary']}`; load average at start: {a['loadavg_start']}, at end: {a['loadavg_end']}")
    out.append(f"- server `taskset -c {a['server_core']}` (`{a['server_args']}`), load generator "
               f"`taskset -c {a['client_core']}` (bench/soak/loadgen.cc)")
    out.append(f"- data: {a['data']}")
    out.append(f"- mix (weights): {a['mix']}; records reads max_records={a['max_records']}, bounded streams "
               f"{a['stream_records']} records, long-polls timeout_ms={a['poll_timeout_ms']}, followers closed after "
               f"{a['follow_ms']} ms, commits over {a['groups']} groups")
    out.append(f"- capacity (closed loop, {a['cap_concurrency']} busy requests in flight, {a['cap_seconds']} s): "
               f"**{a['capacity']:.0f} req/s**; soak open loop at {a['fraction'] * 100:.0f}% = **{a['rate']:.0f} req/s** "
               f"for {secs} s (warm-up {warm} s, then thirds of {quarter:.0f} s)")
    if summary:
        out.append(f"- requests: {summary['sent']} sent, {summary['ok']} ok, {summary['err']} errors, "
                   f"{summary['unsent']} unsent; max client connections {summary['max_conns']}, max backlog "
                   f"{summary['max_backlog']}; by kind: " + ", ".join(f"{k} {v}" for k, v in ok_kind.items()))
    bc = a.get("block_cache", {})
    if bc:
        h, m = bc.get("hits", 0), bc.get("misses", 0)
        out.append(f"- block cache during the soak: {h} hits, {m} misses ({100 * m / max(1, h + m):.1f}% misses: "
                   f"the cold reads decode again)")
    out.append(f"- process before the soak: RSS {pre['rss_kib'] / 1024:.1f} MiB, {pre['fds']} fds, {pre['threads']} threads; "
               f"after it ended (+{a['post_wait']} s: the first sample with the fds back, or 25 s): RSS {post['rss_kib'] / 1024:.1f} MiB, {post['fds']} fds "
               f"({post['fd_sockets']} sockets, {post['fd_other']} others), {post['threads']} threads; VmHWM {post['hwm_kib'] / 1024:.1f} MiB; "
               f"server TCP states 1 s after the load: {a['post_states'] or 'none'}")
    out.append(f"- server log: {a['log_errors']} error line(s), {a['log_warnings']} warning line(s)"
               + (f" (most frequent: {'; '.join(a['log_warning_kinds'])})" if a['log_warning_kinds'] else ""))
    if a["log_errors"]:
        fails.append(f"the server logged {a['log_errors']} error line(s)")
    for name, (f, l, floor) in p99.items():
        out.append(f"- p99 of {name}: first third after warm-up {f:.2f} ms, last third {l:.2f} ms "
                   f"(limit max(2x, {floor} ms))")
    out += [f"- {n}" for n in notes]
    out.append("")
    out.append("| t (s) | req/s | errors | p50 reads ms | p99 reads ms | p99 commits ms | max poll late ms | conns | "
               "RSS MiB | fds (sock/other) | threads | server CPU % |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    prev_cpu = None
    hz = os.sysconf("SC_CLK_TCK")
    for r in rows:
        near = min(samples, key=lambda s: abs(s["t"] - r["t"])) if samples else None
        cpu = ""
        if near is not None:
            if prev_cpu is not None and near["t"] > prev_cpu["t"]:
                cpu = f"{100 * (near['cpu_ticks'] - prev_cpu['cpu_ticks']) / hz / (near['t'] - prev_cpu['t']):.0f}"
            prev_cpu = near
        hr = merge([r], READ_KINDS)
        n = sum(r["ok"].values()) + sum(r["err"].values())
        res = (f"{near['rss_kib'] / 1024:.1f} | {near['fd_sockets']}/{near['fd_other']} | {near['threads']}"
               if near else " | | ")
        out.append(f"| {r['t']:.0f} | {n / r['dt']:.0f} | {sum(r['err'].values())} | {pct(hr, 0.5):.2f} | "
                   f"{pct(hr, 0.99):.2f} | {r['p99_ms'].get('commit', 0):.2f} | {max(0.0, r['poll_max_late_ms']):.0f} | "
                   f"{r['conns']} | {res} | {cpu} |")
    out.append("")
    out.append(f"Criteria (bench/README.md): no error and no unsent request; after warm-up (first quarter) the run "
               f"is cut in thirds: RSS max after warm-up <= max of the second half of warm-up + {a['rss_slack_mib']} MiB, "
               f"RSS median of the last third <= the highest RSS before it + {a['rss_trend_mib']} MiB, non-socket fds median "
               f"of the last third <= first + {a['fd_slack']}, threads max <= warm-up max + {a['thread_slack']}; "
               f"within 25 s after the load (libmicrohttpd may keep a connection the client closed until "
               f"--connection-timeout-s, 15 s): sockets <= 1 (listening) + {a['fd_slack']}, other fds <= before it + "
               f"{a['fd_slack']}, threads <= before + "
               f"{a['thread_slack']}; p99 of reads (warm+cold+stream) in the last third <= max(2x the first third, "
               f"{a['p99_floor_ms']} ms), commits the same with a {a['p99_commit_floor_ms']} ms floor; every long-poll "
               f"waited >= 0.9 x timeout_ms; no error line in the server log; no stall (a 5 s interval after warm-up "
               f"with reads p99 > 1 s or more than 4x the connections of warm-up, at least 100).")
    out.append("")
    if fails:
        out.append("**FAILED:**")
        out += [f"- {x}" for x in fails]
    else:
        out.append("**PASSED** every criterion.")
    text = "\n".join(out) + "\n"
    with open(a["md"], "w") as f:
        f.write(text)
    print(text)
    return 1 if fails else 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "proc":
        print(json.dumps(proc(int(sys.argv[2]))))
    elif cmd == "sample":
        sample(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
    elif cmd == "capacity":
        capacity(sys.argv[2], float(sys.argv[3]))
    elif cmd == "report":
        sys.exit(report(sys.argv[2]))
    else:
        sys.exit(__doc__)
