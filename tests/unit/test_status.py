"""From an engine Outcome to the object's status: conditions move only on transitions, no churn."""

from __future__ import annotations

from typing import Any

import pytest

from awsop.operator.status import census_condition, merge_conditions, new_status, synced_generation
from awsop.reconcilers.changes import Action, Change, Plan
from awsop.reconcilers.engine import Outcome, StartedCreate, State
from awsop.reconcilers.errors import ErrorClass

OLD = "2020-01-01T00:00:00Z"
NOW = "2030-01-01T00:00:00Z"
STATUS = {"awsName": "default-data", "region": "us-east-1", "arn": "arn:aws:s3:::default-data"}
VERSIONING = Change("versioning", "Suspended", "Enabled", Action.UPDATE, ("s3:PutBucketVersioning",))


def plan(verb: str = "none", changes: list[Change] | None = None) -> Plan:
    return Plan("Bucket", "default", "data", "default-data", "us-east-1", verb, list(changes or []))


def ready(reason: str = "UpToDate", message: str = "AWS matches the spec", **kw: Any) -> Outcome:
    kw.setdefault("status", dict(STATUS))
    return Outcome(State.READY, reason, message, plan(), **kw)


def drifted(changes: list[Change]) -> Outcome:
    return Outcome(
        State.DRIFTED,
        "DriftDetected",
        "AWS differs",
        plan("update", changes),
        status=dict(STATUS),
        drift=changes,
    )


def error(error_class: ErrorClass = ErrorClass.RECOVERABLE) -> Outcome:
    return Outcome(State.ERROR, "Throttling", "slow down", plan(), error_class=error_class)


def stalled() -> Outcome:
    return Outcome(
        State.STALLED, "AlreadyExists", "name taken", plan("blocked"), error_class=ErrorClass.TERMINAL
    )


def paused() -> Outcome:
    return Outcome(State.PAUSED, "Paused", "awsop.io/paused is set: no AWS calls", plan())


def cond(status: dict[str, Any] | list[dict[str, Any]], ctype: str) -> dict[str, Any]:
    conditions = status if isinstance(status, list) else status["conditions"]
    (match,) = [c for c in conditions if c["type"] == ctype]
    return match


def test_conditions_are_listed_in_kstatus_order() -> None:
    conditions = merge_conditions([], ready(), 1, now=NOW)
    assert [c["type"] for c in conditions] == ["Ready", "Synced", "Drifted", "Stalled", "Reconciling"]
    assert all(c["lastTransitionTime"] == NOW and c["observedGeneration"] == 1 for c in conditions)


def test_unchanged_status_keeps_last_transition_time() -> None:
    first = merge_conditions([], ready("Created", "created"), 1, now=OLD)
    second = merge_conditions(first, ready(), 2, now=NOW)
    assert cond(second, "Ready")["lastTransitionTime"] == OLD
    assert cond(second, "Ready")["reason"] == "UpToDate"  # reason and generation still follow the outcome
    assert cond(second, "Ready")["observedGeneration"] == 2


def test_flipped_status_moves_last_transition_time() -> None:
    first = merge_conditions([], ready(), 1, now=OLD)
    second = merge_conditions(first, drifted([VERSIONING]), 1, now=NOW)
    assert cond(second, "Ready") == {
        "type": "Ready",
        "status": "False",
        "reason": "Drifted",
        "message": "AWS differs",
        "lastTransitionTime": NOW,
        "observedGeneration": 1,
    }
    assert cond(second, "Synced")["lastTransitionTime"] == OLD  # still True


def test_foreign_conditions_are_kept_after_ours() -> None:
    previous = [{"type": "Custom", "status": "True", "lastTransitionTime": OLD}]
    conditions = merge_conditions(previous, ready(), 1, now=NOW)
    assert conditions[-1] == previous[0]


def test_long_messages_are_cut_to_1024() -> None:
    conditions = merge_conditions([], ready(message="x" * 5000), 1, now=NOW)
    assert len(cond(conditions, "Ready")["message"]) == 1024


def test_no_op_ready_reconcile_rewrites_nothing() -> None:
    first = new_status({}, ready("Created", "created"), 1)
    second = new_status(first, ready(), 1)
    third = new_status(second, ready(), 1)
    assert third == second
    assert third["drift"] == []
    assert "lastSyncTime" in third


