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
    "s3:GetBucketTagging",  # the create answered: only the owner is in question (no HeadBucket)
    "s3:PutBucketTagging",
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


def _lock_unknown(parsed: dict[str, Any]) -> None:
    config = parsed.setdefault("ObjectLockConfiguration", {})
    config["NewLockField"] = "x"
    config.get("Rule", {}).get("DefaultRetention", {})["NewRetentionField"] = 7


def _lock(s3: Any) -> Any:
    return s3.get_object_lock_configuration(Bucket=NAME)["ObjectLockConfiguration"]


CASES: dict[str, Case] = {
    "objectLock": Case(
        {"objectLock": {"defaultRetention": {"mode": "GOVERNANCE", "days": 30}}},
        "s3:GetObjectLockConfiguration",
        "s3:PutObjectLockConfiguration",
        lambda s3: s3.put_object_lock_configuration(
            Bucket=NAME,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
            },
        ),
        _lock,
        _lock_unknown,
    ),
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


def test_bucket_object_lock_without_retention_is_made_by_create_bucket(
    engine: Engine, buckets: BucketClient, s3: Any
) -> None:
    """CreateBucket enables the lock: no configuration write; a retention set outside is not managed."""
    created = engine.reconcile(buckets, REF, spec(objectLock={}))
    assert created.state is State.READY and created.calls == CREATE, created.message
    assert _lock(s3)["ObjectLockEnabled"] == "Enabled"
    assert s3.get_bucket_versioning(Bucket=NAME)["Status"] == "Enabled"
    s3.put_object_lock_configuration(
        Bucket=NAME,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 1}},
        },
    )
    check = engine.reconcile(buckets, REF, spec(objectLock={}), spec_changed=False)
    assert check.reason == "UpToDate" and check.calls == [*CHECK, "s3:GetObjectLockConfiguration"]


def test_bucket_adopted_without_object_lock_is_stalled_never_synced(
    engine: Engine, buckets: BucketClient, s3: Any
) -> None:
    """ACK community#2965: an adopted bucket with Object Lock off was reported Synced. Here it is
    Stalled (terminal) with the reason, and nothing is written."""
    s3.create_bucket(Bucket=NAME)
    declared = spec(
        adoptionPolicy="Adopt", objectLock={"defaultRetention": {"mode": "COMPLIANCE", "years": 1}}
    )
    outcome = engine.reconcile(buckets, REF, declared)
    assert outcome.state is State.STALLED and outcome.reason == "ObjectLockNotInAws", outcome.message
    assert "Object Lock disabled" in outcome.message
    assert [c for c in outcome.calls if ":Put" in c] == []


REPLICA = "team-a-facets-replica"
REPLICATED = {
    "versioning": "Enabled",
    "replication": {
        "role": "arn:aws:iam::123456789012:role/replication",
        "rules": [
            {"id": "all", "priority": 1, "destination": {"bucket": {"arn": f"arn:aws:s3:::{REPLICA}"}}}
        ],
    },
}


def _replication(s3: Any) -> Any:
    return s3.get_bucket_replication(Bucket=NAME)["ReplicationConfiguration"]


def test_bucket_replication_create_check_drift_removal(
    engine: Engine, buckets: BucketClient, s3: Any
) -> None:
    s3.create_bucket(Bucket=REPLICA)
    s3.put_bucket_versioning(Bucket=REPLICA, VersioningConfiguration={"Status": "Enabled"})
    created = engine.reconcile(buckets, REF, spec(**REPLICATED))
    assert created.state is State.READY, created.message
    # the destination's versioning is read before the first write
    assert created.calls == [
        *CREATE,
        "s3:GetBucketVersioning",
        "s3:PutBucketVersioning",
        "s3:PutBucketReplication",
    ]
    declared = _replication(s3)
    assert declared["Rules"][0]["Destination"]["Bucket"] == f"arn:aws:s3:::{REPLICA}"

    reads = [*CHECK, "s3:GetBucketVersioning", "s3:GetBucketReplication"]
    check = engine.reconcile(buckets, REF, spec(**REPLICATED), spec_changed=False)
    assert check.reason == "UpToDate" and check.calls == reads, check.message

    s3.delete_bucket_replication(Bucket=NAME)
    corrected = engine.reconcile(buckets, REF, spec(**REPLICATED), spec_changed=False)
    assert corrected.reason == "DriftCorrected", corrected.message
    assert corrected.calls == [*reads, "s3:GetBucketVersioning", "s3:PutBucketReplication"]
    assert _replication(s3)["Rules"] == declared["Rules"]

    removed = engine.reconcile(buckets, REF, spec(versioning="Enabled"))
    assert removed.calls == [*CHECK, "s3:GetBucketVersioning"]
    assert _replication(s3)["Rules"] == declared["Rules"]  # left as it is in AWS

    def inject(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ReplicationConfiguration"]["NewConfigField"] = 1
        for rule in parsed["ReplicationConfiguration"]["Rules"]:
            rule["SourceSelectionCriteria"] = {"ReplicaModifications": {"Status": "Enabled"}}
            rule["Destination"]["StorageClass"] = "STANDARD"  # the spec leaves the class to AWS
            rule["NewRuleField"] = "x"

    buckets.clients.client("s3").meta.events.register("after-call.s3.GetBucketReplication", inject)
    check = engine.reconcile(buckets, REF, spec(**REPLICATED), spec_changed=False)
    assert check.reason == "UpToDate" and check.calls == reads, check.message


def test_bucket_replication_waits_for_an_unversioned_destination(
    engine: Engine, buckets: BucketClient, s3: Any
) -> None:
    s3.create_bucket(Bucket=REPLICA)
    outcome = engine.reconcile(buckets, REF, spec(**REPLICATED))
    assert outcome.reason == "ReplicationDestinationNotVersioned", outcome.message
    assert REPLICA in outcome.message
    assert [c for c in outcome.calls if c.startswith("s3:Put") and c != "s3:PutBucketTagging"] == []
    s3.put_bucket_versioning(Bucket=REPLICA, VersioningConfiguration={"Status": "Enabled"})
    converged = engine.reconcile(buckets, REF, spec(**REPLICATED))
    assert converged.state is State.READY, converged.message
    assert _replication(s3)["Rules"][0]["ID"] == "all"
