#!/usr/bin/python3
"""Delaying TCP proxy for the S3 cold-read benchmark (bench/s3/run.sh).

    delay_proxy.py --listen 127.0.0.1:18481 --upstream 127.0.0.1:18480 --delay-ms 10
                   [--status 127.0.0.1:18482] [--ready-file F]

Every chunk of bytes is held --delay-ms milliseconds in each direction before it
is forwarded, in order (one FIFO per direction, so byte order is preserved and a
large transfer pays the delay once, not once per chunk: the chunks are pipelined).
A request/response round trip therefore gains 2 x delay. A new connection also
pays one round trip for its handshake: nothing the client sends is forwarded
before accept time + 2 x delay (+ the one-way delay), as with a real TCP connect
over a link with that RTT.

Counters (connections, bytes per direction, and the number of request heads seen
client->server that start with an HTTP method) are printed as one JSON line on
stderr at exit (SIGTERM/SIGINT) and served as JSON to anyone connecting to
--status (the connection is closed after the JSON; plain HTTP/1.0 answer).
"""
import argparse
import asyncio
import json
import signal
import sys
import time

CHUNK = 256 * 1024
METHODS = (b"GET ", b"HEAD ", b"PUT ", b"POST ", b"DELETE ")

stats = {
    "connections": 0,
    "active": 0,
    "bytes_client_to_server": 0,
    "bytes_server_to_client": 0,
    "http_requests": 0,  # chunks client->server beginning with an HTTP method (approximate)
    "upstream_connect_errors": 0,
}


def host_port(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


async def pump(reader, writer, delay, gate, counter, count_requests):
    """Reads chunks, releases each at max(arrival, gate) + delay, in order."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def release():
        try:
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                now = loop.time()
                if due > now:
                    await asyncio.sleep(due - now)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError, RuntimeError):
                pass

    task = asyncio.create_task(release())
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            stats[counter] += len(data)
            if count_requests and data.startswith(METHODS):
                stats["http_requests"] += 1
            queue.put_nowait((max(loop.time(), gate) + delay, data))
    except (ConnectionError, OSError):
        pass
    finally:
        queue.put_nowait((0, None))
        await task


async def handle(creader, cwriter, upstream, delay):
    loop = asyncio.get_running_loop()
    stats["connections"] += 1
    stats["active"] += 1
    gate = loop.time() + 2 * delay  # the emulated handshake round trip
    try:
        try:
            sreader, swriter = await asyncio.open_connection(*upstream)
        except OSError:
            stats["upstream_connect_errors"] += 1
            return
        sock = swriter.get_extra_info("socket")
        if sock is not None:
            import socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            pump(creader, swriter, delay, gate, "bytes_client_to_server", True),
            pump(sreader, cwriter, delay, gate, "bytes_server_to_client", False))
        swriter.close()
    finally:
        stats["active"] -= 1
        cwriter.close()


async def status(reader, writer):
    body = json.dumps(stats).encode()
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                 % len(body) + body)
    try:
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay per direction")
    ap.add_argument("--status", help="host:port answering the counters as JSON")
    ap.add_argument("--ready-file", help="written once the listeners are up")
    a = ap.parse_args()
    delay = a.delay_ms / 1000.0
    upstream = host_port(a.upstream)
    import socket

    def on_client(r, w):
        s = w.get_extra_info("socket")
        if s is not None:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return handle(r, w, upstream, delay)

    server = await asyncio.start_server(on_client, *host_port(a.listen), backlog=1024)
    servers = [server]
    if a.status:
        servers.append(await asyncio.start_server(status, *host_port(a.status)))
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    print(json.dumps(stats), file=sys.stderr, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
