"""operator/outputs.py without a Kubernetes API: when outputs are written (only for a usable resource),
what status and conditions say, and that a failure never raises. The API calls themselves are tested on
the sandbox and a real kube-apiserver (tests/sandbox/test_server_side_apply.py, tests/apiserver/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import kopf
import pytest

from awsop.operator import outputs
from awsop.reconcilers.changes import Plan
from awsop.reconcilers.engine import Outcome, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.kinds import KINDS

QUEUE = KINDS["Queue"]
STATUS = {"url": "https://q", "arn": "arn:aws:sqs:us-east-1:1:q", "awsName": "q", "region": "us-east-1"}
META = {"name": "orders", "namespace": "shop", "uid": "u-1", "generation": 3}


@dataclass
class FakeTargets:
    """Records calls; `objects` is the cluster; `fail` makes apply raise."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail: outputs.TargetError | None = None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(f"get {kind} {name}")
        return self.objects.get((kind, name))

    def apply(
        self, kind: str, namespace: str, name: str, body: dict[str, Any], manager: str
    ) -> dict[str, Any]:
        self.calls.append(f"apply {kind} {name} {manager}")
        if self.fail is not None:
            raise self.fail
        obj = self.objects.setdefault((kind, name), {"metadata": {"name": name, "resourceVersion": "1"}})
        obj.setdefault("data", {}).update(body.get("data") or {})
        if body["metadata"].get("ownerReferences"):
            obj["metadata"]["ownerReferences"] = body["metadata"]["ownerReferences"]
        return obj

    def json_patch(self, *args: Any) -> None:
        self.calls.append("json_patch")

    def delete(self, *args: Any) -> None:
        self.calls.append("delete")


class FakePatch:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}


@dataclass
class FakeRuntime:
    settings: Any = field(default_factory=lambda: type("S", (), {"output_secrets": True})())
    namespaces: Any = field(default_factory=lambda: type("N", (), {"terminating": lambda self, ns: False})())


@pytest.fixture(autouse=True)
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    posted: list[tuple[str, str]] = []
    monkeypatch.setattr(kopf, "event", lambda body, type, reason, message: posted.append((reason, message)))
    return posted


def outcome(state: State, error: ErrorClass | None = None) -> Outcome:
    return Outcome(
        state,
        "X",
        "",
        Plan("Queue", "shop", "orders", "q", "us-east-1", "none"),
        status=dict(STATUS),
        error_class=error,
    )


def spec(*targets: dict[str, Any]) -> Any:
    return QUEUE.spec_model.model_validate({"outputs": list(targets)})


@pytest.mark.parametrize(
    "result",
    [
        outcome(State.PAUSED),
        outcome(State.NOT_FOUND),
        outcome(State.PLANNED),
        outcome(State.WAITING, ErrorClass.RECOVERABLE),
        outcome(State.PROGRESSING),
        outcome(State.ERROR, ErrorClass.ACCESS),
        outcome(State.STALLED, ErrorClass.TERMINAL),
    ],
    ids=lambda o: str(o.state),
)
def test_nothing_is_read_or_written_unless_the_resource_is_usable(result: Outcome) -> None:
    api, patch = FakeTargets(), FakePatch()
    outputs.export(FakeRuntime(), QUEUE, {}, META, spec({"to": {"configMap": "c"}}), result, {}, patch, api)  # type: ignore[arg-type]
    assert api.calls == [] and patch.status == {}


