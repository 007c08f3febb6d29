"""Create before reading: a new object of a kind whose create refuses a taken name (Table, LaunchTemplate)
makes no read that can only answer "not found", and every case where the name is taken ends exactly as
the read-first path ends, against moto's server over HTTP.

AutoScalingGroup stays read-first: AWS's CreateAutoScalingGroup refuses a taken name (AlreadyExists), but
moto 5.2.5 replaces the existing group, so the fallback could not be shown here."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from awsop.operator.embedded import EmbeddedAws
from awsop.reconcilers.autoscaling_group import AutoScalingGroupClient, AutoScalingGroupSpec
from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, Outcome, State
from awsop.reconcilers.launch_template import LaunchTemplateClient, LaunchTemplateSpec
from awsop.reconcilers.sqs_queue import QueueClient, QueueSpec
from awsop.reconcilers.table import TableClient, TableSpec

pytestmark = pytest.mark.aws

UNSEEN = ReconcileContext(unseen=True)
TEMPLATE = "team-a-lt"
KINDS: dict[str, tuple[type[Any], type[Any], dict[str, Any]]] = {
    "Table": (
        TableClient,
        TableSpec,
        {"partitionKey": {"name": "pk", "type": "S"}, "pointInTimeRecovery": {"enabled": True}},
    ),
    "LaunchTemplate": (LaunchTemplateClient, LaunchTemplateSpec, {"imageId": "ami-12345678"}),
}
CREATE = {
    "Table": "dynamodb:CreateTable",
    "LaunchTemplate": "ec2:CreateLaunchTemplate",
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


class Refuse:
    """DynamoDB answers `operation` with a 400 `code` (before it reaches the emulator)."""

    def __init__(self, clients: AwsClients, operation: str, code: str) -> None:
        self.code, self.count = code, 0
        clients.client("dynamodb").meta.events.register_first(f"before-send.dynamodb.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.count += 1
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{self.code}", "message": "refused"})
        return AWSResponse(
            request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body.encode())
        )


@pytest.fixture
def engine(clients: AwsClients) -> Engine:
    # create_window 0: an untagged resource made by a test is someone else's at once
    return Engine(clients, EngineConfig(cluster_id="test-cluster", create_window=0))


@pytest.fixture
def template(engine: Engine, clients: AwsClients) -> None:
    lt = LaunchTemplateSpec.model_validate({"name": TEMPLATE, "imageId": "ami-12345678"})
    outcome = engine.reconcile(
        LaunchTemplateClient(clients), ObjectRef("LaunchTemplate", "team-a", "lt", 1), lt
    )
    assert outcome.state is State.READY, outcome.message


def run(
    engine: Engine, clients: AwsClients, kind: str, name: str, context: ReconcileContext, **extra: Any
) -> Outcome:
    client_type, spec_type, fields = KINDS[kind]
    spec = spec_type.model_validate({**fields, **extra})
    return engine.reconcile(client_type(clients), ObjectRef(kind, "team-a", name, 1), spec, context=context)


def make_foreign(aws: EmbeddedAws, kind: str, name: str) -> None:
    """A resource of that name no awsop object made (no owner tag)."""
    if kind == "Table":
        boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.url).create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    else:
        boto3.client("ec2", region_name="us-east-1", endpoint_url=aws.url).create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData={"ImageId": "ami-12345678"}
        )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_new_object_creates_before_any_read_and_saves_exactly_that_read(
    engine: Engine, clients: AwsClients, template: None, kind: str
) -> None:
    read_first = run(engine, clients, kind, "a", ReconcileContext())
    create_first = run(engine, clients, kind, "b", UNSEEN)
    assert read_first.state is create_first.state is State.READY
    assert read_first.reason == create_first.reason == "Created"
    assert create_first.calls[0] == CREATE[kind], create_first.calls
    assert read_first.calls[0] != CREATE[kind]  # a read that answered "not found"
    assert create_first.calls == read_first.calls[1:]
    assert create_first.status.keys() == read_first.status.keys()
    assert [e.reason for e in create_first.events] == [e.reason for e in read_first.events] == ["Created"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_taken_name_ends_as_the_read_first_path_ends(
    engine: Engine, clients: AwsClients, aws: EmbeddedAws, template: None, kind: str
) -> None:
    make_foreign(aws, kind, "team-a-taken")
    create_first = run(engine, clients, kind, "taken", UNSEEN)
    read_first = run(engine, clients, kind, "taken", ReconcileContext())
    assert (create_first.state, create_first.reason) == (read_first.state, read_first.reason)
    assert create_first.state is State.STALLED and create_first.reason == "AlreadyExists", (
        create_first.message
    )
    assert create_first.calls[0] == CREATE[kind]
    assert create_first.calls[1:] == read_first.calls, "after the refused create, the read-first path's calls"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_its_own_resource_with_the_status_lost_is_converged_never_created_twice(
    engine: Engine, clients: AwsClients, template: None, kind: str
) -> None:
    """A crash after the create, before the status write: the next run has no sign of the resource."""
    first = run(engine, clients, kind, "again", UNSEEN)
    assert first.reason == "Created"
    again = run(engine, clients, kind, "again", UNSEEN)
    assert again.state is State.READY and again.reason == "UpToDate", again.message
    assert again.calls.count(CREATE[kind]) == 1 and again.calls[0] == CREATE[kind]
    assert again.status.get("arn") == first.status.get("arn")


def test_a_failed_create_with_nothing_there_keeps_the_creates_own_error(
    engine: Engine, clients: AwsClients
) -> None:
    """A create refused for another reason than the name is followed by the read; with no table there,
    the outcome is the create's own error, as on the read-first path."""
    refuse = Refuse(clients, "CreateTable", "ValidationException")
    create_first = run(engine, clients, "Table", "t1", UNSEEN)
    read_first = run(engine, clients, "Table", "t2", ReconcileContext())
    assert refuse.count == 2
    assert (create_first.state, create_first.reason, create_first.error_class) == (
        read_first.state,
        read_first.reason,
        read_first.error_class,
    )
    assert create_first.reason == "ValidationException", create_first.message
    assert create_first.calls == ["dynamodb:CreateTable", "dynamodb:DescribeTable"], "the read decides"
    assert read_first.calls == ["dynamodb:DescribeTable", "dynamodb:CreateTable"]


