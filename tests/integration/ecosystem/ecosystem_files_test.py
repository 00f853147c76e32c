#!/usr/bin/python3
"""The deployment files held to what the binary accepts and exports.

  docker/k8s/*.yaml, docker/compose.yaml  every STREAMHOUSE_* variable and flag given to
                                          the reader is one the subcommand accepts; probes,
                                          ports, disk-cache emptyDir sizeLimit, Service/HPA/PDB
  docker/Dockerfile, scripts/docker-build-steps.sh
                                          image shape; the build steps run natively (stage the
                                          built binary, check it runs and that every shared
                                          library it links comes from a runtime package)
  docker/prometheus/alerts.yml, docker/grafana/streamhouse.json
                                          every metric named is one the live binary exports
                                          (scraped from three real servers: local store, S3,
                                          PostgreSQL); promtool check + test rules
  docs/operations.md                      lists every flag of `streamhouse serve --help`

Run: ecosystem_files_test.py --binary build/.../streamhouse --source . (ctest does).
Needs Debian's python3-yaml for /usr/bin/python3, promtool, readelf, dpkg.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import yaml

ARGS = None
READER_IMAGE = "streamhouse-reader"


def read(path):
    with open(path) as f:
        return f.read()


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


def help_flags(*subcommand):
    """Long flags of `streamhouse <subcommand> --help`, and their environment twins."""
    out = run([ARGS.binary, *subcommand, "--help"])
    assert out.returncode == 0, out.stderr
    flags = set(re.findall(r"^\s+(?:-\w,)?(--[a-z0-9][a-z0-9-]*)", out.stdout, re.M))
    flags.discard("--help")
    shown = dict(re.findall(r"^\s+(?:-\w,)?(--[a-z0-9-]+)[^\n]*\(Env:(\w+)\)", out.stdout, re.M))
    env = {}
    for f in flags:
        twin = "STREAMHOUSE_" + f[2:].upper().replace("-", "_")  # service/config.cc apply_env_twins
        if f in shown:
            assert shown[f] == twin, f"{f}: help shows {shown[f]}, config.cc maps it to {twin}"
        env[twin] = f
    return flags, env


def quantity(q):
    """Kubernetes quantity → bytes (or cores for cpu)."""
    q = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "m": 1e-3}
    for u, mult in units.items():
        if q.endswith(u):
            return float(q[: -len(u)]) * mult
    return float(q)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A real `streamhouse serve` on a free port, stopped (SIGTERM) on exit."""

    def __init__(self, args, env=None):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [ARGS.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--log-level", "warn", *args],
            stdout=self.log, stderr=self.log, env={**os.environ, **(env or {})})
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=1) as r:
                    r.read()
                return
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None:
                    out = self.output()
                    self.log.close()
                    raise AssertionError("server exited: " + out)
                time.sleep(0.05)
        out = self.output()
        self.stop()
        raise AssertionError("server did not start: " + out)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, data=None, timeout=20):
        req = urllib.request.Request(self.url(path), data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def exported_metric_names():
    """Metric family names the binary exports, from the TYPE lines of /metrics of three
    servers: a local store with a disk cache (reads, a long-poll, a stream, a commit), an
    S3 store whose endpoint refuses connections, and a PostgreSQL that refuses them."""
    work = tempfile.mkdtemp(prefix="sh-eco-")
    names = {}
    try:
        store = f"file://{work}/data"
        lines = "".join(json.dumps({"key": f"k{i}", "value": f"v{i}", "timestamp": 1700000000000 + i}) + "\n"
                        for i in range(300))
        w = run([ARGS.binary, "segment", "write", "--store", store, "--topic", "orders", "--partition", "0",
                 "--segment-records", "100", "--block-bytes", "1024"], input=lines)
        assert w.returncode == 0, w.stderr

        def scrape(server):
            status, text = server.get("/metrics")
            assert status == 200, text
            for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
                names[name] = kind

        local = Server(["--store", store, "--disk-cache-dir", f"{work}/cache", "--long-poll-interval-ms", "50"])
        try:
            for off in (0, 120, 250, 0):
                assert local.get(f"/topics/orders/partitions/0/records?offset={off}&max_records=30")[0] == 200
            local.get("/topics/orders/partitions/0/records?offset=300&timeout_ms=100")
            local.get("/topics/orders/partitions/0/records/stream?offset=290&end_offset=299")
            local.get("/topics/nope")
            status, body = local.get("/consumer-groups/g1/offsets",
                                     data=json.dumps({"offsets": [{"topic": "orders", "partition": 0,
                                                                   "offset": 100}]}).encode())
            assert status == 204, body
            scrape(local)
        finally:
            local.stop()

        s3 = Server(["--store", "s3://streamhouse-test/", "--s3-endpoint", f"http://127.0.0.1:{free_port()}",
                     "--s3-region", "us-east-1", "--s3-max-attempts", "2", "--request-timeout-ms", "2000"],
                    env={"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret"})
        try:
            s3.get("/topics")
            s3.get("/topics/orders/partitions/0/records?offset=0")
            scrape(s3)
        finally:
            s3.stop()

        pg = Server(["--store", store, "--metadata", f"postgres://reader@127.0.0.1:{free_port()}/streamhouse",
                     "--pg-connect-timeout-ms", "500"])
        try:
            pg.get("/topics")
            scrape(pg)
        finally:
            pg.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return names


def metric_names_in(expr):
    return set(re.findall(r"\b((?:streamhouse|process)_[a-zA-Z0-9_]+)", expr))


def base_name(name, exported):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and exported.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return name


class Flags(unittest.TestCase):
    def test_operations_doc_lists_every_serve_flag(self):
        flags, _ = help_flags("serve")
        self.assertGreater(len(flags), 20)
        doc = read(os.path.join(ARGS.source, "docs/operations.md"))
        missing = sorted(f for f in flags if f"`{f}`" not in doc)
        self.assertEqual(missing, [], "docs/operations.md must document every flag of `streamhouse serve --help`")
        documented = set(re.findall(r"^\| `(--[a-z0-9-]+)`", doc, re.M))
        stale = sorted(documented - flags)
        self.assertEqual(stale, [], "docs/operations.md documents flags `serve` no longer has")


def reader_containers(doc):
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return [c for c in spec.get("containers", []) if READER_IMAGE in c.get("image", "")], spec


def pod_annotations(doc):
    return doc.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})


