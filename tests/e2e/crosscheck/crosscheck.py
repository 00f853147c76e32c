#!/usr/bin/python3
"""End-to-end cross-check of the `streamhouse` binary against the independent Python
implementation of segment format v1 (segment_v1.py, written from the documents only).

  a. Python writer -> segment files in a local store
  b. `streamhouse serve` over that store; records compared with the Python model
  b2. `serve` over segments with a flipped byte: 502 naming the object, intact blocks still served
  c. `streamhouse segment write` -> files read back with the Python reader (records, block cuts,
     raw payloads byte-exact with the Python writer; whole file byte-exact when uncompressed)
  d. `streamhouse segment verify` on Python-written files (must pass) and on copies with
     single flipped bytes in header, block headers, block bodies, index and footer (must fail
     and name the file); `segment dump` of Python-written files vs the model
  d2. hand-made segments with every CRC right but one documented rule broken (must fail), and
     unusual but valid ones (must pass)

Usage: crosscheck.py --binary PATH [--workdir DIR] [--seed N] [--queries N] [--flips N] [--keep]
Exits 0 only if every check passed; prints "crosscheck: N passed, M failed".
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import struct

import lz4.block

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segment_v1 as sv  # noqa: E402

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def check(self, cond: bool, what: str) -> bool:
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(what)
            print(f"MISMATCH: {what}", file=sys.stderr, flush=True)
        return cond


# ------------------------------------------------------------------ data generation

HEADER_NAMES = ["trace", "content-type", "h", "", "ключ", "名前", "emoji-\U0001F600", "x" * 40]


def rand_bytes(rng: random.Random, n: int) -> bytes:
    kind = rng.random()
    if kind < 0.35:  # arbitrary bytes, almost surely not UTF-8
        b = bytes(rng.getrandbits(8) for _ in range(n))
        if n:
            b = b"\xff" + b[1:]  # guarantee invalid UTF-8
        return b
    if kind < 0.7:  # compressible text
        words = ["alpha", "beta", "gamma", "delta", "ωμέγα", "\u20ac", " "]
        parts, size = [], 0
        while size < n:
            w = rng.choice(words)
            parts.append(w)
            size += len(w.encode())
        return "".join(parts).encode()[:n].decode("utf-8", errors="ignore").encode()
    return ("v" * n).encode()


def rand_opt_bytes(rng: random.Random, p_null: float, max_len: int):
    if rng.random() < p_null:
        return None
    if rng.random() < 0.05:
        return b""
    return rand_bytes(rng, rng.randint(1, max_len))


def gen_records(rng: random.Random, first_offset: int, n: int, ts0: int, big_every: int = 0,
                big_size: int = 0, extreme_ts: bool = False):
    out = []
    off = first_offset
    ts = ts0
    for i in range(n):
        if i:
            off += 1 if rng.random() < 0.7 else rng.randint(2, 40)
        ts += rng.randint(-3000, 5000)  # negative deltas included
        t = ts
        if extreme_ts and rng.random() < 0.3:
            t = rng.choice([INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, -1, 0,
                            rng.randint(INT64_MIN, INT64_MAX)])
        key = rand_opt_bytes(rng, 0.25, 40)
        value = rand_opt_bytes(rng, 0.12, 200)
        if big_every and i % big_every == big_every // 2:
            value = rand_bytes(rng, big_size)
        headers = []
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            headers.append((rng.choice(HEADER_NAMES), rand_opt_bytes(rng, 0.25, 30)))
        out.append(sv.Record(off, t, key, value, headers))
    return out


def rec_str(r: sv.Record) -> str:
    return (f"offset={r.offset} ts={r.timestamp} key={r.key!r:.60} value={r.value!r:.60} "
            f"headers={r.headers!r:.120}")


def compare_records(ck: Checker, got, want, what: str) -> bool:
    if not ck.check(len(got) == len(want), f"{what}: {len(got)} records, expected {len(want)}"):
        return False
    for i, (g, w) in enumerate(zip(got, want)):
        if not ck.check(g == w, f"{what}: record {i} differs:\n   got  {rec_str(g)}\n   want {rec_str(w)}"):
            return False
    return True


# ------------------------------------------------------------------ a. Python writer


def write_python_store(ck: Checker, rng: random.Random, root: str):
    """Writes several partitions; returns {(topic, partition): {"records": [...], "segments": [...]}}."""
    layouts = [
        # topic, partition, [(records, compression, block_bytes)], base, ts0, extreme
        ("cross.none", 0, [(60, 0, 512), (45, 0, 700), (30, 0, 1 << 20)], 100, 1_700_000_000_000, False),
        ("cross.lz4", 0, [(80, 1, 1024), (50, 1, 300)], 0, 1_600_000_000_000, False),
        ("cross.lz4", 3, [(40, 1, 2048)], 5_000_000, 1_650_000_000_000, False),
        ("cross_mixed", 1, [(35, 0, 400), (35, 1, 400), (35, 0, 1 << 20), (20, 1, 1 << 20)],
         1_000_000_000_000_000, 1_700_000_000_000, False),
        ("Extreme-TS", 0, [(40, 0, 600), (40, 1, 600)], (1 << 62), 0, True),
        # one record per block: an index of 1500 x 48 bytes does not fit a 64 KiB suffix read
        ("big-index", 0, [(3200, 1, 64), (10, 0, 64)], 7, 1_700_000_000_000, False),
    ]
    model = {}
    for topic, part, segs, base, ts0, extreme in layouts:
        all_recs, seg_infos = [], []
        next_off = base
        ts = ts0
        for n, comp, bb in segs:
            recs = gen_records(rng, next_off, n, ts, big_every=17, big_size=bb * 2 if bb < (1 << 16) else 5000,
                               extreme_ts=extreme)
            data = sv.write_segment(recs, comp, bb, created_at_ms=1_700_000_000_000 + len(seg_infos))
            key = sv.segment_key("", topic, part, recs[0].offset)
            path = os.path.join(root, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            # Self-check: the Python reader reads the Python writer's output back.
            seg = sv.read_segment(data, key)
            ck.check(seg.records == recs, f"python self-check: {key} does not round-trip")
            ck.check(not sv.check_block_cuts(seg, bb), f"python self-check: {key} block cuts")
            ck.check(len(seg.blocks) > 1 or bb >= (1 << 20), f"python self-check: {key} has one block")
            if topic == "big-index" and len(seg_infos) == 0:
                ck.check(seg.footer.index_length + 48 > 65536,
                         f"python self-check: {key} index of {seg.footer.index_length} B is meant to exceed 64 KiB")
            seg_infos.append({"key": key, "path": path, "seg": seg, "size": len(data),
                              "compression": comp, "block_bytes": bb})
            all_recs += recs
            next_off = recs[-1].offset + rng.randint(1, 30)  # gap between segments too
            ts = recs[-1].timestamp if not extreme else ts0
        model[(topic, part)] = {"records": all_recs, "segments": seg_infos}
    return model


# ------------------------------------------------------------------ b. serve


class Server:
    def __init__(self, binary: str, store: str, logdir: str, log_name: str = "serve.stderr"):
        self.log_path = os.path.join(logdir, log_name)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--store", f"file://{store}", "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            marker = "on http://127.0.0.1:"
            if marker in text:
                rest = text.split(marker, 1)[1]
                digits = ""
                for ch in rest:
                    if not ch.isdigit():
                        break
                    digits += ch
                if digits:
                    self.port = int(digits)
                    break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            with open(self.log_path, "rb") as f:
                raise RuntimeError("streamhouse serve did not report its port; stderr:\n" +
                                   f.read().decode("utf-8", "replace")[-4000:])

    def get(self, path: str):
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                return e.code, json.loads(body)
            except ValueError:
                return e.code, {"raw": body.decode("utf-8", "replace")}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def b64(b):
    return None if b is None else base64.b64decode(b, validate=True)


def json_to_record(ck: Checker, j, what: str):
    for f in ("key_encoding", "value_encoding"):
        ck.check(f not in j, f"{what}: unexpected {f} under format=base64: {j}")
    headers = []
    for h in j.get("headers", []):
        headers.append((h["key"], b64(h["value"])))
    return sv.Record(j["offset"], j["timestamp"], b64(j["key"]), b64(j["value"]), headers)


def check_records_response(ck: Checker, status, body, want_all, start_idx: int, k: int, hw: int,
                           log_start: int, what: str):
    if not ck.check(status == 200, f"{what}: HTTP {status}, expected 200: {str(body)[:300]}"):
        return
    ck.check(body.get("high_watermark") == hw, f"{what}: high_watermark {body.get('high_watermark')}, expected {hw}")
    ck.check(body.get("log_start_offset") == log_start,
             f"{what}: log_start_offset {body.get('log_start_offset')}, expected {log_start}")
    got = [json_to_record(ck, j, what) for j in body.get("records", [])]
    want = want_all[start_idx:start_idx + k]
    if not want:
        ck.check(not got, f"{what}: expected no records, got {len(got)}")
        ck.check(body.get("next_offset") == hw, f"{what}: next_offset {body.get('next_offset')}, expected {hw}")
        return
    # The server may stop early (e.g. at a segment boundary); it must return at least one
    # record and an exact prefix of what the model holds.
    if not ck.check(0 < len(got) <= len(want), f"{what}: {len(got)} records, expected 1..{len(want)}"):
        return
    if len(got) < len(want):
        print(f"note: {what}: short read {len(got)}/{len(want)}", file=sys.stderr)
    compare_records(ck, got, want[:len(got)], what)
    nxt = body.get("next_offset")
    after = want_all[start_idx + len(got)].offset if start_idx + len(got) < len(want_all) else hw
    ck.check(nxt is not None and got[-1].offset < nxt <= after,
             f"{what}: next_offset {nxt} not in ({got[-1].offset}, {after}]")


def check_server(ck: Checker, rng: random.Random, binary: str, store: str, workdir: str, model,
                 queries: int):
    srv = Server(binary, store, workdir)
    try:
        keys = sorted(model)
        n_offset = n_ts = 0
        # Segment listing against the footers.
        for (topic, part) in keys:
            status, body = srv.get(f"/topics/{topic}/partitions/{part}/segments")
            if not ck.check(status == 200, f"segments of {topic}/{part}: HTTP {status} {str(body)[:200]}"):
                continue
            segs = model[(topic, part)]["segments"]
            got = body.get("segments", [])
            if not ck.check(len(got) == len(segs), f"segments of {topic}/{part}: {len(got)}, expected {len(segs)}"):
                continue
            for g, s in zip(got, segs):
                f = s["seg"].footer
                want = {"key": s["key"], "base_offset": f.base_offset, "last_offset": f.last_offset,
                        "record_count": len(s["seg"].records), "size_bytes": s["size"]}
                for k2, v in want.items():
                    ck.check(g.get(k2) == v, f"segments of {topic}/{part}: {s['key']} {k2} = {g.get(k2)}, expected {v}")
                if g.get("max_timestamp") is not None:
                    ck.check(g["max_timestamp"] == f.max_timestamp,
                             f"segments of {topic}/{part}: {s['key']} max_timestamp {g['max_timestamp']}, "
                             f"expected {f.max_timestamp}")
        for qi in range(queries):
            topic, part = rng.choice(keys)
            recs = model[(topic, part)]["records"]
            log_start = recs[0].offset
            hw = recs[-1].offset + 1
            k = rng.choice([1, 1, 2, 5, 10, 37, 100, 500])
            mode = rng.random()
            if mode < 0.75:
                # offset query: exact record offsets, gap offsets, boundaries
                r = rng.random()
                if r < 0.5:
                    n = rng.choice(recs).offset
                elif r < 0.9:
                    i = rng.randrange(len(recs) - 1)
                    n = rng.randint(recs[i].offset, recs[i + 1].offset)
                else:
                    n = rng.choice([log_start, hw - 1, hw])
                idx = next((i for i, x in enumerate(recs) if x.offset >= n), len(recs))
                what = f"GET {topic}/{part} offset={n} max_records={k}"
                status, body = srv.get(f"/topics/{topic}/partitions/{part}/records?offset={n}"
                                       f"&max_records={k}&max_bytes={64 << 20}&format=base64")
                check_records_response(ck, status, body, recs, idx, k, hw, log_start, what)
                n_offset += 1
            elif mode < 0.8:
                # out of range on either side
                n = rng.choice([hw + rng.randint(1, 1000)] + ([log_start - 1] if log_start > 0 else []))
                status, body = srv.get(f"/topics/{topic}/partitions/{part}/records?offset={n}&format=base64")
                ck.check(status == 416, f"GET {topic}/{part} offset={n} (outside {log_start}..{hw}): "
                                        f"HTTP {status}, expected 416: {str(body)[:200]}")
                n_offset += 1
            else:
                # timestamp query: first record (in offset order) with timestamp >= t
                r = rng.random()
                tss = [x.timestamp for x in recs]
                if r < 0.5:
                    t = rng.choice(tss)
                elif r < 0.9:
                    t = rng.randint(min(tss), max(tss))
                else:
                    t = max(tss) + 1 if max(tss) < INT64_MAX else INT64_MAX
                t = max(t, INT64_MIN + 1)  # the API's lower bound
                idx = next((i for i, x in enumerate(recs) if x.timestamp >= t), len(recs))
                what = f"GET {topic}/{part} timestamp={t} max_records={k}"
                status, body = srv.get(f"/topics/{topic}/partitions/{part}/records?timestamp={t}"
                                       f"&max_records={k}&max_bytes={64 << 20}&format=base64")
                check_records_response(ck, status, body, recs, idx, k, hw, log_start, what)
                n_ts += 1
        # Every record of every partition, read sequentially by following next_offset.
        for (topic, part) in keys:
            recs = model[(topic, part)]["records"]
            got, n, hw = [], recs[0].offset, recs[-1].offset + 1
            for _ in range(len(recs) + 1):
                status, body = srv.get(f"/topics/{topic}/partitions/{part}/records?offset={n}"
                                       f"&max_records=10000&max_bytes={64 << 20}&format=base64")
                if not ck.check(status == 200, f"scan {topic}/{part} at {n}: HTTP {status} {str(body)[:200]}"):
                    break
                got += [json_to_record(ck, j, f"scan {topic}/{part}") for j in body["records"]]
                if not body["records"] or body["next_offset"] >= hw:
                    break
                n = body["next_offset"]
            compare_records(ck, got, recs, f"full scan of {topic}/{part}")
        print(f"serve: {n_offset} offset queries, {n_ts} timestamp queries, {len(keys)} full scans")
    finally:
        srv.stop()


# ------------------------------------------------------------------ b2. serving corrupt segments


def check_serve_corruption(ck: Checker, rng: random.Random, binary: str, workdir: str):
    """A corrupt block is a 502 naming the object, never a wrong record; intact blocks still serve."""
    store = os.path.join(workdir, "corrupt-store")
    cases = []
    for part, region in ((0, "block body"), (1, "index"), (2, "block header")):
        recs = gen_records(rng, 1000, 40, 1_700_000_000_000)
        data = bytearray(sv.write_segment(recs, part % 2, 400))
        seg = sv.read_segment(bytes(data))
        b1 = seg.blocks[1]
        if region == "block body":
            pos = rng.randrange(b1.entry.position + 12, b1.entry.position + b1.entry.size)
        elif region == "block header":
            pos = b1.entry.position + rng.randrange(12)
        else:
            pos = rng.randrange(seg.footer.index_position, seg.footer.index_position + seg.footer.index_length)
        data[pos] ^= rng.randint(1, 255)
        key = sv.segment_key("", "corrupt", part, recs[0].offset)
        os.makedirs(os.path.dirname(os.path.join(store, key)), exist_ok=True)
        with open(os.path.join(store, key), "wb") as f:
            f.write(data)
        cases.append((part, region, pos, key, seg))
    srv = Server(binary, store, workdir, "serve-corrupt.stderr")
    try:
        for part, region, pos, key, seg in cases:
            what = f"corrupt/{part} with a flipped {region} byte at {pos}"
            b0, b1 = seg.blocks[0], seg.blocks[1]
            status, body = srv.get(f"/topics/corrupt/partitions/{part}/records?offset={b1.records[0].offset}"
                                   f"&format=base64")
            ck.check(status == 502, f"{what}: GET at block 1 answered HTTP {status}, expected 502: {str(body)[:300]}")
            msg = str(body.get("message", "")) if isinstance(body, dict) else ""
            ck.check(key in msg, f"{what}: the error message does not name the object {key}: {str(body)[:300]}")
            if region != "index":
                status, body = srv.get(f"/topics/corrupt/partitions/{part}/records?offset={b0.records[0].offset}"
                                       f"&max_records={len(b0.records)}&format=base64")
                if ck.check(status == 200, f"{what}: GET inside the intact block 0 answered HTTP {status}: "
                                           f"{str(body)[:300]}"):
                    got = [json_to_record(ck, j, what) for j in body["records"]]
                    compare_records(ck, got, b0.records[:len(got)], f"{what}: intact block 0")
                    ck.check(len(got) >= 1, f"{what}: no records from the intact block 0")
    finally:
        srv.stop()
    print(f"serve-corrupt: {len(cases)} corrupt segments")


# ------------------------------------------------------------------ c. segment write


def to_jsonl(r: sv.Record) -> str:
    o = {"offset": r.offset, "timestamp": r.timestamp}
    for field, v in (("key", r.key), ("value", r.value)):
        if v is None:
            o[field] = None
            continue
        try:
            o[field] = v.decode("utf-8")
        except UnicodeDecodeError:
            o[field] = base64.b64encode(v).decode()
            o[field + "_encoding"] = "base64"
    o["headers"] = [{"key": n, "value": None if v is None else v.decode("utf-8")} for n, v in r.headers]
    return json.dumps(o)


def utf8_headers(recs):
    """The JSONL input carries header values as plain strings: make them UTF-8."""
    for r in recs:
        r.headers = [(n, None if v is None else v.decode("utf-8", errors="replace").encode()) for n, v in r.headers]
    return recs


def check_segment_write(ck: Checker, rng: random.Random, binary: str, workdir: str):
    runs = [
        # name, records, --segment-records, --block-bytes, compression flag, expected compression
        ("lz4", 230, 70, 1024, None, 1, False),
        ("none", 180, 64, 256, "none", 0, False),
        ("lz4-extreme-ts", 60, 25, 512, "lz4", 1, True),
    ]
    for name, n, seg_records, block_bytes, comp_flag, comp, extreme in runs:
        store = os.path.join(workdir, f"write-{name}")
        os.makedirs(store)
        recs = utf8_headers(gen_records(rng, rng.randint(0, 10_000), n, 1_690_000_000_000,
                                             big_every=23, big_size=block_bytes * 3, extreme_ts=extreme))
        cmd = [binary, "segment", "write", "--store", f"file://{store}", "--topic", "t", "--partition", "0",
               "--segment-records", str(seg_records), "--block-bytes", str(block_bytes)]
        if comp_flag:
            cmd += ["--compression", comp_flag]
        p = subprocess.run(cmd, input="\n".join(to_jsonl(r) for r in recs) + "\n", capture_output=True,
                           text=True, timeout=120)
        what = f"segment write ({name})"
        if not ck.check(p.returncode == 0, f"{what}: exit {p.returncode}: {p.stderr[-2000:]}"):
            continue
        try:
            summary = json.loads(p.stdout.strip().splitlines()[-1])
            ck.check(summary.get("records") == n and summary.get("high_watermark") == recs[-1].offset + 1,
                     f"{what}: summary {summary}")
        except (ValueError, IndexError):
            ck.check(False, f"{what}: stdout is not a JSON summary: {p.stdout[:300]!r}")
        pdir = os.path.join(store, "t", "0")
        files = sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []
        expect_segments = (n + seg_records - 1) // seg_records
        ck.check(len(files) == expect_segments, f"{what}: {len(files)} segment files, expected {expect_segments}: {files}")
        got = []
        for i, fn in enumerate(files):
            data = open(os.path.join(pdir, fn), "rb").read()
            key = f"t/0/{fn}"
            try:
                seg = sv.read_segment(data, key)
            except sv.CorruptSegment as e:
                ck.check(False, f"{what}: Python reader rejects the binary's segment: {e}")
                continue
            ck.check(seg.header.compression == comp,
                     f"{what}: {key} header compression {seg.header.compression}, expected {comp}")
            ck.check(fn == f"seg_{seg.header.base_offset:020d}.bin",
                     f"{what}: file name {fn} does not match base_offset {seg.header.base_offset}")
            ck.check(seg.header.reserved == 0, f"{what}: {key} reserved {seg.header.reserved}")
            want_n = seg_records if i + 1 < len(files) else n - seg_records * (len(files) - 1)
            ck.check(len(seg.records) == want_n, f"{what}: {key} holds {len(seg.records)} records, expected {want_n}")
            cuts = sv.check_block_cuts(seg, block_bytes)
            ck.check(not cuts, f"{what}: {key}: block cuts differ from the documented rule: {cuts}")
            if comp == 1:
                ck.check(any(b.stored_len != b.raw_len for b in seg.blocks),
                         f"{what}: {key}: no block is actually LZ4-compressed")
            # The doc fixes the writer's choices (block cuts, shortest varints, field values), so
            # the Python writer given the same records must produce the same raw payloads; with
            # compression 0 the very same bytes.
            mine = sv.read_segment(sv.write_segment(seg.records, comp, block_bytes, seg.header.created_at_ms))
            ck.check([b.payload for b in seg.blocks] == [b.payload for b in mine.blocks],
                     f"{what}: {key}: raw block payloads differ from the Python writer's "
                     f"(binary: {[b.raw_len for b in seg.blocks]}, python: {[b.raw_len for b in mine.blocks]})")
            if comp == 0:
                py = sv.write_segment(seg.records, comp, block_bytes, seg.header.created_at_ms)
                first = next((j for j in range(min(len(py), len(data))) if py[j] != data[j]), min(len(py), len(data)))
                ck.check(py == data, f"{what}: {key}: bytes differ from the Python writer's at byte {first} "
                                     f"(sizes {len(data)} vs {len(py)})")
            got += seg.records
        compare_records(ck, got, recs, f"{what}: records read back by the Python reader")


# ------------------------------------------------------------------ d. segment verify


def string_json_to_record(j):
    """A record as the "string" format writes it: text, or base64 with "<field>_encoding"."""
    def field(obj, name):
        v = obj[name]
        if v is None:
            return None
        if obj.get(name + "_encoding") == "base64":
            return base64.b64decode(v, validate=True)
        return v.encode("utf-8")
    headers = [(h["key"], field(h, "value")) for h in j["headers"]]
    return sv.Record(j["offset"], j["timestamp"], field(j, "key"), field(j, "value"), headers)


def run_verify(binary: str, path: str):
    return subprocess.run([binary, "segment", "verify", path], capture_output=True, text=True, timeout=60)


def flip_positions(rng: random.Random, seg: sv.Segment, size: int, per_region: int):
    regions = {
        "header": list(range(0, 32)),
        "block header": [b.entry.position + i for b in seg.blocks for i in range(12)],
        "block body": [p for b in seg.blocks for p in range(b.entry.position + 12, b.entry.position + b.entry.size)],
        "index": list(range(seg.footer.index_position, seg.footer.index_position + seg.footer.index_length)),
        "footer": list(range(size - 48, size)),
    }
    out = []
    for region, positions in regions.items():
        picks = rng.sample(positions, min(per_region, len(positions)))
        out += [(region, p) for p in picks]
    return out


def check_verify(ck: Checker, rng: random.Random, binary: str, workdir: str, model, flips: int):
    segs = [s for m in model.values() for s in m["segments"]]
    for s in segs:
        p = run_verify(binary, s["path"])
        ck.check(p.returncode == 0 and p.stdout.startswith("OK"),
                 f"segment verify {s['key']} (Python-written): exit {p.returncode}: {p.stdout[:200]} {p.stderr[:500]}")
    # `segment dump` (format "string": UTF-8 as text, other bytes base64 with *_encoding) vs the model.
    for s in segs:
        p = subprocess.run([binary, "segment", "dump", s["path"]], capture_output=True, timeout=60)
        what = f"segment dump {s['key']}"
        if not ck.check(p.returncode == 0, f"{what}: exit {p.returncode}: {p.stderr[-300:]!r}"):
            continue
        got = []
        try:
            for line in p.stdout.decode("utf-8").splitlines():
                got.append(string_json_to_record(json.loads(line)))
        except (ValueError, KeyError, TypeError) as e:
            ck.check(False, f"{what}: unreadable output line: {e}")
            continue
        compare_records(ck, got, s["seg"].records, what)
    # Flipped bytes: spread over an uncompressed and an LZ4 multi-block segment.
    targets = [s for s in segs if len(s["seg"].blocks) > 2]
    targets = [next(s for s in targets if s["compression"] == 0), next(s for s in targets if s["compression"] == 1)]
    per_region = max(1, flips // (5 * len(targets)))
    n = 0
    for s in targets:
        data = open(s["path"], "rb").read()
        for region, pos in flip_positions(rng, s["seg"], len(data), per_region):
            n += 1
            bad = bytearray(data)
            bad[pos] ^= rng.randint(1, 255)
            d = os.path.join(workdir, "flips", str(n))
            os.makedirs(d)
            path = os.path.join(d, os.path.basename(s["path"]))
            with open(path, "wb") as f:
                f.write(bad)
            what = f"flip {region} byte {pos} of {s['key']}"
            try:
                sv.read_segment(bytes(bad), s["key"])
                ck.check(False, f"python self-check: {what} not detected by the Python reader")
            except sv.CorruptSegment:
                pass
            p = run_verify(binary, path)
            if not ck.check(p.returncode > 0, f"segment verify accepted or crashed on {what}: exit {p.returncode}, "
                                              f"stdout {p.stdout[:200]!r} stderr {p.stderr[-300:]!r}"):
                continue
            ck.check(path in p.stderr, f"segment verify on {what}: stderr does not name the file: {p.stderr[:300]!r}")
    # A file whose name disagrees with its header's base offset.
    s = segs[0]
    d = os.path.join(workdir, "misnamed")
    os.makedirs(d)
    wrong = os.path.join(d, f"seg_{s['seg'].header.base_offset + 1:020d}.bin")
    shutil.copyfile(s["path"], wrong)
    p = run_verify(binary, wrong)
    ck.check(p.returncode > 0 and wrong in p.stderr, f"segment verify on misnamed {wrong}: exit {p.returncode}")
    print(f"verify: {len(segs)} good segments, {n} flipped copies")


# ------------------------------------------------------------------ d2. forged segments


def _payload(recs, first_offset=None, first_ts=None, count=None):
    fo = recs[0].offset if first_offset is None else first_offset
    ft = recs[0].timestamp if first_ts is None else first_ts
    n = len(recs) if count is None else count
    return struct.pack("<QqI", fo, ft, n) + b"".join(sv.encode_record(r, fo, ft) for r in recs)


def forge(blocks, compression=0, hdr=None, post=None, gap_after=None, stored_len_fix=None,
          raw_len_fix=None):
    """Assembles a segment with every CRC right, so that only the rule a test breaks is broken.
    blocks: each a list of Records, or a dict(payload, first_offset, last_offset, record_count,
            first_timestamp, max_timestamp) for hand-made payloads.
    hdr: header field overrides; post(entries, footer): edits index entries / footer (dicts) after
    layout ("entry_count" in footer overrides the index's count field); gap_after: 4 junk bytes after
    that block; stored_len_fix / raw_len_fix: {block: f(n)} applied to the block header field."""
    h = dict(magic=b"STRS", version=1, compression=compression, created_at_ms=1_700_000_000_000, reserved=0)
    specs = []
    for b in blocks:
        if isinstance(b, dict):
            specs.append(dict(b))
        else:
            specs.append(dict(payload=_payload(b), first_offset=b[0].offset, last_offset=b[-1].offset,
                              record_count=len(b), first_timestamp=b[0].timestamp,
                              max_timestamp=max(r.timestamp for r in b)))
    h["base_offset"] = specs[0]["first_offset"]
    h.update(hdr or {})
    head = struct.pack("<4sHHQqI", h["magic"], h["version"], h["compression"], h["base_offset"],
                       h["created_at_ms"], h["reserved"])
    out = bytearray(head + struct.pack("<I", sv.crc32c(head)))
    entries = []
    for i, sp in enumerate(specs):
        payload = sp.pop("payload")
        stored = lz4.block.compress(payload, mode="default", store_size=False) if compression == 1 else payload
        stored_len = (stored_len_fix or {}).get(i, lambda n: n)(len(stored))
        raw_len = (raw_len_fix or {}).get(i, lambda n: n)(len(payload))
        pos = len(out)
        out += struct.pack("<III", stored_len, raw_len, sv.crc32c(stored)) + stored
        entries.append(dict(first_offset=sp["first_offset"], last_offset=sp["last_offset"], position=pos,
                            size=12 + len(stored), record_count=sp["record_count"],
                            first_timestamp=sp["first_timestamp"], max_timestamp=sp["max_timestamp"]))
        if gap_after == i:
            out += b"\x00\x00\x00\x00"
    footer = dict(index_position=len(out), index_length=8 + 48 * len(entries), block_count=len(entries),
                  base_offset=entries[0]["first_offset"], last_offset=entries[-1]["last_offset"],
                  max_timestamp=max(e["max_timestamp"] for e in entries))
    if post:
        post(entries, footer)
    index = struct.pack("<I", footer.pop("entry_count", len(entries)))
    for e in entries:
        index += struct.pack("<QQQIIqq", e["first_offset"], e["last_offset"], e["position"], e["size"],
                             e["record_count"], e["first_timestamp"], e["max_timestamp"])
    out += index + struct.pack("<I", sv.crc32c(index))
    f = struct.pack("<QIIQQq", footer["index_position"], footer["index_length"], footer["block_count"],
                    footer["base_offset"], footer["last_offset"], footer["max_timestamp"])
    out += f + struct.pack("<I", sv.crc32c(f)) + b"STRS"
    return bytes(out), h["base_offset"]


def _rec(off, ts, key=b"k", value=b"v", headers=()):
    return sv.Record(off, ts, key, value, list(headers))


def _blocks():
    return [[_rec(10, 1000, b"k1", b"hello", [("trace", b"abc")]), _rec(11, 990, None, b"v2", [("h", None)]),
             _rec(15, 1005, b"k1", None)],
            [_rec(20, 2000, b"", b""), _rec(21, 2001, b"\xff\x00", b"\xfe", [("", b"\x80")])],
            [_rec(30, 3000)]]


def _raw(body, count=1, first_offset=30, first_ts=3000, last_offset=30, max_ts=3000):
    return dict(payload=struct.pack("<QqI", first_offset, first_ts, count) + body, first_offset=first_offset,
                last_offset=last_offset, record_count=count, first_timestamp=first_ts, max_timestamp=max_ts)


def _shift_first(delta_off, delta_ts):
    """Block 0 whose payload/index first_offset/first_timestamp differ from record 0's (deltas != 0)."""
    b = _blocks()
    recs = b[0]
    fo, ft = recs[0].offset - delta_off, recs[0].timestamp - delta_ts
    b[0] = dict(payload=_payload(recs, fo, ft), first_offset=fo, last_offset=recs[-1].offset,
                record_count=len(recs), first_timestamp=ft, max_timestamp=max(r.timestamp for r in recs))
    return b


def _set(**kv):
    def post(entries, footer):
        for k, v in kv.items():
            where, _, field = k.partition("__")
            target = footer if where == "footer" else entries[int(where[1:])]
            target[field] = v(target[field]) if callable(v) else v
    return post


def _footer_max(entries, footer):
    footer["max_timestamp"] = max(e["max_timestamp"] for e in entries)


def forged_cases():
    """(name, must_be_accepted, forge kwargs)"""
    b = _blocks
    u, s = sv.encode_uvarint, sv.encode_svarint
    return [
        ("control, uncompressed", True, dict(blocks=b())),
        ("control, LZ4", True, dict(blocks=b(), compression=1)),
        ("control, INT64_MIN and INT64_MAX timestamps in one block", True,
         dict(blocks=[[_rec(5, INT64_MAX), _rec(6, INT64_MIN), _rec(7, -1), _rec(9, 0)]], compression=1)),
        ("control, one record per block and offsets near 2^63", True,
         dict(blocks=[[_rec((1 << 63) - 5, 1)], [_rec((1 << 63) - 3, 2)], [_rec((1 << 63) - 2, 3)]])),
        ("header reserved != 0", False, dict(blocks=b(), hdr=dict(reserved=7))),
        ("header version 2", False, dict(blocks=b(), hdr=dict(version=2))),
        ("header compression 2", False, dict(blocks=b(), hdr=dict(compression=2))),
        ("header compression 1 over uncompressed blocks", False, dict(blocks=b(), hdr=dict(compression=1))),
        ("header magic STRX", False, dict(blocks=b(), hdr=dict(magic=b"STRX"))),
        ("header base_offset != footer/first block", False, dict(blocks=b(), hdr=dict(base_offset=9))),
        ("trailing byte after the last record", False,
         dict(blocks=[b()[0], dict(_raw(sv.encode_record(_rec(30, 3000), 30, 3000) + b"\x00"))])),
        ("record 0 offset_delta != 0", False,
         dict(blocks=_shift_first(1, 0), post=_set(footer__base_offset=9))),
        ("record 0 timestamp_delta != 0", False, dict(blocks=_shift_first(0, 1))),
        ("offsets decreasing inside a block", False,
         dict(blocks=[[_rec(10, 1), _rec(13, 2), _rec(12, 3)]])),
        ("offset repeated inside a block", False,
         dict(blocks=[[_rec(10, 1), _rec(12, 2), _rec(12, 3), _rec(13, 3)]])),
        ("key_len -2", False, dict(blocks=[_raw(u(0) + s(0) + s(-2) + s(1) + b"v" + u(0))])),
        ("value_len beyond the payload", False, dict(blocks=[_raw(u(0) + s(0) + s(-1) + s(50) + b"v" + u(0))])),
        ("header value_len -5", False,
         dict(blocks=[_raw(u(0) + s(0) + s(-1) + s(1) + b"v" + u(1) + u(1) + b"h" + s(-5))])),
        ("header name not UTF-8", False,
         dict(blocks=[_raw(u(0) + s(0) + s(-1) + s(1) + b"v" + u(1) + u(2) + b"\xff\xfe" + s(-1))])),
        ("header_count beyond the payload", False,
         dict(blocks=[_raw(u(0) + s(0) + s(-1) + s(1) + b"v" + u(5) + u(1) + b"h" + s(-1))])),
        ("uvarint of 11 bytes", False, dict(blocks=[_raw(u(0) + s(0) + b"\x80" * 10 + b"\x00" + s(1) + b"v" + u(0))])),
        ("uvarint over 64 bits (10th byte 0x7f)", False,
         dict(blocks=[_raw(u(0) + s(0) + b"\xff" * 9 + b"\x7f" + s(1) + b"v" + u(0))])),
        ("payload record_count 0 (empty block)", False,
         dict(blocks=[b()[0], _raw(b"", count=0)])),
        ("payload record_count larger than its records", False,
         dict(blocks=[_raw(sv.encode_record(_rec(30, 3000), 30, 3000), count=2)])),
        ("index record_count != payload", False, dict(blocks=b(), post=_set(e0__record_count=lambda n: n + 1))),
        ("index first_offset != payload", False, dict(blocks=b(), post=_set(e1__first_offset=19))),
        ("index first_timestamp != payload", False, dict(blocks=b(), post=_set(e1__first_timestamp=2001))),
        ("index last_offset != payload", False,
         dict(blocks=b(), post=_set(e2__last_offset=31, footer__last_offset=31))),
        ("index max_timestamp != payload", False,
         dict(blocks=b(), post=lambda e, f: (_set(e0__max_timestamp=1006)(e, f), _footer_max(e, f)))),
        ("gap of 4 bytes between block 0 and block 1", False, dict(blocks=b(), gap_after=0)),
        ("index position of block 1 off by one", False, dict(blocks=b(), post=_set(e1__position=lambda p: p + 1))),
        ("first block not at 32", False, dict(blocks=b(), gap_after=-1, post=_set(e0__position=36))),
        ("overlapping offset ranges between blocks", False,
         dict(blocks=[b()[0], [_rec(15, 2000), _rec(16, 2001)]])),
        ("blocks out of offset order", False, dict(blocks=[b()[1], b()[0]])),
        ("block header stored_len != index size", False, dict(blocks=b(), stored_len_fix={1: lambda n: n - 1})),
        ("uncompressed block raw_len != stored_len", False, dict(blocks=b(), raw_len_fix={0: lambda n: n + 1})),
        ("LZ4 block raw_len one more than it decompresses to", False,
         dict(blocks=b(), compression=1, raw_len_fix={0: lambda n: n + 1})),
        ("LZ4 block raw_len one less than it decompresses to", False,
         dict(blocks=b(), compression=1, raw_len_fix={1: lambda n: n - 1})),
        ("LZ4 block raw_len above 256 MiB", False,
         dict(blocks=b(), compression=1, raw_len_fix={0: lambda n: (256 << 20) + 1})),
        ("footer max_timestamp != largest index max_timestamp", False,
         dict(blocks=b(), post=_set(footer__max_timestamp=lambda t: t + 1))),
        ("footer last_offset != last block", False, dict(blocks=b(), post=_set(footer__last_offset=lambda o: o + 1))),
        ("footer base_offset != header and first block", False,
         dict(blocks=b(), post=_set(footer__base_offset=lambda o: o - 1))),
        ("footer block_count != index entry_count", False,
         dict(blocks=b(), post=_set(footer__block_count=lambda n: n - 1))),
        ("index entry_count != footer block_count", False, dict(blocks=b(), post=_set(footer__entry_count=2))),
        ("footer index_length too long", False,
         dict(blocks=b(), post=_set(footer__index_length=lambda n: n + 48, footer__index_position=lambda p: p - 48))),
    ]


def check_forged(ck: Checker, binary: str, workdir: str):
    for n, (name, ok, kw) in enumerate(forged_cases()):
        kw = dict(kw)
        if kw.get("gap_after") == -1:  # junk between header and block 0: shift by hand
            kw.pop("gap_after")
            # the index describes where the blocks really are, 4 bytes after the header
            data, base = forge(**{**kw, "post": _set(e0__position=36, e1__position=lambda p: p + 4,
                                                      e2__position=lambda p: p + 4,
                                                      footer__index_position=lambda p: p + 4)})
            data = data[:32] + b"\x00" * 4 + data[32:]
        else:
            data, base = forge(**kw)
        d = os.path.join(workdir, "forged", str(n))
        os.makedirs(d)
        path = os.path.join(d, f"seg_{base:020d}.bin")
        with open(path, "wb") as f:
            f.write(data)
        try:
            sv.read_segment(data, path)
            py_ok, py_err = True, ""
        except sv.CorruptSegment as e:
            py_ok, py_err = False, str(e)
        ck.check(py_ok == ok, f"python self-check: forged '{name}' {'rejected: ' + py_err if ok else 'accepted'}")
        p = run_verify(binary, path)
        if ok:
            ck.check(p.returncode == 0, f"segment verify rejects a valid segment ({name}; the doc allows it): "
                                        f"exit {p.returncode}: {p.stderr.strip()[-400:]} [{path}]")
        else:
            if ck.check(p.returncode > 0, f"segment verify {'crashed on' if p.returncode < 0 else 'accepts'} "
                                          f"a segment the doc calls corrupt ({name}; Python reader: {py_err}): "
                                          f"exit {p.returncode}: {p.stdout.strip()[:300]} {p.stderr.strip()[-300:]} [{path}]"):
                ck.check(path in p.stderr, f"segment verify on forged '{name}': stderr does not name the file: "
                                           f"{p.stderr[:300]!r}")
    print(f"forged: {len(forged_cases())} hand-made segments")


# ------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="path of the streamhouse binary")
    ap.add_argument("--workdir", help="parent of the scratch directory (a fresh one per run, removed on success)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--queries", type=int, default=240)
    ap.add_argument("--flips", type=int, default=100)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print(f"crosscheck: seed {seed} (rerun with --seed {seed})", flush=True)
    rng = random.Random(seed)
    if not os.access(args.binary, os.X_OK):
        print(f"crosscheck: {args.binary} is not an executable", file=sys.stderr)
        return 2
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="sh-crosscheck-", dir=args.workdir)
    ck = Checker()
    try:
        store = os.path.join(workdir, "store")
        model = write_python_store(ck, rng, store)
        check_server(ck, rng, args.binary, store, workdir, model, args.queries)
        check_serve_corruption(ck, rng, args.binary, workdir)
        check_segment_write(ck, rng, args.binary, workdir)
        check_verify(ck, rng, args.binary, workdir, model, args.flips)
        check_forged(ck, args.binary, workdir)
    except Exception as e:  # noqa: BLE001 - any crash of the harness is a failure
        import traceback
        traceback.print_exc()
        ck.check(False, f"crosscheck aborted: {type(e).__name__}: {e}")
    print(f"crosscheck: {ck.passed} passed, {ck.failed} failed")
    if ck.failed:
        print("crosscheck: FAILED — first mismatches:", file=sys.stderr)
        for f in ck.failures[:20]:
            print("  - " + f, file=sys.stderr)
        print(f"crosscheck: scratch dir kept at {workdir}", file=sys.stderr)
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
