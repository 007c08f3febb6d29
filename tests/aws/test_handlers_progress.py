"""The kopf adapter for progress: a multi-step change keeps the object Reconciling with status.progress,
requeues it soon (TemporaryError with a short delay, shorter again after each step), and ends Ready with
status.progress removed. Table against moto (indexes are ACTIVE at once, so each round starts a step)."""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from awsop.operator import handlers, kube
from awsop.operator.events import EventRecorder
from awsop.operator.settings import Settings
from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.engine import Engine, EngineConfig
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.table import TableClient

pytestmark = pytest.mark.aws
TABLE = KINDS["Table"]
KEYS = {"partitionKey": {"name": "pk", "type": "S"}}
INDEXES = [
    {"name": "gsi-one", "partitionKey": {"name": "one", "type": "S"}},
    {"name": "gsi-two", "partitionKey": {"name": "two", "type": "S"}},
]


class Writes(list[dict[str, Any]]):
    """The status and metadata patches the handlers wrote, in order."""

    def __call__(self, info: Any, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.append(body)


class NoNamespaces(kube.NamespacePhases):
    def terminating(self, namespace: str) -> bool:
        return False


RT: dict[str, handlers.Runtime] = {}  # the Runtime of the running test, for `run`


@pytest.fixture
def runtime(clients: AwsClients, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    events: list[tuple[str, str, str]] = []
    RT["current"] = handlers.Runtime(
        Settings(cluster_id="kube"),
        Engine(clients, EngineConfig(cluster_id="kube")),
        {"Table": TableClient(clients)},
        write=Writes(),
        namespaces=NoNamespaces(),
    )
    monkeypatch.setattr(
        EventRecorder,
        "post",
        lambda self, body, type, reason, message: events.append((type, reason, message)),
    )
    monkeypatch.setattr(kube, "annotate", lambda *a, **k: None)
    return events


def run(spec: dict[str, Any], generation: int, status: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """One reconcile; returns the status after kopf's patch and the requeue delay (None = done)."""
    obj = {
        "apiVersion": "dynamodb.awsop.io/v1alpha1",
        "kind": "Table",
        "metadata": {
            "name": "t",
            "namespace": "ns",
            "uid": "uid-t",
            "generation": generation,
            "annotations": {},
        },
        "spec": spec,
        "status": status,
    }
    written: Writes = RT["current"].write  # type: ignore[assignment]
    before = len(written)
    delay: float | None = None
    try:
        handlers.reconcile(
            TABLE,
            RT["current"],
            body=obj,
            meta=obj["metadata"],
            spec=spec,
            status=status,
            patch=kopf.Patch(),
            retry=0,
        )
    except kopf.TemporaryError as exc:
        delay = exc.delay
    merged = dict(status)
    for body in written[before:]:
        merged.update(body.get("status", {}))
    return {k: v for k, v in merged.items() if v is not None}, delay


def test_multi_step_change_reports_progress_requeues_soon_and_ends_ready(
    runtime: list[tuple[str, str, str]],
) -> None:
    status, delay = run(KEYS, 1, {})
    assert delay is None and status["tableStatus"] == "ACTIVE"
    edited = {**KEYS, "globalSecondaryIndexes": INDEXES}
    status, delay = run(edited, 2, status)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Reconciling"]["status"] == "True"
    assert (
        conditions["Reconciling"]["message"]
        == "step 1 of 2: creating index gsi-one; next: creating index gsi-two"
    )
    assert status["progress"]["pendingSteps"] == ["creating index gsi-two"]
    assert delay is not None and delay <= 1.5  # short: a step was just started
    status, delay = run(edited, 2, status)
    assert status["progress"]["step"] == 2 and status["progress"]["steps"] == 2
    assert delay is not None and delay <= 1.5
    status, delay = run(edited, 2, status)
    assert delay is None
    assert "progress" not in status
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert [r for _, r, _ in runtime].count("StepStarted") == 2


def test_busy_waits_grow_and_are_capped(clients: AwsClients) -> None:
    def runtime_with(settings: Settings) -> handlers.Runtime:
        return handlers.Runtime(settings, Engine(clients, EngineConfig()), {})

    rt = runtime_with(Settings(max_backoff_seconds=300))
    delays = [handlers.progress_delay(rt, n) for n in range(8)]
    assert delays[0] <= 1.2 and delays[3] >= 6.4 and max(delays) <= 36
    rt = runtime_with(Settings(max_backoff_seconds=5))
    assert max(handlers.progress_delay(rt, n) for n in range(8)) <= 6
