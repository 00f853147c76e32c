#!/usr/bin/python3
"""Helpers for bench/s3/run.sh (no third-party modules).

  bench_util.py blocks OUT.json KEY=FILE...      parse segment objects (format v1 footer+index)
  bench_util.py locate BLOCKS.json TOPIC OFFSET  -> "key position size block_index"
  bench_util.py pick BLOCKS.json TOPIC SEED      -> scenario-2 pick: "A B key pos size" (A, B in
                                                   different, non-adjacent blocks of one segment)
  bench_util.py offsets N HW SEED                -> N pseudo-random offsets in [0, HW)
  bench_util.py metrics FILE                     -> JSON {series: value} of the store/S3 series
  bench_util.py mdelta BEFORE AFTER              -> JSON of the differences (non-zero only)
  bench_util.py catchup BASEURL TOPIC HW         -> JSON {records, seconds, requests, bytes}
  bench_util.py summary BEFORE AFTER             -> JSON summary of S3/store requests and bytes
  bench_util.py field FILE|- KEY[.SUB]           -> one field of a JSON document
  bench_util.py stats V...                       -> JSON {n, median, p50, p99, min, max}
  bench_util.py getrecord FILE                   -> first record's offset (or -1) of a records body
"""
import http.client
import json
import math
import random
import re
import struct
import sys
import time


def parse_segment(data):
    if len(data) < 80 or data[-4:] != b"STRS":
        raise ValueError("not a segment")
    f = data[-48:]
    index_pos, index_len, block_count, base, last = struct.unpack_from("<QIIQQ", f, 0)
    idx = data[index_pos:index_pos + index_len]
    (n,) = struct.unpack_from("<I", idx, 0)
    blocks = []
    for i in range(n):
        first, lastoff, pos, size, count = struct.unpack_from("<QQQII", idx, 4 + 48 * i)
        blocks.append({"first": first, "last": lastoff, "pos": pos, "size": size, "records": count})
    return {"size": len(data), "base": base, "last": last, "index_position": index_pos,
            "index_length": index_len, "blocks": blocks}


def topic_of(key):
    parts = key.split("/")
    return parts[-3]


def load(path):
    with open(path) as f:
        return json.load(f)


def segments_of(blocks, topic):
    return sorted((s for s in blocks["segments"] if s["topic"] == topic), key=lambda s: s["base"])


def locate(blocks, topic, offset):
    for s in segments_of(blocks, topic):
        if s["base"] <= offset <= s["last"]:
            for i, b in enumerate(s["blocks"]):
                if b["first"] <= offset <= b["last"]:
                    return s, i, b
    raise SystemExit("offset %d of %s not found" % (offset, topic))


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        if not (line.startswith("streamhouse_object_store_") or line.startswith("streamhouse_s3_")
                or line.startswith("streamhouse_cache_")):
            continue
        if "_bucket{" in line or "_duration_seconds_sum" in line:
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def stats(vals):
    v = sorted(vals)
    if not v:
        return {"n": 0}
    def pct(p):
        k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))  # nearest rank
        return v[k]
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"n": n, "median": med, "p50": pct(50), "p99": pct(99), "min": v[0], "max": v[-1]}


def catchup(base, topic, hw):
    host, _, port = base.replace("http://", "").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    offset, records, requests, nbytes = 0, 0, 0, 0
    tail = re.compile(rb'"next_offset":(\d+),"high_watermark":(\d+)')
    t0 = time.monotonic()
    while offset < hw:
        conn.request("GET", "/topics/%s/partitions/0/records?offset=%d&max_records=10000" % (topic, offset))
        r = conn.getresponse()
        body = r.read()
        requests += 1
        nbytes += len(body)
        if r.status != 200:
            raise SystemExit("catchup: HTTP %d at offset %d: %s" % (r.status, offset, body[:300]))
        m = None
        for m in tail.finditer(body, max(0, len(body) - 200)):
            pass
        if m is None:
            raise SystemExit("catchup: no next_offset in the answer at offset %d" % offset)
        nxt = int(m.group(1))
        records += nxt - offset  # offsets are dense in the bench data
        if nxt <= offset:
            raise SystemExit("catchup: no progress at offset %d" % offset)
        offset = nxt
    secs = time.monotonic() - t0
    conn.close()
    return {"records": records, "seconds": secs, "requests": requests, "bytes": nbytes}


