"""The kopf adapters for references: resolution through (a fake of) the Kubernetes API, waiting told once,
retried and never Stalled, a target that becomes Ready nudges its referrers, and deletion of a referenced
queue waits for its users."""

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
from awsop.reconcilers.sqs_queue import QueueClient

pytestmark = pytest.mark.aws
QUEUE = KINDS["Queue"]
SOURCE = {"deadLetterQueue": {"ref": {"name": "dlq"}, "maxReceiveCount": 3}}


class FakeKube:
    """The objects the handlers read, annotate and list, by name (namespace ns)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.gets: list[str] = []
        self.nudged: list[str] = []

    def get(self, info: Any, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets.append(name)
        return self.objects.get(name)

    def list_objects(self, info: Any, namespace: str) -> list[dict[str, Any]]:
        return list(self.objects.values())

    def annotate(self, info: Any, namespace: str, name: str, annotations: dict[str, Any]) -> None:
        if handlers.RECONCILE_REQUESTED in annotations:
            self.nudged.append(name)


class Writes(list[dict[str, Any]]):
    """The status and metadata patches the handlers wrote, in order."""

    def __call__(self, info: Any, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.append(body)


class NoNamespaces(kube.NamespacePhases):
    def terminating(self, namespace: str) -> bool:
        return False


RT: dict[str, handlers.Runtime] = {}  # the Runtime of the running test, for `call`


@pytest.fixture
def fake(clients: AwsClients, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeKube, list[tuple[str, str, str]]]:
    events: list[tuple[str, str, str]] = []
    RT["current"] = handlers.Runtime(
        Settings(cluster_id="kube"),
        Engine(clients, EngineConfig(cluster_id="kube")),
        {"Queue": QueueClient(clients)},
        write=Writes(),
        namespaces=NoNamespaces(),
    )
    monkeypatch.setattr(
        EventRecorder,
        "post",
        lambda self, body, type, reason, message: events.append((type, reason, message)),
    )
    k = FakeKube()
    for name in ("get", "list_objects", "annotate"):
        monkeypatch.setattr(kube, name, getattr(k, name))
    return k, events


def body(
    name: str, spec: dict[str, Any], status: dict[str, Any] | None = None, **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "sqs.awsop.io/v1alpha1",
        "kind": "Queue",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1, **meta},
        "spec": spec,
        "status": status or {},
    }


def call(fn: Any, obj: dict[str, Any], retry: int = 0) -> kopf.Patch:
    """Run a handler; the returned patch is what it wrote to the API server (merged, in order)."""
    written: Writes = RT["current"].write  # type: ignore[assignment]
    before = len(written)
    merged = kopf.Patch()
    call.last = merged  # type: ignore[attr-defined]
    try:
        fn(
            QUEUE,
            RT["current"],
            body=obj,
            meta=obj["metadata"],
            spec=obj["spec"],
            status=obj["status"],
            patch=kopf.Patch(),
            retry=retry,
        )
    finally:
        for body in written[before:]:
            for stanza, values in body.items():
                merged.setdefault(stanza, {}).update(values)
    return merged


def condition(patch: kopf.Patch, ctype: str) -> dict[str, Any]:
    return next(c for c in patch["status"]["conditions"] if c["type"] == ctype)


def test_handler_source_waits_for_missing_target_told_once_retried_never_stalled(
    fake: tuple[FakeKube, list[tuple[str, str, str]]], aws: Any
) -> None:
    k, events = fake
    source = body("src", SOURCE)
    with pytest.raises(kopf.TemporaryError) as first:
        call(handlers.reconcile, source)
    patch = call.last  # type: ignore[attr-defined]
    assert first.value.delay is not None and first.value.delay < 5
    ready = condition(patch, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "DependencyNotReady")
    assert "Queue dlq (deadLetterQueue): Queue dlq does not exist" in ready["message"]
    assert condition(patch, "Stalled")["status"] == "False"
    assert k.gets == ["dlq"]  # one GET per reference
    again = body("src", SOURCE, status=dict(patch["status"]))
    with pytest.raises(kopf.TemporaryError):
        call(handlers.reconcile, again, retry=1)
    assert [e[1] for e in events] == ["DependencyNotReady"]  # told once


def test_handler_target_ready_nudges_and_source_uses_its_arn(
    fake: tuple[FakeKube, list[tuple[str, str, str]]], aws: Any
) -> None:
    k, _ = fake
    with pytest.raises(kopf.TemporaryError):
        call(handlers.reconcile, body("src", SOURCE))
    target_patch = call(handlers.reconcile, body("dlq", {}))
    assert k.nudged == ["src"]
    k.objects["dlq"] = body("dlq", {}, status=dict(target_patch["status"]))
    source_patch = call(handlers.reconcile, body("src", SOURCE))
    assert condition(source_patch, "Ready")["status"] == "True"
    assert source_patch["status"]["deadLetterQueueArn"] == target_patch["status"]["arn"]


def test_handler_delete_of_a_referenced_queue_waits_for_its_users(
    fake: tuple[FakeKube, list[tuple[str, str, str]]], aws: Any
) -> None:
    k, events = fake
    k.objects["src"] = body("src", SOURCE)
    target = body("dlq", {})
    with pytest.raises(kopf.TemporaryError) as blocked:
        call(handlers.delete, target)
    assert blocked.value.delay is not None and blocked.value.delay <= 60
    assert events[-1][1] == "InUse" and "Queue ns/src (deadLetterQueue)" in events[-1][2]
    k.objects["src"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"  # its user is going away
    call(handlers.delete, target)  # no exception: the finalizer may go


def test_handler_reverse_index_follows_the_spec_and_forgets_deleted_sources(
    fake: tuple[FakeKube, list[tuple[str, str, str]]], aws: Any
) -> None:
    with pytest.raises(kopf.TemporaryError):
        call(handlers.reconcile, body("src", SOURCE))
    assert RT["current"].references.referrers == {("ns", "Queue", "dlq"): {("Queue", "src")}}
    other = {"deadLetterQueue": {"ref": {"name": "dlq2"}, "maxReceiveCount": 3}}
    with pytest.raises(kopf.TemporaryError):
        call(handlers.reconcile, body("src", other))
    assert RT["current"].references.referrers == {("ns", "Queue", "dlq2"): {("Queue", "src")}}
    call(handlers.delete, body("src", other))  # never created in AWS: deleted at once
    assert RT["current"].references.referrers == {} and RT["current"].references.referring == {}


def test_handler_noop_check_of_a_queue_with_a_dead_letter_queue_writes_nothing(
    fake: tuple[FakeKube, list[tuple[str, str, str]]], aws: Any
) -> None:
    k, _ = fake
    target_patch = call(handlers.reconcile, body("dlq", {}))
    k.objects["dlq"] = body("dlq", {}, status=dict(target_patch["status"]))
    first = call(handlers.reconcile, body("src", SOURCE))
    status = dict(first["status"])
    assert set(status) >= {"url", "arn", "deadLetterQueueArn"}
    assert "approximateNumberOfMessages" not in str(status).lower()
    second = call(handlers.reconcile, body("src", SOURCE, status=status))  # Created -> UpToDate
    status.update(second.get("status", {}))
    third = call(handlers.reconcile, body("src", SOURCE, status=status))
    assert dict(third) == {}  # no status churn on a no-op check
