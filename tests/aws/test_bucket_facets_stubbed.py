"""Bucket facets moto 5.2.5 lacks (Requester Pays, Intelligent-Tiering) and AWS answers with fields the
spec does not set, tested with botocore's Stubber and AWS-shaped responses: a second reconcile of a
bucket whose facets match makes exactly 1 + declared facets reads (plus the ownership tags) and no write.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.stub import Stubber

from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.engine import Engine, ObjectRef, Outcome, State

pytestmark = pytest.mark.aws

REF = ObjectRef("Bucket", "team-a", "stubbed", 1)
NAME = "team-a-stubbed"


def run_stubbed(
    engine: Engine, buckets: BucketClient, fields: dict[str, Any], reads: list[tuple[str, dict[str, Any]]]
) -> Outcome:
    """One drift check whose every S3 answer is recorded: HeadBucket, the ownership tags, then `reads`
    (operation, AWS-shaped answer) in FACETS order, each with a field AWS might add (injected after
    parsing, where the Stubber's shape check no longer applies). Any further call fails the stubber."""
    spec = BucketSpec.model_validate(fields)
    target = engine.target(buckets, REF, spec)
    s3 = buckets.clients.client("s3", "us-east-1")

    def add_field(parsed: dict[str, Any], **_: Any) -> None:
        parsed["NewAwsField"] = {"Status": "Enabled"}

    for operation, _ in reads:
        name = s3.raw.meta.method_to_api_mapping[operation]  # type: ignore[attr-defined]
        s3.meta.events.register(f"after-call.s3.{name}", add_field)
    with Stubber(s3.raw) as stub:  # type: ignore[attr-defined]
        stub.add_response("head_bucket", {"BucketRegion": "us-east-1"}, {"Bucket": NAME})
        tag_set = [{"Key": k, "Value": v} for k, v in sorted(target.tags.items())]
        stub.add_response("get_bucket_tagging", {"TagSet": tag_set}, {"Bucket": NAME})
        for operation, answer in reads:
            stub.add_response(operation, copy.deepcopy(answer), {"Bucket": NAME})
        outcome = engine.reconcile(buckets, REF, spec, spec_changed=False)
        stub.assert_no_pending_responses()
    return outcome


CASES: dict[str, tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]] = {
    "requestPayer": (
        {"requestPayer": "Requester"},
        [("get_bucket_request_payment", {"Payer": "Requester"})],
    ),
    "requestPayer-default": (
        {"requestPayer": "BucketOwner"},
        [("get_bucket_request_payment", {})],
    ),
    # moto answers every rule with an empty prefix and delete markers Disabled: AWS's answer is recorded
    "replication-prefix-and-delete-markers": (
        {
            "versioning": "Enabled",
            "replication": {
                "role": "arn:aws:iam::123456789012:role/replication",
                "rules": [
                    {
                        "id": "reports",
                        "priority": 3,
                        "prefix": "reports/",
                        "deleteMarkerReplication": True,
                        "destination": {
                            "bucket": {"arn": "arn:aws:s3:::replica"},
                            "storageClass": "GLACIER_IR",
                        },
                    }
                ],
            },
        },
        [
            ("get_bucket_versioning", {"Status": "Enabled", "MFADelete": "Disabled"}),
            (
                "get_bucket_replication",
                {
                    "ReplicationConfiguration": {
                        "Role": "arn:aws:iam::123456789012:role/replication",
                        "Rules": [
                            {
                                "ID": "reports",
                                "Priority": 3,
                                "Status": "Enabled",
                                "Filter": {"Prefix": "reports/"},
                                "DeleteMarkerReplication": {"Status": "Enabled"},
                                "Destination": {
                                    "Bucket": "arn:aws:s3:::replica",
                                    "StorageClass": "GLACIER_IR",
                                    "Metrics": {"Status": "Disabled"},
                                },
                                "SourceSelectionCriteria": {"ReplicaModifications": {"Status": "Enabled"}},
                                "ExistingObjectReplication": {"Status": "Disabled"},
                            }
                        ],
                    }
                },
            ),
        ],
    ),
    "accelerate-never-set": (
        {"accelerate": "Suspended"},
        [("get_bucket_accelerate_configuration", {"RequestCharged": "requester"})],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bucket_facet_matching_aws_answer_makes_no_write(
    engine: Engine, buckets: BucketClient, case: str
) -> None:
    fields, reads = CASES[case]
    outcome = run_stubbed(engine, buckets, fields, reads)
    assert outcome.state is State.READY and outcome.reason == "UpToDate", outcome.message
    assert len(outcome.calls) == 2 + len(reads)


def test_bucket_request_payer_changed_in_aws_is_one_write(engine: Engine, buckets: BucketClient) -> None:
    spec = BucketSpec.model_validate({"requestPayer": "Requester"})
    target = engine.target(buckets, REF, spec)
    s3 = buckets.clients.client("s3", "us-east-1")
    with Stubber(s3.raw) as stub:  # type: ignore[attr-defined]
        stub.add_response("head_bucket", {"BucketRegion": "us-east-1"}, {"Bucket": NAME})
        tag_set = [{"Key": k, "Value": v} for k, v in sorted(target.tags.items())]
        stub.add_response("get_bucket_tagging", {"TagSet": tag_set}, {"Bucket": NAME})
        stub.add_response("get_bucket_request_payment", {"Payer": "BucketOwner"}, {"Bucket": NAME})
        stub.add_response(
            "put_bucket_request_payment",
            {},
            {"Bucket": NAME, "RequestPaymentConfiguration": {"Payer": "Requester"}},
        )
        outcome = engine.reconcile(buckets, REF, spec, spec_changed=False)
        stub.assert_no_pending_responses()
    assert outcome.reason == "DriftCorrected", outcome.message
    assert outcome.calls[-1] == "s3:PutBucketRequestPayment"


TIERING = {
    "intelligentTiering": [
        {"id": "archive", "archiveAccessDays": 90, "deepArchiveAccessDays": 180},
        {"id": "logs", "prefix": "logs/", "deepArchiveAccessDays": 365},
    ]
}


def _tiering_answer(*configs: dict[str, Any], truncated: bool = False) -> dict[str, Any]:
    listed = copy.deepcopy(list(configs))  # the injected fields must not reach the shared constants
    answer: dict[str, Any] = {"IsTruncated": truncated, "IntelligentTieringConfigurationList": listed}
    if truncated:
        answer["NextContinuationToken"] = "page-2"
    return answer


ARCHIVE = {
    "Id": "archive",
    "Status": "Enabled",
    "Filter": {},
    "Tierings": [
        {"Days": 180, "AccessTier": "DEEP_ARCHIVE_ACCESS"},
        {"Days": 90, "AccessTier": "ARCHIVE_ACCESS"},
    ],
}
LOGS = {
    "Id": "logs",
    "Status": "Enabled",
    "Filter": {"Prefix": "logs/"},
    "Tierings": [{"Days": 365, "AccessTier": "DEEP_ARCHIVE_ACCESS"}],
}


def test_bucket_intelligent_tiering_noop_reads_every_page_and_writes_nothing(
    engine: Engine, buckets: BucketClient
) -> None:
    """Tier order, pages, a continuation token and fields AWS may add (injected after parsing, where the
    Stubber's shape check no longer applies): one facet, zero writes."""
    spec = BucketSpec.model_validate(TIERING)
    target = engine.target(buckets, REF, spec)
    s3 = buckets.clients.client("s3", "us-east-1")

    def add_fields(parsed: dict[str, Any], **_: Any) -> None:
        parsed["NewListField"] = 1
        for config in parsed.get("IntelligentTieringConfigurationList", []):
            config["NewConfigField"] = {"x": 1}
            config["Tierings"][0]["NewTierField"] = "y"

    s3.meta.events.register("after-call.s3.ListBucketIntelligentTieringConfigurations", add_fields)
    with Stubber(s3.raw) as stub:  # type: ignore[attr-defined]
        stub.add_response("head_bucket", {"BucketRegion": "us-east-1"}, {"Bucket": NAME})
        tag_set = [{"Key": k, "Value": v} for k, v in sorted(target.tags.items())]
        stub.add_response("get_bucket_tagging", {"TagSet": tag_set}, {"Bucket": NAME})
        stub.add_response(
            "list_bucket_intelligent_tiering_configurations",
            _tiering_answer(LOGS, truncated=True),
            {"Bucket": NAME},
        )
        stub.add_response(
            "list_bucket_intelligent_tiering_configurations",
            _tiering_answer(ARCHIVE),
            {"Bucket": NAME, "ContinuationToken": "page-2"},
        )
        outcome = engine.reconcile(buckets, REF, spec, spec_changed=False)
        stub.assert_no_pending_responses()
    assert outcome.reason == "UpToDate", outcome.message
    assert outcome.calls == [
        "s3:HeadBucket",
        "s3:GetBucketTagging",
        "s3:ListBucketIntelligentTieringConfigurations",
        "s3:ListBucketIntelligentTieringConfigurations",
    ]


def test_bucket_intelligent_tiering_puts_what_differs_and_deletes_what_is_unlisted(
    engine: Engine, buckets: BucketClient
) -> None:
    spec = BucketSpec.model_validate(TIERING)
    target = engine.target(buckets, REF, spec)
    s3 = buckets.clients.client("s3", "us-east-1")
    stray = {**LOGS, "Id": "stray"}
    changed_logs = {**LOGS, "Tierings": [{"Days": 400, "AccessTier": "DEEP_ARCHIVE_ACCESS"}]}
    with Stubber(s3.raw) as stub:  # type: ignore[attr-defined]
        stub.add_response("head_bucket", {"BucketRegion": "us-east-1"}, {"Bucket": NAME})
        tag_set = [{"Key": k, "Value": v} for k, v in sorted(target.tags.items())]
        stub.add_response("get_bucket_tagging", {"TagSet": tag_set}, {"Bucket": NAME})
        stub.add_response(
            "list_bucket_intelligent_tiering_configurations",
            _tiering_answer(ARCHIVE, changed_logs, stray),
            {"Bucket": NAME},
        )
        stub.add_response(
            "put_bucket_intelligent_tiering_configuration",
            {},
            {
                "Bucket": NAME,
                "Id": "logs",
                "IntelligentTieringConfiguration": {
                    "Id": "logs",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "logs/"},
                    "Tierings": [{"AccessTier": "DEEP_ARCHIVE_ACCESS", "Days": 365}],
                },
            },
        )
        stub.add_response(
            "delete_bucket_intelligent_tiering_configuration", {}, {"Bucket": NAME, "Id": "stray"}
        )
        outcome = engine.reconcile(buckets, REF, spec)
        stub.assert_no_pending_responses()
    assert outcome.reason == "Updated", outcome.message
    assert outcome.calls[-2:] == [
        "s3:PutBucketIntelligentTieringConfiguration",
        "s3:DeleteBucketIntelligentTieringConfiguration",
    ]
