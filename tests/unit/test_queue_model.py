"""Queue spec rules (model and CRD CEL), normalisation and the pure diff."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from awsop.operator.crdgen import crd
from awsop.reconcilers.changes import Action
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import ObjectRef, Target
from awsop.reconcilers.errors import TerminalError
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.policies import DeletionPolicy
from awsop.reconcilers.refs import KNOWN_AFTER_APPLY, Reference, Resolution
from awsop.reconcilers.sqs_queue import (
    QueueClient,
    QueueObserved,
    QueueSpec,
    create_attributes,
    default_queue_name,
    queue_arn,
    read_names,
    tag_difference,
)

ARN = "arn:aws:sqs:us-east-1:123456789012:"
DLQ = {"ref": {"name": "dlq"}, "maxReceiveCount": 3}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"contentBasedDeduplication": True}, "contentBasedDeduplication: only FIFO queues"),
        ({"deduplicationScope": "queue"}, "deduplicationScope: only FIFO queues"),
        ({"fifoThroughputLimit": "perQueue"}, "fifoThroughputLimit: only FIFO queues"),
        ({"name": "jobs.fifo"}, "name: a FIFO queue's name ends in .fifo"),
        ({"name": "jobs", "fifo": True}, "name: a FIFO queue's name ends in .fifo"),
        (
            {"deadLetterQueue": {"arn": ARN + "d.fifo", "maxReceiveCount": 1}},
            "deadLetterQueue.arn: the dead-letter queue of a FIFO queue must be FIFO",
        ),
        (
            {"fifo": True, "deadLetterQueue": {"arn": ARN + "d", "maxReceiveCount": 1}},
            "deadLetterQueue.arn: the dead-letter queue of a FIFO queue must be FIFO",
        ),
        ({"encryption": {"type": "SQS", "kmsKeyId": "k"}}, "kmsKeyId: only with type KMS"),
        ({"encryption": {"type": "SQS", "dataKeyReusePeriodSeconds": 60}}, "dataKeyReusePeriodSeconds: only"),
        ({"deadLetterQueue": {"maxReceiveCount": 3}}, "set exactly one of ref or arn"),
        ({"deadLetterQueue": {**DLQ, "arn": ARN + "d"}}, "set exactly one of ref or arn"),
        ({"deadLetterQueue": {**DLQ, "maxReceiveCount": 0}}, "greater than or equal to 1"),
        ({"visibilityTimeoutSeconds": 43201}, "less than or equal to 43200"),
        ({"messageRetentionSeconds": 59}, "greater than or equal to 60"),
        ({"maximumMessageSize": 1048577}, "less than or equal to 1048576"),
        ({"receiveMessageWaitTimeSeconds": 21}, "less than or equal to 20"),
        ({"delaySeconds": 901}, "less than or equal to 900"),
        ({"redriveAllowPolicy": {"permission": "byQueue"}}, "permission byQueue needs 1-10 source queues"),
        (
            {"redriveAllowPolicy": {"permission": "allowAll", "sourceQueues": [{"arn": ARN + "s"}]}},
            "sourceQueues: only with permission byQueue",
        ),
        ({"policy": "{not json"}, "policy is not valid JSON"),
        ({"name": "a" * 81}, "at most 80 characters"),
        ({"name": "bad name"}, "should match pattern"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_queue_model_rejects_with_field_and_reason(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace(".", r"\.").replace("(", r"\(")):
        QueueSpec.model_validate(fields)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"fifo": True, "name": "jobs.fifo", "contentBasedDeduplication": True},
        {"fifo": True, "deadLetterQueue": {"arn": ARN + "d.fifo", "maxReceiveCount": 1000}},
        {"deadLetterQueue": DLQ, "encryption": {"type": "KMS", "dataKeyReusePeriodSeconds": 86400}},
        {"redriveAllowPolicy": {"permission": "byQueue", "sourceQueues": [{"ref": {"name": "a"}}]}},
    ],
    ids=["empty", "fifo", "fifo-dlq-arn", "kms", "by-queue"],
)
def test_queue_model_accepts_valid_specs(fields: dict[str, Any]) -> None:
    QueueSpec.model_validate(fields)


def _cel_messages(node: dict[str, Any]) -> list[str]:
    out = [rule["message"] for rule in node.get("x-kubernetes-validations", [])]
    for child in node.get("properties", {}).values():
        out.extend(_cel_messages(child))
    if "items" in node:
        out.extend(_cel_messages(node["items"]))
    return out


def test_queue_crd_carries_every_cross_field_rule_as_cel() -> None:
    schema = crd(KINDS["Queue"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = _cel_messages(schema)
    for expected in (
        "contentBasedDeduplication: only FIFO queues (fifo: true) have it",
        "deduplicationScope: only FIFO queues (fifo: true) have it",
        "fifoThroughputLimit: only FIFO queues (fifo: true) have it",
        "name: a FIFO queue's name ends in .fifo, a standard queue's name does not",
        "kmsKeyId: only with type KMS",
        "set exactly one of ref or arn",
        "fifo is immutable",
    ):
        assert expected in messages
    assert any(m.startswith("deadLetterQueue.arn:") for m in messages)
    assert schema["properties"]["visibilityTimeoutSeconds"]["maximum"] == 43200


def test_queue_spec_declares_its_references() -> None:
    spec = QueueSpec.model_validate(
        {
            "deadLetterQueue": DLQ,
            "redriveAllowPolicy": {
                "permission": "byQueue",
                "sourceQueues": [{"arn": ARN + "x"}, {"ref": {"name": "src"}}],
            },
        }
    )
    assert spec.references() == [
        Reference("Queue", "dlq", "deadLetterQueue"),
        Reference("Queue", "src", "redriveAllowPolicy.sourceQueues[1]"),
    ]


@pytest.mark.parametrize(
    ("namespace", "name", "fifo", "expected"),
    [
        ("team-a", "orders", False, "team-a-orders"),
        ("team-a", "orders", True, "team-a-orders.fifo"),
        ("ns", "a.b", False, "ns-a-b"),
    ],
)
def test_default_queue_name(namespace: str, name: str, fifo: bool, expected: str) -> None:
    assert default_queue_name("", namespace, name, fifo) == expected


@pytest.mark.parametrize("fifo", [False, True])
def test_long_default_queue_name_stays_within_80_characters(fifo: bool) -> None:
    one = default_queue_name("", "n" * 63, "x" * 63 + "1", fifo)
    two = default_queue_name("", "n" * 63, "x" * 63 + "2", fifo)
    assert len(one) <= 80 and len(two) <= 80 and one != two
    assert one.endswith(".fifo") == fifo
    QueueSpec.model_validate({"name": one, "fifo": fifo or None})


def test_queue_arn_from_url() -> None:
    assert queue_arn("https://sqs.eu-west-1.amazonaws.com/123456789012/jobs", "eu-west-1", "jobs") == (
        "arn:aws:sqs:eu-west-1:123456789012:jobs"
    )
    assert queue_arn("https://x/111111111111/q", "cn-north-1", "q").startswith("arn:aws-cn:")


def target(fields: dict[str, Any], context: ReconcileContext | None = None) -> Target[QueueSpec]:
    spec = QueueSpec.model_validate(fields)
    return Target(
        ref=ObjectRef("Queue", "ns", "q", 1),
        spec=spec,
        aws_name="ns-q.fifo" if spec.fifo else "ns-q",
        region="us-east-1",
        owner="c/ns/q",
        tags={"awsop.io/owner": "c/ns/q", "awsop.io/kind": "Queue"},
        deletion_policy=DeletionPolicy.DELETE,
        context=context or ReconcileContext(),
    )


def observed(attrs: dict[str, str], tags: dict[str, str] | None = None) -> QueueObserved:
    return QueueObserved(
        "ns-q",
        "https://x/123456789012/ns-q",
        ARN + "ns-q",
        attrs.get("FifoQueue") == "true",
        tags if tags is not None else {"awsop.io/owner": "c/ns/q", "awsop.io/kind": "Queue"},
        {"QueueArn": ARN + "ns-q", **attrs},
    )


def diff(fields: dict[str, Any], attrs: dict[str, str], **kw: Any) -> list[tuple[str, Any, Any]]:
    client = QueueClient(None)  # type: ignore[arg-type]
    return [(c.path, c.actual, c.desired) for c in client.diff(target(fields, **kw), observed(attrs))]


POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage"]}]}


@pytest.mark.parametrize(
    ("fields", "attrs"),
    [
        (
            {},
            {"SqsManagedSseEnabled": "true", "VisibilityTimeout": "99"},
        ),  # nothing declared, nothing compared
        ({"encryption": {"type": "SQS"}}, {"SqsManagedSseEnabled": "true"}),
        (
            {"encryption": {"type": "KMS"}},
            {"KmsMasterKeyId": "alias/aws/sqs", "SqsManagedSseEnabled": "true"},
        ),
        ({"visibilityTimeoutSeconds": 30}, {"VisibilityTimeout": "30"}),
        ({"policy": json.dumps(POLICY)}, {"Policy": json.dumps(POLICY, indent=4)}),
        (
            {"policy": json.dumps(POLICY)},
            {"Policy": json.dumps({**POLICY, "Statement": {"Effect": "Allow", "Action": "sqs:SendMessage"}})},
        ),
        ({"policy": ""}, {}),
        (
            {"deadLetterQueue": {"arn": ARN + "d", "maxReceiveCount": 4}},
            {"RedrivePolicy": json.dumps({"maxReceiveCount": "4", "deadLetterTargetArn": ARN + "d"})},
        ),
        (
            {
                "redriveAllowPolicy": {
                    "permission": "byQueue",
                    "sourceQueues": [{"arn": ARN + "b"}, {"arn": ARN + "a"}],
                }
            },
            {
                "RedriveAllowPolicy": json.dumps(
                    {"redrivePermission": "byQueue", "sourceQueueArns": [ARN + "a", ARN + "b"]}
                )
            },
        ),
    ],
    ids=[
        "undeclared",
        "sse-sqs",
        "kms-default-key",
        "number-as-string",
        "policy-whitespace",
        "policy-one-element-lists",
        "policy-empty-absent",
        "redrive-count-as-string",
        "redrive-allow-order",
    ],
)
def test_queue_no_diff_after_normalisation(fields: dict[str, Any], attrs: dict[str, str]) -> None:
    assert diff(fields, attrs) == []


def test_queue_diff_names_the_field_and_both_values() -> None:
    assert diff(
        {"visibilityTimeoutSeconds": 60, "delaySeconds": 0}, {"VisibilityTimeout": "30", "DelaySeconds": "0"}
    ) == [("visibilityTimeoutSeconds", "30", "60")]


def test_queue_several_attribute_changes_cost_one_set_queue_attributes() -> None:
    client = QueueClient(None)  # type: ignore[arg-type]
    changes = client.diff(
        target({"visibilityTimeoutSeconds": 60, "delaySeconds": 5}),
        observed({"VisibilityTimeout": "1", "DelaySeconds": "0"}),
    )
    assert [c.calls for c in changes] == [("sqs:SetQueueAttributes",), ()]
    assert all(c.action is Action.UPDATE for c in changes)


def test_queue_kms_to_sqs_is_a_change() -> None:
    assert diff({"encryption": {"type": "SQS"}}, {"KmsMasterKeyId": "k"}) == [
        ("encryption", {"type": "KMS", "kmsKeyId": "k"}, {"type": "SQS"})
    ]


def test_queue_dead_letter_arn_comes_from_the_resolved_reference() -> None:
    found = Resolution("Queue", "dlq", ready=True, values={"arn": ARN + "d"})
    context = ReconcileContext(references={("Queue", "dlq"): found})
    assert diff({"deadLetterQueue": DLQ}, {}, context=context) == [
        ("deadLetterQueue", None, {"deadLetterTargetArn": ARN + "d", "maxReceiveCount": 3})
    ]


def test_queue_planned_dead_letter_queue_shows_known_after_apply() -> None:
    planned = Resolution("Queue", "dlq", ready=False, planned=True)
    context = ReconcileContext(references={("Queue", "dlq"): planned})
    attrs = create_attributes(target({"deadLetterQueue": DLQ}, context))
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"] == KNOWN_AFTER_APPLY


def test_queue_standard_dead_letter_for_fifo_source_is_terminal() -> None:
    found = Resolution("Queue", "dlq", ready=True, values={"arn": ARN + "d"})
    context = ReconcileContext(references={("Queue", "dlq"): found})
    with pytest.raises(TerminalError, match="must have the type of its source"):
        diff({"fifo": True, "deadLetterQueue": DLQ}, {"FifoQueue": "true"}, context=context)


def test_queue_type_change_is_terminal_and_says_recreate() -> None:
    with pytest.raises(TerminalError, match="must be recreated"):
        diff({}, {"FifoQueue": "true"})


def test_queue_reads_only_declared_attributes() -> None:
    assert read_names(QueueSpec.model_validate({})) == ["QueueArn", "FifoQueue"]
    assert read_names(QueueSpec.model_validate({"delaySeconds": 1})) == [
        "QueueArn",
        "FifoQueue",
        "DelaySeconds",
    ]


@pytest.mark.parametrize(
    ("desired", "actual", "authoritative", "expected"),
    [
        ({"a": "1"}, {"a": "1", "x": "9"}, False, ({}, [])),
        ({"a": "1"}, {"a": "1", "x": "9"}, True, ({}, ["x"])),
        ({"a": "2"}, {"a": "1", "aws:cf": "s"}, True, ({"a": "2"}, [])),
    ],
    ids=["foreign-kept", "foreign-removed", "aws-prefix-untouched"],
)
def test_queue_tag_difference(
    desired: dict[str, str], actual: dict[str, str], authoritative: bool, expected: Any
) -> None:
    assert tag_difference(desired, actual, authoritative) == expected


def test_queue_deleted_recently_is_recoverable_with_its_reason() -> None:
    from botocore.exceptions import ClientError

    from awsop.reconcilers.errors import ErrorClass, RecoverableError

    class Sqs:
        def create_queue(self, **_: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "AWS.SimpleQueueService.QueueDeletedRecently", "Message": "wait"}},
                "CreateQueue",
            )

    class Clients:
        def client(self, service: str, region: str) -> Any:
            return Sqs()

    client = QueueClient(Clients())  # type: ignore[arg-type]
    with pytest.raises(RecoverableError) as raised:
        client.create(target({}))
    assert raised.value.reason == "QueueDeletedRecently"
    assert client.classify(raised.value) is ErrorClass.RECOVERABLE