def main(argv):
    cmd = argv[1]
    if cmd == "blocks":
        segs = []
        for kv in argv[3:]:
            key, _, path = kv.partition("=")
            with open(path, "rb") as f:
                s = parse_segment(f.read())
            s["key"] = key
            s["topic"] = topic_of(key)
            segs.append(s)
        with open(argv[2], "w") as f:
            json.dump({"segments": segs}, f)
    elif cmd == "locate":
        s, i, b = locate(load(argv[2]), argv[3], int(argv[4]))
        print(s["key"], b["pos"], b["size"], i)
    elif cmd == "pick":
        blocks, topic, seed = load(argv[2]), argv[3], int(argv[4])
        rnd = random.Random(seed)
        segs = [s for s in segments_of(blocks, topic) if len(s["blocks"]) >= 4]
        s = rnd.choice(segs)
        n = len(s["blocks"])
        while True:
            i, j = rnd.randrange(n), rnd.randrange(n)
            if abs(i - j) >= 2:
                break
        a = rnd.randint(s["blocks"][i]["first"], s["blocks"][i]["last"])
        bb = s["blocks"][j]
        b = rnd.randint(bb["first"], bb["last"])
        print(a, b, s["key"], bb["pos"], bb["size"])
    elif cmd == "offsets":
        n, hw, seed = int(argv[2]), int(argv[3]), int(argv[4])
        rnd = random.Random(seed)
        print(" ".join(str(rnd.randrange(hw)) for _ in range(n)))
    elif cmd == "metrics":
        with open(argv[2]) as f:
            print(json.dumps(parse_metrics(f.read())))
    elif cmd == "mdelta":
        a, b = load(argv[2]), load(argv[3])
        d = {k: b[k] - a.get(k, 0.0) for k in b if b[k] - a.get(k, 0.0) != 0}
        print(json.dumps(d, sort_keys=True))
    elif cmd == "summary":
        a, b = load(argv[2]), load(argv[3])
        d = {k: b[k] - a.get(k, 0.0) for k in b if b[k] - a.get(k, 0.0) != 0}
        out = {"s3_requests": 0, "s3_by": {}, "store_by": {}, "s3_bytes": 0, "store_bytes": 0,
               "block_misses": 0, "s3_retries": 0}
        for k, v in d.items():
            lab = dict(re.findall(r'(\w+)="([^"]*)"', k))
            if k.startswith("streamhouse_s3_requests_total"):
                out["s3_requests"] += v
                tag = lab.get("operation", "?") + ":" + lab.get("status", "?")
                out["s3_by"][tag] = out["s3_by"].get(tag, 0) + v
            elif k.startswith("streamhouse_object_store_requests_total"):
                tag = lab.get("operation", "?") + ":" + lab.get("outcome", "?")
                out["store_by"][tag] = out["store_by"].get(tag, 0) + v
            elif k.startswith("streamhouse_s3_received_bytes_total"):
                out["s3_bytes"] += v
            elif k.startswith("streamhouse_object_store_read_bytes_total"):
                out["store_bytes"] += v
            elif k.startswith("streamhouse_s3_retries_total"):
                out["s3_retries"] += v
            elif k.startswith("streamhouse_cache_misses_total") and lab.get("cache") == "block":
                out["block_misses"] += v
        print(json.dumps(out, sort_keys=True))
    elif cmd == "field":  # field JSON_FILE_OR_- KEY[.SUB]
        obj = json.load(sys.stdin) if argv[2] == "-" else load(argv[2])
        for part in argv[3].split("."):
            obj = obj[part]
        if isinstance(obj, dict):
            obj = {k: int(v) if isinstance(v, float) and v == int(v) else v for k, v in obj.items()}
        if isinstance(obj, float) and obj == int(obj) and not argv[3].endswith("seconds"):
            obj = int(obj)
        print(json.dumps(obj) if isinstance(obj, (dict, list)) else obj)
    elif cmd == "catchup":
        print(json.dumps(catchup(argv[2], argv[3], int(argv[4]))))
    elif cmd == "stats":
        print(json.dumps(stats([float(x) for x in argv[2:]])))
    elif cmd == "fmt3":  # values -> rounded to 3 decimals, space-separated
        print(" ".join("%.3f" % float(x) for x in argv[2:]))
    elif cmd == "getrecord":
        with open(argv[2], "rb") as f:
            m = re.search(rb'"records":\[\{"offset":(\d+)', f.read())
        print(m.group(1).decode() if m else -1)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
