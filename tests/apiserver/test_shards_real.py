"""Two shards on a real API server: two operator processes with complementary label selectors
(`awsop.io/shard notin (b)` and `awsop.io/shard in (b)`), one AWS, 40 objects (30 Queues, 10 Buckets).

Proven from each shard's own log and metrics: every object is created by exactly one shard, the one its
labels select, and nothing is created twice; moving objects between shards by relabelling hands them over
(the new shard then applies a spec change, the old one never touches them) without a second create; the
counts that cross shards (TagPolicy matching/violating, AWSAccount objects, its in-use finalizer) are the
sums over both shards, written by the first shard, and follow a deletion in each shard.

The test starts a real API server of its own: an operator that another test left running on the worker's
shared server would write the same cluster-scoped TagPolicy status unsharded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2elib import REPO, Kubectl, Operator, eventually, moto_process, operator_env
from realserver import RealApiServer, kit_present, start, stop

from awsop.operator.embedded import free_port

pytestmark = pytest.mark.apiserver

NS = "shards"
SHARDS = [
    {"name": "main", "labelSelector": "awsop.io/shard notin (b)"},
    {"name": "b", "labelSelector": "awsop.io/shard in (b)"},
]
QUEUES, BUCKETS = 30, 10
ROLE = "arn:aws:iam::111111111111:role/awsop"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealApiServer]:
    if not kit_present():
        pytest.skip("no real API server kit: real-server tests skipped")
    own = start(tmp_path_factory.mktemp("shards-apiserver"))
    try:
        yield own
    finally:
        stop(own)


def objects() -> list[dict[str, Any]]:
    """Every third object is labelled for shard b; two of three carry the team tag the policy wants."""
    out = []
    for i in range(QUEUES + BUCKETS):
        kind, group = ("Queue", "sqs") if i < QUEUES else ("Bucket", "s3")
        labels = {"awsop.io/shard": "b"} if i % 3 == 0 else {}
        spec: dict[str, Any] = {"tags": {"team": "web"}} if i % 3 != 2 else {}
        if kind == "Queue":
            spec["visibilityTimeoutSeconds"] = 30
        out.append(
            {
                "apiVersion": f"{group}.awsop.io/v1alpha1",
                "kind": kind,
                "metadata": {"name": f"o{i:02d}", "namespace": NS, "labels": labels},
                "spec": spec,
            }
        )
    return out


SETUP = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}, annotations: {{awsop.io/account: acct}}}}
---
apiVersion: awsop.io/v1alpha1
kind: AWSAccount
metadata: {{name: acct}}
spec: {{roleArn: '{ROLE}', namespaces: [{NS}]}}
---
apiVersion: awsop.io/v1alpha1
kind: TagPolicy
metadata: {{name: team}}
spec:
  required: [{{key: team}}]
  enforcement: Report
"""


def shard_operator(kube: Kubectl, aws_env: dict[str, str], folder: Path, name: str) -> Operator:
    env = operator_env(
        kube.kubeconfig,
        aws_env,
        free_port(),
        AWSOP_SHARD=name,
        AWSOP_SHARDS=json.dumps(SHARDS),
        AWSOP_RESYNC_SECONDS="60",
        AWSOP_TAG_POLICY_STATUS_SECONDS="1",
    )
    return Operator(env, folder / f"shard-{name}.log")


def created(log: str) -> dict[str, int]:
    """Object name -> how many creates (CreateQueue/CreateBucket) this shard's log shows for it."""
    counts: dict[str, int] = {}
    for found in re.finditer(rf"(?:Queue|Bucket) {NS}/(o\d+) -> .*\((\d+) AWS calls: ([^;)]*)", log):
        calls = found.group(3).split()
        n = calls.count("CreateQueue") + calls.count("CreateBucket")
        if n:
            counts[found.group(1)] = counts.get(found.group(1), 0) + n
    return counts


def metric(op: Operator, name: str, **labels: str) -> float:
    total = 0.0
    for line in op.metrics().splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def served(op: Operator) -> float:
    """Objects this shard holds (the awsop_resources census over kinds and conditions)."""
    return metric(op, "awsop_resources")


