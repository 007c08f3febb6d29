"""Benchmark (`make bench`): the operator at scale on a real kube-apiserver, AWS 30 ms away.

What runs, each in a process of its own: the real API server (`../shared/kube-apiserver`) with the CRDs,
moto's server, a proxy in front of it that adds 30 ms to every AWS call and counts the calls
(`latency_proxy.py`), and the operator (`awsop run`) with default settings. N objects of a mix like a
real namespace (30 % Buckets with versioning, encryption and tags, 30 % Queues, 30 % Tables with
point-in-time recovery, 5 % LaunchTemplates, 5 % AutoScalingGroups naming their template by reference)
are applied at once by server-side apply through the API (one PATCH per object, 16 at a
time).

Everything is measured from outside the operator: time to Ready and every write to an object from the
API server's watch streams (each MODIFIED event is one stored write; a write is a status write when the
`status` changed, a metadata write when the metadata did), AWS calls and creates per name from the
proxy, RSS and CPU seconds from /proc. After all are Ready a steady-state window (120 s by default,
`AWSOP_BENCH_STEADY_SECONDS`) counts AWS writes, reads and object writes, extrapolated per object per
hour (stated as such). A PNG of Ready over time is written to docs/ (`AWSOP_BENCH_PLOT=0` skips it).

Counts: `AWSOP_BENCH_SCALE_COUNTS` (default "100,1000"; "100,1000,5000" where time allows).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from benchlib import moto_process, wait_for
from latency_proxy import latency_proxy, stats

from awsop.operator.embedded import free_port

pytestmark = [pytest.mark.bench, pytest.mark.apiserver, pytest.mark.timeout(3600)]
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NAMESPACE = "scale"
DELAY = float(os.environ.get("AWSOP_BENCH_AWS_LATENCY", "0.030"))
STEADY = float(os.environ.get("AWSOP_BENCH_STEADY_SECONDS", "120"))
# N -> drift-check period for that run: with the default (300 s) no check falls into a 2-minute window,
# so the smallest run checks every 60 s to show what checks cost at steady state (reads, and no writes)
RESYNC = {100: "60"}
DEFAULT_RESYNC = 300.0  # AWSOP_RESYNC_SECONDS's default
# the steady-state window starts once every object had its first drift check (for the default period,
# 5 minutes after the last object was Ready); AWSOP_BENCH_FIRST_CHECKS=0 starts it at once
FIRST_CHECKS = os.environ.get("AWSOP_BENCH_FIRST_CHECKS", "1") != "0"
COUNTS = [int(n) for n in os.environ.get("AWSOP_BENCH_SCALE_COUNTS", "100,1000").split(",") if n]
PLOT = os.environ.get("AWSOP_BENCH_PLOT", "1") != "0"
PROFILE = os.environ.get("AWSOP_BENCH_PROFILE", "")  # a folder: py-spy records the operator per N there
MiB = 2**20
KINDS = {  # kind -> (group, plural)
    "Bucket": ("s3.awsop.io", "buckets"),
    "Queue": ("sqs.awsop.io", "queues"),
    "Table": ("dynamodb.awsop.io", "tables"),
    "LaunchTemplate": ("ec2.awsop.io", "launchtemplates"),
    "AutoScalingGroup": ("autoscaling.awsop.io", "autoscalinggroups"),
}
CURVES: dict[int, list[float]] = {}  # N -> seconds to Ready, sorted (for the plot)


def report(line: str) -> None:
    print(f"BENCH {line}", flush=True)


def mix(count: int, paused: bool = False) -> list[dict[str, Any]]:
    """`count` objects: 30 % Buckets, 30 % Queues, 30 % Tables, 5 % templates, 5 % groups by reference."""
    templates = max(1, count * 5 // 100)
    rest = count - 2 * templates
    buckets, queues = rest // 3, rest // 3
    tables = rest - buckets - queues
    tags = {"team": "bench", "cost-center": "cc-1"}
    docs: list[dict[str, Any]] = []

    def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        group = KINDS[kind][0]
        meta: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
        if paused:
            meta["annotations"] = {"awsop.io/paused": "true"}
        return {"apiVersion": f"{group}/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}

    for i in range(buckets):
        spec = {"versioning": "Enabled", "encryption": {"algorithm": "AES256"}, "tags": tags}
        docs.append(obj("Bucket", f"b{i:05d}", spec))
    for i in range(queues):
        docs.append(obj("Queue", f"q{i:05d}", {"visibilityTimeoutSeconds": 60, "tags": tags}))
    for i in range(tables):
        spec = {
            "partitionKey": {"name": "pk", "type": "S"},
            "pointInTimeRecovery": {"enabled": True},
            "tags": tags,
        }
        docs.append(obj("Table", f"t{i:05d}", spec))
    for i in range(templates):
        spec = {"imageId": "ami-12345678", "instanceType": "t3.micro", "tags": tags}
        docs.append(obj("LaunchTemplate", f"lt{i:05d}", spec))
    for i in range(templates):
        spec = {
            "launchTemplate": {"ref": {"name": f"lt{i:05d}"}},
            "minSize": 0,
            "maxSize": 1,
            "availabilityZones": ["us-east-1a"],
            "tags": tags,
        }
        docs.append(obj("AutoScalingGroup", f"g{i:05d}", spec))
    return docs


@dataclass
class Seen:
    """What the watch streams showed of one object."""

    kind: str
    added: float = 0.0
    ready: float | None = None
    paused: float | None = None  # when the operator reported it Paused (no AWS calls at all)
    stalled: set[str] = field(default_factory=set)
    # (time, status changed?, metadata changed?, the status fields that changed)
    writes: list[tuple[float, bool, bool, list[str]]] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)


def _essence(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in ("resourceVersion", "managedFields", "generation")}


class Watcher:
    """One watch stream per kind on the real API server; records per object ADDED, Ready, every write."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        self.server = config["clusters"][0]["cluster"]["server"]
        user = config["users"][0]["user"]
        self.folder = Path(tempfile.mkdtemp(prefix="watch-"))
        for key, name in (("client-certificate-data", "crt"), ("client-key-data", "key")):
            (self.folder / name).write_bytes(base64.b64decode(user[key]))
        ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        self.context = ssl.create_default_context(cadata=ca)
        self.context.load_cert_chain(str(self.folder / "crt"), str(self.folder / "key"))
        self.objects: dict[tuple[str, str], Seen] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._watch, args=(k,), daemon=True) for k in KINDS]

    def start(self) -> Watcher:
        for thread in self.threads:
            thread.start()
        time.sleep(1.0)  # the streams are open before anything is applied
        return self

    def _watch(self, kind: str) -> None:
        group, plural = KINDS[kind]
        url = (
            f"{self.server}/apis/{group}/v1alpha1/namespaces/{NAMESPACE}/{plural}?watch=1&timeoutSeconds=7200"
        )
        with urllib.request.urlopen(url, context=self.context, timeout=7200) as stream:
            for line in stream:
                if self.stop.is_set():
                    return
                self._event(kind, json.loads(line), time.monotonic())

    def _event(self, kind: str, event: dict[str, Any], now: float) -> None:
        obj = event.get("object") or {}
        name = (obj.get("metadata") or {}).get("name", "")
        with self.lock:
            seen = self.objects.setdefault((kind, name), Seen(kind))
            if event["type"] == "ADDED":
                seen.added = now
            elif event["type"] == "MODIFIED":
                prev = seen.last
                status_changed = obj.get("status") != prev.get("status")
                meta_changed = _essence(obj.get("metadata") or {}) != _essence(prev.get("metadata") or {})
                old_status, new_status = prev.get("status") or {}, obj.get("status") or {}
                what = sorted(k for k in {*old_status, *new_status} if old_status.get(k) != new_status.get(k))
                seen.writes.append((now, status_changed, meta_changed, what))
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "Ready" and cond.get("status") == "True" and seen.ready is None:
                    seen.ready = now
                if cond.get("type") == "Synced" and cond.get("reason") == "Paused" and seen.paused is None:
                    seen.paused = now
                if cond.get("type") == "Stalled" and cond.get("status") == "True":
                    seen.stalled.add(f"{cond.get('reason')}: {cond.get('message', '')[:200]}")
            seen.last = obj

    def created_count(self) -> int:
        """Objects whose Ready reason still says Created: their first drift check has not come yet."""
        with self.lock:
            return sum(
                1
                for s in self.objects.values()
                for c in (s.last.get("status") or {}).get("conditions") or []
                if c.get("type") == "Ready" and c.get("reason") == "Created"
            )

    def ready_count(self) -> int:
        with self.lock:
            return sum(1 for s in self.objects.values() if s.ready is not None)

    def paused_count(self) -> int:
        with self.lock:
            return sum(1 for s in self.objects.values() if s.paused is not None)

    def close(self) -> None:
        self.stop.set()