@pytest.mark.parametrize(
    "extra, context",
    [
        ({"adoptionPolicy": "Adopt"}, UNSEEN),  # takes existing resources over: reads first
        ({"managementPolicy": "ObserveOnly"}, UNSEEN),  # never creates
        ({}, ReconcileContext()),  # the runner keeps no memory (the CLI) or saw the resource before
    ],
)
def test_read_first_wherever_a_create_first_could_change_the_outcome(
    engine: Engine, clients: AwsClients, extra: dict[str, Any], context: ReconcileContext
) -> None:
    outcome = run(engine, clients, "Table", "t", context, **extra)
    assert outcome.calls[0] == "dynamodb:DescribeTable", outcome.calls


def test_plan_only_never_creates(engine: Engine, clients: AwsClients) -> None:
    client_type, spec_type, fields = KINDS["Table"]
    outcome = engine.reconcile(
        client_type(clients),
        ObjectRef("Table", "team-a", "p", 1),
        spec_type.model_validate(fields),
        plan_only=True,
        context=UNSEEN,
    )
    assert outcome.state is State.PLANNED and outcome.calls == ["dynamodb:DescribeTable"]


def test_kinds_whose_create_answers_an_existing_name_always_read_first(
    engine: Engine, clients: AwsClients, template: None
) -> None:
    """CreateQueue answers an identical existing queue and CreateBucket the account's own bucket: a create
    first could take a foreign resource for its own, so Queues and Buckets read first whatever the hint
    (and Auto Scaling groups, see above)."""
    queue = engine.reconcile(
        QueueClient(clients),
        ObjectRef("Queue", "team-a", "q", 1),
        QueueSpec.model_validate({}),
        context=UNSEEN,
    )
    bucket = engine.reconcile(
        BucketClient(clients),
        ObjectRef("Bucket", "team-a", "b", 1),
        BucketSpec.model_validate({}),
        context=UNSEEN,
    )
    group = engine.reconcile(
        AutoScalingGroupClient(clients),
        ObjectRef("AutoScalingGroup", "team-a", "g", 1),
        AutoScalingGroupSpec.model_validate(
            {
                "launchTemplate": {"name": TEMPLATE},
                "minSize": 0,
                "maxSize": 1,
                "availabilityZones": ["us-east-1a"],
            }
        ),
        context=UNSEEN,
    )
    assert queue.calls[0] == "sqs:GetQueueUrl" and bucket.calls[0] == "s3:HeadBucket"
    assert group.calls[0] == "autoscaling:DescribeAutoScalingGroups"
