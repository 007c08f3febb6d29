"""A change that comes from a resolved reference is a change of the desired state, not drift: the engine
applies it whatever the drift policy (ObserveOnly still never writes), says it follows the reference, and
records what the references resolved to. Out-of-band changes in AWS stay drift. A fake kind whose
`version` follows a referenced Widget's `defaultVersion` stands in for AWS, so every path is exact."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from awsop.operator.references import resolution_from_outcome
from awsop.operator.status import new_status
from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.changes import Change, Plan
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import (
    Busy,
    DeleteOutcome,
    DeleteResult,
    Engine,
    ObjectRef,
    Outcome,
    Progress,
    State,
    Target,
)
from awsop.reconcilers.errors import ErrorClass, classify
from awsop.reconcilers.model import AwsObjectSpec
from awsop.reconcilers.policies import DeletionPolicy
from awsop.reconcilers.refs import (
    KNOWN_AFTER_APPLY,
    Reference,
    Resolution,
    ResourceRef,
    reference_changes,
    reference_record,
)

REF = ObjectRef("Pointer", "ns", "p", 3)
OWNER = "awsop/ns/p"


class PointerSpec(AwsObjectSpec):
    """A resource that uses the default version of the Widget it references, and has a size of its own."""

    widget: ResourceRef
    size: int = 1
    stepped: bool = False  # a version change is a step (the resource is busy after it)

    def references(self) -> list[Reference]:
        ref = self.widget.ref
        return [Reference("Widget", ref.name, "widget.ref")] if ref is not None else []


@dataclass
class Pointer:
    version: str
    size: int
    owner: str = OWNER
    busy: bool = False


@dataclass
class FakePointers:
    kind: str = "Pointer"
    default_deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    resource: Pointer | None = None
    writes: list[str] = field(default_factory=list)
    reads: list[bool] = field(default_factory=list)  # context.periodic of every observe

    def aws_name(self, ref: ObjectRef, spec: PointerSpec, prefix: str) -> str:
        return f"{ref.namespace}-{ref.name}"

    def observe(self, target: Target[PointerSpec], facets: bool = True) -> Pointer | None:
        self.reads.append(target.context.periodic)
        r = self.resource
        return None if r is None else Pointer(r.version, r.size, r.owner, r.busy)

    def owner_of(self, observed: Pointer) -> str | None:
        return observed.owner

    def busy(self, target: Target[PointerSpec], observed: Pointer) -> Busy | None:
        return Busy("Rolling", "rolling to the new version") if observed.busy else None

    def diff(self, target: Target[PointerSpec], observed: Pointer) -> list[Change]:
        changes = []
        version = wanted_version(target)
        if observed.version != version:
            step = f"rolling to version {version}" if target.spec.stepped else ""
            changes.append(Change("widget", observed.version, version, calls=("p:SetVersion",), step=step))
        if observed.size != target.spec.size:
            changes.append(Change("size", observed.size, target.spec.size, calls=("p:SetSize",)))
        return changes

    def plan_create(self, target: Target[PointerSpec]) -> list[Change]:
        return []

    def create(self, target: Target[PointerSpec]) -> Pointer:
        self.writes.append("create")
        self.resource = Pointer(wanted_version(target), target.spec.size)
        return Pointer(wanted_version(target), target.spec.size)

    def apply(self, target: Target[PointerSpec], observed: Pointer, changes: list[Change]) -> None:
        assert self.resource is not None and not self.resource.busy, "a write reached a busy resource"
        for change in changes:
            self.writes.append(change.path)
            if change.path == "widget":
                self.resource.version = change.desired
                self.resource.busy = bool(change.step)
            else:
                self.resource.size = change.desired

    def release(self, target: Target[PointerSpec], observed: Pointer) -> None: ...

    def delete(self, target: Target[PointerSpec], observed: Pointer) -> DeleteOutcome:
        return DeleteOutcome(DeleteResult.DELETED)

    def status(self, target: Target[PointerSpec], observed: Pointer | None) -> dict[str, Any]:
        return {"awsName": target.aws_name, "version": observed.version if observed else None}

    def classify(self, exc: BaseException) -> ErrorClass:
        return classify(exc)


def wanted_version(target: Target[PointerSpec]) -> str:
    ref = target.spec.widget.ref
    assert ref is not None
    return str(target.context.resolution("Widget", ref.name).value("defaultVersion"))


def spec(**fields: Any) -> PointerSpec:
    return PointerSpec.model_validate({"widget": {"ref": {"name": "web"}}, **fields})


def widget(version: int, **more: Any) -> dict[tuple[str, str], Resolution]:
    values = {"id": "w-1", "defaultVersion": version, "lastSyncTime": f"t{version}", **more}
    return {("Widget", "web"): Resolution("Widget", "web", ready=True, values=values)}


def record(version: int | None) -> list[dict[str, Any]] | None:
    """status.resolvedReferences as an earlier Ready reconcile wrote it (None: never recorded)."""
    if version is None:
        return None
    return [
        {
            "path": "widget.ref",
            "kind": "Widget",
            "name": "web",
            "values": {"id": "w-1", "defaultVersion": str(version)},
        }
    ]


@pytest.fixture
def engine() -> Engine:
    return Engine(AwsClients(AwsConfig(default_region="us-east-1", default_rate_limit=0)))


def run(
    engine: Engine,
    kind: FakePointers,
    resolved: int,
    recorded: int | None,
    *,
    spec_changed: bool = False,
    periodic: bool = True,
    progress: Progress | None = None,
    **fields: Any,
) -> Outcome:
    context = ReconcileContext(
        references=widget(resolved), applied_references=record(recorded), periodic=periodic
    )
    return engine.reconcile(
        kind, REF, spec(**fields), spec_changed=spec_changed, context=context, progress=progress
    )


@dataclass(frozen=True)
class Case:
    """AWS holds (version, size) `aws`; the Widget resolves to `resolved`, the record says `recorded`."""

    fields: dict[str, Any]
    aws: tuple[str, int]
    resolved: int
    recorded: int | None
    expected: tuple[State, str]
    writes: list[str]
    after: tuple[str, int]
    kept: str | None  # the defaultVersion recorded by this outcome (None: no record written)
    spec_changed: bool = False


REPORT = {"driftPolicy": "Report"}
READY, DRIFTED = State.READY, State.DRIFTED
CASES = {
    "report-reference-moved-is-applied": Case(
        REPORT, ("1", 1), 2, 1, (READY, "ReferenceChanged"), ["widget"], ("2", 1), "2"
    ),
    "report-out-of-band-change-is-only-reported": Case(
        REPORT, ("1", 5), 1, 1, (DRIFTED, "DriftDetected"), [], ("1", 5), None
    ),
    "report-reference-and-aws-moved-applies-both-like-a-spec-change": Case(
        REPORT, ("1", 5), 2, 1, (READY, "ReferenceChanged"), ["widget", "size"], ("2", 1), "2"
    ),
    "report-no-record-yet-is-not-a-reference-change": Case(
        REPORT, ("1", 1), 2, None, (DRIFTED, "DriftDetected"), [], ("1", 1), None
    ),
    "no-record-yet-and-aws-matches-records-without-writing-aws": Case(
        REPORT, ("2", 1), 2, None, (READY, "UpToDate"), [], ("2", 1), "2"
    ),
    "reference-moved-but-nothing-differs-records-the-new-values": Case(
        REPORT, ("2", 1), 2, 1, (READY, "UpToDate"), [], ("2", 1), "2"
    ),
    "correct-reference-moved-says-reference-not-drift": Case(
        {}, ("1", 1), 2, 1, (READY, "ReferenceChanged"), ["widget"], ("2", 1), "2"
    ),
    "correct-out-of-band-change-is-corrected-as-drift": Case(
        {}, ("1", 5), 1, 1, (READY, "DriftCorrected"), ["size"], ("1", 1), "1"
    ),
    "observe-only-reference-moved-never-writes": Case(
        {"managementPolicy": "ObserveOnly", "adoptionPolicy": "Adopt"},
        ("1", 1),
        2,
        1,
        (DRIFTED, "DriftDetected"),
        [],
        ("1", 1),
        None,
    ),
    "spec-change-with-reference-moved-is-an-update": Case(
        {**REPORT, "size": 2}, ("1", 1), 2, 1, (READY, "Updated"), ["widget", "size"], ("2", 2), "2", True
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_engine_decides_reference_change_or_drift(engine: Engine, case: Case) -> None:
    kind = FakePointers(resource=Pointer(*case.aws))
    outcome = run(engine, kind, case.resolved, case.recorded, spec_changed=case.spec_changed, **case.fields)
    assert (outcome.state, outcome.reason) == case.expected, outcome.message
    assert kind.writes == case.writes
    assert kind.resource is not None and (kind.resource.version, kind.resource.size) == case.after
    written = outcome.status.get("resolvedReferences")
    assert written == (None if case.kept is None else record(int(case.kept)))
    if outcome.reason == "ReferenceChanged":
        assert outcome.message.startswith(
            f"reference changed: Widget web (widget.ref): defaultVersion {case.recorded} -> {case.resolved}; "
            "applied: widget: 1 -> 2"
        )
        assert [(e.type, e.reason) for e in outcome.events] == [("Normal", "ReferenceChanged")]
        assert outcome.drift == [] and outcome.corrected == []
    if case.expected[0] is DRIFTED:
        assert [e.reason for e in outcome.events] == ["DriftDetected"]
        assert ("reference changed" in outcome.message) == (case.resolved != case.recorded is not None)


def test_reference_change_reads_fresh_even_in_a_periodic_check(engine: Engine) -> None:
    """A routine check may read shared, seconds-old answers; one that follows a moved reference writes,
    so it reads at once like a spec change."""
    kind = FakePointers(resource=Pointer("1", 1))
    run(engine, kind, 1, 1, periodic=True)
    run(engine, kind, 2, 1, periodic=True)
    assert kind.reads == [True, False]


def test_reference_change_with_steps_counts_its_own_progress_and_records_when_done(engine: Engine) -> None:
    """A moved reference whose change AWS takes as a step: StepStarted with ReferenceChanged, Progress for
    the object's (unchanged) generation; while busy nothing is written or recorded; the record is written
    by the Ready outcome at the end, so a restart in between still sees the reference as moved."""
    kind = FakePointers(resource=Pointer("1", 1))
    first = run(engine, kind, 2, 1, driftPolicy="Report", stepped=True)
    assert (first.state, first.reason) == (State.PROGRESSING, "ApplyingStep")
    assert [e.reason for e in first.events] == ["ReferenceChanged", "StepStarted"]
    assert first.progress == Progress(3, 1, 1, "rolling to version 2")
    assert "resolvedReferences" not in first.status and first.drift == []
    busy = run(engine, kind, 2, 1, driftPolicy="Report", stepped=True, progress=first.progress)
    assert (busy.state, busy.reason) == (State.PROGRESSING, "Rolling")
    assert "resolvedReferences" not in busy.status
    assert kind.writes == ["widget"]
    kind.resource.busy = False  # type: ignore[union-attr]
    done = run(engine, kind, 2, 1, driftPolicy="Report", stepped=True, progress=busy.progress)
    assert (done.state, done.reason) == (State.READY, "UpToDate")
    assert done.status["resolvedReferences"][0]["values"]["defaultVersion"] == "2"
    assert kind.writes == ["widget"]


def test_reference_change_waits_while_the_resource_is_busy_then_applies(engine: Engine) -> None:
    kind = FakePointers(resource=Pointer("1", 1, busy=True))
    waiting = run(engine, kind, 2, 1, driftPolicy="Report")
    assert waiting.state is State.PROGRESSING and kind.writes == []
    kind.resource.busy = False  # type: ignore[union-attr]
    applied = run(engine, kind, 2, 1, driftPolicy="Report")
    assert (applied.state, applied.reason, kind.writes) == (State.READY, "ReferenceChanged", ["widget"])


def test_plan_shows_a_reference_change_as_an_update_never_as_drift(engine: Engine) -> None:
    kind = FakePointers(resource=Pointer("1", 1))
    context = ReconcileContext(references=widget(2), applied_references=record(1))
    planned = engine.reconcile(kind, REF, spec(driftPolicy="Report"), plan_only=True, context=context)
    assert planned.state is State.PLANNED and planned.plan.verb == "update"
    assert planned.plan.render()[1:] == ["  ~ widget: 1 -> 2  [p:SetVersion]"]
    assert kind.writes == [] and "resolvedReferences" not in planned.status


def test_failed_apply_keeps_the_old_record_so_the_next_reconcile_follows_again(engine: Engine) -> None:
    kind = FakePointers(resource=Pointer("1", 1))

    def refuse(*_: Any) -> None:
        raise RuntimeError("connection reset")

    kind.apply = refuse  # type: ignore[method-assign]
    failed = run(engine, kind, 2, 1, driftPolicy="Report")
    assert failed.state is State.ERROR and "resolvedReferences" not in failed.status
    status = new_status({"resolvedReferences": record(1)}, failed, 3)
    assert status["resolvedReferences"] == record(1)


def test_status_keeps_the_record_across_drift_and_drops_it_when_references_go(engine: Engine) -> None:
    kind = FakePointers(resource=Pointer("2", 1))
    ready = run(engine, kind, 2, None, driftPolicy="Report")
    status = new_status({}, ready, 3)
    assert status["resolvedReferences"] == record(2)
    kind.resource.size = 9  # type: ignore[union-attr]
    drifted = run(engine, kind, 2, 2, driftPolicy="Report")
    assert drifted.state is State.DRIFTED
    assert new_status(status, drifted, 3)["resolvedReferences"] == record(2)
    by_arn = PointerSpec.model_validate({"widget": {"arn": "arn:aws:ec2:us-east-1:123456789012:w/w-1"}})
    kind.diff = lambda target, observed: []  # type: ignore[method-assign]
    gone = engine.reconcile(kind, REF, by_arn, context=ReconcileContext(applied_references=record(2)))
    assert gone.status["resolvedReferences"] == []


RECORD_CASES = {
    "same-values": ({"defaultVersion": "4"}, {"defaultVersion": 4}, []),
    "version-moved": (
        {"defaultVersion": "3"},
        {"defaultVersion": 4},
        ["Widget web (widget.ref): defaultVersion 3 -> 4"],
    ),
    "identifier-the-record-lacks-is-not-a-change": (
        {"defaultVersion": "4"},
        {"defaultVersion": 4, "arn": "a"},
        [],
    ),
    "identifier-that-disappeared-is-a-change": (
        {"defaultVersion": "4", "arn": "a"},
        {"defaultVersion": 4},
        ["Widget web (widget.ref): arn a -> (none)"],
    ),
    "other-status-fields-are-not-references": (
        {"defaultVersion": "4"},
        {"defaultVersion": 4, "lastSyncTime": "x"},
        [],
    ),
}


@pytest.mark.parametrize(
    ("recorded", "values", "expected"), list(RECORD_CASES.values()), ids=list(RECORD_CASES)
)
def test_reference_changes_compares_identifiers_only(
    recorded: dict[str, str], values: dict[str, Any], expected: list[str]
) -> None:
    references = [Reference("Widget", "web", "widget.ref")]
    resolved = {("Widget", "web"): Resolution("Widget", "web", ready=True, values=values)}
    entry = [{"path": "widget.ref", "kind": "Widget", "name": "web", "values": recorded}]
    assert reference_changes(references, resolved, entry) == expected


@pytest.mark.parametrize(
    "recorded",
    [None, [], "garbage", [{"kind": "Widget"}], [{"kind": "Widget", "name": "web", "values": "x"}]],
    ids=["none", "empty", "not-a-list", "no-values", "values-not-a-map"],
)
def test_reference_changes_treats_an_unreadable_record_as_unknown(recorded: Any) -> None:
    references = [Reference("Widget", "web", "widget.ref")]
    resolved = {("Widget", "web"): Resolution("Widget", "web", ready=True, values={"defaultVersion": 4})}
    assert reference_changes(references, resolved, recorded) == []


def test_reference_record_leaves_out_unresolved_and_planned_targets() -> None:
    references = [
        Reference("Widget", "web", "widget.ref"),
        Reference("Widget", "planned", "other"),
        Reference("Widget", "missing", "third"),
    ]
    resolved = {
        **widget(4, url="https://w"),
        ("Widget", "planned"): Resolution("Widget", "planned", ready=False, planned=True),
    }
    assert reference_record(references, resolved) == [
        {
            "path": "widget.ref",
            "kind": "Widget",
            "name": "web",
            "values": {"id": "w-1", "defaultVersion": "4", "url": "https://w"},
        }
    ]


def test_planned_update_that_moves_identifiers_shows_them_known_after_apply_to_referrers() -> None:
    """The CLI plans targets first: a target whose planned update moves its version shows referrers that
    version as known after apply; its other identifiers stay what AWS has now."""
    plan = Plan("Widget", "ns", "web", "ns-web", "us-east-1", "update")
    values = {"arn": "arn:w", "id": "w-1", "defaultVersion": 3}
    outcome = Outcome(State.PLANNED, "Planned", "", plan, status=values, moves=("defaultVersion",))
    found = resolution_from_outcome(Reference("Widget", "web", "widget.ref"), outcome)
    assert found.ready and not found.planned
    assert (found.value("id"), found.value("defaultVersion")) == ("w-1", KNOWN_AFTER_APPLY)
    unmoved = resolution_from_outcome(
        Reference("Widget", "web", "widget.ref"), Outcome(State.PLANNED, "Planned", "", plan, status=values)
    )
    assert unmoved.value("defaultVersion") == 3


class AliasPointers(FakePointers):
    """Its version change is desired state moved outside the spec (like a group's $Latest resolving to a
    new version), so the kind marks it `intent`."""

    def diff(self, target: Target[PointerSpec], observed: Pointer) -> list[Change]:
        return [
            replace(change, intent=True) if change.path == "widget" else change
            for change in super().diff(target, observed)
        ]


@pytest.mark.parametrize(
    "policy, size, state, reason, writes, drift",
    [
        ("Report", 1, State.READY, "ReferenceChanged", ["widget"], []),
        ("Report", 5, State.DRIFTED, "DriftDetected", ["widget"], ["size"]),
        ("Correct", 1, State.READY, "ReferenceChanged", ["widget"], []),
        ("Correct", 5, State.READY, "DriftCorrected", ["widget", "size"], ["size"]),
        ("ObserveOnly", 1, State.DRIFTED, "DriftDetected", [], ["widget"]),
    ],
    ids=["report", "report-plus-drift", "correct", "correct-plus-drift", "observe-only"],
)
def test_intent_change_is_applied_whatever_the_drift_policy_and_other_drift_keeps_its_rule(
    engine: Engine, policy: str, size: int, state: State, reason: str, writes: list[str], drift: list[str]
) -> None:
    kind = AliasPointers(resource=Pointer("1", size))
    fields: dict[str, Any] = (
        {"managementPolicy": "ObserveOnly"} if policy == "ObserveOnly" else {"driftPolicy": policy}
    )
    outcome = run(engine, kind, resolved=2, recorded=2, **fields)  # the reference itself did not move
    assert (outcome.state, outcome.reason) == (state, reason), outcome.message
    assert kind.writes == writes
    assert [change.path for change in outcome.drift] == drift
