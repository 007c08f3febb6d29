"""Benchmark (`make bench`): do periodic drift checks share AWS reads inside the real operator process?

`awsop run` (kopf) against the in-process sandbox Kubernetes API and moto's server in a process of its
own holds COUNT AutoScalingGroups, each following its own LaunchTemplate by reference, all Ready. The
operator checks every object every RESYNC seconds (its drift scheduler, as in production, only with a short
period). After every object has had its first periodic check (which reads each template's default
version once), the AWS calls the operator makes over a few periods are counted by operation from its
/metrics, with the drift checks of each kind (awsop_reconcile_total) and their wall time
(awsop_reconcile_duration_seconds). It prints numbers per COUNT checks of each kind (one periodic round);
it asserts only what makes the numbers meaningful (every object Ready, checks ran, no write).
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from benchlib import moto_process, wait_for

from awsop.operator.embedded import free_port

pytestmark = pytest.mark.bench
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NAMESPACE = "bench"
COUNT = int(os.environ.get("AWSOP_BENCH_BATCH_COUNT", "120"))
RESYNC = 30.0  # seconds between two drift checks of one object (production: 300)
MAX_AGE = RESYNC / 10  # oldest shared description a check accepts, the production ratio (30 s of 300 s)
ROUNDS = 3  # periods measured
NAMES_PER_CALL = 100  # DescribeAutoScalingGroups names per call; DescribeLaunchTemplates names per filter


def report(line: str) -> None:
    print(f"BENCH {line}")


class Sandbox:
    """A fresh sandbox API server with every CRD and the bench namespace, created in-process."""

    def __init__(self, folder: Path) -> None:
        from awsop.sandbox.kubeapi import KubeAPIServer, WriteOptions

        self.options = WriteOptions
        self.server = KubeAPIServer(host="127.0.0.1", port=0).start()
        self.api = self.server.api
        self.kubeconfig = self.server.write_kubeconfig(folder / "kubeconfig")
        store = self.api.store
        crds = store.types[("apiextensions.k8s.io", "customresourcedefinitions")]
        for path in sorted((REPO / "crds").glob("*.yaml")):
            self.server.call(
                self.api.create, crds, "v1", "", yaml.safe_load(path.read_text()), WriteOptions()
            )
        namespaces = store.types[("", "namespaces")]
        self.server.call(
            self.api.create, namespaces, "v1", "", {"metadata": {"name": NAMESPACE}}, WriteOptions()
        )
        self.templates = store.types[("ec2.awsop.io", "launchtemplates")]
        self.groups = store.types[("autoscaling.awsop.io", "autoscalinggroups")]

    def create(self, count: int) -> None:
        """`count` LaunchTemplates and as many AutoScalingGroups, each following its template by ref."""

        def create(start: int, stop: int) -> None:
            for i in range(start, stop):
                template = {
                    "apiVersion": "ec2.awsop.io/v1alpha1",
                    "kind": "LaunchTemplate",
                    "metadata": {"name": f"lt{i:04d}", "namespace": NAMESPACE},
                    "spec": {"imageId": "ami-12345678", "instanceType": "t3.micro", "tags": {"team": "b"}},
                }
                group = {
                    "apiVersion": "autoscaling.awsop.io/v1alpha1",
                    "kind": "AutoScalingGroup",
                    "metadata": {"name": f"g{i:04d}", "namespace": NAMESPACE},
                    "spec": {
                        "launchTemplate": {"ref": {"name": f"lt{i:04d}"}},
                        "minSize": 0,
                        "maxSize": 1,
                        "availabilityZones": ["us-east-1a"],
                        "tags": {"team": "b"},
                    },
                }
                self.api.create(self.templates, "v1alpha1", NAMESPACE, template, self.options())
                self.api.create(self.groups, "v1alpha1", NAMESPACE, group, self.options())

        for start in range(0, count, 50):
            self.server.call(create, start, min(count, start + 50))

    def ready(self) -> tuple[int, int]:
        """(Ready objects, objects) of both kinds, read on the server's loop."""

        def tally() -> tuple[int, int]:
            objs = [
                obj
                for kind in (self.templates, self.groups)
                for obj in self.api.store.objects.get(kind.key, {}).values()
            ]
            ready = sum(
                1
                for obj in objs
                if any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (obj.get("status") or {}).get("conditions") or []
                )
            )
            return ready, len(objs)

        return self.server.call(tally)  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.server.stop()


@contextmanager
def operator(
    sandbox: Sandbox, aws_url: str, folder: Path, port: int, max_age: float
) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWSOP_", "AWS_", "KUBECONFIG"))}
    env.update(
        {
            "KUBECONFIG": str(sandbox.kubeconfig),
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWSOP_CLUSTER_ID": "bench",
            "AWSOP_METRICS_PORT": str(port),
            "AWSOP_METRICS_HOST": "127.0.0.1",
            "AWSOP_DEFAULT_RATE_LIMIT": "0",  # moto does not throttle
            "AWSOP_RESYNC_SECONDS": str(RESYNC),
            "AWSOP_BATCH_MAX_AGE_SECONDS": str(max_age),
            "AWSOP_KINDS": '["LaunchTemplate", "AutoScalingGroup"]',
        }
    )
    log_path = folder / "awsop.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [str(BIN / "awsop"), "run", "-n", NAMESPACE], env=env, stdout=log, stderr=subprocess.STDOUT, cwd="/"
    )

    def ready() -> bool:
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as rsp:
            return bool(rsp.status == 200)

    try:
        wait_for(ready, 60, "operator /readyz", 1.0)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} ([0-9.e+-]+)$")


