"""CloudTrail events as EventBridge delivers them: parsing, the resources they name, awsop's own calls, the
rule's pattern and names (reconcilers/events.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from awsop.operator.factory import build_engine
from awsop.operator.settings import Settings
from awsop.reconcilers.events import (
    MAX_PATTERN,
    MAX_RULE_NAME,
    WRITE_EVENTS,
    MalformedEvent,
    ResourceKey,
    channel_name,
    event_pattern,
    is_own,
    parse_event,
    pattern_text,
    resource_keys,
    user_agent_marker,
)


def message(source: str, name: str, request: Any, **detail: Any) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws." + source.split(".")[0],
            "account": "123456789012",
            "time": "2026-12-07T03:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": {
                "eventSource": source,
                "eventName": name,
                "eventTime": "2026-12-07T03:00:00Z",
                "awsRegion": "eu-west-1",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
                "userAgent": "console.amazonaws.com",
                "requestParameters": request,
                "recipientAccountId": "123456789012",
                **detail,
            },
        }
    )


CASES = {
    "sqs set attributes by URL": (
        "sqs.amazonaws.com",
        "SetQueueAttributes",
        {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders", "attributes": {}},
        [ResourceKey("Queue", "orders")],
    ),
    "sqs tag by URL": (
        "sqs.amazonaws.com",
        "TagQueue",
        {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/o.fifo", "tags": {"a": "b"}},
        [ResourceKey("Queue", "o.fifo")],
    ),
    "s3 bucket facet": (
        "s3.amazonaws.com",
        "PutBucketVersioning",
        {"bucketName": "app-data", "VersioningConfiguration": {"Status": "Suspended"}, "versioning": ""},
        [ResourceKey("Bucket", "app-data")],
    ),
    "dynamodb by table name": (
        "dynamodb.amazonaws.com",
        "UpdateTimeToLive",
        {"tableName": "orders", "timeToLiveSpecification": {"enabled": False}},
        [ResourceKey("Table", "orders")],
    ),
    "dynamodb tags by ARN": (
        "dynamodb.amazonaws.com",
        "TagResource",
        {"resourceArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders", "tags": []},
        [ResourceKey("Table", "orders")],
    ),
    "auto scaling group": (
        "autoscaling.amazonaws.com",
        "UpdateAutoScalingGroup",
        {"autoScalingGroupName": "web", "maxSize": 9},
        [ResourceKey("AutoScalingGroup", "web")],
    ),
    "auto scaling tags": (
        "autoscaling.amazonaws.com",
        "CreateOrUpdateTags",
        {"tags": [{"resourceId": "web", "resourceType": "auto-scaling-group", "key": "k", "value": "v"}]},
        [ResourceKey("AutoScalingGroup", "web")],
    ),
    "ec2 launch template version (nested request)": (
        "ec2.amazonaws.com",
        "CreateLaunchTemplateVersion",
        {"CreateLaunchTemplateVersionRequest": {"LaunchTemplateId": "lt-0abc", "LaunchTemplateData": {}}},
        [ResourceKey("LaunchTemplate", "lt-0abc")],
    ),
    "ec2 other write call": ("ec2.amazonaws.com", "RunInstances", {"instanceType": "t3.micro"}, []),
    "a read call": ("sqs.amazonaws.com", "GetQueueAttributes", {"queueUrl": "https://x/1/orders"}, []),
    "another service": ("lambda.amazonaws.com", "UpdateFunctionConfiguration", {"functionName": "f"}, []),
    "no request parameters (CloudTrail omits some)": ("s3.amazonaws.com", "PutBucketPolicy", None, []),
}


@pytest.mark.parametrize("source,name,request_,expected", list(CASES.values()), ids=list(CASES))
def test_resource_keys_name_the_managed_resource(
    source: str, name: str, request_: Any, expected: list[ResourceKey]
) -> None:
    event = parse_event(message(source, name, request_))
    assert resource_keys(event) == expected
    assert event.region == "eu-west-1" and event.account == "123456789012"
    assert event.time is not None and event.time.year == 2026


MALFORMED = {
    "not JSON": "{",
    "a list": "[]",
    "another detail-type": json.dumps(
        {"detail-type": "EC2 Instance State-change Notification", "detail": {}}
    ),
    "no detail": json.dumps({"detail-type": "AWS API Call via CloudTrail"}),
    "no event name": json.dumps(
        {"detail-type": "AWS API Call via CloudTrail", "detail": {"eventSource": "s"}}
    ),
    "request not an object": message("s3.amazonaws.com", "PutBucketTagging", ["x"]),
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_messages_are_refused(body: str) -> None:
    with pytest.raises(MalformedEvent):
        parse_event(body)


def test_own_calls_by_user_agent_token_or_role_session() -> None:
    agent = f"Boto3/1.35 md/Botocore#1.35 ua/2.0 os/linux awsop/0.1 {user_agent_marker('prod')}"
    ours = parse_event(message("sqs.amazonaws.com", "TagQueue", {}, userAgent=agent))
    assert is_own(ours, "prod", "awsop-prod")
    assert not is_own(ours, "prod-2", "awsop-prod-2")  # another cluster's operator is not us
    cli = parse_event(message("sqs.amazonaws.com", "TagQueue", {}, userAgent="Boto3/1.35 awsop/0.1"))
    assert not is_own(cli, "prod", "")  # the CLI (awsop apply) changes things out of the operator's band
    session = {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/awsop/awsop-prod"}
    role = parse_event(message("sqs.amazonaws.com", "TagQueue", {}, userIdentity=session))
    assert is_own(role, "prod", "awsop-prod")
    other = {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/admin/alice"}
    assert not is_own(
        parse_event(message("sqs.amazonaws.com", "TagQueue", {}, userIdentity=other)), "prod", "awsop-prod"
    )


def test_rule_pattern_fits_eventbridge_and_matches_only_listed_write_calls() -> None:
    text = pattern_text()
    assert len(text) < MAX_PATTERN
    pattern = event_pattern()
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    sources = {entry["detail"]["eventSource"][0]: entry for entry in pattern["$or"]}
    assert set(sources) == set(WRITE_EVENTS)
    for source, (_, _, names) in WRITE_EVENTS.items():
        listed = sources[source]["detail"]["eventName"]
        assert listed == list(names)
        assert not [n for n in listed if n.startswith(("Get", "List", "Describe"))]
    assert "RunInstances" not in text and "CreateTags" not in text  # EC2's noise stays out


def test_channel_name_fits_the_rule_limit_and_stays_distinct() -> None:
    assert channel_name("prod") == "awsop-events-prod"
    long_a, long_b = channel_name("a" * 60 + "x"), channel_name("a" * 60 + "y")
    assert len(long_a) <= MAX_RULE_NAME and len(long_b) <= MAX_RULE_NAME and long_a != long_b


def test_only_the_running_operator_marks_its_calls_as_its_own() -> None:
    """Event-driven drift skips calls whose user agent carries the operator's marker: the CLI's calls
    (an `awsop apply` by hand) must not carry it, or the change they make would never be checked."""
    settings = Settings(cluster_id="prod")
    _, cli = build_engine(settings)
    _, operator = build_engine(settings, operator=True)
    assert user_agent_marker("prod") not in cli.config.user_agent_extra.split()
    assert user_agent_marker("prod") in operator.config.user_agent_extra.split()
