#!/usr/bin/python3
"""Live responses of the real `streamhouse serve` validated against openapi/openapi.yaml.

Writes a local store with `streamhouse segment write` (good topics and one with a corrupt
block), starts `serve` on it (plus a second server with --api-token-file --metrics-auth),
sends requests that cover every path + method of the document with successes and errors,
and checks each response:
  - its status is documented for that operation (explicitly, not through `default`);
  - its Content-Type is a documented media type of that status;
  - its body validates against the documented schema (application/json: the body;
    application/x-ndjson: every line; text/event-stream: the `data` of every event, against
    the NDJSON schema the document says the events carry; a response without `content`:
    an empty body);
  - an error body's error_code is status*100+n and listed in info.description; 401 carries
    WWW-Authenticate, 405 Allow, 429 and 503 Retry-After;
  - a gzip body (Content-Encoding: gzip) is inflated before it is validated, and the
    Content-Encoding, ETag and (on a success) Vary headers it carries are documented
    for that status; every query parameter of a success is documented for the
    operation (shared ones such as `pretty` through $ref);
  - a JSON body is one line ending in a newline, unless pretty=true asked for it indented.
Then: every path + method of the document was exercised, and every documented status was
returned at least once except the few listed in UNREACHABLE (with the reason).
Outside the operations: 404 (40400) for an unknown route, 405 (40500) with the documented
methods in Allow for every path, HEAD wherever GET is, and OPTIONS: 204 with that Allow.

Schemas are OpenAPI 3.0 and are converted to JSON Schema draft 7: $refs inlined, allOf of
objects merged, `nullable: true` -> a type union with null, formats int32/int64 checked as
ranges, `integer` excludes floats and booleans, and every object schema that lists its
properties rejects properties it does not list (so a field the server sends must be documented).

Usage: openapi_live_test.py --binary PATH --source-dir DIR [--workdir DIR] [--keep]
Exits 0 only if every check passed; the last line is "openapi_live: N passed, M failed".
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import jsonschema
import yaml

READ_TOKEN = "openapi-read-5b1e9d07c3a2"
COMMIT_TOKEN = "openapi-commit-8f4c2a6e9d13"

# Documented statuses a test against a local directory store cannot produce on purpose.
# Keyed by status; every other documented (path, method, status) must be seen.
UNREACHABLE = {
    "503": "storage/metadata unavailable, I/O queue full or draining: a local directory store "
           "does not fail, and an overloaded or draining server cannot be timed deterministically",
    "504": "needs storage slower than --request-timeout-ms (at least 100 ms)",
}
# (path, method, status) also unreachable here, with the reason.
UNREACHABLE_OPS: dict = {}

PARAM_VALUES = {"topic": "orders", "partition": "0", "group": "g1"}


# ------------------------------------------------------------------ checks

class Checker:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, cond: bool, what: str) -> bool:
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", file=sys.stderr, flush=True)
        return cond


# ------------------------------------------------------------------ the document

OAS_ONLY_KEYWORDS = {"nullable", "discriminator", "xml", "externalDocs", "example", "deprecated",
                     "readOnly", "writeOnly"}


def _is_integer(_checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_TypeStrictValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", _is_integer))

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("int64")
def _int64(v) -> bool:
    return not _is_integer(None, v) or -(1 << 63) <= v < (1 << 63)


@FORMATS.checks("int32")
def _int32(v) -> bool:
    return not _is_integer(None, v) or -(1 << 31) <= v < (1 << 31)


class Document:
    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            self.raw = f.read()
        self.spec = yaml.safe_load(self.raw)
        if not str(self.spec.get("openapi", "")).startswith("3.0."):
            raise SystemExit(f"{path}: this test converts OpenAPI 3.0 schemas; the document is "
                             f"{self.spec.get('openapi')}")
        self.error_codes = {int(c) for c in
                            re.findall(r"\b([1-5][0-9]{4})\b", self.spec["info"]["description"])}
        self.templates = []  # (template, compiled regex)
        for t in self.spec["paths"]:
            rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$"
            self.templates.append((t, re.compile(rx)))

    def deref(self, node: dict) -> dict:
        seen = []
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                raise ValueError(f"cannot resolve $ref {ref}")
            seen.append(ref)
            target = self.spec
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def template_of(self, path: str) -> str | None:
        found = [t for t, rx in self.templates if rx.match(path)]
        return found[0] if len(found) == 1 else None

    def operations(self):
        for t, item in self.spec["paths"].items():
            for m in ("get", "put", "post", "delete", "patch", "head", "options"):
                if m in item:
                    yield t, m, item[m]

    def operation(self, template: str, method: str) -> dict | None:
        return self.spec["paths"].get(template, {}).get(method.lower())

    def json_schema(self, schema: dict, stack: tuple = ()) -> dict:
        """OpenAPI 3.0 Schema Object -> JSON Schema draft 7 (see the module docstring)."""
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in stack:
                raise ValueError(f"recursive $ref {ref}")
            return self.json_schema(self.deref({"$ref": ref}), stack + (ref,))
        out: dict = {}
        for k, v in schema.items():
            if k in OAS_ONLY_KEYWORDS:
                continue
            if k == "properties":
                out[k] = {name: self.json_schema(s, stack) for name, s in v.items()}
            elif k in ("items", "not") or (k == "additionalProperties" and isinstance(v, dict)):
                out[k] = self.json_schema(v, stack)
            elif k in ("allOf", "anyOf", "oneOf"):
                out[k] = [self.json_schema(s, stack) for s in v]
            else:
                out[k] = v
        if schema.get("nullable") is True:
            if "type" not in out:
                raise ValueError(f"nullable without type: {schema}")
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = list(out["enum"]) + [None]
        # allOf of object schemas: one object with every part's properties and required.
        parts = out.get("allOf")
        if parts and all(p.get("type") == "object" and "properties" in p for p in parts):
            del out["allOf"]
            out["type"] = "object"
            props = dict(out.get("properties", {}))
            required = list(out.get("required", []))
            for p in parts:
                props.update(p["properties"])
                required += [r for r in p.get("required", []) if r not in required]
            out["properties"] = props
            if required:
                out["required"] = required
            out.pop("additionalProperties", None)
        if "properties" in out and "additionalProperties" not in schema:
            out["additionalProperties"] = False
        return out

    def validator(self, schema: dict):
        js = self.json_schema(schema)
        _TypeStrictValidator.check_schema(js)
        return _TypeStrictValidator(js, format_checker=FORMATS)


def self_test(doc: Document, c: Checker) -> None:
    """The converted schemas must reject what the document rules out (else every
    validation below could pass vacuously)."""
    def errors(schema_name: str, instance) -> list:
        v = doc.validator({"$ref": f"#/components/schemas/{schema_name}"})
        return list(v.iter_errors(instance))

    c.check(not errors("Error", {"error_code": 40001, "message": "m"}), "self-test: a valid Error")
    c.check(bool(errors("Error", {"error_code": 40001})), "self-test: Error without message rejected")
    c.check(bool(errors("Error", {"error_code": "40001", "message": "m"})),
            "self-test: a string error_code rejected")
    c.check(bool(errors("Error", {"error_code": 40001, "message": "m", "extra": 1})),
            "self-test: an undocumented property rejected")
    c.check(bool(errors("Error", {"error_code": 40001.0, "message": "m"})),
            "self-test: a float for an integer rejected")
    seg = {"key": "k", "base_offset": 0, "last_offset": 1, "record_count": 2, "size_bytes": 3,
           "min_timestamp": None, "max_timestamp": 5}
    c.check(not errors("Segment", seg), "self-test: nullable min_timestamp accepts null")
    c.check(bool(errors("Segment", dict(seg, min_timestamp="x"))),
            "self-test: nullable integer rejects a string")
    c.check(bool(errors("Segment", dict(seg, size_bytes=1 << 63))), "self-test: int64 range checked")
    oor = {"error_code": 41600, "message": "m", "log_start_offset": 0, "high_watermark": 3}
    c.check(not errors("OffsetOutOfRange", oor), "self-test: allOf merged (OffsetOutOfRange)")
    c.check(bool(errors("OffsetOutOfRange", dict(oor, other=1))),
            "self-test: merged allOf rejects an undocumented property")


# ------------------------------------------------------------------ processes and HTTP

def run(argv: list, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=60)


class Server:
    def __init__(self, binary: str, args: list, log_path: str) -> None:
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0"] + args,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.port = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open(log_path, "rb") as f:
                m = re.search(rb"on http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        with open(log_path, "rb") as f:
            raise SystemExit(f"streamhouse serve did not start:\n{f.read().decode(errors='replace')}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def request(port: int, method: str, target: str, headers: dict | None = None,
            body: bytes | None = None, timeout: float = 20) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        try:
            conn.endheaders(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (413) and closed before the whole body was sent: read the answer
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


# ------------------------------------------------------------------ the store

def jsonl(lines: list) -> bytes:
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def build_store(binary: str, root: str) -> str:
    store = "file://" + root

    def write(topic: str, partition: int, lines: list, *extra: str) -> None:
        r = run([binary, "segment", "write", "--store", store, "--topic", topic,
                 "--partition", str(partition), *extra], jsonl(lines))
        if r.returncode != 0:
            raise SystemExit(f"segment write {topic}/{partition} failed: {r.stderr.decode()}")

    # orders/0: 40 records in 2 segments; headers, JSON values, increasing timestamps.
    write("orders", 0, [{"key": f"order-{i}", "timestamp": 1_700_000_000_000 + i * 10,
                         "headers": {"source": "openapi", "n": str(i)},
                         "value": {"order_id": i, "note": "caf\u00e9"}} for i in range(40)],
          "--segment-records", "20", "--block-bytes", "512")
    # orders/1: every shape of key and value the server encodes differently.
    write("orders", 1, [
        {"offset": 3, "key": "plain", "value": "text, not JSON", "timestamp": 1000,
         "headers": [{"key": "h", "value": None}, {"key": "k", "value": "v"}]},
        {"offset": 4, "key": None, "value": None, "timestamp": 2000},
        {"offset": 5, "key": "/w==", "key_encoding": "base64", "value": "gICA", "value_encoding": "base64",
         "timestamp": 3000},
        {"offset": 9, "key": "j", "value": "[1, {\"a\": null}, \"s\", true, 2.5]", "timestamp": 4000},
        {"offset": 10, "key": "n", "value": "42", "timestamp": 5000},
    ])
    # bad/0: two segments; a byte inside the second one's first block flipped.
    write("bad", 0, [{"key": f"k{i}", "value": f"value-{i:04d}-" + "x" * 40, "timestamp": i}
                     for i in range(40)],
          "--segment-records", "20", "--block-bytes", "512", "--compression", "none")
    path = os.path.join(root, "bad", "0", "seg_00000000000000000020.bin")
    with open(path, "r+b") as f:
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 0x5A]))
    return store


# ------------------------------------------------------------------ the test

@dataclass
class Case:
    method: str
    target: str           # path and query, as sent
    expect: int
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    what: str = ""


class LiveTest:
    def __init__(self, doc: Document, c: Checker) -> None:
        self.doc = doc
        self.c = c
        self.seen: set = set()  # (template, method, status)

    # One response against the operation it belongs to.
    def validate(self, case: Case, r: Response) -> None:
        label = f"{case.method} {case.target} ({case.what or case.expect})"
        path = case.target.split("?", 1)[0]
        template = self.doc.template_of(path)
        if not self.c.check(template is not None, f"{label}: no documented path matches"):
            return
        op = self.doc.operation(template, case.method)
        if not self.c.check(op is not None, f"{label}: {case.method} {template} is not documented"):
            return
        status = str(r.status)
        responses = op["responses"]
        if not self.c.check(status in responses,
                            f"{label}: status {status} is not documented for {case.method} {template} "
                            f"(documented: {sorted(responses)}); body {r.body[:200]!r}"):
            return
        self.seen.add((template, case.method.lower(), status))
        resp_obj = self.doc.deref(responses[status])
        self.check_headers(label, resp_obj, r)
        if r.status < 400:
            self.check_query_documented(label, template, op, case.target)
        if r.headers.get("content-encoding") == "gzip":
            try:
                r = Response(r.status, r.headers, gzip.decompress(r.body))
            except OSError as e:
                self.c.check(False, f"{label}: Content-Encoding gzip but the body does not inflate: {e}")
                return
        if r.media_type == "application/json" and r.body:
            # pretty=true indents where the operation documents `pretty` (elsewhere it is a 400).
            if "pretty=true" in case.target and "pretty" in self.query_params(template, op):
                self.c.check(r.body.startswith(b'{\n  "') and r.body.endswith(b"\n"),
                             f"{label}: pretty=true but not indented by two spaces: {r.body[:60]!r}")
            else:
                self.c.check(r.body.endswith(b"\n") and r.body.count(b"\n") == 1,
                             f"{label}: a JSON body is one line and a newline: {r.body[:200]!r}")
        self.check_body(label, resp_obj, r, op)
        self.check_error_body(label, r)

    def check_headers(self, label: str, resp_obj: dict, r: Response) -> None:
        documented = {k.lower() for k in (resp_obj.get("headers") or {})}
        for name in ("content-encoding", "etag", "vary"):
            if name in r.headers and (name != "vary" or r.status < 400):
                self.c.check(name in documented,
                             f"{label}: the answer carries {name} but the document lists no such header "
                             f"for {r.status} (documented: {sorted(documented)})")

    def query_params(self, template: str, op: dict) -> set:
        """The query parameters an operation documents (its own and its path's, $refs resolved)."""
        params = list(self.doc.spec["paths"][template].get("parameters", [])) + list(op.get("parameters", []))
        return {self.doc.deref(p)["name"] for p in params if self.doc.deref(p).get("in") == "query"}

    def check_query_documented(self, label: str, template: str, op: dict, target: str) -> None:
        query = target.split("?", 1)[1] if "?" in target else ""
        names = {k for k, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)}
        documented = self.query_params(template, op)
        for n in sorted(names - documented):
            self.c.check(False, f"{label}: query parameter {n!r} was accepted but is not documented "
                                f"(documented: {sorted(documented)})")

    def check_body(self, label: str, resp_obj: dict, r: Response, op: dict) -> None:
        content = resp_obj.get("content")
        if not content:
            self.c.check(r.body == b"", f"{label}: documented without content but has a body {r.body[:100]!r}")
            return
        media = r.media_type
        if not self.c.check(media in content,
                            f"{label}: Content-Type {media!r} not documented (documented: {sorted(content)})"):
            return
        schema = content[media].get("schema")
        text = r.body.decode("utf-8", errors="strict")
        if media == "application/json" or media.endswith("+json"):
            if not self.c.check(schema is not None, f"{label}: {media} response without a schema"):
                return
            self.validate_json(label, schema, text)
        elif media == "application/x-ndjson":
            lines = [ln for ln in text.split("\n") if ln]
            self.c.check(bool(lines), f"{label}: empty NDJSON stream (it ends with an end or error line)")
            for i, ln in enumerate(lines):
                self.validate_json(f"{label} line {i + 1}", schema, ln)
            if lines:
                last = json.loads(lines[-1])
                self.c.check(isinstance(last, dict) and ("end" in last or "error" in last),
                             f"{label}: the last NDJSON line is not an end or error line: {lines[-1][:200]}")
        elif media == "text/event-stream":
            ndjson = content.get("application/x-ndjson", {}).get("schema")
            if schema is not None:
                self.validate_instance(label, schema, text)
            events = self.sse_events(text)
            self.c.check(bool(events), f"{label}: no SSE events")
            for i, ev in enumerate(events):
                if self.c.check("data" in ev, f"{label} event {i + 1} has no data: {ev}") and ndjson:
                    self.validate_json(f"{label} event {i + 1}", ndjson, ev["data"])
        elif schema is not None:
            self.validate_instance(label, schema, text)

    @staticmethod
    def sse_events(text: str) -> list:
        events, cur = [], {}
        for line in text.split("\n"):
            if line == "":
                if cur:
                    events.append(cur)
                cur = {}
            elif line.startswith(":"):
                continue  # comment (heartbeat)
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                cur[name] = cur[name] + "\n" + value if name in cur else value
        if cur:
            events.append(cur)
        return events

    def validate_json(self, label: str, schema: dict, text: str) -> None:
        try:
            instance = json.loads(text)
        except ValueError as e:
            self.c.check(False, f"{label}: body is not JSON ({e}): {text[:200]!r}")
            return
        self.validate_instance(label, schema, instance)

    def validate_instance(self, label: str, schema: dict, instance) -> None:
        errs = sorted(self.doc.validator(schema).iter_errors(instance), key=lambda e: list(e.path))
        detail = "; ".join(f"at /{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errs[:5])
        self.c.check(not errs, f"{label}: does not match the schema: {detail}")

    def check_error_body(self, label: str, r: Response) -> None:
        if r.status >= 400 and r.media_type == "application/json":
            body = json.loads(r.body)
            code = body.get("error_code") if isinstance(body, dict) else None
            if "error_code" in body:
                self.c.check(isinstance(code, int) and code // 100 == r.status,
                             f"{label}: error_code {code} does not belong to status {r.status}")
                self.c.check(code in self.doc.error_codes,
                             f"{label}: error_code {code} is not listed in info.description")
        if r.status == 401:
            self.c.check(r.headers.get("www-authenticate", "").startswith("Bearer"),
                         f"{label}: 401 without WWW-Authenticate: Bearer")
        if r.status in (429, 503):
            self.c.check("retry-after" in r.headers, f"{label}: {r.status} without Retry-After")

    def send(self, port: int, case: Case, timeout: float = 20) -> Response:
        r = request(port, case.method, case.target, case.headers, case.body, timeout)
        self.c.check(r.status == case.expect,
                     f"{case.method} {case.target} ({case.what}): status {r.status}, want {case.expect}; "
                     f"body {r.body[:300]!r}")
        self.validate(case, r)
        return r

    # A concrete path for a template, from PARAM_VALUES.
    def sample_path(self, template: str, **override) -> str:
        def value(m):
            name = m.group(1)
            if name not in PARAM_VALUES and name not in override:
                raise SystemExit(f"no sample value for path parameter {{{name}}} of {template}: "
                                 "add it to PARAM_VALUES")
            return override.get(name, PARAM_VALUES.get(name))
        return re.sub(r"\{([^/]+?)\}", value, template)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    c = Checker()
    doc_path = os.path.join(args.source_dir, "openapi", "openapi.yaml")
    doc = Document(doc_path)
    self_test(doc, c)

    work = args.workdir or tempfile.mkdtemp(prefix="sh-openapi-")
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(os.path.join(work, "store"))
    store = build_store(args.binary, os.path.join(work, "store"))
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write(f"read {READ_TOKEN}\ncommit {COMMIT_TOKEN}\n")

    t = LiveTest(doc, c)
    started = time.monotonic()
    servers = []
    try:
        servers.append(Server(args.binary, ["--store", store, "--max-long-polls", "1",
                                            "--long-poll-interval-ms", "50", "--index-ttl-ms", "60000"],
                              os.path.join(work, "serve.log")))
        servers.append(Server(args.binary, ["--store", store, "--api-token-file", tokens, "--metrics-auth"],
                              os.path.join(work, "serve-auth.log")))
        run_cases(t, doc, servers[0].port, servers[1].port)
    finally:
        for s in servers:
            s.stop()

    # Coverage: every operation, and every documented status but the unreachable ones.
    exercised_ops = {(p, m) for p, m, _ in t.seen}
    for p, m, op in doc.operations():
        c.check((p, m) in exercised_ops, f"coverage: {m.upper()} {p} was never exercised")
        for status in op["responses"]:
            if (p, m, status) in t.seen:
                continue
            reason = UNREACHABLE_OPS.get((p, m, status)) or UNREACHABLE.get(status)
            if reason:
                print(f"not exercised: {m.upper()} {p} {status} ({reason})")
            else:
                c.check(False, f"coverage: {m.upper()} {p} documents {status} but no request got it")
    print(f"{len(t.seen)} documented (path, method, status) seen in {time.monotonic() - started:.1f} s")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    print(f"openapi_live: {c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


def run_cases(t: LiveTest, doc: Document, port: int, auth_port: int) -> None:
    c = t.c
    P0 = "/topics/orders/partitions/0"
    P1 = "/topics/orders/partitions/1"
    commit = json.dumps({"offsets": [{"topic": "orders", "partition": 0, "offset": 7, "metadata": "m"},
                                     {"topic": "orders", "partition": 1, "offset": 11}]}).encode()
    # The request body a test sends as a success must itself be what the document asks for.
    post = doc.operation("/consumer-groups/{group}/offsets", "post")
    if post is not None:
        t.validate_instance("commit request body",
                            post["requestBody"]["content"]["application/json"]["schema"], json.loads(commit))

    # /readyz answers 503 until the prober's first round: wait for ready.
    for p in (port, auth_port):
        deadline = time.monotonic() + 10
        while request(p, "GET", "/readyz").status != 200 and time.monotonic() < deadline:
            time.sleep(0.1)

    cases = [
        Case("GET", "/", 200), Case("GET", "/?x=1", 400, what="unknown query parameter"),
        Case("GET", "/healthz", 200), Case("GET", "/healthz?x=1", 400),
        Case("GET", "/readyz", 200), Case("GET", "/readyz?x=1", 400),
        Case("GET", "/metrics", 200), Case("GET", "/metrics?x=1", 400),
        Case("GET", "/openapi.yaml", 200), Case("GET", "/openapi.yaml?x=1", 400),
        Case("GET", "/topics", 200), Case("GET", "/topics?x=1", 400),
        Case("GET", "/topics/orders", 200), Case("GET", "/topics/bad", 200),
        Case("GET", "/topics/no-such-topic", 404), Case("GET", "/topics/bad%21name", 400, what="invalid topic"),
        Case("GET", "/topics/or%00ders", 400, what="NUL in the path"),
        Case("GET", "/topics/orders?x=1", 400),
        Case("GET", P0, 200), Case("GET", P1, 200),
        Case("GET", "/topics/orders/partitions/7", 404, what="unknown partition"),
        Case("GET", "/topics/no-such-topic/partitions/0", 404),
        Case("GET", "/topics/orders/partitions/01", 400, what="partition with a leading zero"),
        Case("GET", "/topics/orders/partitions/2147483648", 400, what="partition above int32"),
        Case("GET", P0 + "/segments", 200), Case("GET", P1 + "/segments", 200),
        Case("GET", "/topics/orders/partitions/9/segments", 404),
        Case("GET", "/topics/orders/partitions/x/segments", 400),
        # records: every start, every format, errors
        Case("GET", P0 + "/records", 200), Case("GET", P0 + "/records?offset=5&max_records=3", 200),
        Case("GET", P0 + "/records?offset=earliest&format=base64", 200),
        Case("GET", P0 + "/records?offset=latest", 200),
        Case("GET", P0 + "/records?offset=latest&timeout_ms=100", 200, what="long-poll that times out"),
        Case("GET", P0 + "/records?timestamp=1700000000105&max_bytes=1", 200),
        Case("GET", P1 + "/records", 200), Case("GET", P1 + "/records?format=json", 200),
        Case("GET", P1 + "/records?format=base64", 200),
        Case("GET", P1 + "/records?group=g-new&auto_offset_reset=earliest", 200),
        Case("GET", "/topics/bad/partitions/0/records?max_records=20", 200, what="intact first segment"),
        Case("GET", "/topics/bad/partitions/0/records?offset=20", 502, what="corrupt block"),
        Case("GET", P0 + "/records?max_records=0", 400), Case("GET", P0 + "/records?max_records=10001", 400),
        Case("GET", P0 + "/records?offset=-1", 400), Case("GET", P0 + "/records?format=xml", 400),
        Case("GET", P0 + "/records?timeout_ms=30001", 400), Case("GET", P0 + "/records?nope=1", 400),
        Case("GET", P0 + "/records?offset=1&timestamp=5", 400, what="conflicting parameters"),
        Case("GET", P0 + "/records?group=bad%21group", 400),
        Case("GET", P0 + "/records?auto_offset_reset=middle&group=g1", 400),
        Case("GET", P0 + "/records?offset=1%00", 400, what="NUL in the query"),
        Case("GET", "/topics/no-such-topic/partitions/0/records", 404),
        Case("GET", "/topics/orders/partitions/5/records", 404),
        Case("GET", P0 + "/records?offset=100000", 416),
        Case("GET", P1 + "/records?offset=1", 416, what="below log_start_offset"),
        # streams
        Case("GET", P0 + "/records/stream", 200, what="NDJSON to the high watermark"),
        Case("GET", P1 + "/records/stream?format=json", 200),
        Case("GET", P1 + "/records/stream?format=base64&end_offset=5", 200),
        Case("GET", P0 + "/records/stream?offset=10&end_offset=15", 200, {"Accept": "text/event-stream"},
             what="SSE"),
        Case("GET", P0 + "/records/stream?end_offset=30", 200,
             {"Accept": "text/event-stream", "Last-Event-ID": "20"}, what="SSE resume"),
        Case("GET", P0 + "/records/stream?timestamp=1700000000200&follow=false", 200),
        Case("GET", "/topics/bad/partitions/0/records/stream", 200, what="corrupt block: in-band error line"),
        Case("GET", "/topics/bad/partitions/0/records/stream", 200, {"Accept": "text/event-stream"},
             what="corrupt block: SSE error event"),
        Case("GET", "/topics/bad/partitions/0/records/stream?offset=20", 502,
             what="corrupt first block: found before the first byte"),
        Case("GET", P0 + "/records/stream?follow=maybe", 400),
        Case("GET", P0 + "/records/stream?heartbeat_ms=1", 400),
        Case("GET", P0 + "/records/stream?max_records=5", 400, what="a records-only parameter"),
        Case("GET", P0 + "/records/stream", 400, {"Last-Event-ID": "x"}),
        Case("GET", "/topics/no-such-topic/partitions/0/records/stream", 404),
        Case("GET", P0 + "/records/stream?offset=100000", 416),
        # topic-wide reads
        Case("GET", "/topics/orders/records", 200),
        Case("GET", "/topics/orders/records?partitions=1&format=json", 200),
        Case("GET", "/topics/orders/records?partitions=0,1&offset=3&max_records=4&format=base64", 200),
        Case("GET", "/topics/orders/records?timestamp=3000&max_bytes=1", 200),
        Case("GET", "/topics/orders/records?offset=latest&timeout_ms=100", 200, what="long-poll that times out"),
        Case("GET", "/topics/bad/records?offset=20", 502, what="the only selected partition is corrupt"),
        Case("GET", "/topics/orders/records?partitions=0,0", 400),
        Case("GET", "/topics/orders/records?partitions=x", 400),
        Case("GET", "/topics/orders/records?offset=1&group=g1", 400),
        Case("GET", "/topics/no-such-topic/records", 404),
        Case("GET", "/topics/orders/records?partitions=7", 404),
        Case("GET", "/topics/orders/records?offset=100000", 416),
        # topic-wide streams
        Case("GET", "/topics/orders/records/stream", 200, what="topic stream: NDJSON to the high watermarks"),
        Case("GET", "/topics/orders/records/stream?partitions=1&format=json", 200),
        Case("GET", "/topics/orders/records/stream?offset=3&format=base64", 200),
        Case("GET", "/topics/orders/records/stream?partitions=0,1&timestamp=3000", 200,
             {"Accept": "text/event-stream"}, what="topic stream: SSE with KafkaSSE ids"),
        Case("GET", "/topics/orders/records/stream", 200,
             {"Accept": "text/event-stream",
              "Last-Event-ID": '[{"topic":"orders","partition":0,"offset":30},{"topic":"orders","partition":1,"timestamp":3000}]'},
             what="topic stream: SSE resume"),
        Case("GET", "/topics/bad/records/stream", 200, what="topic stream: corrupt block, in-band error line"),
        Case("GET", "/topics/bad/records/stream", 200, {"Accept": "text/event-stream"},
             what="topic stream: corrupt block, SSE error event"),
        Case("GET", "/topics/bad/records/stream?offset=20", 502, what="topic stream: corrupt first block"),
        Case("GET", "/topics/orders/records/stream?follow=maybe", 400),
        Case("GET", "/topics/orders/records/stream?partitions=0,0", 400),
        Case("GET", "/topics/orders/records/stream?max_records=5", 400, what="a records-only parameter"),
        Case("GET", "/topics/orders/records/stream", 400, {"Last-Event-ID": "x"}),
        Case("GET", "/topics/orders/records/stream", 400,
             {"Last-Event-ID": '[{"topic":"orders","partition":7,"offset":1}]'}, what="unknown partition in Last-Event-ID"),
        Case("GET", "/topics/no-such-topic/records/stream", 404),
        Case("GET", "/topics/orders/records/stream?partitions=7", 404),
        Case("GET", "/topics/orders/records/stream?offset=100000", 416),
        # consumer groups
        Case("POST", "/consumer-groups/g1/offsets", 204, body=commit),
        Case("POST", "/consumer-groups/g1/offsets", 400, body=b'{"offsets": "nope"}'),
        Case("POST", "/consumer-groups/g1/offsets", 400, body=b"not json"),
        Case("POST", "/consumer-groups/bad%21g/offsets", 400, body=commit),
        Case("POST", "/consumer-groups/g1/offsets", 404,
             body=b'{"offsets": [{"topic": "no-such-topic", "partition": 0, "offset": 0}]}'),
        Case("POST", "/consumer-groups/g1/offsets", 416,
             body=b'{"offsets": [{"topic": "orders", "partition": 0, "offset": 41}]}'),
        Case("POST", "/consumer-groups/g1/offsets", 413,
             body=b'{"offsets": [], "pad": "' + b"x" * (1 << 20) + b'"}'),
        Case("GET", "/consumer-groups", 200), Case("GET", "/consumer-groups?x=1", 400),
        Case("GET", "/consumer-groups/g1/offsets", 200),
        Case("GET", "/consumer-groups/no-such-group/offsets", 404),
        Case("GET", "/consumer-groups/bad%21g/offsets", 400),
        Case("GET", P0 + "/records?group=g1", 200, what="resume at the committed offset"),
        Case("GET", P0 + "/records/stream?group=g1&end_offset=9", 200),
        Case("GET", "/topics/orders/records?group=g1", 200),
        Case("GET", "/topics/orders/records/stream?group=g1", 200),
    ]
    for case in cases:
        r = t.send(port, case)
        if case.target == "/openapi.yaml" and r.status == 200:
            c.check(r.body == doc.raw, "/openapi.yaml: the served document differs from openapi/openapi.yaml "
                                       "(rebuild the binary?)")

    # An immutable range answers If-None-Match with its ETag by 304 (no body).
    ranged = P0 + "/records?offset=5&max_records=3"
    first = t.send(port, Case("GET", ranged, 200, what="immutable range"))
    etag = first.headers.get("etag", "")
    c.check(bool(etag), f"GET {ranged}: an immutable range without an ETag")
    t.send(port, Case("GET", ranged, 304, {"If-None-Match": etag}, what="conditional GET"))
    pretty_and_gzip(t, doc, port)
    long_poll_overload(t, port, "/topics/orders/partitions/0/records?offset=latest&timeout_ms=4000")
    long_poll_overload(t, port, "/topics/orders/records?offset=latest&timeout_ms=4000")
    outside_operations(t, doc, port)
    auth_cases(t, doc, auth_port)


def pretty_and_gzip(t: LiveTest, doc: Document, port: int) -> None:
    """pretty=true on every operation that documents it (and 400 on every GET that does
    not: the document is exact both ways); gzip answers, their ETags and 304s."""
    c = t.c
    commit = json.dumps({"offsets": [{"topic": "orders", "partition": 0, "offset": 8}]}).encode()
    for template, method, op in doc.operations():
        params = list(doc.spec["paths"][template].get("parameters", [])) + list(op.get("parameters", []))
        takes = any(doc.deref(p).get("name") == "pretty" for p in params)
        path = t.sample_path(template)
        sep = "&" if "?" in path else "?"
        if method == "post":
            if takes:
                t.send(port, Case("POST", path + "?pretty=true", 204, body=commit, what="pretty on a 204"))
                t.send(port, Case("POST", path + "?pretty=true", 400, body=b"not json", what="a pretty error"))
            continue
        if takes:
            t.send(port, Case("GET", path + sep + "pretty=true", 200, what="pretty"))
            t.send(port, Case("GET", path + sep + "pretty=false", 200, what="compact"))
            bad = t.send(port, Case("GET", path + sep + "pretty=bogus", 400, what="pretty takes true or false"))
            c.check(bad.body.startswith(b'{"error_code":40001,'), f"GET {path}?pretty=bogus: {bad.body[:100]!r}")
        else:
            r = t.send(port, Case("GET", path + sep + "pretty=true", 400,
                                  what="a route that does not document pretty refuses it"))
            c.check(b"40002" in r.body, f"GET {path}?pretty=true: {r.body[:200]!r}")
    t.send(port, Case("GET", "/topics/no-such-topic?pretty=true", 404, what="a pretty error"))

    gz = {"Accept-Encoding": "gzip"}
    for target in ("/topics/orders/partitions/0/records", "/topics/orders/partitions/0/records?format=json",
                   "/topics/orders/records?format=base64", "/topics/orders/partitions/0/records?pretty=true",
                   "/topics/orders/records?partitions=0,1&format=json&pretty=true"):
        r = t.send(port, Case("GET", target, 200, gz, what="gzip"))
        c.check(r.headers.get("content-encoding") == "gzip", f"GET {target} with gzip: not compressed")
        c.check("Accept-Encoding" in r.headers.get("vary", ""), f"GET {target}: no Vary: Accept-Encoding")
        plain = request(port, "GET", target)
        c.check(r.headers.get("content-encoding") != "gzip" or gzip.decompress(r.body) == plain.body,
                f"GET {target}: the gzip body does not inflate to the identity body")
    small = t.send(port, Case("GET", "/healthz", 200, gz, what="below the gzip threshold"))
    c.check("content-encoding" not in small.headers, "/healthz: a small body was compressed")
    refused = t.send(port, Case("GET", "/topics/orders/partitions/0/records", 200,
                                {"Accept-Encoding": "gzip;q=0, identity"}, what="gzip;q=0"))
    c.check("content-encoding" not in refused.headers, "gzip;q=0 was not honoured")
    ranged = "/topics/orders/partitions/0/records?offset=0&max_records=15"
    first = t.send(port, Case("GET", ranged, 200, gz, what="immutable range, gzip"))
    etag = first.headers.get("etag", "")
    c.check(etag.endswith('-gzip"'), f"GET {ranged} gzip: ETag {etag!r} is not the gzip variant's")
    t.send(port, Case("GET", ranged, 304, dict(gz, **{"If-None-Match": etag}), what="conditional GET, gzip"))


def long_poll_overload(t: LiveTest, port: int, target: str) -> None:
    """--max-long-polls 1: a second waiting long-poll is refused with 429 (target waits 4000 ms)."""
    first: dict = {}
    th = threading.Thread(target=lambda: first.update(r=request(port, "GET", target, timeout=20)))
    th.start()
    got = None
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.1)
        r = request(port, "GET", target.replace("4000", "300"), timeout=20)
        if r.status == 429:
            got = r
            break
    if t.c.check(got is not None, f"429: a second long-poll beyond --max-long-polls 1 was not refused: {target}"):
        t.validate(Case("GET", target, 429, what="too many long-polls"), got)
    th.join(timeout=20)
    if t.c.check("r" in first, "the first long-poll got no answer"):
        t.c.check(first["r"].status == 200, f"the first long-poll: {first['r'].status}")
        t.validate(Case("GET", target, 200, what="long-poll"), first["r"])


def outside_operations(t: LiveTest, doc: Document, port: int) -> None:
    """Answers that belong to no operation: unknown routes, methods a path does not
    document, HEAD (derived from GET). Error bodies must match components.schemas.Error."""
    c = t.c
    error_schema = {"$ref": "#/components/schemas/Error"}

    def expect_error(r: Response, code: int, label: str) -> None:
        c.check(r.status == code // 100, f"{label}: status {r.status}, want {code // 100}")
        c.check(r.media_type == "application/json", f"{label}: Content-Type {r.media_type!r}")
        t.validate_json(label, error_schema, r.body.decode())
        body = json.loads(r.body) if r.media_type == "application/json" else {}
        c.check(body.get("error_code") == code, f"{label}: error_code {body.get('error_code')}, want {code}")
        t.check_error_body(label, r)

    for target in ("/no-such-route", "/topics/orders/partitions", "/topics/orders/partitions/0/nope"):
        expect_error(request(port, "GET", target), 40400, f"GET {target}")
    for template, item in doc.spec["paths"].items():
        documented = [m for m in ("get", "put", "post", "delete", "patch") if m in item]
        allow = []
        for m in documented:
            allow.append(m.upper())
            if m == "get":
                allow.append("HEAD")
        allow.append("OPTIONS")  # answered on every path, with Allow (the info text says so)
        path = t.sample_path(template)
        r = request(port, "OPTIONS", path)
        got = sorted(x.strip() for x in r.headers.get("allow", "").split(",") if x.strip())
        c.check(r.status == 204 and r.body == b"" and got == sorted(allow),
                f"OPTIONS {path}: status {r.status}, Allow {r.headers.get('allow')!r}, want 204 and {', '.join(allow)}")
        for m in ("DELETE", "PUT", "PATCH", "POST"):
            if m.lower() in documented:
                continue
            r = request(port, m, path, body=b"{}" if m != "DELETE" else None)
            expect_error(r, 40500, f"{m} {path}")
            got = sorted(x.strip() for x in r.headers.get("allow", "").split(",") if x.strip())
            c.check(got == sorted(allow), f"{m} {path}: Allow {r.headers.get('allow')!r}, want {', '.join(allow)}")
        if "get" in item and not template.endswith("/stream"):
            get = request(port, "GET", path)
            head = request(port, "HEAD", path)
            c.check(head.status == get.status and head.body == b"",
                    f"HEAD {path}: status {head.status} (GET: {get.status}), body {len(head.body)} bytes")


def auth_cases(t: LiveTest, doc: Document, port: int) -> None:
    """--api-token-file --metrics-auth: each operation's `security` holds on the server.
    `security: []`: open; with bearerAuth: 401 without a token, not 401 with a read token."""
    c = t.c
    commit = json.dumps({"offsets": [{"topic": "orders", "partition": 1, "offset": 4}]}).encode()
    bearer = lambda tok: {"Authorization": f"Bearer {tok}"}  # noqa: E731
    top = doc.spec.get("security", [])
    for template, method, op in doc.operations():
        path = t.sample_path(template)
        if template.endswith("/stream"):
            # A partition stream stops at end_offset; a topic stream (no
            # end_offset) ends at the high watermarks of its partitions.
            path += "?end_offset=3" if "{partition}" in template else "?partitions=1"
        body = commit if method == "post" else None
        security = op.get("security", top)
        M = method.upper()
        if security == []:
            t.send(port, Case(M, path, 200, body=body, what="open route, no token"))
            continue
        schemes = {name for alt in security for name in alt}
        c.check(schemes <= set(doc.spec["components"].get("securitySchemes", {})),
                f"{M} {template}: security names undefined schemes {schemes}")
        t.send(port, Case(M, path, 401, body=body, what="no token"))
        t.send(port, Case(M, path, 401, bearer("not-a-token"), body, what="unknown token"))
        want = 403 if method == "post" else 200
        t.send(port, Case(M, path, want, bearer(READ_TOKEN), body, what="read token"))
        if method == "post":
            t.send(port, Case(M, path, 204, bearer(COMMIT_TOKEN), body, what="commit token"))


if __name__ == "__main__":
    sys.exit(main())
