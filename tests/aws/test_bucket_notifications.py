"""Bucket notifications to queues by reference: golden call logs against moto, the queue policy
precondition, drift, removal, and AWS fields the spec does not set (never drift).

moto 5.2.5 does not return `EventBridgeConfiguration` from GetBucketNotificationConfiguration, so the
`eventBridge` switch is tested with botocore's Stubber and AWS-shaped responses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.refs import Resolution
from awsop.reconcilers.sqs_queue import QueueClient, QueueSpec

pytestmark = pytest.mark.aws

REF = ObjectRef("Bucket", "team-a", "uploads", 1)
NAME = "team-a-uploads"
QUEUE_REF = ObjectRef("Queue", "team-a", "upload-events", 1)
QUEUE_NAME = "team-a-upload-events"
NOTIFY: dict[str, Any] = {
    "notifications": {
        "queues": [
            {
                "id": "new-images",
                "queue": {"ref": {"name": "upload-events"}},
                "events": ["s3:ObjectCreated:*"],
                "prefix": "images/",
                "suffix": ".jpg",
            }
        ]
    }
}
CREATE_CALLS = [
    "s3:HeadBucket",
    "s3:CreateBucket",
    "s3:GetBucketTagging",
    "s3:PutBucketTagging",
    "s3:GetBucketTagging",
]
NOOP_CALLS = ["s3:HeadBucket", "s3:GetBucketTagging", "s3:GetBucketNotificationConfiguration"]


def allowing_policy(queue_arn: str, bucket: str = NAME) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowUploadsBucket",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
                }
            ],
        }
    )


def make_queue(engine: Engine, queues: QueueClient, policy: bool) -> ReconcileContext:
    """Create the target queue (with or without the statement) and resolve the bucket's reference."""
    outcome = engine.reconcile(queues, QUEUE_REF, QueueSpec.model_validate({}))
    assert outcome.state is State.READY, outcome.message
    if policy:
        set_policy(queues, outcome.status, allowing_policy(outcome.status["arn"]))
    return context_for(outcome.status)


def set_policy(queues: QueueClient, status: dict[str, Any], policy: str) -> None:
    sqs = queues.clients.client("sqs", "us-east-1")
    sqs.set_queue_attributes(QueueUrl=status["url"], Attributes={"Policy": policy})


def context_for(status: dict[str, Any]) -> ReconcileContext:
    found = Resolution("Queue", "upload-events", ready=True, values=status)
    return ReconcileContext(references={("Queue", "upload-events"): found})


def spec(**fields: Any) -> BucketSpec:
    return BucketSpec.model_validate(fields)


def notification_of(s3: Any) -> dict[str, Any]:
    doc = s3.get_bucket_notification_configuration(Bucket=NAME)
    doc.pop("ResponseMetadata", None)
    return dict(doc)


