"""Benchmarks (`make bench`): they print numbers for docs and issue notes; they do not assert timings.

- AWS read calls per no-op drift check, by declared facets (the budget: Bucket <= 1 + declared facets).
- Client CPU per AWS call against a moto server in another process (so the emulator's CPU is not ours).
- Engine overhead per no-op reconcile with an in-memory kind (no SDK at all): the budget is < 1 ms.
- RSS of awsop's per-object state (object body, parsed spec, resolved target, status) per 1,000 objects.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from awsop.operator.embedded import free_port
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.changes import Change
from awsop.reconcilers.engine import DeleteOutcome, DeleteResult, Engine, ObjectRef, Target
from awsop.reconcilers.errors import ErrorClass, classify
from awsop.reconcilers.policies import DeletionPolicy

pytestmark = pytest.mark.bench
RESULTS: list[str] = []


def report(line: str) -> None:
    RESULTS.append(line)
    print(f"BENCH {line}")


@pytest.fixture(scope="module")
def moto_process() -> Iterator[str]:
    port = free_port()
    binary = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    yield url
    proc.terminate()
    proc.wait(10)


FACET_SETS = {
    "versioning+encryption+tags": {
        "versioning": "Enabled",
        "encryption": {"algorithm": "AES256"},
        "tags": {"a": "b"},
    },
    "no facets": {},
    "every facet": {
        "versioning": "Enabled",
        "encryption": {"algorithm": "AES256"},
        "publicAccessBlock": {},
        "objectOwnership": "BucketOwnerEnforced",
        "lifecycleRules": [{"id": "r", "abortIncompleteMultipartUploadDays": 7}],
        "cors": [{"allowedMethods": ["GET"], "allowedOrigins": ["*"]}],
        "policy": '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",'
        '"Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::bench-every-facet"}]}',
        "tags": {"a": "b"},
    },
}


@pytest.mark.parametrize("facets", list(FACET_SETS))
def test_bench_bucket_noop_check_calls_and_client_cpu(moto_process: str, facets: str) -> None:
    clients = AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0))
    engine, bucket = Engine(clients), BucketClient(clients)
    name = "bench-" + facets.replace("+", "-").replace(" ", "-")
    spec = BucketSpec.model_validate({**FACET_SETS[facets], "name": name})
    ref = ObjectRef("Bucket", "bench", name, 1)
    assert engine.reconcile(bucket, ref, spec).ok
    rounds = 50
    cpu0, wall0 = time.process_time(), time.perf_counter()
    calls = 0
    for _ in range(rounds):
        outcome = engine.reconcile(bucket, ref, spec, spec_changed=False)
        assert outcome.reason == "UpToDate", outcome.message
        calls += len(outcome.calls)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    report(
        f"bucket no-op check [{facets}]: {calls // rounds} AWS calls, "
        f"{cpu / calls * 1000:.2f} ms client CPU per call, {wall / rounds * 1000:.1f} ms wall per check"
    )


@dataclass
class _Obs:
    value: str


class MemoryKind:
    """A kind whose 'AWS' is a dict: isolates the engine's own cost from the SDK's."""

    kind = "Bucket"
    default_deletion_policy = DeletionPolicy.RETAIN

    def __init__(self) -> None:
        self.store: dict[str, str] = {}

    def aws_name(self, ref: ObjectRef, spec: BucketSpec, prefix: str) -> str:
        return f"{ref.namespace}-{ref.name}"

    def observe(self, target: Target[BucketSpec], facets: bool = True) -> _Obs | None:
        return _Obs(self.store[target.aws_name]) if target.aws_name in self.store else None

    def owner_of(self, observed: _Obs) -> str | None:
        return observed.value

    def diff(self, target: Target[BucketSpec], observed: _Obs) -> list[Change]:
        return []

    def plan_create(self, target: Target[BucketSpec]) -> list[Change]:
        return []

    def create(self, target: Target[BucketSpec]) -> _Obs:
        self.store[target.aws_name] = target.owner
        return _Obs(target.owner)

    def apply(self, target: Target[BucketSpec], observed: _Obs, changes: list[Change]) -> None:
        return None

    def release(self, target: Target[BucketSpec], observed: _Obs) -> None:
        return None

    def delete(self, target: Target[BucketSpec], observed: _Obs) -> DeleteOutcome:
        return DeleteOutcome(DeleteResult.DELETED)

    def status(self, target: Target[BucketSpec], observed: _Obs | None) -> dict[str, Any]:
        return {"awsName": target.aws_name}

    def classify(self, exc: BaseException) -> ErrorClass:
        return classify(exc)


def test_bench_engine_overhead_per_noop_reconcile() -> None:
    from awsop.operator.status import new_status

    engine, kind = Engine(AwsClients(AwsConfig(default_region="us-east-1"))), MemoryKind()
    spec = BucketSpec.model_validate(FACET_SETS["versioning+encryption+tags"])
    ref = ObjectRef("Bucket", "bench", "overhead", 1)
    status = new_status({}, engine.reconcile(kind, ref, spec), 1)  # type: ignore[arg-type]
    rounds = 20000
    start = time.perf_counter()
    for _ in range(rounds):
        outcome = engine.reconcile(kind, ref, spec, spec_changed=False)  # type: ignore[arg-type]
        status = new_status(status, outcome, 1)
    per = (time.perf_counter() - start) / rounds
    report(f"engine overhead per no-op reconcile (incl. status merge, no SDK): {per * 1e6:.0f} us")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def hold_objects(count: int) -> tuple[int, int]:
    """Build `count` objects' awsop state in this process; returns (RSS growth, RSS) in bytes."""
    from awsop.operator.status import new_status

    engine, kind = Engine(AwsClients(AwsConfig(default_region="us-east-1"))), MemoryKind()
    raw = FACET_SETS["every facet"]
    gc.collect()
    before = _rss()
    held = []
    for i in range(count):
        body: dict[str, Any] = {
            "apiVersion": "s3.awsop.io/v1alpha1",
            "kind": "Bucket",
            "metadata": {"name": f"b{i}", "namespace": "bench", "uid": f"uid-{i}", "generation": 1},
            "spec": {**raw, "name": f"bench-rss-{i}"},
        }
        spec = BucketSpec.model_validate(body["spec"])
        ref = ObjectRef("Bucket", "bench", f"b{i}", 1)
        outcome = engine.reconcile(kind, ref, spec)  # type: ignore[arg-type]
        body["status"] = new_status({}, outcome, 1)
        held.append((body, spec, engine.target(kind, ref, spec)))  # type: ignore[arg-type]
    gc.collect()
    now = _rss()
    return now - before, now


@pytest.mark.parametrize("count", [1000, 10000])
def test_bench_rss_per_thousand_objects(count: int) -> None:
    """Each count in a fresh interpreter, so freed memory of earlier benchmarks does not hide growth."""
    here = str(Path(__file__).parent)
    code = f"import sys; sys.path.insert(0, {here!r}); import test_bench as b; "
    code += f"print(*b.hold_objects({count}))"
    out = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    grown, total = (int(x) for x in out.split())
    report(
        f"RSS of awsop per-object state: {count} objects = {grown / 2**20:.1f} MiB "
        f"({grown / count * 1000 / 2**20:.1f} MiB per 1,000); process RSS {total / 2**20:.0f} MiB"
    )
