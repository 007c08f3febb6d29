"""Progress across reconciles, in the engine, for any kind: a resource that exists before it is usable,
and a change AWS takes one step at a time. A fake kind stands in for AWS so every path is exact."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from awsop.operator.status import new_status
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.changes import Action, Change
from awsop.reconcilers.engine import (
    Busy,
    DeleteOutcome,
    DeleteResult,
    Engine,
    ObjectRef,
    Progress,
    State,
    Target,
)
from awsop.reconcilers.errors import ErrorClass, classify
from awsop.reconcilers.model import AwsObjectSpec
from awsop.reconcilers.policies import DeletionPolicy


class WidgetSpec(AwsObjectSpec):
    """A resource with parts that AWS adds one at a time."""

    parts: list[str] = []
    label: str = ""


@dataclass
class Widget:
    parts: list[str]
    label: str
    owner: str
    busy_for: int = 0  # reconciles the resource stays busy after a create or a step


@dataclass
class FakeWidgets:
    """A kind whose `parts` are steps (one per call, busy afterwards) and whose `label` is immediate."""

    busy_after_write: int = 1
    kind: str = "Widget"
    default_deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    resource: Widget | None = None
    writes: list[str] = field(default_factory=list)

    def aws_name(self, ref: ObjectRef, spec: WidgetSpec, prefix: str) -> str:
        return f"{ref.namespace}-{ref.name}"

    def observe(self, target: Target[WidgetSpec], facets: bool = True) -> Widget | None:
        if self.resource is None:
            return None
        seen = Widget(
            list(self.resource.parts), self.resource.label, self.resource.owner, self.resource.busy_for
        )
        self.resource.busy_for = max(0, self.resource.busy_for - 1)  # time passes between reconciles
        return seen

    def owner_of(self, observed: Widget) -> str | None:
        return observed.owner

    def busy(self, target: Target[WidgetSpec], observed: Widget) -> Busy | None:
        return Busy("WidgetUpdating", "widget is UPDATING") if observed.busy_for else None

    def diff(self, target: Target[WidgetSpec], observed: Widget) -> list[Change]:
        changes = []
        if observed.label != target.spec.label:
            changes.append(Change("label", observed.label, target.spec.label))
        for part in target.spec.parts:
            if part not in observed.parts:
                changes.append(
                    Change(f"parts[{part}]", None, part, Action.CREATE, ("w:AddPart",), f"adding {part}")
                )
        return changes

    def plan_create(self, target: Target[WidgetSpec]) -> list[Change]:
        return [Change("", None, target.aws_name, Action.CREATE, ("w:Create",))]

    def create(self, target: Target[WidgetSpec]) -> Widget:
        self.writes.append("create")
        self.resource = Widget([], target.spec.label, target.owner, self.busy_after_write)
        return Widget([], target.spec.label, target.owner, self.busy_after_write)

    def apply(self, target: Target[WidgetSpec], observed: Widget, changes: list[Change]) -> None:
        assert self.resource is not None
        assert not self.resource.busy_for, "a write reached a busy resource"
        for change in changes:
            self.writes.append(change.path)
            if change.path == "label":
                self.resource.label = change.desired
            else:
                self.resource.parts.append(change.desired)
                self.resource.busy_for = self.busy_after_write

    def release(self, target: Target[WidgetSpec], observed: Widget) -> None: ...

    def delete(self, target: Target[WidgetSpec], observed: Widget) -> DeleteOutcome:
        return DeleteOutcome(DeleteResult.DELETED)

    def status(self, target: Target[WidgetSpec], observed: Widget | None) -> dict[str, Any]:
        return {"awsName": target.aws_name}

    def classify(self, exc: BaseException) -> ErrorClass:
        return classify(exc)


REF = ObjectRef("Widget", "ns", "w", 2)


@pytest.fixture
def engine() -> Engine:
    return Engine(AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0)))


def spec(**fields: Any) -> WidgetSpec:
    return WidgetSpec.model_validate(fields)


def converge(
    engine: Engine, kind: FakeWidgets, desired: WidgetSpec, rounds: int = 12
) -> list[tuple[str, str, str]]:
    """Reconcile like the operator does (the previous progress handed back) until Ready."""
    seen, progress = [], None
    for _ in range(rounds):
        outcome = engine.reconcile(kind, REF, desired, progress=progress)
        seen.append((str(outcome.state), outcome.reason, outcome.message))
        if outcome.state is not State.PROGRESSING:
            return seen
        progress = outcome.progress
    raise AssertionError(f"never settled: {seen}")


def test_created_resource_that_is_not_usable_yet_is_progressing_not_ready(engine: Engine) -> None:
    kind = FakeWidgets(busy_after_write=2)
    outcome = engine.reconcile(kind, REF, spec(label="a"))
    assert outcome.state is State.PROGRESSING
    assert outcome.reason == "WidgetUpdating"
    assert "waiting: widget is UPDATING" in outcome.message
    assert [e.reason for e in outcome.events] == ["Created"]


def test_busy_resource_gets_no_write_and_says_what_it_waits_for(engine: Engine) -> None:
    kind = FakeWidgets(busy_after_write=3)
    kind.resource = Widget([], "old", "awsop/ns/w", busy_for=2)
    outcome = engine.reconcile(kind, REF, spec(label="new", parts=["p1"]))
    assert outcome.state is State.PROGRESSING and outcome.reason == "WidgetUpdating"
    assert outcome.message == "waiting: widget is UPDATING; next: adding p1"
    assert kind.writes == []
    assert outcome.progress == Progress(2, 0, 1, "", ("adding p1",), "widget is UPDATING")


def test_multi_step_change_is_planned_whole_and_applied_one_step_per_reconcile(engine: Engine) -> None:
    kind = FakeWidgets(busy_after_write=1)
    kind.resource = Widget([], "old", "awsop/ns/w")
    desired = spec(label="new", parts=["p1", "p2", "p3"])
    planned = engine.reconcile(kind, REF, desired, plan_only=True)
    assert [line.strip() for line in planned.plan.render()[1:]] == [
        "~ label: old -> new",
        "+ parts[p1]: (none) -> p1  [w:AddPart]  (step 1 of 3)",
        "+ parts[p2]: (none) -> p2  [w:AddPart]  (step 2 of 3)",
        "+ parts[p3]: (none) -> p3  [w:AddPart]  (step 3 of 3)",
    ]
    seen = converge(engine, kind, desired)
    assert seen == [
        ("Progressing", "ApplyingStep", "step 1 of 3: adding p1; next: adding p2, adding p3"),
        (
            "Progressing",
            "WidgetUpdating",
            "waiting: widget is UPDATING (step 1 of 3: adding p1); next: adding p2, adding p3",
        ),
        ("Progressing", "ApplyingStep", "step 2 of 3: adding p2; next: adding p3"),
        (
            "Progressing",
            "WidgetUpdating",
            "waiting: widget is UPDATING (step 2 of 3: adding p2); next: adding p3",
        ),
        ("Progressing", "ApplyingStep", "step 3 of 3: adding p3"),
        ("Progressing", "WidgetUpdating", "waiting: widget is UPDATING (step 3 of 3: adding p3)"),
        ("Ready", "UpToDate", "AWS matches the spec"),
    ]
    # the immediate change went with the first step; each step alone, never while busy
    assert kind.writes == ["label", "parts[p1]", "parts[p2]", "parts[p3]"]


def test_step_count_restarts_for_a_new_generation(engine: Engine) -> None:
    old = Progress(1, 2, 3, "adding p2", ("adding p3",))
    assert Progress.from_status(old.as_status(), 1) == old
    assert Progress.from_status(old.as_status(), 2) is None
    assert Progress.from_status(None, 2) is None


def test_plan_only_never_waits_and_never_writes(engine: Engine) -> None:
    kind = FakeWidgets()
    kind.resource = Widget([], "", "awsop/ns/w", busy_for=5)
    outcome = engine.reconcile(kind, REF, spec(parts=["p1"]), plan_only=True)
    assert outcome.state is State.PLANNED
    assert [c.step for c in outcome.plan.steps()] == ["adding p1"]
    assert kind.writes == []


def test_kinds_without_busy_are_never_progressing(engine: Engine) -> None:
    class Plain(FakeWidgets):
        busy = None  # type: ignore[assignment]

    kind = Plain()
    outcome = engine.reconcile(kind, REF, spec(label="x"))
    assert outcome.state is State.READY


def test_status_carries_progress_and_reconciling_condition_then_drops_it_when_ready(engine: Engine) -> None:
    kind = FakeWidgets()
    kind.resource = Widget([], "", "awsop/ns/w")
    stepped = engine.reconcile(kind, REF, spec(parts=["p1", "p2"]))
    status = new_status({}, stepped, 2)
    assert status["progress"] == {
        "generation": 2,
        "step": 1,
        "steps": 2,
        "currentStep": "adding p1",
        "pendingSteps": ["adding p2"],
        "waitingFor": "",
    }
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Reconciling"]["status"] == "True"
    assert conditions["Reconciling"]["reason"] == "ApplyingStep"
    assert conditions["Reconciling"]["message"] == "step 1 of 2: adding p1; next: adding p2"
    assert "appliedGeneration" not in status  # the spec has not fully reached AWS yet
    kind.resource.parts = ["p1", "p2"]
    kind.resource.busy_for = 0
    ready = engine.reconcile(kind, REF, spec(parts=["p1", "p2"]), progress=stepped.progress)
    after = new_status(status, ready, 2)
    assert "progress" not in after
    assert after["appliedGeneration"] == 2
