"""Bucket facet models (notifications, website, accelerate) and the queue policy precondition: pure."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from awsop.reconcilers.bucket import BucketSpec
from awsop.reconcilers.bucket.notifications import policy_allows, required_statement
from awsop.reconcilers.refs import Reference

QUEUE = "arn:aws:sqs:us-east-1:123456789012:events"
BUCKET = "team-a-uploads"


def queue_config(**fields: Any) -> dict[str, Any]:
    return {"queue": {"ref": {"name": "events"}}, "events": ["s3:ObjectCreated:*"], **fields}


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        pytest.param({}, {}, True, id="identical"),
        pytest.param({"prefix": "a/"}, {"prefix": "a/b/"}, True, id="nested-prefixes"),
        pytest.param({"prefix": "a/"}, {"prefix": "b/"}, False, id="disjoint-prefixes"),
        pytest.param({"suffix": ".jpg"}, {"suffix": ".png"}, False, id="disjoint-suffixes"),
        pytest.param({"suffix": ".jpg"}, {}, True, id="empty-suffix-overlaps-all"),
        pytest.param({"events": ["s3:ObjectCreated:Put"]}, {}, True, id="wildcard-covers-put"),
        pytest.param({"events": ["s3:ObjectRemoved:*"]}, {}, False, id="other-event-family"),
    ],
)
def test_overlapping_queue_configurations_refused_by_model(
    first: dict[str, Any], second: dict[str, Any], overlap: bool
) -> None:
    spec = {"notifications": {"queues": [queue_config(**first), queue_config(**second)]}}
    if overlap:
        with pytest.raises(
            ValidationError, match=r"notifications.queues\[0\] and notifications.queues\[1\] overlap"
        ):
            BucketSpec.model_validate(spec)
    else:
        BucketSpec.model_validate(spec)


def test_queue_reference_is_a_reference_of_the_bucket() -> None:
    spec = BucketSpec.model_validate(
        {
            "notifications": {
                "queues": [queue_config(), {"queue": {"arn": QUEUE}, "events": ["s3:ObjectRemoved:*"]}]
            }
        }
    )
    assert spec.references() == [Reference("Queue", "events", "notifications.queues[0].queue")]


def test_unknown_event_type_refused() -> None:
    with pytest.raises(ValidationError, match="events"):
        BucketSpec.model_validate({"notifications": {"queues": [queue_config(events=["s3:ObjectCreatd:*"])]}})


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


STATEMENT = required_statement(BUCKET, QUEUE)


@pytest.mark.parametrize(
    ("doc", "allowed"),
    [
        pytest.param(None, False, id="no-policy"),
        pytest.param(policy(STATEMENT), True, id="the-statement-awsop-names"),
        pytest.param(policy({**STATEMENT, "Action": ["sqs:*"]}), True, id="action-wildcard"),
        pytest.param(
            policy({**STATEMENT, "Resource": "arn:aws:sqs:*:123456789012:*"}), True, id="resource-wildcard"
        ),
        pytest.param(
            policy({**STATEMENT, "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::team-a-*"}}}),
            True,
            id="source-arn-like",
        ),
        pytest.param(
            policy({k: v for k, v in STATEMENT.items() if k != "Condition"}), True, id="no-condition"
        ),
        pytest.param(
            policy({**STATEMENT, "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::other"}}}),
            False,
            id="another-bucket",
        ),
        pytest.param(policy({**STATEMENT, "Effect": "Deny"}), False, id="deny"),
        pytest.param(policy({**STATEMENT, "Principal": {"Service": "sns.amazonaws.com"}}), False, id="sns"),
        pytest.param(policy({**STATEMENT, "Action": "sqs:ReceiveMessage"}), False, id="other-action"),
        pytest.param(
            policy({**STATEMENT, "Resource": "arn:aws:sqs:us-east-1:123456789012:other"}),
            False,
            id="other-queue",
        ),
        pytest.param("not json", False, id="unparsable"),
    ],
)
def test_queue_policy_allows_s3_from_this_bucket(doc: str | None, allowed: bool) -> None:
    assert policy_allows(doc, BUCKET, QUEUE) is allowed


@pytest.mark.parametrize(
    ("website", "error"),
    [
        pytest.param({"indexDocument": "index.html"}, None, id="index-only"),
        pytest.param({"redirectAllRequestsTo": {"hostName": "example.com"}}, None, id="redirect-all"),
        pytest.param({}, "exactly one of indexDocument or redirectAllRequestsTo", id="neither"),
        pytest.param(
            {"indexDocument": "i.html", "redirectAllRequestsTo": {"hostName": "e.com"}},
            "exactly one",
            id="both",
        ),
        pytest.param(
            {"redirectAllRequestsTo": {"hostName": "e.com"}, "errorDocument": "e.html"},
            "excludes errorDocument",
            id="redirect-with-error-document",
        ),
        pytest.param(
            {
                "indexDocument": "i.html",
                "routingRules": [{"redirect": {"replaceKeyWith": "a", "replaceKeyPrefixWith": "b"}}],
            },
            "exclude each other",
            id="two-replacements",
        ),
    ],
)
def test_website_shape_validated(website: dict[str, Any], error: str | None) -> None:
    if error is None:
        BucketSpec.model_validate({"website": website})
    else:
        with pytest.raises(ValidationError, match=error):
            BucketSpec.model_validate({"website": website})


def test_accelerate_refused_for_dotted_names() -> None:
    with pytest.raises(ValidationError, match="without dots"):
        BucketSpec.model_validate({"name": "my.bucket.name", "accelerate": "Enabled"})
    BucketSpec.model_validate({"name": "my.bucket.name", "accelerate": "Suspended"})


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param({"objectLock": {}}, None, id="lock-only"),
        pytest.param(
            {"objectLock": {"defaultRetention": {"mode": "GOVERNANCE", "days": 7}}}, None, id="days"
        ),
        pytest.param(
            {"objectLock": {"defaultRetention": {"mode": "COMPLIANCE"}}},
            "exactly one of days or years",
            id="no-period",
        ),
        pytest.param(
            {"objectLock": {"defaultRetention": {"mode": "COMPLIANCE", "days": 1, "years": 1}}},
            "exactly one of days or years",
            id="two-periods",
        ),
        pytest.param(
            {"objectLock": {}, "versioning": "Suspended"}, "needs versioning Enabled", id="suspended"
        ),
    ],
)
def test_object_lock_shape_validated(fields: dict[str, Any], error: str | None) -> None:
    if error is None:
        BucketSpec.model_validate(fields)
    else:
        with pytest.raises(ValidationError, match=error):
            BucketSpec.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param({"versioning": "Enabled", "replication": None}, None, id="no-replication"),
        pytest.param(
            {"replication": "REPL"}, "versioning: replication needs versioning", id="source-unversioned"
        ),
        pytest.param({"versioning": "Enabled", "replication": "REPL"}, None, id="versioned"),
        pytest.param(
            {
                "intelligentTiering": [
                    {"id": "a", "archiveAccessDays": 90},
                    {"id": "a", "deepArchiveAccessDays": 180},
                ]
            },
            "ids must be unique",
            id="tiering-duplicate-ids",
        ),
        pytest.param(
            {"intelligentTiering": [{"id": "a", "archiveAccessDays": 200, "deepArchiveAccessDays": 180}]},
            "must exceed",
            id="tiering-deep-before-archive",
        ),
        pytest.param({"intelligentTiering": [{"id": "a"}]}, "set archiveAccessDays", id="tiering-no-tier"),
    ],
)
def test_replication_and_tiering_shape_validated(fields: dict[str, Any], error: str | None) -> None:
    replication = {
        "role": "arn:aws:iam::123456789012:role/r",
        "rules": [{"id": "r", "priority": 1, "destination": {"bucket": {"ref": {"name": "replica"}}}}],
    }
    fields = {k: replication if v == "REPL" else v for k, v in fields.items()}
    if error is None:
        spec = BucketSpec.model_validate(fields)
        if spec.replication is not None:
            assert spec.references() == [
                Reference("Bucket", "replica", "replication.rules[0].destination.bucket")
            ]
    else:
        with pytest.raises(ValidationError, match=error):
            BucketSpec.model_validate(fields)
