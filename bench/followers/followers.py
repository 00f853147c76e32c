#!/usr/bin/python3
"""Clients of bench/followers/run.sh (stdlib only, one thread, selectors + raw sockets).

  followers.py clients PORT TOPIC FOLLOWERS ACTIVE RECORDS SPAN HOLD SECONDS STATUS_FILE
      Opens FOLLOWERS idle followers (records/stream?offset=latest&follow=true, kept
      open, nothing read but their headers), holds them alone for HOLD seconds, then
      adds ACTIVE streams that read TOPIC/0 as
      fast as they can: records/stream?offset=R&end_offset=R+SPAN from a random R below
      RECORDS, to the end line, then the next one on the same connection. Writes a JSON
      status line to STATUS_FILE whenever a phase is reached ("followers", "active")
      and at the end; the last line has the totals. Exits 1 on any error (a status
      other than 200, a follower that ended or sent bytes, a stream without its end line).
  followers.py probe PORT INTERVAL_MS SECONDS OUT
      GET /healthz on a new connection every INTERVAL_MS for SECONDS, one latency
      (ms) per line in OUT; exit 1 if a probe failed.
  followers.py pct FILE        p50 / p99 / max of the numbers in FILE (one per line)
"""
import json
import random
import selectors
import socket
import sys
import time

TOPIC_PATH = "/topics/%s/partitions/0/records/stream"


class Conn:
    def __init__(self, sel, port, kind, path):
        self.kind, self.path = kind, path
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        self.sel = sel
        self.buf = bytearray()
        self.headers_done = False
        self.status = 0
        self.after_headers = 0
        self.tail = b""
        self.sent = False
        sel.register(self.sock, selectors.EVENT_WRITE, self)

    def send_request(self, path):
        self.path = path
        self.headers_done = False
        self.buf = bytearray()
        self.tail = b""
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())


def clients(port, topic, n_follow, n_active, records, span, hold, seconds, status_file):
    sel = selectors.DefaultSelector()
    errors = []
    stats = {"followers_open": 0, "follower_bytes": 0, "active_streams_done": 0, "active_bytes": 0}
    rng = random.Random(7)

    def status(phase):
        with open(status_file, "a") as f:
            f.write(json.dumps(dict(stats, phase=phase, t=round(time.monotonic() - t0, 2), errors=errors[:5],
                                    error_count=len(errors))) + "\n")

    def active_path():
        start = rng.randrange(0, max(1, records - span))
        return TOPIC_PATH % topic + "?offset=%d&end_offset=%d" % (start, start + span)

    t0 = time.monotonic()
    conns = []
    # Followers first, in batches (the listen backlog), each waiting for its headers.
    follow_path = TOPIC_PATH % topic + "?offset=latest&follow=true"
    for i in range(n_follow):
        conns.append(Conn(sel, port, "follow", follow_path))
        if i % 100 == 99:
            pump(sel, 0.05, stats, errors, active_path)
    deadline = time.monotonic() + 30
    while stats["followers_open"] < n_follow and time.monotonic() < deadline and not errors:
        pump(sel, 0.1, stats, errors, active_path)
    if stats["followers_open"] < n_follow:
        errors.append("only %d of %d followers got their headers" % (stats["followers_open"], n_follow))
    status("followers")
    hold_end = time.monotonic() + hold
    while time.monotonic() < hold_end and not errors:  # followers alone, measured by run.sh
        pump(sel, 0.1, stats, errors, active_path)
    for _ in range(n_active):
        conns.append(Conn(sel, port, "active", active_path()))
    status("active")
    end = t0 + seconds
    last = time.monotonic()
    while time.monotonic() < end and not errors:
        pump(sel, 0.2, stats, errors, active_path)
        if time.monotonic() - last >= 5:
            status("running")
            last = time.monotonic()
    status("end")
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return 1 if errors else 0


def pump(sel, timeout, stats, errors, active_path):
    for key, mask in sel.select(timeout):
        c = key.data
        if mask & selectors.EVENT_WRITE and not c.sent:
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                errors.append("%s: connect error %d" % (c.kind, err))
                sel.unregister(c.sock)
                continue
            c.sent = True
            sel.modify(c.sock, selectors.EVENT_READ, c)
            c.send_request(c.path)
            continue
        try:
            data = c.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError as e:
            data, err = b"", e
            errors.append("%s: recv %s" % (c.kind, err))
        if not data:
            errors.append("%s: the server closed the connection%s" % (
                c.kind, " (after %d body bytes)" % c.after_headers if c.headers_done else " before the headers"))
            sel.unregister(c.sock)
            c.sock.close()
            continue
        if not c.headers_done:
            c.buf += data
            i = c.buf.find(b"\r\n\r\n")
            if i < 0:
                continue
            head = bytes(c.buf[:i])
            data = bytes(c.buf[i + 4:])
            c.buf = bytearray()
            c.headers_done = True
            c.status = int(head.split(b" ", 2)[1])
            if c.status != 200:
                errors.append("%s: HTTP %d" % (c.kind, c.status))
                continue
            if c.kind == "follow":
                stats["followers_open"] += 1
        if not data:
            continue
        if c.kind == "follow":
            # NDJSON followers get no heartbeat bytes; nothing is appended during the run.
            stats["follower_bytes"] += len(data)
            errors.append("follower received %d unexpected bytes: %r" % (len(data), data[:80]))
            continue
        stats["active_bytes"] += len(data)
        c.tail = (c.tail + data)[-300:]
        if c.tail.endswith(b"\r\n0\r\n\r\n"):  # last chunk of the chunked body
            if b'{"end":' not in c.tail:
                errors.append("active stream ended without its end line: %r" % c.tail[-120:])
                continue
            stats["active_streams_done"] += 1
            c.send_request(active_path())


def probe(port, interval_ms, seconds, out):
    lat, bad = [], 0
    end = time.monotonic() + seconds
    nxt = time.monotonic()
    while time.monotonic() < end:
        t = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            if not data.startswith(b"HTTP/1.1 200"):
                bad += 1
        except OSError:
            bad += 1
        lat.append((time.monotonic() - t) * 1e3)
        nxt += interval_ms / 1000.0
        time.sleep(max(0.0, nxt - time.monotonic()))
    with open(out, "w") as f:
        f.write("\n".join("%.3f" % x for x in lat) + "\n")
    if bad:
        print("probe: %d of %d /healthz probes failed" % (bad, len(lat)), file=sys.stderr)
    return 1 if bad else 0


def pct(path):
    xs = sorted(float(l) for l in open(path) if l.strip())
    if not xs:
        print("0 0 0 0")
        return
    q = lambda p: xs[min(len(xs) - 1, max(0, int(round(p * len(xs) + 0.5)) - 1))]
    print("%d %.2f %.2f %.2f" % (len(xs), q(0.5), q(0.99), xs[-1]))


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "clients":
        sys.exit(clients(int(a[0]), a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5]), float(a[6]), float(a[7]), a[8]))
    elif cmd == "probe":
        sys.exit(probe(int(a[0]), float(a[1]), float(a[2]), a[3]))
    elif cmd == "pct":
        pct(a[0])
    else:
        sys.exit(__doc__)