def test_kopfs_record_in_the_status_is_not_a_change() -> None:
    """`lastHandled` (kopf's record, written beside the status) and a kind's own fields are in the body's
    status; a no-op check must still find nothing new, or every drift check would rewrite lastSyncTime."""
    queue = {**STATUS, "url": "https://sqs.us-east-1.amazonaws.com/1/q"}  # a kind's own status field
    first = new_status({}, ready("Created", "created", status=queue), 1)
    second = {**new_status(first, ready(status=queue), 1), "lastHandled": {"kopf.awsop.io": "sha256:00"}}
    second["lastSyncTime"] = OLD
    assert new_status(second, ready(status=queue), 1)["lastSyncTime"] == OLD


def test_ready_after_changes_updates_last_sync_time() -> None:
    first = new_status({}, ready(), 1)
    first["lastSyncTime"] = OLD
    updated = Outcome(State.READY, "Updated", "versioning", plan("update", [VERSIONING]), status=dict(STATUS))
    assert new_status(first, updated, 2)["lastSyncTime"] != OLD


def test_drifted_outcome_reports_drift() -> None:
    status = new_status(new_status({}, ready(), 1), drifted([VERSIONING]), 1)
    assert cond(status, "Ready")["status"] == "False"
    assert cond(status, "Ready")["reason"] == "Drifted"
    assert cond(status, "Drifted")["status"] == "True"
    assert cond(status, "Synced")["status"] == "True"
    assert status["drift"] == [
        {
            "path": "versioning",
            "desired": "Enabled",
            "actual": "Suspended",
            "detectedAt": status["drift"][0]["detectedAt"],
        }
    ]


def test_drift_already_reported_keeps_detected_at() -> None:
    tags = Change("tags", {"team": "x"}, {"team": "a"}, Action.UPDATE, ("s3:PutBucketTagging",))
    previous = new_status({}, drifted([VERSIONING]), 1)
    previous["drift"] = [
        {"path": "versioning", "desired": "Enabled", "actual": "Suspended", "detectedAt": OLD}
    ]
    status = new_status(previous, drifted([VERSIONING, tags]), 1)
    assert status["drift"][0]["detectedAt"] == OLD
    assert status["drift"][1]["path"] == "tags"
    assert status["drift"][1]["detectedAt"] != OLD


def test_drift_with_a_new_actual_value_is_new_drift() -> None:
    previous = {
        "drift": [{"path": "versioning", "desired": "Enabled", "actual": "Suspended", "detectedAt": OLD}]
    }
    moved = Change("versioning", None, "Enabled")
    assert new_status(previous, drifted([moved]), 1)["drift"][0]["detectedAt"] != OLD


def test_ready_clears_drift() -> None:
    previous = new_status({}, drifted([VERSIONING]), 1)
    status = new_status(previous, ready("DriftCorrected", "fixed", corrected=[VERSIONING]), 1)
    assert status["drift"] == []
    assert cond(status, "Drifted")["status"] == "False"
    assert cond(status, "Drifted")["reason"] == "DriftCorrected"


@pytest.mark.parametrize("error_class", [ErrorClass.RECOVERABLE, ErrorClass.ACCESS])
def test_failed_check_keeps_a_ready_resource_ready(error_class: ErrorClass) -> None:
    previous = new_status({}, ready(), 1)
    status = new_status(previous, error(error_class), 1)
    assert cond(status, "Ready")["status"] == "True"
    assert cond(status, "Ready")["lastTransitionTime"] == cond(previous, "Ready")["lastTransitionTime"]
    assert cond(status, "Synced")["status"] == "False"
    assert cond(status, "Synced")["reason"] == "Throttling"
    assert cond(status, "Reconciling")["status"] == "True"
    expected = "Retrying" if error_class is ErrorClass.RECOVERABLE else "AccessDenied"
    assert cond(status, "Reconciling")["reason"] == expected
    assert status["awsName"] == "default-data"  # identifiers survive a failed reconcile


