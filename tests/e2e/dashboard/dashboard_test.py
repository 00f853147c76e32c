#!/usr/bin/python3
"""The dashboard at GET / in real headless Chromium, against the real binary.

Writes demo data with `streamhouse segment write` into a local store, commits a consumer
group's offsets, starts `streamhouse serve`, and drives Chromium over the DevTools
protocol (--remote-debugging-pipe: NUL-separated JSON on fds 3/4, standard library only).
Interactions go through real input events (mouse clicks at the element's centre, typed
text, Tab). Checks:
  - the topics view lists every topic the server serves, with its high watermarks;
  - the message browser seeks to an offset (and to a timestamp), shows that record's key,
    headers and JSON value (folded tree), pages forward and back;
  - the live tail shows a record written after the page opened, over SSE; Pause holds a
    record back and Resume delivers it;
  - the consumer-groups view shows the committed offset and lag;
  - the metrics charts draw from sampled /metrics;
  - keyboard: Tab reaches the skip link first and focus is visible;
  - no console error, no uncaught exception, no error log entry.
Screenshots go to --screenshots (look at them).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

FAILURES: list[str] = []


def check(cond: bool, what: str) -> bool:
    if not cond:
        FAILURES.append(what)
        print(f"FAIL: {what}", flush=True)
    return cond


# ------------------------------------------------------------------ data and server


def write_records(binary: str, store: str, topic: str, partition: int, records: list[dict],
                  extra: list[str] | None = None) -> None:
    text = "".join(json.dumps(r) + "\n" for r in records)
    p = subprocess.run([binary, "segment", "write", "--store", store, "--topic", topic,
                        "--partition", str(partition)] + (extra or []),
                       input=text.encode(), capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"segment write {topic}/{partition} failed: {p.stderr.decode()}")


TS0 = 1_700_000_000_000
READ_TOKEN = "dashboard-read-token-0123456789"


def order(i: int) -> dict:
    value = {"order_id": i, "customer": {"id": f"c-{i % 7}", "tier": ["gold", "silver"][i % 2]},
             "items": [{"sku": f"sku-{i}-{j}", "qty": j + 1} for j in range(2)], "paid": i % 3 == 0}
    return {"key": f"order-{i}", "timestamp": TS0 + i * 1000,
            "headers": {"source": "checkout", "trace": f"t-{i}"}, "value": json.dumps(value)}


class Server:
    def __init__(self, binary: str, store: str, logdir: str, name: str = "serve", extra: list[str] | None = None,
                 port: int = 0):
        self.log_path = os.path.join(logdir, f"{name}.stderr")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--store", store, "--listen", f"127.0.0.1:{port}",
             "--long-poll-interval-ms", "100", "--index-ttl-ms", "60000"] + (extra or []),
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            text = open(self.log_path, "rb").read().decode("utf-8", "replace")
            marker = "on http://127.0.0.1:"
            if marker in text:
                digits = ""
                for ch in text.split(marker, 1)[1]:
                    if not ch.isdigit():
                        break
                    digits += ch
                if digits:
                    self.port = int(digits)
                    break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("streamhouse serve did not report its port:\n" +
                               open(self.log_path, "rb").read().decode("utf-8", "replace")[-4000:])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str):
        with urllib.request.urlopen(self.url(path), timeout=30) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict) -> int:
        req = urllib.request.Request(self.url(path), data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ DevTools protocol over a pipe


class Browser:
    def __init__(self, chromium: str, profile: str):
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()

        def fds():  # the child reads commands on fd 3 and writes answers on fd 4
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-sync",
             "--disable-component-update", "--mute-audio", "--window-size=1280,900",
             "--force-color-profile=srgb", "--hide-scrollbars", "about:blank"],
            preexec_fn=fds, close_fds=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "chromium.log"), "wb"))
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._answers: dict[int, dict] = {}
        self.events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.session = None

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._from_child_r, 1 << 16)
            if not chunk:
                with self._cv:
                    self._answers[-1] = {"error": {"message": "chromium closed the pipe"}}
                    self._cv.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cv:
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cv.notify_all()

    def send(self, method: str, params: dict | None = None, session: bool = True, timeout: float = 20):
        with self._cv:
            self._next_id += 1
            mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_child_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        with self._cv:
            while mid not in self._answers and -1 not in self._answers:
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError(f"no answer to {method}")
                self._cv.wait(left)
            ans = self._answers.pop(mid, None) or self._answers[-1]
        if "error" in ans:
            raise RuntimeError(f"{method}: {ans['error']}")
        return ans["result"]

    def open_page(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})

    def eval(self, expr: str):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate {expr!r}: {r['exceptionDetails'].get('exception', {}).get('description')}")
        return r["result"].get("value")

    def wait_for(self, expr: str, what: str, timeout: float = 10) -> bool:
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.eval(expr)
            except RuntimeError as e:
                last = str(e)
            if last is True:
                return True
            time.sleep(0.1)
        return check(False, f"{what} (waited {timeout}s; last: {last!r})")

    def click(self, selector: str) -> None:
        box = self.eval(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")
        if box is None:
            raise RuntimeError(f"no element {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def type_into(self, selector: str, text: str) -> None:
        self.click(selector)
        self.eval(f"document.querySelector({json.dumps(selector)}).select()")
        self.send("Input.insertText", {"text": text})

    def choose(self, selector: str, value: str) -> None:
        # A <select>'s popup is not part of the page in headless mode: focus it, set, fire change.
        self.eval(f"""(() => {{ const s = document.querySelector({json.dumps(selector)}); s.focus();
            s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()""")

    def key(self, key: str, code: str, vk: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": code,
                                                 "windowsVirtualKeyCode": vk})

    def screenshot(self, path: str) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                         timeout=30)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print(f"screenshot: {path}", flush=True)

    def event_count(self) -> int:
        with self._cv:
            return len(self.events)

    def console_errors(self, since: int = 0) -> list[str]:
        out = []
        with self._cv:
            events = self.events[since:]
        for ev in events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console." + p["type"] + ": " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + str(d.get("exception", {}).get("description", d.get("text"))))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------ the test


def js(s: str) -> str:
    return json.dumps(s)


def run(args) -> None:
    os.makedirs(args.screenshots, exist_ok=True)
    for f in os.listdir(args.screenshots):
        if f.endswith(".png"):
            os.remove(os.path.join(args.screenshots, f))
    store_dir = os.path.join(args.workdir, "store")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(store_dir)
    store = f"file://{store_dir}"
    binary = args.binary

    # orders/0: 120 JSON orders in 3 segments; orders/1: 40; clicks/0: 15 plain-text records.
    write_records(binary, store, "orders", 0, [order(i) for i in range(120)],
                  ["--segment-records", "50", "--block-bytes", "4096"])
    write_records(binary, store, "orders", 1, [order(i) for i in range(40)])
    write_records(binary, store, "clicks", 0,
                  [{"key": None, "timestamp": TS0 + i, "value": f"click {i} on /page/{i % 4}"} for i in range(15)])

    server = Server(binary, store, args.workdir)
    browser = None
    try:
        check(server.post("/consumer-groups/billing/offsets",
                          {"offsets": [{"topic": "orders", "partition": 0, "offset": 100},
                                       {"topic": "orders", "partition": 1, "offset": 40}]}) == 204,
              "committing the billing group's offsets answers 204")
        served = server.get("/topics")["topics"]
        check(sorted(t["name"] for t in served) == ["clicks", "orders"], f"the server serves the demo topics: {served}")

        profile = tempfile.mkdtemp(prefix="sh-chromium-", dir=args.workdir)
        browser = Browser(args.chromium, profile)
        browser.open_page()
        browser.send("Page.navigate", {"url": server.url("/")})

        # 1. Topics: every served topic, and partition watermarks as the API says.
        browser.wait_for("document.querySelectorAll('#topics-table tbody tr[data-topic]').length === 2",
                         "the topics table lists 2 topics")
        # Keyboard: the first Tab lands on the skip link, and focus is drawn.
        browser.key("Tab", "Tab", 9)
        focus = browser.eval("""(() => { const a = document.activeElement; const s = getComputedStyle(a);
            return [a.id, s.outlineStyle, s.outlineWidth]; })()""")
        check(focus is not None and focus[0] == "skip-link" and focus[1] != "none" and focus[2] != "0px",
              f"Tab focuses the skip link with a visible outline: {focus}")

        names = browser.eval("[...document.querySelectorAll('#topics-table tbody tr[data-topic]')].map(r => r.dataset.topic)")
        check(sorted(names or []) == sorted(t["name"] for t in served), f"the page lists the served topics: {names}")
        records_cell = browser.eval("document.querySelector('#topics-table tr[data-topic=\"orders\"] td:nth-of-type(2)').textContent")
        check(records_cell == "160", f"orders shows 160 records (120 + 40), got {records_cell!r}")
        browser.click('#topics-table tr[data-topic="orders"] button[aria-expanded]')
        browser.wait_for("document.querySelectorAll('#parts-orders tr[data-partition]').length === 2",
                         "expanding orders shows its 2 partitions")
        api_orders = server.get("/topics/orders")
        for p in api_orders["partitions"]:
            shown = browser.eval(f"document.querySelector('#parts-orders tr[data-partition=\"{p['partition']}\"] td.hw').textContent")
            check(shown == f"{p['high_watermark']:,}", f"orders/{p['partition']} high watermark shown {shown!r}, API {p['high_watermark']}")
        browser.click('#parts-orders tr[data-partition="0"] button[aria-expanded]')
        browser.wait_for("document.querySelectorAll('#parts-orders table table tbody tr').length === 3",
                         "orders/0 shows its 3 segments")
        browser.screenshot(os.path.join(args.screenshots, "1-topics.png"))

        # 2. Message browser: seek to offset 73 of orders/0 with real clicks and typing.
        browser.click('a[data-nav="messages"]')
        browser.wait_for("!document.querySelector('#view-messages').hidden", "the Messages view opens")
        browser.choose("#b-topic", "orders")
        browser.choose("#b-partition", "0")
        browser.choose("#b-mode", "offset")
        browser.type_into("#b-position", "73")
        browser.click("#b-seek")
        browser.wait_for("(document.querySelector('#b-records tbody tr[data-offset]') || {}).dataset?.offset === '73'",
                         "seeking to offset 73 shows record 73 first")
        key = browser.eval("document.querySelector('#b-records tr[data-offset=\"73\"] td.key').textContent")
        check(key == "order-73", f"record 73's key is shown: {key!r}")
        rows = browser.eval("document.querySelectorAll('#b-records tbody tr[data-offset]').length")
        check(rows == 20, f"a page holds 20 records, got {rows}")
        browser.click('#b-records tr[data-offset="73"] button')
        browser.wait_for("!!document.querySelector('#b-records tr.detail:not([hidden]) .tree details')",
                         "opening record 73 shows its value as a folding JSON tree")
        detail = browser.eval("document.querySelector('#b-records tr.detail:not([hidden])').innerText")
        for want in ('"order_id": 73', '"sku": "sku-73-1"', "checkout", "t-73", "Copy value"):
            check(detail is not None and want in detail, f"record 73's detail shows {want!r}")
        # Folding: clicking the "customer" summary closes that subtree.
        browser.click('#b-records tr.detail:not([hidden]) .tree details details summary')
        check(browser.eval("document.querySelector('#b-records tr.detail:not([hidden]) .tree details details').open") is False,
              "clicking a nested object's summary folds it")
        browser.click('#b-records tr.detail:not([hidden]) button')  # Copy value
        browser.wait_for("/Copied|Could not copy/.test(document.querySelector('#status').textContent)",
                         "the copy button reports what it did")
        browser.screenshot(os.path.join(args.screenshots, "2-messages.png"))
        # Paging: next page starts at 93, previous goes back to 73.
        browser.click("#b-next")
        browser.wait_for("document.querySelector('#b-records tbody tr[data-offset]').dataset.offset === '93'",
                         "Next page starts at offset 93")
        browser.click("#b-prev")
        browser.wait_for("document.querySelector('#b-records tbody tr[data-offset]').dataset.offset === '73'",
                         "Previous page returns to offset 73")
        # Seek by timestamp: record 50 has timestamp TS0 + 50000.
        browser.choose("#b-mode", "timestamp")
        browser.type_into("#b-position", str(TS0 + 49_500))
        browser.click("#b-seek")
        browser.wait_for("document.querySelector('#b-records tbody tr[data-offset]').dataset.offset === '50'",
                         "seeking to a timestamp shows the first record at or after it (50)")

        # 3. Live tail over SSE: a record written after the page opened shows up.
        browser.click('a[data-nav="tail"]')
        browser.wait_for("!document.querySelector('#view-tail').hidden", "the Live tail view opens")
        browser.choose("#t-topic", "orders")
        browser.choose("#t-partition", "0")
        browser.choose("#t-from", "latest")
        browser.click("#t-start")
        browser.wait_for("/live: orders\\/0 \\(server-sent events\\)/.test(document.querySelector('#t-state').textContent)",
                         "the tail connects over server-sent events")
        time.sleep(0.3)
        probe = {"key": "tail-probe-1", "timestamp": int(time.time() * 1000), "headers": {},
                 "value": json.dumps({"written": "after the page opened"})}
        write_records(binary, store, "orders", 0, [probe])
        browser.wait_for("[...document.querySelectorAll('#t-list li')].some(li => li.innerText.includes('tail-probe-1'))",
                         "the tail shows the record written after it opened (offset 120)", timeout=15)
        off = browser.eval("(document.querySelector('#t-list li') || {}).dataset?.offset")
        check(off == "120", f"the tailed record has offset 120, got {off!r}")
        # Pause holds the next record back; Resume delivers it (from the next offset, none lost).
        browser.click("#t-pause")
        browser.wait_for("/paused at offset 121/.test(document.querySelector('#t-state').textContent)",
                         "Pause says where it will resume (121)")
        write_records(binary, store, "orders", 0, [dict(probe, key="tail-probe-2")])
        time.sleep(1.5)
        check(browser.eval("[...document.querySelectorAll('#t-list li')].some(li => li.innerText.includes('tail-probe-2'))") is False,
              "a paused tail does not show new records")
        browser.click("#t-pause")  # now "Resume"
        browser.wait_for("[...document.querySelectorAll('#t-list li')].some(li => li.dataset.offset === '121' && li.innerText.includes('tail-probe-2'))",
                         "Resume delivers the record written while paused (121)", timeout=15)
        check(browser.eval("document.querySelectorAll('#t-list li').length") == 2,
              "the tail shows each record once (2 records)")
        browser.screenshot(os.path.join(args.screenshots, "3-tail.png"))
        browser.click("#t-stop")

        # 4. Consumer groups: committed offsets and lag (orders/0: hw 122 - 100).
        browser.click('a[data-nav="groups"]')
        browser.wait_for("!!document.querySelector('#groups-table tr[data-group=\"billing\"]')",
                         "the consumer-groups view lists billing")
        lag = browser.eval("document.querySelector('#groups-table tr[data-group=\"billing\"] td.lag').textContent")
        check(lag == "22", f"billing's total lag is 22 (122-100 + 40-40), got {lag!r}")
        cells = browser.eval("[...document.querySelectorAll('[data-group-offsets=\"billing\"] tbody tr')].map(r => r.innerText.split('\\t').slice(0, 5).join(' '))")
        check(cells == ["orders 0 100 122 22", "orders 1 40 40 0"], f"billing's offsets per partition: {cells}")
        browser.screenshot(os.path.join(args.screenshots, "4-groups.png"))

        # 5. Metrics charts from sampled /metrics.
        browser.click('a[data-nav="metrics"]')
        browser.choose("#m-interval", "1000")
        for _ in range(3):  # some traffic to chart
            server.get("/topics/orders/partitions/0/records?offset=0&max_records=50")
        browser.wait_for("document.querySelectorAll('#chart-rate path.line').length === 1 && "
                         "document.querySelector('#chart-rate path.line').getAttribute('d').split('L').length >= 3",
                         "the request-rate chart draws a line of several samples", timeout=15)
        browser.wait_for("document.querySelectorAll('#chart-latency path.line').length === 2",
                         "the latency chart draws p50 and p99", timeout=10)
        browser.wait_for("document.querySelectorAll('#chart-cache .legend li').length >= 1 && "
                         "!document.querySelector('#chart-cache .legend').innerText.includes('no cache metrics')",
                         "the cache chart has a series per tier", timeout=10)
        rate = browser.eval("document.querySelector('#chart-rate .legend .val').textContent")
        check(rate is not None and rate.endswith("/s") and float(rate[:-2]) > 0, f"the request rate is positive: {rate!r}")
        browser.screenshot(os.path.join(args.screenshots, "5-metrics.png"))
        # The dark colour scheme follows the system's preference.
        browser.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        bg = browser.eval("getComputedStyle(document.body).backgroundColor")
        check(bg == "rgb(13, 17, 23)", f"prefers-color-scheme: dark gives the dark background, got {bg!r}")
        browser.screenshot(os.path.join(args.screenshots, "5-metrics-dark.png"))
        browser.send("Emulation.setEmulatedMedia", {"features": []})

        # 6. Nothing went wrong in the page.
        errors = browser.console_errors()
        check(errors == [], f"no console errors: {errors}")

        # 7. A server with --api-token-file: the page asks for a token, then works with it
        #    (the tail then reads the stream with fetch, as EventSource cannot send Authorization).
        auth_phase_events = browser.event_count()
        tokens = os.path.join(args.workdir, "tokens")
        with open(tokens, "w") as f:
            f.write(f"read {READ_TOKEN}\n")
        secured = Server(binary, store, args.workdir, "serve-auth", ["--api-token-file", tokens])
        try:
            browser.send("Page.navigate", {"url": secured.url("/")})
            browser.wait_for("/needs an API token/.test(document.querySelector('#status').textContent) && "
                             "document.activeElement.id === 'token'",
                             "without a token the page says one is needed and focuses the token field")
            browser.type_into("#token", READ_TOKEN)
            browser.click("#auth-form button")
            browser.wait_for("document.querySelectorAll('#topics-table tbody tr[data-topic]').length === 2",
                             "with the token the topics load")
            browser.click('a[data-nav="tail"]')
            browser.choose("#t-topic", "orders")
            browser.choose("#t-partition", "1")
            browser.choose("#t-from", "latest")
            browser.click("#t-start")
            browser.wait_for("/live: orders\\/1 \\(NDJSON stream\\)/.test(document.querySelector('#t-state').textContent)",
                             "with a token the tail streams with fetch (NDJSON)")
            time.sleep(0.3)
            write_records(binary, store, "orders", 1, [dict(probe, key="tail-probe-auth")])
            browser.wait_for("[...document.querySelectorAll('#t-list li')].some(li => li.dataset.offset === '40' && li.innerText.includes('tail-probe-auth'))",
                             "the token-authenticated tail shows a new record (orders/1 offset 40)", timeout=15)
            browser.screenshot(os.path.join(args.screenshots, "6-tail-with-token.png"))
            browser.click("#t-stop")
            # The 401s before the token was given are the only errors the browser may log.
            errors = [e for e in browser.console_errors(auth_phase_events)
                      if not ("401" in e and secured.url("/topics") in e)]
            check(errors == [], f"no console errors with a token-protected server: {errors}")
        finally:
            secured.stop()
    finally:
        if browser:
            browser.close()
        server.stop()


def browser_test_main(run_test, extra_args=None) -> int:
    """The command line of a Chromium test: --binary, --workdir, --chromium (and
    what `extra_args(parser)` adds); runs run_test(args), prints PASSED or FAILED
    with the failures' count, and returns the exit code."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    if extra_args:
        extra_args(ap)
    args = ap.parse_args()
    started = time.time()
    if not os.access(args.chromium, os.X_OK):
        print(f"FAIL: no Chromium at {args.chromium} (Debian package `chromium`: scripts/install-deps.sh --test)")
        return 1
    try:
        run_test(args)
    except Exception as e:  # a broken step is a failure, with what broke
        FAILURES.append(f"{type(e).__name__}: {e}")
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
    print(f"{'FAILED' if FAILURES else 'PASSED'} in {time.time() - started:.1f}s; "
          f"{len(FAILURES)} failure(s)", flush=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(browser_test_main(run, lambda ap: ap.add_argument("--screenshots", required=True)))