class Kubernetes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.flags, cls.env = help_flags("serve")
        kdir = os.path.join(ARGS.source, "docker/k8s")
        cls.docs = {}
        for f in sorted(os.listdir(kdir)):
            if f.endswith((".yaml", ".yml")):
                cls.docs[f] = [d for d in yaml.safe_load_all(read(os.path.join(kdir, f))) if d]
        cls.uid = int(re.search(r"^user_uid=(\d+)", read(os.path.join(ARGS.source, "scripts/docker-build-steps.sh")), re.M).group(1))

    def deployments(self):
        for f, docs in self.docs.items():
            for d in docs:
                if d["kind"] == "Deployment":
                    yield f, d

    def test_there_are_a_sidecar_and_a_fleet(self):
        self.assertIn("sidecar.yaml", self.docs)
        self.assertIn("fleet.yaml", self.docs)
        kinds = {d["kind"] for d in self.docs["fleet.yaml"]}
        self.assertEqual(kinds, {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"})

    def test_reader_containers_use_only_flags_and_variables_the_binary_accepts(self):
        seen = 0
        for f, d in self.deployments():
            containers, _ = reader_containers(d)
            for c in containers:
                seen += 1
                where = f"{f}: {d['metadata']['name']}/{c['name']}"
                args = c.get("args", [])
                self.assertEqual(args[:1], ["serve"], where)
                for a in args[1:]:
                    if a.startswith("--"):
                        self.assertIn(a.split("=")[0], self.flags, f"{where}: unknown flag {a}")
                for e in c.get("env", []):
                    if e["name"].startswith("STREAMHOUSE_"):
                        self.assertTrue(e["name"] in self.env, f"{where}: `serve` has no flag for {e['name']}")
        self.assertGreaterEqual(seen, 2)

    def test_probes_ports_and_security(self):
        for f, d in self.deployments():
            containers, pod = reader_containers(d)
            for c in containers:
                where = f"{f}: {c['name']}"
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                ports = {p.get("name"): p["containerPort"] for p in c["ports"]}
                host, port = env["STREAMHOUSE_LISTEN"].rsplit(":", 1)
                if host == "0.0.0.0":
                    self.assertIn(int(port), ports.values(), f"{where}: containerPort != --listen port")
                else:
                    self.assertEqual(host, "127.0.0.1", f"{where}: a data port not on the pod IP is loopback")
                # Probes and the scrape go to the admin listener (its own thread), on the pod IP.
                self.assertIn("STREAMHOUSE_ADMIN_LISTEN", env, f"{where}: no admin listener")
                admin_host, admin_port = env["STREAMHOUSE_ADMIN_LISTEN"].rsplit(":", 1)
                self.assertEqual(admin_host, "0.0.0.0", f"{where}: kubelet probes reach the pod IP")
                self.assertIn(int(admin_port), ports.values(), f"{where}: containerPort != --admin-listen port")
                annotations = pod_annotations(d)
                self.assertEqual(annotations.get("prometheus.io/port"), admin_port,
                                 f"{where}: Prometheus scrapes the admin listener")
                port = admin_port

                def probe_port(probe):
                    p = probe["httpGet"]["port"]
                    return ports[p] if isinstance(p, str) else p
                self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz", where)
                self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz", where)
                self.assertEqual(probe_port(c["livenessProbe"]), int(port), where)
                self.assertEqual(probe_port(c["readinessProbe"]), int(port), where)
                sc = c["securityContext"]
                self.assertTrue(sc["runAsNonRoot"], where)
                self.assertEqual(sc["runAsUser"], self.uid, f"{where}: the image's user (docker-build-steps.sh)")
                self.assertTrue(sc["readOnlyRootFilesystem"], where)
                drain = int(env.get("STREAMHOUSE_DRAIN_TIMEOUT_MS") or 10000)
                self.assertGreater(pod["terminationGracePeriodSeconds"] * 1000, drain,
                                   f"{where}: the pod must outlive the drain")
                block = int(env.get("STREAMHOUSE_BLOCK_CACHE_BYTES") or 268435456)
                self.assertGreaterEqual(quantity(c["resources"]["limits"]["memory"]), block + 128 * 2**20,
                                        f"{where}: memory limit below block cache + 128 MiB")

    def test_disk_cache_is_an_emptydir_sized_for_the_cache(self):
        checked = 0
        for f, d in self.deployments():
            containers, pod = reader_containers(d)
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for c in containers:
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                where = f"{f}: {c['name']}"
                self.assertIn("STREAMHOUSE_DISK_CACHE_DIR", env, f"{where}: no disk cache")
                cache_dir = env["STREAMHOUSE_DISK_CACHE_DIR"]
                budget = int(env.get("STREAMHOUSE_DISK_CACHE_BYTES") or 2**30)
                mounts = [m for m in c.get("volumeMounts", []) if m["mountPath"] == cache_dir]
                self.assertEqual(len(mounts), 1, f"{where}: nothing mounted at {cache_dir}")
                vol = volumes[mounts[0]["name"]]
                self.assertIn("emptyDir", vol, where)
                limit = quantity(vol["emptyDir"]["sizeLimit"])
                self.assertGreaterEqual(limit, budget, f"{where}: sizeLimit below --disk-cache-bytes: the kubelet would evict the pod")
                self.assertLessEqual(limit, budget * 1.25, f"{where}: sizeLimit far above the cache budget")
                self.assertGreaterEqual(quantity(c["resources"]["requests"]["ephemeral-storage"]), limit, where)
                checked += 1
        self.assertGreaterEqual(checked, 2)

    def test_fleet_service_hpa_and_pdb_select_the_deployment(self):
        docs = {d["kind"]: d for d in self.docs["fleet.yaml"]}
        dep = docs["Deployment"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(dep["spec"]["selector"]["matchLabels"], labels)
        svc = docs["Service"]
        self.assertTrue(set(svc["spec"]["selector"].items()) <= set(labels.items()), "Service selects no pod")
        names = {p["name"] for c in dep["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        for p in svc["spec"]["ports"]:
            self.assertIn(p["targetPort"], names)
        hpa = docs["HorizontalPodAutoscaler"]
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment")
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], dep["metadata"]["name"])
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 2)
        self.assertGreater(hpa["spec"]["maxReplicas"], hpa["spec"]["minReplicas"])
        pdb = docs["PodDisruptionBudget"]
        self.assertTrue(set(pdb["spec"]["selector"]["matchLabels"].items()) <= set(labels.items()))
        self.assertLess(pdb["spec"].get("maxUnavailable", 0), hpa["spec"]["minReplicas"])


class Compose(unittest.TestCase):
    def test_services_and_reader_configuration(self):
        c = yaml.safe_load(read(os.path.join(ARGS.source, "docker/compose.yaml")))
        svcs = c["services"]
        for s in ("minio", "postgres", "reader", "prometheus", "grafana", "demo-data"):
            self.assertIn(s, svcs)
        commands = {"serve": help_flags("serve"), "migrate": help_flags("migrate"),
                    "segment write": help_flags("segment", "write")}
        for name, s in svcs.items():
            if "streamhouse-reader" not in s.get("image", "") and "build" not in s:
                continue
            cmd = " ".join(s.get("command", [])) if isinstance(s.get("command"), list) else s.get("command", "")
            sub = "serve" if cmd.startswith("serve") else "migrate" if cmd.startswith("migrate") else \
                "segment write" if "segment write" in cmd else None
            self.assertIsNotNone(sub, f"{name}: which subcommand? {cmd}")
            _, env = commands[sub]
            for k in s.get("environment", {}):
                if k.startswith("STREAMHOUSE_"):
                    self.assertTrue(k in env, f"compose {name}: `{sub}` has no flag for {k}")
        hc = svcs["reader"]["healthcheck"]["test"]
        self.assertEqual(hc[:3], ["CMD", "/usr/local/bin/streamhouse", "probe"])
        for svc in ("prometheus", "grafana"):
            for v in svcs[svc]["volumes"]:
                src = v.split(":")[0]
                self.assertTrue(os.path.exists(os.path.join(ARGS.source, "docker", src)), f"{svc}: {src} missing")


class Docker(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dockerfile = read(os.path.join(ARGS.source, "docker/Dockerfile"))
        cls.script = os.path.join(ARGS.source, "scripts/docker-build-steps.sh")

    def steps(self, *args, dry=False):
        env = {**os.environ, **({"DRY_RUN": "1"} if dry else {})}
        return run([self.script, *args], env=env)

    def test_dockerfile_shape(self):
        stages = re.split(r"^FROM ", self.dockerfile, flags=re.M)[1:]
        self.assertEqual(len(stages), 2, "a build stage and a runtime stage")
        for s in stages:
            self.assertTrue(s.startswith("debian:bookworm-slim"), s.splitlines()[0])
        final = stages[1]
        self.assertRegex(final, r"(?m)^USER 10001(:10001)?$")
        self.assertRegex(final, r"(?m)^STOPSIGNAL SIGTERM$")
        hc = re.search(r"(?ms)^HEALTHCHECK .*?CMD (\[.*?\])$", final)
        self.assertIsNotNone(hc, "HEALTHCHECK CMD [...]")
        cmd = json.loads(hc.group(1))
        self.assertEqual(cmd[:2], ["/usr/local/bin/streamhouse", "probe"])
        listen = re.search(r"(?m)^ENV STREAMHOUSE_LISTEN=0\.0\.0\.0:(\d+)$", final)
        self.assertIsNotNone(listen)
        admin = re.search(r"(?m)^ENV STREAMHOUSE_ADMIN_LISTEN=0\.0\.0\.0:(\d+)$", final)
        self.assertIsNotNone(admin)
        self.assertRegex(final, rf"(?m)^EXPOSE {listen.group(1)} {admin.group(1)}$")
        # The health check asks the admin listener, which never waits behind data traffic.
        self.assertRegex(cmd[-1], rf"^http://127\.0\.0\.1:{admin.group(1)}/healthz$")
        # Every RUN is a step of the script; the final stage installs no build tools.
        steps = re.findall(r"docker-build-steps\.sh ([a-z-]+)", self.dockerfile)
        self.assertEqual(sorted(set(steps)), ["build", "build-deps", "runtime-deps", "stage"])
        self.assertNotIn("build-deps", final)
        self.assertNotIn("apt-get", self.dockerfile, "package lists live in the script")
        # The probe the HEALTHCHECK runs is a subcommand the binary has.
        self.assertEqual(run([ARGS.binary, *cmd[1:-1], "--help"]).returncode, 0)

    def test_build_step_configures_release_without_tests(self):
        with tempfile.TemporaryDirectory() as build:
            out = self.steps("build", "/src", os.path.join(build, "b"), dry=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("-DCMAKE_BUILD_TYPE=Release", out.stdout)
            self.assertIn("-DSH_BUILD_TESTS=OFF", out.stdout)
            self.assertIn("--target streamhouse", out.stdout)
        out = self.steps("build-deps", dry=True)
        self.assertIn("apt-get install -y --no-install-recommends", out.stdout)
        self.assertEqual(self.steps("no-such-step").returncode, 2)

    def test_stage_installs_a_stripped_binary_that_runs_and_links_only_runtime_packages(self):
        build = os.path.dirname(os.path.dirname(ARGS.binary))
        with tempfile.TemporaryDirectory() as prefix:
            out = self.steps("stage", build, prefix)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            staged = os.path.join(prefix, "usr/local/bin/streamhouse")
            self.assertTrue(os.access(staged, os.X_OK))
            self.assertIn("--disk-cache-bytes", out.stdout, "the staged binary printed its serve flags")
            self.assertLess(os.path.getsize(staged), os.path.getsize(ARGS.binary), "stripped")
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-d", staged]).stdout)
        self.assertGreater(len(needed), 5)
        runtime = set(self.steps("runtime-packages").stdout.split())
        self.assertFalse([p for p in runtime if p.endswith("-dev")], runtime)
        base = {"libc6", "libstdc++6", "libgcc-s1"}  # in debian:bookworm-slim
        # A sanitizer build (scripts/test.sh --asan) links its runtimes, which the
        # image never holds: the image builds Release. Every other library is checked.
        sanitizer_runtimes = {"libasan.so.8", "libubsan.so.1", "libtsan.so.2"}
        missing = {}
        for lib in needed:
            if lib in sanitizer_runtimes:
                continue
            path = run(["/sbin/ldconfig", "-p"]).stdout
            m = re.search(rf"^\s+{re.escape(lib)} \(libc6,x86-64.*?\) => (\S+)$", path, re.M)
            self.assertIsNotNone(m, f"{lib} not found by ldconfig")
            real = os.path.realpath(m.group(1))
            owner = None
            for candidate in (m.group(1), real, real.replace("/usr/lib/", "/lib/"), m.group(1).replace("/lib/", "/usr/lib/", 1)):
                s = run(["dpkg", "-S", candidate])
                if s.returncode == 0:
                    owner = s.stdout.split(":")[0]
                    break
            self.assertIsNotNone(owner, f"no Debian package owns {lib}")
            if owner not in runtime | base:
                missing[lib] = owner
        self.assertEqual(missing, {}, "the runtime stage lacks packages for these libraries")


class Monitoring(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.exported = exported_metric_names()
        cls.pdir = os.path.join(ARGS.source, "docker/prometheus")

    def test_scrape_saw_every_module(self):
        for name in ("streamhouse_http_requests_total", "streamhouse_s3_requests_total",
                     "streamhouse_metadata_connects_total", "streamhouse_consumer_group_lag",
                     "streamhouse_disk_cache_hits_total", "process_cpu_seconds_total"):
            self.assertIn(name, self.exported)

    def test_alert_rules_check_test_and_name_only_exported_metrics(self):
        out = run(["/usr/bin/promtool", "check", "rules", os.path.join(self.pdir, "alerts.yml")])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        out = run(["/usr/bin/promtool", "test", "rules", "alerts_test.yml"], cwd=self.pdir)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        rules = yaml.safe_load(read(os.path.join(self.pdir, "alerts.yml")))
        alerts = [r for g in rules["groups"] for r in g["rules"]]
        names = {r["alert"] for r in alerts}
        for want in ("StreamhouseHighErrorRatio", "StreamhouseHighLatencyP99", "StreamhouseObjectStoreErrors",
                     "StreamhouseBlockCacheThrashing", "StreamhouseDiskCacheThrashing",
                     "StreamhouseMetadataUnavailable", "StreamhouseConsumerLagGrowing",
                     "StreamhouseCorruptReads"):
            self.assertIn(want, names)
        tested = set(re.findall(r"alertname: (\w+)", read(os.path.join(self.pdir, "alerts_test.yml"))))
        self.assertEqual(tested, names, "every alert has a promtool test case")
        doc = read(os.path.join(ARGS.source, "docs/operations.md"))
        for r in alerts:
            self.assertIn(f"### {r['alert']}\n", doc, f"no runbook for {r['alert']}")
            self.assertTrue(r["annotations"]["runbook_url"].endswith("#" + r["alert"].lower()))
            for m in metric_names_in(r["expr"]):
                self.assertTrue(base_name(m, self.exported) in self.exported, f"{r['alert']}: {m} is not exported")

    def test_dashboard_names_only_exported_metrics(self):
        dash = json.loads(read(os.path.join(ARGS.source, "docker/grafana/streamhouse.json")))
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        exprs += [v["query"]["query"] for v in dash["templating"]["list"] if isinstance(v.get("query"), dict)]
        self.assertGreaterEqual(len(exprs), 20)
        used = set()
        for e in exprs:
            for m in metric_names_in(e):
                used.add(base_name(m, self.exported))
                self.assertTrue(base_name(m, self.exported) in self.exported, f"dashboard: {m} is not exported in: {e}")
        for want in ("streamhouse_http_requests_total", "streamhouse_http_request_duration_seconds",
                     "streamhouse_cache_hits_total", "streamhouse_object_store_read_bytes_total",
                     "streamhouse_s3_requests_total", "streamhouse_consumer_group_lag"):
            self.assertIn(want, used, "the dashboard shows requests, latency, caches, S3 and lag")
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--source", required=True)
    ARGS, rest = p.parse_known_args()
    ARGS.binary = os.path.abspath(ARGS.binary)
    unittest.main(argv=[sys.argv[0], "-v", *rest])
