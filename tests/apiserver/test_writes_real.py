"""How many times the operator writes to an object, counted on a real API server's watch streams.

Each MODIFIED event is one stored write. A new Queue costs two (kopf's finalizer, then the status that
records the create and kopf's last-handled digest together); a new Bucket three (the create-pending
mark in the status before CreateBucket, removed by the status write that records the create). A change
costs one. kopf itself writes nothing after a handler: no last-handled annotation, no `kopf-managed`
mark. Writes are what the API server, etcd and every watcher pay for per object
(docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from e2elib import BIN, Kubectl, Operator, eventually, moto_process, operator_env
from realserver import RealApiServer

from awsop.operator.embedded import free_port

pytestmark = pytest.mark.apiserver
NS = "writes"
WATCH = ("--watch", "--output-watch-events", "-o", "json")
SETTLE = 4.0  # seconds after Ready in which a late write (kopf's own, a second reconcile) would show


class Watch:
    """`kubectl get <plural> --watch`: every event of the namespace's objects of one kind, in order."""

    def __init__(self, kube: Kubectl, plural: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.proc = subprocess.Popen(
            [str(BIN / "kubectl"), "--kubeconfig", str(kube.kubeconfig), "get", plural, "-n", NS, *WATCH],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        decoder, buffer = json.JSONDecoder(), ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            buffer += line
            try:
                event, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                continue
            buffer = buffer.lstrip()[end:]
            self.events.append((event["type"], event["object"]))

    def writes(self, name: str) -> list[dict[str, Any]]:
        return [
            obj for kind, obj in list(self.events) if kind == "MODIFIED" and obj["metadata"]["name"] == name
        ]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def kube(real_apiserver: RealApiServer, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(real_apiserver.kubeconfig, tmp_path_factory.mktemp("kubectl-writes")).install_crds(NS)


@pytest.fixture(scope="module")
def operator(kube: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with moto_process(tmp_path_factory.mktemp("moto-writes")) as aws:
        env = operator_env(kube.kubeconfig, aws.env(), free_port())
        env["AWSOP_RESYNC_SECONDS"] = (
            "3600"  # no drift check in the test: only what a create or change writes
        )
        op = Operator(env, tmp_path_factory.mktemp("operator-writes") / "awsop.log", ["-n", NS]).start()
        yield op
        op.stop()


def manifest(kind: str, group: str, name: str, spec: dict[str, Any], **labels: str) -> str:
    return json.dumps(
        {
            "apiVersion": f"{group}/v1alpha1",
            "kind": kind,
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": spec,
        }
    )


def settled(kube: Kubectl, watch: Watch, plural: str, name: str, generation: int, writes: int) -> list[Any]:
    """Wait until the object is Ready at `generation` with at least `writes` writes, then SETTLE more."""

    def ready() -> bool:
        obj = kube.get(plural, name, "-n", NS)
        status = obj.get("status") or {}
        conds = {c["type"]: c["status"] for c in status.get("conditions", [])}
        return (
            conds.get("Ready") == "True"
            and status.get("observedGeneration") == generation
            and len(watch.writes(name)) >= writes
        )

    eventually(ready, timeout=60, what=f"{plural}/{name} Ready at generation {generation}")
    time.sleep(SETTLE)
    return watch.writes(name)


def kopf_annotations(obj: dict[str, Any]) -> list[str]:
    return [k for k in (obj["metadata"].get("annotations") or {}) if k.startswith("kopf.awsop.io/")]


def test_new_objects_cost_two_writes_and_a_change_one(kube: Kubectl, operator: Operator) -> None:
    queues, buckets = Watch(kube, "queues"), Watch(kube, "buckets")
    try:
        time.sleep(1.0)  # both watches are open before anything is created
        kube.apply(manifest("Queue", "sqs.awsop.io", "jobs", {"visibilityTimeoutSeconds": 30}))
        kube.apply(manifest("Bucket", "s3.awsop.io", "assets", {"versioning": "Enabled"}))

        writes = settled(kube, queues, "queues", "jobs", 1, 2)
        assert [sorted(w["metadata"].get("finalizers") or []) for w in writes[:1]] == [["awsop.io/finalizer"]]
        assert len(writes) == 2, f"finalizer + status, nothing after: {[kopf_annotations(w) for w in writes]}"
        last = writes[-1]
        assert kopf_annotations(last) == [], "kopf keeps no annotation of its own on the object"
        assert list(last["status"]["lastHandled"]) == ["kopf.awsop.io"]

        bucket_writes = settled(kube, buckets, "buckets", "assets", 1, 3)
        assert len(bucket_writes) == 3, "finalizer, create-pending mark, status (the mark removed in it)"
        assert kopf_annotations(bucket_writes[-1]) == []
        assert "createAttemptedAt" in bucket_writes[1]["status"]
        assert "createAttemptedAt" not in bucket_writes[-1]["status"]

        # a spec change: one write (the status with the new generation and the new record)
        kube.run(
            "patch",
            "queue",
            "jobs",
            "-n",
            NS,
            "--type=merge",
            "-p",
            '{"spec":{"visibilityTimeoutSeconds":45}}',
        )
        writes = settled(kube, queues, "queues", "jobs", 2, 3)
        assert len(writes) == 4, "the spec change itself and one status write"
        assert writes[-1]["status"]["lastHandled"] != last["status"]["lastHandled"]

        # a label change is a change to kopf (labels are in its essence): handled once, one status write
        kube.run("label", "queue", "jobs", "-n", NS, "team=data")
        eventually(lambda: len(queues.writes("jobs")) >= 6, timeout=60, what="the label change handled")
        time.sleep(SETTLE)
        assert len(queues.writes("jobs")) == 6, "the label and the record of it, nothing more"
    finally:
        queues.close()
        buckets.close()