def test_ready_writes_the_values_and_reports_where(events: list[tuple[str, str]]) -> None:
    api, patch = FakeTargets(), FakePatch()
    model = spec({"to": {"configMap": "c"}, "values": {"URL": "url"}})
    outputs.export(FakeRuntime(), QUEUE, {}, META, model, outcome(State.READY), {}, patch, api)  # type: ignore[arg-type]
    assert api.calls == ["get ConfigMap c", "apply ConfigMap c awsop/queue/orders"]
    assert api.objects[("ConfigMap", "c")]["data"] == {"URL": "https://q"}
    assert api.objects[("ConfigMap", "c")]["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert patch.status["outputs"] == [{"kind": "ConfigMap", "name": "c", "keys": ["URL"], "created": True}]
    (condition,) = patch.status["conditions"]
    assert (condition["type"], condition["status"], condition["message"]) == (
        "OutputsWritten",
        "True",
        "1 keys in ConfigMap c",
    )
    assert events == [("OutputsWritten", "wrote outputs to ConfigMap c")]
    # the next check finds everything in place: reads only, no status change, no Event
    previous = {"outputs": patch.status["outputs"], "conditions": patch.status["conditions"]}
    again = FakePatch()
    api.calls.clear()
    outputs.export(FakeRuntime(), QUEUE, {}, META, model, outcome(State.READY), previous, again, api)  # type: ignore[arg-type]
    assert api.calls == ["get ConfigMap c"] and again.status == {} and len(events) == 1


def test_a_failed_write_is_a_condition_and_one_event_never_an_exception(
    events: list[tuple[str, str]],
) -> None:
    api = FakeTargets(
        fail=outputs.TargetError("OutputConflict", 'ConfigMap c: conflict with "helm": .data.URL')
    )
    patch = FakePatch()
    model = spec({"to": {"configMap": "c"}, "values": {"URL": "url"}})
    outputs.export(FakeRuntime(), QUEUE, {}, META, model, outcome(State.READY), {}, patch, api)  # type: ignore[arg-type]
    (condition,) = patch.status["conditions"]
    assert (condition["status"], condition["reason"]) == ("False", "OutputConflict")
    assert events == [("OutputConflict", 'ConfigMap c: conflict with "helm": .data.URL')]
    again = FakePatch()
    previous = {"conditions": patch.status["conditions"]}
    outputs.export(FakeRuntime(), QUEUE, {}, META, model, outcome(State.READY), previous, again, api)  # type: ignore[arg-type]
    assert len(events) == 1 and "conditions" not in again.status  # told once, not on every check


def test_secrets_disabled_reports_it_without_a_call() -> None:
    api, patch = FakeTargets(), FakePatch()
    rt = FakeRuntime(settings=type("S", (), {"output_secrets": False})())
    outputs.export(rt, QUEUE, {}, META, spec({"to": {"secret": "s"}}), outcome(State.READY), {}, patch, api)  # type: ignore[arg-type]
    assert api.calls == []
    assert patch.status["conditions"][0]["reason"] == "SecretsDisabled"


def test_a_target_dropped_from_the_spec_is_withdrawn() -> None:
    api = FakeTargets(
        objects={
            ("ConfigMap", "old"): {
                "metadata": {"name": "old", "resourceVersion": "1", "uid": "c"},
                "data": {"K": "v", "OTHER": "x"},
            }
        }
    )
    patch = FakePatch()
    previous = {"outputs": [{"kind": "ConfigMap", "name": "old", "keys": ["K"], "created": False}]}
    outputs.export(FakeRuntime(), QUEUE, {}, META, spec(), outcome(State.READY), previous, patch, api)  # type: ignore[arg-type]
    assert "apply ConfigMap old awsop/queue/orders" in api.calls and "json_patch" in api.calls
    assert patch.status["outputs"] is None


def test_a_new_url_after_recreation_is_written_in_the_same_reconcile() -> None:
    api = FakeTargets(
        objects={
            ("ConfigMap", "c"): {
                "metadata": {"name": "c", "resourceVersion": "1", "ownerReferences": [{"uid": "u-1"}]},
                "data": {"URL": "https://old"},
            }
        }
    )
    patch = FakePatch()
    previous = {"outputs": [{"kind": "ConfigMap", "name": "c", "keys": ["URL"], "created": True}]}
    model = spec({"to": {"configMap": "c"}, "values": {"URL": "url"}})
    outputs.export(FakeRuntime(), QUEUE, {}, META, model, outcome(State.READY), previous, patch, api)  # type: ignore[arg-type]
    assert api.calls == ["get ConfigMap c", "apply ConfigMap c awsop/queue/orders"]
    assert api.objects[("ConfigMap", "c")]["data"] == {"URL": "https://q"}