def test_error_on_a_resource_never_ready_is_not_ready() -> None:
    status = new_status({}, error(), 1)
    assert cond(status, "Ready")["status"] == "False"
    assert cond(status, "Ready")["reason"] == "Throttling"


def test_terminal_error_sets_stalled() -> None:
    status = new_status(new_status({}, ready(), 1), stalled(), 2)
    assert cond(status, "Stalled")["status"] == "True"
    assert cond(status, "Stalled")["reason"] == "AlreadyExists"
    assert cond(status, "Ready")["status"] == "False"
    assert cond(status, "Synced")["status"] == "False"
    assert status["observedGeneration"] == 2


def test_paused_conditions_say_synced_false_paused() -> None:
    conditions = merge_conditions(merge_conditions([], ready(), 1, now=OLD), paused(), 1, now=NOW)
    assert cond(conditions, "Synced")["status"] == "False"
    assert cond(conditions, "Synced")["reason"] == "Paused"
    assert cond(conditions, "Ready")["status"] == "True"  # paused is not an outage


def test_paused_object_status_says_synced_false_paused() -> None:
    status = new_status(new_status({}, ready(), 1), paused(), 2)
    assert cond(status, "Synced")["status"] == "False"
    assert cond(status, "Synced")["reason"] == "Paused"
    assert cond(status, "Ready")["status"] == "True"
    assert status["observedGeneration"] == 1  # generation 2 was not looked at while paused


def test_plan_only_writes_the_plan_and_keeps_conditions() -> None:
    previous = new_status({}, ready(), 1)
    planned = Outcome(State.PLANNED, "Planned", "x", plan("update", [VERSIONING]), status=dict(STATUS))
    status = new_status(previous, planned, 2, plan_only=True)
    assert status["plan"]["action"] == "update"
    assert status["plan"]["changes"] == ["~ versioning: Suspended -> Enabled  [s3:PutBucketVersioning]"]
    assert status["plan"]["calls"] == ["s3:PutBucketVersioning"]
    assert status["conditions"] == previous["conditions"]
    again = new_status(status, planned, 2, plan_only=True)
    assert again["plan"] is status["plan"]  # same plan: generatedAt does not churn


def test_plan_is_dropped_by_a_normal_reconcile() -> None:
    status = new_status({"plan": {"action": "update"}}, ready(), 1)
    assert "plan" not in status


def test_synced_generation_is_the_last_successful_generation() -> None:
    assert synced_generation({}) is None
    status = new_status({}, ready(), 3)
    assert synced_generation(status) == 3
    assert synced_generation(new_status(status, drifted([VERSIONING]), 3)) == 3


def test_transient_error_does_not_forget_the_synced_generation() -> None:
    status = new_status(new_status({}, ready(), 3), error(), 3)
    assert synced_generation(status) == 3


@pytest.mark.parametrize(
    ("outcome", "label"),
    [(ready(), "Ready"), (drifted([VERSIONING]), "Drifted"), (stalled(), "Stalled"), (error(), "NotReady")],
    ids=["ready", "drifted", "stalled", "error"],
)
def test_census_condition(outcome: Outcome, label: str) -> None:
    assert census_condition(outcome) == label


def test_resource_gauge_drops_to_zero_when_the_last_object_of_a_kind_goes() -> None:
    from awsop.operator import metrics

    census = metrics.ResourceCensus()
    census.set("gauge-uid", "GaugeKind", "Ready")
    assert metrics.RESOURCES.labels("GaugeKind", "Ready")._value.get() == 1
    census.forget("gauge-uid")
    assert metrics.RESOURCES.labels("GaugeKind", "Ready")._value.get() == 0


def test_started_create_is_kept_in_status_while_the_outcome_carries_it() -> None:
    record = StartedCreate("arn:aws:dynamodb:us-east-1:1:table/t/import/1", "f00d", "2026-01-01T00:00:00Z")
    running = Outcome(State.PROGRESSING, "ImportInProgress", "waiting", plan(), status=dict(STATUS))
    running.started_create = record
    status = new_status({}, running, 1)
    assert status["pendingCreate"] == {
        "token": record.token,
        "fingerprint": "f00d",
        "startedAt": record.started_at,
    }
    assert "pendingCreate" not in new_status(status, ready(), 1), "a Ready outcome without it ends the record"
