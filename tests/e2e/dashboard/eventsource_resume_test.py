#!/usr/bin/python3
"""The browser's own EventSource resumes a stream after the server is killed.

Real headless Chromium (the DevTools-pipe driver of dashboard_test.py) and the real
binary. A page of the server's origin opens four EventSources:
  - a partition stream, /topics/ev/partitions/0/records/stream?offset=0&follow=true,
    whose SSE ids are offsets;
  - a topic stream, /topics/ev/records/stream?offset=earliest&follow=true, whose ids are
    JSON arrays of {topic, partition, offset} for every partition (KafkaSSE);
  - the same two at offset=latest: followers at the head, which get no record before
    the server dies and must resume from the id-only event sent when they opened (a
    reconnect to offset=latest would skip what was written while the server was down).
When the first two have delivered what is stored, the server is killed with SIGKILL (no end
event, no goodbye), records are written while it is down, and a new server starts on
the same port with empty caches. Nothing in the page reconnects by hand: Chromium's
EventSource does, sending the last id it saw as Last-Event-ID. Then more records are
written, which the followers must get. Checks: each stream saw every record exactly
once and in order per partition, each event's id is what resumes after it, and each
EventSource opened exactly twice.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_test import Browser, Server, browser_test_main, check, write_records  # noqa: E402

TS0 = 1_700_000_000_000


def records(partition: int, start: int, count: int) -> list[dict]:
    return [{"key": f"k-{partition}-{i}", "timestamp": TS0 + i, "headers": {},
             "value": json.dumps({"p": partition, "i": i})} for i in range(start, start + count)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


OPEN_STREAMS = """(() => {
  window.seen = {part: [], topic: [], part_latest: [], topic_latest: []};
  window.opens = {part: 0, topic: 0, part_latest: 0, topic_latest: 0};
  const open = (name, url, row) => {
    const es = new EventSource(url);
    es.onopen = () => { window.opens[name]++; };
    es.onmessage = (e) => { window.seen[name].push(row(JSON.parse(e.data), e.lastEventId)); };
    return es;
  };
  window.part = open('part', '/topics/ev/partitions/0/records/stream?offset=0&follow=true&format=json',
                     (r, id) => [0, r.offset, id]);
  window.topic = open('topic', '/topics/ev/records/stream?offset=earliest&follow=true&format=json',
                      (r, id) => [r.partition, r.offset, id]);
  // Followers from the head: their first record comes only after the restart,
  // so what they resume from is the id-only event the server sent at open.
  window.part_latest = open('part_latest', '/topics/ev/partitions/0/records/stream?offset=latest&follow=true&format=json',
                            (r, id) => [0, r.offset, id]);
  window.topic_latest = open('topic_latest', '/topics/ev/records/stream?offset=latest&follow=true&format=json',
                             (r, id) => [r.partition, r.offset, id]);
  return true;
})()"""


def count_is(name: str, n: int) -> str:
    return f"window.seen.{name}.length >= {n}"


def check_stream(name: str, rows: list, want: dict[int, range], topic_ids: bool) -> None:
    """rows: [partition, offset, lastEventId]; want: partition -> the offsets it must get."""
    got: dict[int, list[int]] = {}
    for p, off, _ in rows:
        got.setdefault(p, []).append(off)
    for p, offsets in want.items():
        check(got.get(p) == list(offsets),
              f"{name}: partition {p} got every offset {offsets.start}..{offsets.stop - 1} once, in order "
              f"(got {len(got.get(p, []))}: {got.get(p, [])[:5]}...{got.get(p, [])[-5:]})")
    check(sorted(got) == sorted(want), f"{name}: only the partitions asked for ({sorted(got)})")
    # Each id is what a reconnect sends: the offset, or every partition's position.
    last: dict[int, int] = {}
    for p, off, event_id in rows:
        last[p] = off
        if not topic_ids:
            if not check(event_id == str(off), f"{name}: event of offset {off} has id {event_id!r}"):
                return
            continue
        try:
            ids = json.loads(event_id)
        except ValueError:
            check(False, f"{name}: id {event_id!r} is not JSON")
            return
        positions = {e["partition"]: e["offset"] for e in ids if e.get("topic") == "ev"}
        if not check(all(positions.get(q) == o for q, o in last.items()),
                     f"{name}: id {event_id!r} of partition {p} offset {off} holds every partition's "
                     f"last offset delivered so far ({last})"):
            return


def run(args) -> None:
    shutil.rmtree(args.workdir, ignore_errors=True)
    store_dir = os.path.join(args.workdir, "store")
    os.makedirs(store_dir)
    store = f"file://{store_dir}"
    binary = args.binary
    for p in (0, 1):
        write_records(binary, store, "ev", p, records(p, 0, 30))
    port = free_port()
    server = Server(binary, store, args.workdir, "serve-1", port=port)
    browser = None
    try:
        profile = tempfile.mkdtemp(prefix="sh-chromium-", dir=args.workdir)
        browser = Browser(args.chromium, profile)
        browser.open_page()
        browser.send("Page.navigate", {"url": server.url("/healthz")})  # any page of this origin
        browser.wait_for("document.readyState === 'complete' && location.pathname === '/healthz'",
                         "the page of the server's origin loads")
        browser.eval(OPEN_STREAMS)
        browser.wait_for(count_is("part", 30) + " && " + count_is("topic", 60) +
                         " && window.opens.part_latest === 1 && window.opens.topic_latest === 1",
                         "both streams deliver what is stored (30 and 60 records); the followers at the head are open",
                         timeout=20)
        time.sleep(0.3)  # the head followers' id-only events are in flight with their headers

        # Kill the server mid-follow: the connections just drop.
        server.proc.kill()
        server.proc.wait()
        for p in (0, 1):
            write_records(binary, store, "ev", p, records(p, 30, 10))
        server = Server(binary, store, args.workdir, "serve-2", port=port)
        # EventSource retries after its reconnection time (3 s by default).
        browser.wait_for(count_is("part", 40) + " && " + count_is("topic", 80) + " && " +
                         count_is("part_latest", 10) + " && " + count_is("topic_latest", 20),
                         "after the restart each EventSource resumes by itself (40 and 80 records; "
                         "the head followers 10 and 20, written while the server was down)",
                         timeout=30)
        # The followers of the new server wake on data written after they resumed.
        for p in (0, 1):
            write_records(binary, store, "ev", p, records(p, 40, 5))
        browser.wait_for(count_is("part", 45) + " && " + count_is("topic", 90) + " && " +
                         count_is("part_latest", 15) + " && " + count_is("topic_latest", 30),
                         "the resumed followers get records written afterwards (45 and 90; 15 and 30)",
                         timeout=20)
        time.sleep(0.5)  # a duplicate, if any, would arrive by now
        seen = browser.eval("window.seen")
        opens = browser.eval("window.opens")
        browser.eval("for (const n of ['part', 'topic', 'part_latest', 'topic_latest']) window[n].close(); true")
        check_stream("partition stream", seen["part"], {0: range(45)}, topic_ids=False)
        check_stream("topic stream", seen["topic"], {0: range(45), 1: range(45)}, topic_ids=True)
        check_stream("partition follower from the head", seen["part_latest"], {0: range(30, 45)}, topic_ids=False)
        check_stream("topic follower from the head", seen["topic_latest"], {0: range(30, 45), 1: range(30, 45)},
                     topic_ids=True)
        check(opens == {"part": 2, "topic": 2, "part_latest": 2, "topic_latest": 2},
              f"each EventSource opened twice (once per server): {opens}")
    finally:
        if browser:
            browser.close()
        server.stop()


if __name__ == "__main__":
    sys.exit(browser_test_main(run))