def test_two_shards_split_objects_hand_them_over_and_count_across(
    server: RealApiServer, tmp_path: Path
) -> None:
    kube = Kubectl(server.kubeconfig, tmp_path / "kubectl-cache", namespace_controller=False)
    kube.run("apply", "--server-side", "-f", str(REPO / "crds"))
    kube.run("wait", "--for=condition=Established", "crd", "--all", "--timeout=30s")
    kube.apply(SETUP)
    items = objects()
    with moto_process(tmp_path) as aws:
        main = shard_operator(kube, aws.env(), tmp_path, "main")
        b = shard_operator(kube, aws.env(), tmp_path, "b")
        try:
            with ThreadPoolExecutor(2) as pool:  # both start at once
                list(pool.map(Operator.start, (main, b)))
            kube.run("apply", "-f", "-", stdin=yaml.safe_dump_all(items))

            def all_ready() -> bool:
                got = kube.get("queues,buckets", "-n", NS)["items"]
                conditions = [o.get("status", {}).get("conditions", []) for o in got]
                ready = [c for c in conditions if {"type": "Ready", "status": "True"}.items() <= _ready(c)]
                return len(ready) == len(items)

            eventually(all_ready, 90, what="40 objects Ready")
            by_main, by_b = created(main.log_path.read_text()), created(b.log_path.read_text())
            labelled = {o["metadata"]["name"] for o in items if o["metadata"]["labels"]}
            assert set(by_b) == labelled, "shard b created exactly the objects labelled for it"
            assert set(by_main) == {o["metadata"]["name"] for o in items} - labelled
            assert set(by_main.values()) | set(by_b.values()) == {1}, "no object created twice"
            creates = [metric(op, "awsop_aws_calls_total", operation=o) for op in (main, b)
                       for o in ("CreateQueue", "CreateBucket")]  # fmt: skip
            assert sum(creates) == len(items)

            violating = sum(1 for o in items if "team" not in o["spec"].get("tags", {}))
            expect_counts(kube, {"main": 26, "b": 14}, violating, main, b)

            # move 6 objects of main to b and 2 of b to main: each is handed over, not created again
            to_b = sorted(set(by_main))[:6]
            to_main = sorted(labelled)[:2]
            for name in to_b:
                kind = "queue" if int(name[1:]) < QUEUES else "bucket"
                kube.run("label", kind, name, "-n", NS, "awsop.io/shard=b")
            for name in to_main:
                kind = "queue" if int(name[1:]) < QUEUES else "bucket"
                kube.run("label", kind, name, "-n", NS, "awsop.io/shard-")
            expect_counts(kube, {"main": 22, "b": 18}, violating, main, b)
            wait_for(lambda: (served(main), served(b)), (22, 18), "objects held per shard")

            # a spec change of a moved queue is applied by its new shard alone
            moved_to_b = next(n for n in to_b if int(n[1:]) < QUEUES)
            moved_to_main = next(n for n in to_main if int(n[1:]) < QUEUES)
            for name in (moved_to_b, moved_to_main):
                patch = json.dumps({"spec": {"visibilityTimeoutSeconds": 45}})
                kube.run("patch", "queue", name, "-n", NS, "--type", "merge", "-p", patch)

            def applied(op: Operator, name: str) -> bool:
                return bool(re.search(rf"Queue {NS}/{name} -> .*SetQueueAttributes", op.log_path.read_text()))

            eventually(lambda: applied(b, moved_to_b) and applied(main, moved_to_main), 30, what="updates")
            assert not applied(main, moved_to_b) and not applied(b, moved_to_main), "the old shard kept off"
            creates = [metric(op, "awsop_aws_calls_total", operation=o) for op in (main, b)
                       for o in ("CreateQueue", "CreateBucket")]  # fmt: skip
            assert sum(creates) == len(items), "handing over created nothing"

            # deleting one queue of each shard: the serving shard runs the policy, the counts follow
            in_b = (labelled - set(to_main)) | set(to_b)
            queues = [o["metadata"]["name"] for o in items[:QUEUES]]
            doomed = [next(n for n in queues if n not in in_b), next(n for n in queues if n in in_b)]
            kube.run("delete", "queue", *doomed, "-n", NS, "--wait=true", timeout=60)
            deletes = [metric(op, "awsop_aws_calls_total", operation="DeleteQueue") for op in (main, b)]
            assert deletes == [1, 1], "each shard deleted its own queue"
            left = [o for o in items if o["metadata"]["name"] not in doomed]
            violating = sum(1 for o in left if "team" not in o["spec"].get("tags", {}))
            expect_counts(kube, {"main": 21, "b": 17}, violating, main, b)
            logs = main.log_path.read_text() + b.log_path.read_text()
            assert "Traceback" not in logs
            # the API server filtered each shard's watch: neither ever saw (and set aside) the other's objects
            assert "leaves it alone" not in logs
            # the first shard's coverage check listed every object through the API (and found no gap)
            assert "shards: each of the" in main.log_path.read_text()
            assert "shards: each of the" not in b.log_path.read_text() and "match no shard" not in logs
        finally:
            for op in (main, b):  # both drain at once, then each is waited for
                op.terminate()
            main.stop()
            b.stop()


def _ready(conditions: list[dict[str, Any]]) -> Any:
    return next((c for c in conditions if c.get("type") == "Ready"), {}).items()


def expect_counts(kube: Kubectl, parts: dict[str, int], violating: int, main: Operator, b: Operator) -> None:
    """AWSAccount objects and TagPolicy counts: each shard's part, and the sums the first shard writes."""
    total = sum(parts.values())

    def account() -> Any:
        status = kube.get("awsaccount", "acct").get("status", {})
        meta = kube.get("awsaccount", "acct")["metadata"]
        return (
            status.get("objects"),
            {k: v.get("objects") for k, v in (status.get("shards") or {}).items()},
            "awsop.io/account-in-use" in meta.get("finalizers", []),
        )

    wait_for(account, (total, parts, True), "AWSAccount objects, parts by shard, finalizer")

    def policy() -> Any:
        status = kube.get("tagpolicy", "team").get("status", {})
        return (
            status.get("matchingObjects"),
            status.get("violatingObjects"),
            sorted(status.get("shards") or {}),
        )

    wait_for(policy, (total, violating, ["b", "main"]), "TagPolicy matching, violating, shards")


def wait_for(probe: Any, expected: Any, what: str, timeout: float = 30) -> None:
    seen: list[Any] = []

    def check() -> bool:
        seen.append(probe())
        return bool(seen[-1] == expected)

    try:
        eventually(check, timeout, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: expected {expected!r}, last seen {seen[-1:]!r}") from None
