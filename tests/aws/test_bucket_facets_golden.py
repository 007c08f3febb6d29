"""Golden call logs of the bucket facets moto 5.2.5 implements, one table row per facet: create, no-op
check (1 + declared facets reads, plus the ownership tags), drift corrected, removal from the spec (left
as it is in AWS), and a field AWS adds to the answer (injected between botocore and awsop) that is
never drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.engine import Engine, ObjectRef, State

pytestmark = pytest.mark.aws

REF = ObjectRef("Bucket", "team-a", "facets", 1)
NAME = "team-a-facets"
CREATE = [
    "s3:HeadBucket",
    "s3:CreateBucket",
    "s3:HeadBucket",
    "s3:GetBucketTagging",
    "s3:PutBucketTagging",
    "s3:HeadBucket",
    "s3:GetBucketTagging",
]
CHECK = ["s3:HeadBucket", "s3:GetBucketTagging"]


@dataclass(frozen=True)
class Case:
    fields: dict[str, Any]
    read: str  # the facet's read operation
    write: str  # its write operation
    drift: Callable[[Any], None]  # an out-of-band change through a plain boto3 client
    current: Callable[[Any], Any]  # what AWS holds now (compared before/after)
    unknown: Callable[[dict[str, Any]], None]  # adds fields AWS might start returning
    create: tuple[str, ...] = ()  # calls between the read-back and the facet write at create


def _accelerate_unknown(parsed: dict[str, Any]) -> None:
    parsed["NewAccelerateField"] = {"Mode": "Dual"}


def _website_unknown(parsed: dict[str, Any]) -> None:
    parsed["NewWebsiteField"] = True
    parsed.setdefault("IndexDocument", {})["NewSuffixOption"] = "x"
    for rule in parsed.get("RoutingRules", []):
        rule.setdefault("Redirect", {})["NewRedirectOption"] = 1


WEBSITE = {
    "indexDocument": "index.html",
    "errorDocument": "error.html",
    "routingRules": [
        {
            "condition": {"keyPrefixEquals": "docs/"},
            "redirect": {"replaceKeyPrefixWith": "documents/", "httpRedirectCode": "301"},
        },
        {"condition": {"httpErrorCodeReturnedEquals": "404"}, "redirect": {"hostName": "example.com"}},
    ],
}

CASES: dict[str, Case] = {
    "website": Case(
        {"website": WEBSITE},
        "s3:GetBucketWebsite",
        "s3:PutBucketWebsite",
        lambda s3: s3.put_bucket_website(
            Bucket=NAME, WebsiteConfiguration={"IndexDocument": {"Suffix": "home.html"}}
        ),
        lambda s3: {k: v for k, v in s3.get_bucket_website(Bucket=NAME).items() if k != "ResponseMetadata"},
        _website_unknown,
    ),
    "website-redirect-all": Case(
        {"website": {"redirectAllRequestsTo": {"hostName": "www.example.com", "protocol": "https"}}},
        "s3:GetBucketWebsite",
        "s3:PutBucketWebsite",
        lambda s3: s3.put_bucket_website(
            Bucket=NAME, WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "www.example.com"}}
        ),
        lambda s3: {k: v for k, v in s3.get_bucket_website(Bucket=NAME).items() if k != "ResponseMetadata"},
        _website_unknown,
    ),
    "accelerate": Case(
        {"accelerate": "Enabled"},
        "s3:GetBucketAccelerateConfiguration",
        "s3:PutBucketAccelerateConfiguration",
        lambda s3: s3.put_bucket_accelerate_configuration(
            Bucket=NAME, AccelerateConfiguration={"Status": "Suspended"}
        ),
        lambda s3: s3.get_bucket_accelerate_configuration(Bucket=NAME).get("Status"),
        _accelerate_unknown,
    ),
}


def spec(**fields: Any) -> BucketSpec:
    return BucketSpec.model_validate(fields)


@pytest.mark.parametrize("name", list(CASES))
def test_bucket_facet_create_check_drift_removal(
    engine: Engine, buckets: BucketClient, s3: Any, name: str
) -> None:
    case = CASES[name]
    created = engine.reconcile(buckets, REF, spec(**case.fields))
    assert created.state is State.READY, created.message
    assert created.calls == [*CREATE, *case.create, case.write]
    declared = case.current(s3)

    check = engine.reconcile(buckets, REF, spec(**case.fields), spec_changed=False)
    assert check.reason == "UpToDate", check.message
    assert check.calls == [*CHECK, case.read]

    case.drift(s3)
    assert case.current(s3) != declared
    corrected = engine.reconcile(buckets, REF, spec(**case.fields), spec_changed=False)
    assert corrected.reason == "DriftCorrected", corrected.message
    assert corrected.calls == [*CHECK, case.read, case.write]
    assert case.current(s3) == declared

    removed = engine.reconcile(buckets, REF, spec())
    assert removed.state is State.READY and removed.calls == CHECK
    assert case.current(s3) == declared  # left as it is in AWS


@pytest.mark.parametrize("name", list(CASES))
def test_bucket_facet_unknown_answer_fields_make_no_write(
    engine: Engine, buckets: BucketClient, name: str
) -> None:
    case = CASES[name]
    engine.reconcile(buckets, REF, spec(**case.fields))

    def inject(parsed: dict[str, Any], **_: Any) -> None:
        case.unknown(parsed)

    operation = case.read.split(":", 1)[1]
    buckets.clients.client("s3").meta.events.register(f"after-call.s3.{operation}", inject)
    check = engine.reconcile(buckets, REF, spec(**case.fields), spec_changed=False)
    assert check.reason == "UpToDate", check.message
    assert check.calls == [*CHECK, case.read]