def test_bucket_notification_to_referenced_queue_create_and_noop_calls(
    engine: Engine, buckets: BucketClient, queues: QueueClient, s3: Any
) -> None:
    context = make_queue(engine, queues, policy=True)
    outcome = engine.reconcile(buckets, REF, spec(**NOTIFY), context=context)
    assert outcome.state is State.READY, outcome.message
    assert outcome.calls == [*CREATE_CALLS, "sqs:GetQueueAttributes", "s3:PutBucketNotificationConfiguration"]
    arn = context.references[("Queue", "upload-events")].values["arn"]
    [config] = notification_of(s3)["QueueConfigurations"]
    assert config["QueueArn"] == arn and config["Id"] == "new-images"
    assert config["Events"] == ["s3:ObjectCreated:*"]
    rules = {r["Name"].lower(): r["Value"] for r in config["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "images/", "suffix": ".jpg"}

    again = engine.reconcile(buckets, REF, spec(**NOTIFY), spec_changed=False, context=context)
    assert again.state is State.READY and again.reason == "UpToDate", again.message
    assert again.calls == NOOP_CALLS  # 1 + declared facets (+ the ownership tags every check reads)


def test_bucket_waits_for_queue_policy_then_converges(
    engine: Engine, buckets: BucketClient, queues: QueueClient, s3: Any
) -> None:
    context = make_queue(engine, queues, policy=False)
    arn = context.references[("Queue", "upload-events")].values["arn"]
    outcome = engine.reconcile(buckets, REF, spec(**NOTIFY), context=context)
    assert outcome.state is State.ERROR and outcome.error_class is ErrorClass.RECOVERABLE
    assert outcome.reason == "QueuePolicyMissing"
    assert '"Service": "s3.amazonaws.com"' in outcome.message
    assert f'"aws:SourceArn": "arn:aws:s3:::{NAME}"' in outcome.message and arn in outcome.message
    assert "s3:PutBucketNotificationConfiguration" not in outcome.calls
    assert notification_of(s3) == {}

    # still waiting on the next attempt: no write to the bucket at all
    waiting = engine.reconcile(buckets, REF, spec(**NOTIFY), context=context)
    assert waiting.reason == "QueuePolicyMissing"
    assert [c for c in waiting.calls if ":Put" in c or ":Delete" in c] == []

    set_policy(queues, dict(context.references[("Queue", "upload-events")].values), allowing_policy(arn))
    fixed = engine.reconcile(buckets, REF, spec(**NOTIFY), context=context)
    assert fixed.state is State.READY, fixed.message
    assert fixed.calls == [
        "s3:HeadBucket",
        "s3:GetBucketTagging",
        "s3:GetBucketNotificationConfiguration",
        "sqs:GetQueueAttributes",
        "s3:PutBucketNotificationConfiguration",
    ]
    assert notification_of(s3)["QueueConfigurations"][0]["QueueArn"] == arn


def test_bucket_queue_policy_for_another_bucket_is_not_enough(
    engine: Engine, buckets: BucketClient, queues: QueueClient, s3: Any
) -> None:
    context = make_queue(engine, queues, policy=False)
    status = dict(context.references[("Queue", "upload-events")].values)
    set_policy(queues, status, allowing_policy(status["arn"], bucket="someone-elses-bucket"))
    outcome = engine.reconcile(buckets, REF, spec(**NOTIFY), context=context)
    assert outcome.reason == "QueuePolicyMissing"
    assert notification_of(s3) == {}


def test_bucket_notification_drift_corrected(
    engine: Engine, buckets: BucketClient, queues: QueueClient, s3: Any
) -> None:
    context = make_queue(engine, queues, policy=True)
    engine.reconcile(buckets, REF, spec(**NOTIFY), context=context)
    s3.put_bucket_notification_configuration(Bucket=NAME, NotificationConfiguration={})
    outcome = engine.reconcile(buckets, REF, spec(**NOTIFY), spec_changed=False, context=context)
    assert outcome.state is State.READY and outcome.reason == "DriftCorrected", outcome.message
    assert [c.path for c in outcome.corrected] == ["notifications"]
    assert outcome.calls == [*NOOP_CALLS, "sqs:GetQueueAttributes", "s3:PutBucketNotificationConfiguration"]
    assert len(notification_of(s3)["QueueConfigurations"]) == 1


def test_bucket_notification_removed_from_spec_is_left_in_aws(
    engine: Engine, buckets: BucketClient, queues: QueueClient, s3: Any
) -> None:
    context = make_queue(engine, queues, policy=True)
    engine.reconcile(buckets, REF, spec(**NOTIFY), context=context)
    outcome = engine.reconcile(buckets, REF, spec(), context=context)
    assert outcome.state is State.READY and outcome.calls == ["s3:HeadBucket", "s3:GetBucketTagging"]
    assert len(notification_of(s3)["QueueConfigurations"]) == 1


def test_bucket_notification_empty_queue_list_removes_them(
    engine: Engine, buckets: BucketClient, queues: QueueClient, s3: Any
) -> None:
    context = make_queue(engine, queues, policy=True)
    engine.reconcile(buckets, REF, spec(**NOTIFY), context=context)
    outcome = engine.reconcile(buckets, REF, spec(notifications={"queues": []}), context=context)
    assert outcome.state is State.READY, outcome.message
    assert outcome.calls == [*NOOP_CALLS, "s3:PutBucketNotificationConfiguration"]
    assert notification_of(s3).get("QueueConfigurations", []) == []


def test_bucket_notification_unknown_response_fields_are_not_drift(
    engine: Engine, buckets: BucketClient, queues: QueueClient
) -> None:
    """A field AWS starts returning (here added to the parsed answer between botocore and awsop) and ids
    AWS generates where the spec sets none make zero writes."""
    context = make_queue(engine, queues, policy=True)
    declared = {"notifications": {"queues": [{**NOTIFY["notifications"]["queues"][0], "id": None}]}}
    declared["notifications"]["queues"][0].pop("id")
    engine.reconcile(buckets, REF, spec(**declared), context=context)

    def add_fields(parsed: dict[str, Any], **_: Any) -> None:
        parsed["NewTopLevelField"] = {"Enabled": True}
        for config in parsed.get("QueueConfigurations", []):
            config["NewAwsField"] = "something"
            config["Id"] = "generated-by-aws-1234"

    buckets.clients.client("s3").meta.events.register(
        "after-call.s3.GetBucketNotificationConfiguration", add_fields
    )
    outcome = engine.reconcile(buckets, REF, spec(**declared), spec_changed=False, context=context)
    assert outcome.state is State.READY and outcome.reason == "UpToDate", outcome.message
    assert outcome.calls == NOOP_CALLS


QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:events"


def _stubbed(buckets: BucketClient) -> Stubber:
    return Stubber(buckets.clients.client("s3", "us-east-1").raw)  # type: ignore[attr-defined]


def test_bucket_event_bridge_switch_read_from_aws_shaped_answer(
    buckets: BucketClient, engine: Engine
) -> None:
    """moto does not return EventBridgeConfiguration: the switch is tested on a recorded AWS answer."""
    declared = spec(
        name="stubbed-bucket",
        notifications={
            "eventBridge": True,
            "queues": [{"queue": {"arn": QUEUE_ARN}, "events": ["s3:ObjectRemoved:*"]}],
        },
    )
    target = engine.target(buckets, REF, declared)
    answer = {
        "QueueConfigurations": [
            {"Id": "aws-made-id", "QueueArn": QUEUE_ARN, "Events": ["s3:ObjectRemoved:*"]}
        ],
        "EventBridgeConfiguration": {},
        "TopicConfigurations": [
            {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Events": ["s3:ObjectCreated:*"]}
        ],
    }
    from awsop.reconcilers.bucket.notifications import NOTIFICATIONS

    s3 = buckets.clients.client("s3", "us-east-1")
    with _stubbed(buckets) as stub:
        stub.add_response("get_bucket_notification_configuration", answer, {"Bucket": "stubbed-bucket"})
        actual = NOTIFICATIONS.read(s3, "stubbed-bucket")
        stub.assert_no_pending_responses()
    assert NOTIFICATIONS.matches(NOTIFICATIONS.desired(target), actual)
    # switched off in AWS: a change, and the write keeps the topic configuration it did not manage
    off = {**actual, "eventBridge": False}
    assert not NOTIFICATIONS.matches(NOTIFICATIONS.desired(target), off)
    written = NOTIFICATIONS.carry(NOTIFICATIONS.desired(target), off)
    assert written["topics"] == answer["TopicConfigurations"] and written["eventBridge"] is True
