"""Golden AWS call logs for the Queue kind and references between objects, against moto's server.

Each scenario asserts the exact sequence of AWS operations, so API cost only changes on purpose. The
drift-check budget of a queue is 2 calls: GetQueueAttributes (the declared attributes) and ListQueueTags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from awsop.operator import cli
from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.refs import Reference, Resolution
from awsop.reconcilers.sqs_queue import QueueClient, QueueSpec
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws

DLQ_REF = ObjectRef("Queue", "team-a", "orders-dlq", 1)
SRC_REF = ObjectRef("Queue", "team-a", "orders", 1)
SOURCE = {
    "visibilityTimeoutSeconds": 60,
    "deadLetterQueue": {"ref": {"name": "orders-dlq"}, "maxReceiveCount": 5},
    "tags": {"team": "a"},
}
DLQ = {"messageRetentionSeconds": 1209600, "tags": {"team": "a"}}
PAIR_YAML = """
apiVersion: sqs.awsop.io/v1alpha1
kind: Queue
metadata: {name: orders, namespace: team-a}
spec:
  visibilityTimeoutSeconds: 60
  deadLetterQueue: {ref: {name: orders-dlq}, maxReceiveCount: 5}
---
apiVersion: sqs.awsop.io/v1alpha1
kind: Queue
metadata: {name: orders-dlq, namespace: team-a}
spec:
  messageRetentionSeconds: 1209600