def scrape(port: int) -> Counter[tuple[str, ...]]:
    """AWS calls by (service, operation); checks by ("checks", kind), their seconds by ("seconds", kind)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as rsp:
        text = rsp.read().decode()
    out: Counter[tuple[str, ...]] = Counter()
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if not match:
            continue
        name, labels_text, value = match.groups()
        labels = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
        if name == "awsop_aws_calls_total":
            out[(labels["service"], labels["operation"])] += int(float(value))
        elif name == "awsop_reconcile_total":
            out[("checks", labels["kind"])] += int(float(value))
        elif name == "awsop_reconcile_duration_seconds_sum":
            out[("seconds", labels["kind"])] += float(value)  # type: ignore[assignment]
    return out


def measure(port: int, proc: subprocess.Popen[bytes], log: Path) -> tuple[Counter[tuple[str, ...]], float]:
    """Counters over ROUNDS periods, once every object had its first periodic check (which reads each
    template's default version once) and the checks found their slots (within 1.5 periods)."""
    time.sleep(RESYNC * 2.6)
    before, started = scrape(port), time.monotonic()
    time.sleep(RESYNC * ROUNDS)
    after, window = scrape(port), time.monotonic() - started
    assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
    delta = after - before
    for key in after:
        if key[0] == "seconds":
            delta[key] = after[key] - before[key]
    return delta, window


def summarize(delta: Counter[tuple[str, ...]], window: float, max_age: float) -> None:
    checks = {kind: delta[("checks", kind)] for kind in ("LaunchTemplate", "AutoScalingGroup")}
    assert all(checks.values()), f"no drift checks ran: {delta}"
    calls = {f"{svc}:{op}": n for (svc, op), n in delta.items() if svc not in ("checks", "seconds")}
    writes = [op for op in calls if not op.split(":")[1].startswith(("Describe", "Get", "List"))]
    assert not writes, f"a no-op round wrote: {calls}"

    def per_round(n: float, kind: str) -> float:
        return n * COUNT / checks[kind]

    ideal = math.ceil(COUNT / NAMES_PER_CALL)
    groups = calls.pop("autoscaling:DescribeAutoScalingGroups", 0)
    templates = calls.pop("ec2:DescribeLaunchTemplates", 0)
    versions = calls.pop("ec2:DescribeLaunchTemplateVersions", 0)
    rest = ", ".join(f"{op} {per_round(n, 'AutoScalingGroup'):.1f}" for op, n in sorted(calls.items()))
    wall = ", ".join(
        f"{kind} {delta[('seconds', kind)] / checks[kind] * 1000:.0f} ms" for kind in sorted(checks)
    )
    report(
        f"operator, {COUNT} AutoScalingGroups + {COUNT} LaunchTemplates, drift checks every {RESYNC:.0f}s, "
        f"shared descriptions at most {max_age:g}s old (period/{RESYNC / max_age:g}), over {window:.0f}s "
        f"({checks['AutoScalingGroup']} group and {checks['LaunchTemplate']} template checks), per round of "
        f"{COUNT} checks of each kind: DescribeAutoScalingGroups {per_round(groups, 'AutoScalingGroup'):.1f} "
        f"calls, DescribeLaunchTemplates {per_round(templates, 'LaunchTemplate'):.1f}, "
        f"DescribeLaunchTemplateVersions {per_round(versions, 'LaunchTemplate'):.1f}, "
        f"other: {rest or 'none'} "
        f"(ideal {ideal} + {ideal}; unbatched {COUNT} + {2 * COUNT}); mean wall time per check: {wall}"
    )


def test_bench_batched_drift_checks_in_the_operator(tmp_path: Path) -> None:
    port = free_port()
    with moto_process(tmp_path) as aws_url:
        sandbox = Sandbox(tmp_path)
        try:
            with operator(sandbox, aws_url, tmp_path, port, MAX_AGE) as proc:
                started = time.monotonic()
                sandbox.create(COUNT)
                wait_for(
                    lambda: sandbox.ready() == (2 * COUNT, 2 * COUNT),
                    300,
                    lambda: f"{2 * COUNT} objects Ready (ready, total: {sandbox.ready()})",
                    1.0,
                )
                report(
                    f"operator: {COUNT} AutoScalingGroups + {COUNT} LaunchTemplates created and "
                    f"Ready in {time.monotonic() - started:.0f}s"
                )
                delta, window = measure(port, proc, tmp_path / "awsop.log")
        finally:
            sandbox.stop()
    summarize(delta, window, MAX_AGE)
