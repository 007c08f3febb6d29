"""Bucket facets moto 5.2.5 lacks (Requester Pays, Intelligent-Tiering) and AWS answers with fields the
spec does not set, tested with botocore's Stubber and AWS-shaped responses: a second reconcile of a
bucket whose facets match makes exactly 1 + declared facets reads (plus the ownership tags) and no write.
"""

from __future__ import annotations

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
    (operation, AWS-shaped answer) in FACETS order. Any further call fails the stubber."""
    spec = BucketSpec.model_validate(fields)
    target = engine.target(buckets, REF, spec)
    s3 = buckets.clients.client("s3", "us-east-1")
    with Stubber(s3.raw) as stub:  # type: ignore[attr-defined]
        stub.add_response("head_bucket", {"BucketRegion": "us-east-1"}, {"Bucket": NAME})
        tag_set = [{"Key": k, "Value": v} for k, v in sorted(target.tags.items())]
        stub.add_response("get_bucket_tagging", {"TagSet": tag_set}, {"Bucket": NAME})
        for operation, answer in reads:
            stub.add_response(operation, answer, {"Bucket": NAME})
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
