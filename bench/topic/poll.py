#!/usr/bin/python3
"""Consumes a whole topic by consumer group, committing after every poll, two ways:

  topic   GET /topics/T/records?group=G&max_records=6N, then POST its next_offsets
  single  GET /topics/T/partitions/P/records?group=G&max_records=N for each of the
          P partitions, then one POST with the P next offsets

Prints one JSON line: mode, seconds, records, HTTP round trips, and a checksum
of every (partition, offset) seen, so both modes are checked to read the same
records exactly once.
usage: poll.py BASE_URL TOPIC PARTITIONS N MODE GROUP
"""
import http.client, json, sys, time, zlib

base, topic, parts, n, mode, group = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
host, _, port = base.replace("http://", "").partition(":")
conn = http.client.HTTPConnection(host, int(port), timeout=60)
trips = 0


def call(method, path, body=None):
    global trips
    trips += 1
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    if r.status not in (200, 204):
        raise SystemExit("%s %s: HTTP %d %s" % (method, path, r.status, data[:300]))
    return json.loads(data) if data else None


seen, crc = 0, 0
t0 = time.monotonic()
while True:
    got = []
    if mode == "topic":
        j = call("GET", "/topics/%s/records?group=%s&auto_offset_reset=earliest&max_records=%d" % (topic, group, parts * n))
        got = [(r["partition"], r["offset"]) for r in j["records"]]
        commit = j["next_offsets"]
    else:
        offsets = []
        for p in range(parts):
            j = call("GET", "/topics/%s/partitions/%d/records?group=%s&auto_offset_reset=earliest&max_records=%d" % (topic, p, group, n))
            got += [(p, r["offset"]) for r in j["records"]]
            offsets.append({"topic": topic, "partition": p, "offset": j["next_offset"]})
        commit = {"offsets": offsets}
    if not got:
        break
    for p, o in got:
        crc = zlib.crc32(b"%d/%d;" % (p, o), crc)
    seen += len(got)
    call("POST", "/consumer-groups/%s/offsets" % group, json.dumps(commit))
secs = time.monotonic() - t0
print(json.dumps({"mode": mode, "seconds": round(secs, 4), "records": seen, "round_trips": trips,
                  "records_per_s": round(seen / secs), "checksum": crc}))