"""


def spec(**fields: object) -> QueueSpec:
    return QueueSpec.model_validate(fields)


def url_of(sqs: Any, name: str) -> str:
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def attrs_of(sqs: Any, name: str) -> dict[str, str]:
    answer = sqs.get_queue_attributes(QueueUrl=url_of(sqs, name), AttributeNames=["All"])
    return dict(answer["Attributes"])


def resolved(engine: Engine, queues: QueueClient) -> ReconcileContext:
    """Create the dead-letter queue and resolve the source's reference to it, as a runner would."""
    outcome = engine.reconcile(queues, DLQ_REF, spec(**DLQ))
    assert outcome.state is State.READY, outcome.message
    found = Resolution("Queue", "orders-dlq", ready=True, values=outcome.status)
    return ReconcileContext(references={("Queue", "orders-dlq"): found})


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = cli.main([*argv, "-o", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_queue_pair_created_in_one_apply_given_in_reverse_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sqs: Any
) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text(PAIR_YAML)
    code, results = run_cli(capsys, "apply", "-f", str(path))
    assert code == 0, results
    # CreateQueue answers an existing queue's URL when the attributes match: each create is confirmed by
    # reading its owner tag back (ListQueueTags)
    assert [(r["name"], r["state"], r["awsCalls"]) for r in results] == [
        ("orders-dlq", "Ready", ["sqs:GetQueueUrl", "sqs:CreateQueue", "sqs:ListQueueTags"]),
        ("orders", "Ready", ["sqs:GetQueueUrl", "sqs:CreateQueue", "sqs:ListQueueTags"]),
    ]
    redrive = json.loads(attrs_of(sqs, "team-a-orders")["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == attrs_of(sqs, "team-a-orders-dlq")["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    assert results[1]["status"]["deadLetterQueueArn"] == redrive["deadLetterTargetArn"]
    code, plan = run_cli(capsys, "plan", "-f", str(path))
    assert code == 0 and [o["action"] for o in plan["objects"]] == ["none", "none"]


def test_queue_plan_shows_dead_letter_arn_known_after_apply(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text(PAIR_YAML)
    code, plan = run_cli(capsys, "plan", "-f", str(path))
    assert code == 2
    source = plan["objects"][1]
    assert (source["name"], source["action"]) == ("orders", "create")
    redrive = next(c for c in source["changes"] if c["path"] == "deadLetterQueue")
    assert redrive["desired"] == {"deadLetterTargetArn": "(known after apply)", "maxReceiveCount": 5}


def test_queue_create_passes_tags_and_attributes_to_create_queue(
    engine: Engine, queues: QueueClient, sqs: Any
) -> None:
    context = resolved(engine, queues)
    outcome = engine.reconcile(queues, SRC_REF, spec(**SOURCE), context=context)
    assert outcome.state is State.READY, outcome.message
    assert outcome.calls == ["sqs:GetQueueUrl", "sqs:CreateQueue", "sqs:ListQueueTags"]  # read-back
    tags = sqs.list_queue_tags(QueueUrl=url_of(sqs, "team-a-orders"))["Tags"]
    assert tags == {
        OWNER_TAG: "test-cluster/team-a/orders",
        "awsop.io/kind": "Queue",
        "managed-by": "awsop",
        "team": "a",
    }
    assert outcome.status["url"].endswith("/team-a-orders")
    assert outcome.status["arn"] == attrs_of(sqs, "team-a-orders")["QueueArn"]
    assert outcome.status["deadLetterQueueArn"] == attrs_of(sqs, "team-a-orders-dlq")["QueueArn"]


def test_queue_noop_resync_within_budget(engine: Engine, queues: QueueClient) -> None:
    """The issue's budget: a no-op drift check of one queue costs at most 2 AWS calls."""
    context = resolved(engine, queues)
    engine.reconcile(queues, SRC_REF, spec(**SOURCE), context=context)
    outcome = engine.reconcile(queues, SRC_REF, spec(**SOURCE), spec_changed=False, context=context)
    assert (outcome.state, outcome.reason) == (State.READY, "UpToDate"), outcome.message
    assert outcome.calls == ["sqs:GetQueueAttributes", "sqs:ListQueueTags"]


def test_queue_first_check_after_restart_looks_the_url_up_once(
    engine: Engine, queues: QueueClient, clients: AwsClients
) -> None:
    engine.reconcile(queues, DLQ_REF, spec(**DLQ))
    fresh = QueueClient(clients)  # a new process: no URL cached yet
    first = engine.reconcile(fresh, DLQ_REF, spec(**DLQ), spec_changed=False)
    second = engine.reconcile(fresh, DLQ_REF, spec(**DLQ), spec_changed=False)
    assert first.calls == ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ListQueueTags"]
    assert second.calls == ["sqs:GetQueueAttributes", "sqs:ListQueueTags"]


def test_queue_visibility_timeout_change_writes_only_that_attribute(
    engine: Engine, queues: QueueClient, sqs: Any
) -> None:
    context = resolved(engine, queues)
    engine.reconcile(queues, SRC_REF, spec(**SOURCE), context=context)
    changed = spec(**{**SOURCE, "visibilityTimeoutSeconds": 90})
    outcome = engine.reconcile(queues, SRC_REF, changed, context=context)
    assert (outcome.state, outcome.reason) == (State.READY, "Updated")
    assert outcome.message == "visibilityTimeoutSeconds: 60 -> 90"
    assert outcome.calls == ["sqs:GetQueueAttributes", "sqs:ListQueueTags", "sqs:SetQueueAttributes"]
    assert attrs_of(sqs, "team-a-orders")["VisibilityTimeout"] == "90"


def test_queue_out_of_band_attribute_change_corrected(engine: Engine, queues: QueueClient, sqs: Any) -> None:
    context = resolved(engine, queues)
    engine.reconcile(queues, SRC_REF, spec(**SOURCE), context=context)
    sqs.set_queue_attributes(QueueUrl=url_of(sqs, "team-a-orders"), Attributes={"VisibilityTimeout": "5"})
    outcome = engine.reconcile(queues, SRC_REF, spec(**SOURCE), spec_changed=False, context=context)
    assert (outcome.state, outcome.reason) == (State.READY, "DriftCorrected")
    assert [c.path for c in outcome.drift] == ["visibilityTimeoutSeconds"]
    assert outcome.calls == ["sqs:GetQueueAttributes", "sqs:ListQueueTags", "sqs:SetQueueAttributes"]
    assert attrs_of(sqs, "team-a-orders")["VisibilityTimeout"] == "60"


def test_queue_read_after_own_write_still_showing_old_value_is_propagating_not_drift(
    engine: Engine, clients: AwsClients, sqs: Any
) -> None:
    now = [1000.0]
    queues = QueueClient(clients, clock=lambda: now[0])
    engine.reconcile(queues, DLQ_REF, spec(**DLQ))
    engine.reconcile(queues, DLQ_REF, spec(**{**DLQ, "delaySeconds": 10}))
    # AWS answers the value from before awsop's write for a while: simulate that stale read
    sqs.set_queue_attributes(QueueUrl=url_of(sqs, "team-a-orders-dlq"), Attributes={"DelaySeconds": "0"})
    stale = engine.reconcile(queues, DLQ_REF, spec(**{**DLQ, "delaySeconds": 10}), spec_changed=False)
    assert (stale.state, stale.reason, stale.drift) == (State.READY, "UpToDate", [])
    assert stale.calls == ["sqs:GetQueueAttributes", "sqs:ListQueueTags"]
    now[0] += 61  # past the propagation window: the old value is drift now
    later = engine.reconcile(queues, DLQ_REF, spec(**{**DLQ, "delaySeconds": 10}), spec_changed=False)
    assert (later.state, later.reason) == (State.READY, "DriftCorrected")
    assert later.calls[-1] == "sqs:SetQueueAttributes"


def test_queue_tag_change_writes_only_the_difference(engine: Engine, queues: QueueClient, sqs: Any) -> None:
    engine.reconcile(queues, DLQ_REF, spec(**DLQ))
    outcome = engine.reconcile(queues, DLQ_REF, spec(**{**DLQ, "tags": {"team": "b", "tier": "1"}}))
    assert outcome.calls == ["sqs:GetQueueAttributes", "sqs:ListQueueTags", "sqs:TagQueue"]
    outcome = engine.reconcile(queues, DLQ_REF, spec(**{**DLQ, "tags": {"team": "b"}}))
    assert outcome.calls == ["sqs:GetQueueAttributes", "sqs:ListQueueTags", "sqs:UntagQueue"]
    tags = sqs.list_queue_tags(QueueUrl=url_of(sqs, "team-a-orders-dlq"))["Tags"]
    assert tags["team"] == "b" and "tier" not in tags


def test_queue_waits_for_missing_dead_letter_queue_without_aws_calls(
    engine: Engine, queues: QueueClient
) -> None:
    outcome = engine.reconcile(queues, SRC_REF, spec(**SOURCE))
    assert (outcome.state, outcome.reason) == (State.WAITING, "DependencyNotReady")
    assert outcome.error_class is ErrorClass.RECOVERABLE  # retried with backoff, never Stalled
    assert "Queue orders-dlq (deadLetterQueue)" in outcome.message
    assert outcome.calls == []


def test_queue_fifo_source_with_standard_dead_letter_queue_stalls(
    engine: Engine, queues: QueueClient
) -> None:
    context = resolved(engine, queues)
    fifo = spec(fifo=True, deadLetterQueue={"ref": {"name": "orders-dlq"}, "maxReceiveCount": 2})
    outcome = engine.reconcile(queues, SRC_REF, fifo, context=context)
    assert (outcome.state, outcome.reason) == (State.STALLED, "DeadLetterQueueTypeMismatch")
    assert "must have the type of its source" in outcome.message


def test_queue_delete_blocked_by_a_referencing_queue_then_allowed(
    engine: Engine, queues: QueueClient, sqs: Any
) -> None:
    context = resolved(engine, queues)
    engine.reconcile(queues, SRC_REF, spec(**SOURCE), context=context)
    users = ReconcileContext(referenced_by=(Reference("Queue", "orders", "deadLetterQueue"),))
    blocked = engine.delete(queues, DLQ_REF, spec(**DLQ), context=users)
    assert (blocked.state, blocked.reason) == (State.DELETE_BLOCKED, "InUse")
    assert "still referenced by Queue team-a/orders (deadLetterQueue)" in blocked.message
    assert blocked.calls == []
    deleted_source = engine.delete(queues, SRC_REF, spec(**SOURCE), context=context)
    assert deleted_source.state is State.DELETED
    assert deleted_source.calls == ["sqs:ListQueueTags", "sqs:DeleteQueue"]
    allowed = engine.delete(queues, DLQ_REF, spec(**DLQ))
    assert (allowed.state, allowed.reason) == (State.DELETED, "Deleted")
    assert allowed.calls == ["sqs:ListQueueTags", "sqs:DeleteQueue"]
    assert sqs.list_queues().get("QueueUrls", []) == []


def test_queue_retain_removes_only_ownership_tags(engine: Engine, queues: QueueClient, sqs: Any) -> None:
    engine.reconcile(queues, DLQ_REF, spec(**DLQ))
    outcome = engine.delete(queues, DLQ_REF, spec(**{**DLQ, "deletionPolicy": "Retain"}))
    assert (outcome.state, outcome.reason) == (State.DELETED, "Retained")
    assert outcome.calls == ["sqs:ListQueueTags", "sqs:UntagQueue"]
    tags = sqs.list_queue_tags(QueueUrl=url_of(sqs, "team-a-orders-dlq"))["Tags"]
    assert OWNER_TAG not in tags and tags["team"] == "a"


def test_queue_deleted_out_of_band_is_created_again(engine: Engine, queues: QueueClient, sqs: Any) -> None:
    engine.reconcile(queues, DLQ_REF, spec(**DLQ))
    sqs.delete_queue(QueueUrl=url_of(sqs, "team-a-orders-dlq"))
    outcome = engine.reconcile(queues, DLQ_REF, spec(**DLQ), spec_changed=False)
    assert (outcome.state, outcome.reason) == (State.READY, "Created")
    assert outcome.calls == [
        "sqs:GetQueueAttributes",  # the cached URL answers NonExistentQueue
        "sqs:GetQueueUrl",
        "sqs:CreateQueue",
        "sqs:ListQueueTags",  # the create is confirmed by its owner tag
    ]