def profiler(pid: int, count: int) -> subprocess.Popen[bytes] | None:
    """py-spy (if AWSOP_BENCH_PROFILE names a folder) sampling the operator until all are Ready; the
    profile is written as collapsed stacks (`--format raw`), one line per stack with its sample count."""
    if not PROFILE:
        return None
    out = Path(PROFILE) / f"operator-{count}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(BIN / "py-spy"), "record", "--nonblocking", "-r", "50", "-f", "raw", "-o", str(out)]
    if os.environ.get("AWSOP_BENCH_PROFILE_GIL") == "1":
        cmd.append("--gil")  # only the thread holding the GIL: where the operator's CPU goes
    if os.environ.get("AWSOP_BENCH_PROFILE_IDLE") == "1":
        cmd.append("--idle")  # waiting threads too: where the handler threads' time goes
    return subprocess.Popen([*cmd, "--pid", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of_command(*words: str) -> float:
    """CPU seconds of the processes whose command line has all of `words` (moto, the proxy)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if all(any(w.encode() in part for part in cmdline) for w in words):
                total += proc_cpu(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every core, every process: /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def server_cpu(kubeconfig: Path) -> float:
    """CPU seconds of the kube-apiserver and etcd processes (start.sh keeps their pids in run/)."""
    run = kubeconfig.parent / "run"
    return sum(proc_cpu(int((run / f"{name}.pid").read_text())) for name in ("kube-apiserver", "etcd"))


def proc_rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024 / MiB
    return out["VmRSS"], out["VmHWM"]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def aws_behind_proxy(upstream: str, folder: Path) -> Iterator[str]:
    with (folder / "proxy.log").open("wb") as log, latency_proxy(upstream, DELAY, log) as url:
        yield url


def proxy_stats(url: str, reset: bool = False) -> dict[str, Any]:
    return stats(url, reset)


@contextmanager
def operator(
    kubeconfig: Path, aws_url: str, folder: Path, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`awsop run -n scale` with default settings (plus `settings`)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWSOP_", "AWS_", "KUBECONFIG"))}
    env.update(
        {
            "KUBECONFIG": str(kubeconfig),
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWSOP_CLUSTER_ID": "bench",
            "AWSOP_METRICS_PORT": str(port),
            "AWSOP_METRICS_HOST": "127.0.0.1",
            **settings,
        }
    )
    if os.environ.get("AWSOP_DEBUG_MEMORY"):  # operator/memory.py: where the operator's memory goes
        env["AWSOP_DEBUG_MEMORY"] = os.environ["AWSOP_DEBUG_MEMORY"]
    log_path = folder / "awsop.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [str(BIN / "awsop"), "run", "-n", NAMESPACE], env=env, stdout=log, stderr=subprocess.STDOUT, cwd="/"
    )

    def ready() -> bool:
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as rsp:
            return rsp.status == 200

    try:
        wait_for(ready, 60, "operator /readyz", 0.2)
        yield proc
    finally:
        _stop(proc)
        log.close()


def kubectl(kubeconfig: Path, *args: str, timeout: float = 300) -> str:
    proc = subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def apply_all(watcher: Watcher, docs: list[dict[str, Any]], threads: int = 16) -> None:
    """Server-side apply of every object through the API directly (what `kubectl apply --server-side`
    sends, one PATCH of content type application/apply-patch+yaml per object), 16 at a time: kubectl
    itself applies one object after the other and would make the apply, not the operator, the bound."""

    def apply(doc: dict[str, Any]) -> None:
        group, plural = KINDS[doc["kind"]]
        name = doc["metadata"]["name"]
        url = (
            f"{watcher.server}/apis/{group}/v1alpha1/namespaces/{NAMESPACE}/{plural}/{name}"
            "?fieldManager=bench&force=true"
        )
        request = urllib.request.Request(
            url,
            data=json.dumps(doc).encode(),
            method="PATCH",
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        with urllib.request.urlopen(request, context=watcher.context, timeout=120) as rsp:
            assert rsp.status in (200, 201), rsp.status

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(apply, docs))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def wipe(kubeconfig: Path) -> None:
    """A fresh namespace for the next N: objects deleted by dropping their finalizers first (no operator
    runs between the runs), then the namespace finalized by hand (no namespace controller here)."""
    for group, plural in KINDS.values():
        names = kubectl(kubeconfig, "get", f"{plural}.{group}", "-n", NAMESPACE, "-o", "name").split()
        for start in range(0, len(names), 200):
            batch = names[start : start + 200]
            patch = '{"metadata":{"finalizers":null}}'
            kubectl(kubeconfig, "patch", "-n", NAMESPACE, "--type=merge", "-p", patch, *batch)
        if names:
            kubectl(kubeconfig, "delete", f"{plural}.{group}", "--all", "-n", NAMESPACE, "--wait=false")


@pytest.fixture(scope="module")
def cluster(real_apiserver: Any) -> Path:
    kubeconfig = Path(real_apiserver.kubeconfig)
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return kubeconfig


@pytest.mark.parametrize("count", COUNTS)
def test_bench_operator_scale_real_apiserver(cluster: Path, tmp_path: Path, count: int) -> None:
    kubeconfig = cluster
    subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), "create", "namespace", NAMESPACE],
        capture_output=True,
    )
    load = os.getloadavg()
    docs = mix(count)
    resync = RESYNC.get(count, "")
    with (
        moto_process(tmp_path) as moto_url,
        aws_behind_proxy(moto_url, tmp_path) as aws_url,
        operator(
            kubeconfig, aws_url, tmp_path, **({"AWSOP_RESYNC_SECONDS": resync} if resync else {})
        ) as proc,
    ):
        watcher = Watcher(kubeconfig).start()
        try:
            spy = profiler(proc.pid, count)
            cpu0, server0, busy0 = proc_cpu(proc.pid), server_cpu(kubeconfig), machine_busy()
            moto0 = cpu_of_command("moto_server", moto_url.rsplit(":", 1)[1])
            proxy0 = cpu_of_command("latency_proxy", aws_url.rsplit(":", 1)[1])
            started = time.monotonic()
            apply_all(watcher, docs)
            applied = time.monotonic() - started

            def all_ready() -> bool:
                assert proc.poll() is None, (tmp_path / "awsop.log").read_text(errors="replace")[-3000:]
                return watcher.ready_count() >= count

            wait_for(all_ready, 1800, lambda: f"{watcher.ready_count()} of {count} Ready", 0.5)
            all_ready_s = time.monotonic() - started
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
                spy.wait(60)
            cpu_ready = proc_cpu(proc.pid) - cpu0
            server_ready = server_cpu(kubeconfig) - server0
            busy_ready = machine_busy() - busy0
            moto_ready = cpu_of_command("moto_server", moto_url.rsplit(":", 1)[1]) - moto0
            proxy_ready = cpu_of_command("latency_proxy", aws_url.rsplit(":", 1)[1]) - proxy0
            rss_ready, _ = proc_rss(proc.pid)
            create_stats = proxy_stats(aws_url)
            with watcher.lock:
                seen = dict(watcher.objects)
                ready_at = {key: s.ready for key, s in seen.items() if s.ready is not None}
                writes_to_ready = {
                    key: [w for w in s.writes if w[0] <= (s.ready or 0)] for key, s in seen.items()
                }
                stalled = {f"{k[0]}/{k[1]}": s.stalled for k, s in seen.items() if s.stalled}
            # steady state: nothing changes; count what still happens
            time.sleep(5)  # writes of the last Ready ones land
            with watcher.lock:
                create_writes = [len(s.writes) for s in watcher.objects.values()]
                own_ready = [s.ready - s.added for s in watcher.objects.values() if s.ready and s.added]
            # every object's first drift check (a full period after it was handled) falls in here: it
            # moves Ready's reason from Created to UpToDate, one status write per object after a create,
            # not a recurring one; the steady-state window starts after it
            settle = time.monotonic()
            period = float(resync or DEFAULT_RESYNC)
            time.sleep(max(0.0, started + all_ready_s + period + 10 - settle) if FIRST_CHECKS else 0)
            if FIRST_CHECKS:  # the kinds with shared reads check on a grid: up to a period later
                wait_for(lambda: watcher.created_count() == 0, period + 30, "first drift checks", 1.0)
            with watcher.lock:
                first_checks = [w for s in watcher.objects.values() for w in s.writes if w[0] >= settle]
            proxy_stats(aws_url, reset=True)
            mark = time.monotonic()
            cpu_s0 = proc_cpu(proc.pid)
            time.sleep(STEADY)
            window = time.monotonic() - mark
            steady_cpu = proc_cpu(proc.pid) - cpu_s0
            steady_stats = proxy_stats(aws_url)
            rss_steady, hwm = proc_rss(proc.pid)
            with watcher.lock:
                steady_writes = [w for s in watcher.objects.values() for w in s.writes if w[0] >= mark]
                steady_which = [
                    (f"{k[0]}/{k[1]}", round(w[0] - mark, 1), w[3])
                    for k, s in watcher.objects.items()
                    for w in s.writes
                    if w[0] >= mark
                ]
                stalled.update({f"{k[0]}/{k[1]}": s.stalled for k, s in watcher.objects.items() if s.stalled})
        finally:
            watcher.close()
    times = sorted(ready_at[key] - started for key in ready_at)
    CURVES[count] = times
    created_calls = create_stats["created"]
    twice = {name: n for name, n in created_calls.items() if n > 1}
    creates_by_kind: dict[str, int] = {}
    for name in created_calls:
        creates_by_kind[name.split("/")[0]] = creates_by_kind.get(name.split("/")[0], 0) + 1
    calls = sum(create_stats["calls"].values())
    patches = [len(w) for w in writes_to_ready.values()]
    status_patches = [sum(1 for w in ws if w[1]) for ws in writes_to_ready.values()]
    from latency_proxy import summary

    reads, writes = summary(steady_stats)
    per_hour = 3600 / window / count
    steady_status = sum(1 for w in steady_writes if w[1])
    hour = "extrapolated per object per hour"
    report(
        f"operator scale N={count} (real kube-apiserver, AWS +{DELAY * 1000:.0f} ms per call, "
        f"{'resync ' + resync + 's, otherwise ' if resync else ''}default settings; "
        f"load before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}): applied in {applied:.1f}s; "
        f"all Ready in {all_ready_s:.1f}s; time to Ready p50 {statistics.median(times):.1f}s "
        f"p99 {percentile(times, 0.99):.1f}s max {times[-1]:.1f}s (from each object's own ADDED: p50 "
        f"{statistics.median(own_ready):.1f}s p99 {percentile(own_ready, 0.99):.1f}s); "
        f"CPU to all Ready: operator {cpu_ready:.1f}s, kube-apiserver + etcd {server_ready:.1f}s, "
        f"moto {moto_ready:.1f}s, the latency proxy {proxy_ready:.1f}s, everything else (this "
        f"benchmark's apply and watches, the system) "
        f"{busy_ready - cpu_ready - server_ready - moto_ready - proxy_ready:.1f}s; the machine was busy "
        f"{busy_ready:.1f} of {all_ready_s * (os.cpu_count() or 1):.1f} core-seconds"
    )
    report(
        f"operator scale N={count}: AWS calls to create {calls} = {calls / count:.2f} per object "
        f"({json.dumps(dict(sorted(create_stats['calls'].items())))}); "
        f"objects created twice {len(twice)}; Stalled {len(stalled)}; "
        f"object writes from apply to Ready per object mean {statistics.mean(patches):.2f} "
        f"max {max(patches)} "
        f"(status writes mean {statistics.mean(status_patches):.2f} max {max(status_patches)}); "
        f"object writes in all (apply to Ready + 5s) mean {statistics.mean(create_writes):.2f}"
    )
    report(
        f"operator scale N={count} steady state ({window:.0f}s window, {hour}): "
        f"AWS writes {writes * per_hour:.2f}, AWS reads {reads * per_hour:.2f}, "
        f"object writes {len(steady_writes) * per_hour:.2f} (status {steady_status * per_hour:.2f}); "
        f"operator CPU {steady_cpu:.1f}s in the window ({steady_cpu / window * 100:.1f}%); "
        f"RSS {rss_steady:.0f} MiB (at all Ready {rss_ready:.0f}, peak {hwm:.0f})"
        + (
            f"; before the window, each object's first drift check: {len(first_checks) / count:.2f} "
            f"object writes per object (status {sum(1 for w in first_checks if w[1]) / count:.2f})"
            if FIRST_CHECKS
            else "; first drift checks not awaited (AWSOP_BENCH_FIRST_CHECKS=0): they may fall in the window"
        )
    )
    if PLOT:
        plot(tmp_path)
    wipe(kubeconfig)
    assert not twice, f"objects created twice: {twice}"
    assert not stalled, f"Stalled: {stalled}"
    assert writes == 0 and not steady_writes, (steady_stats, steady_which[:10])


def plot(folder: Path) -> None:
    """docs/operator-ready-over-time.png: objects Ready over seconds since the apply started, per N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for count, times in sorted(CURVES.items()):
        ax.step([0.0, *times], [0, *range(1, len(times) + 1)], where="post", label=f"N = {count:,}")
    ax.set_xlabel("seconds since the apply started")
    ax.set_ylabel("objects Ready")
    ax.set_title(
        "awsop operator: mixed objects Ready over time\n(real kube-apiserver, AWS +30 ms per call, 2 cores)"
    )
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(REPO / "docs" / "operator-ready-over-time.png", dpi=100)
    plt.close(fig)
    del folder


RSS_OBJECTS = int(os.environ.get("AWSOP_BENCH_RSS_OBJECTS", "10000"))


def test_bench_operator_rss_paused_real_apiserver(cluster: Path, tmp_path: Path) -> None:
    """Operator RSS holding 10,000 objects of the same mix on the real API server, paused
    (`awsop.io/paused: "true"`: kopf watches, tracks and handles every one, its drift check scheduled, but no
    AWS call is made). Budget: under 512 MiB. Runs last: its objects stay (the server goes at the end)."""
    kubeconfig = cluster
    subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), "create", "namespace", NAMESPACE],
        capture_output=True,
    )
    load = os.getloadavg()
    with (
        moto_process(tmp_path) as moto_url,
        operator(kubeconfig, moto_url, tmp_path) as proc,
    ):
        idle_rss, _ = proc_rss(proc.pid)
        watcher = Watcher(kubeconfig).start()
        try:
            cpu0 = proc_cpu(proc.pid)
            started = time.monotonic()
            apply_all(watcher, mix(RSS_OBJECTS, paused=True))
            applied = time.monotonic() - started

            def all_paused() -> bool:
                assert proc.poll() is None, (tmp_path / "awsop.log").read_text(errors="replace")[-3000:]
                return watcher.paused_count() >= RSS_OBJECTS

            wait_for(all_paused, 1800, lambda: f"{watcher.paused_count()} of {RSS_OBJECTS} Paused", 1)
            handled = time.monotonic() - started
            cpu = proc_cpu(proc.pid) - cpu0
            time.sleep(10)  # settle
            rss, hwm = proc_rss(proc.pid)
        finally:
            watcher.close()
    report(
        f"operator RSS with {RSS_OBJECTS} paused mixed objects on the real kube-apiserver: {rss:.0f} MiB "
        f"(peak {hwm:.0f}; {idle_rss:.0f} MiB with none; budget 512); applied in {applied:.0f}s, all handled "
        f"after {handled:.0f}s, operator CPU {cpu:.0f}s "
        f"(load before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )
    assert rss < 512, f"RSS {rss:.0f} MiB with {RSS_OBJECTS} objects"
