"""Golden AWS call logs for the Bucket kind against moto's server over HTTP.

Each scenario asserts the exact sequence of AWS operations, so API cost only changes on purpose: if a
change adds a call, the golden list here must be edited in the same commit.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from awsop.reconcilers import engine as engine_module
from awsop.reconcilers.aws import AwsClients
from awsop.reconcilers.bucket import BucketClient, BucketSpec
from awsop.reconcilers.engine import Engine, ObjectRef, State
from awsop.reconcilers.errors import ErrorClass
from awsop.reconcilers.tags import OWNER_TAG

pytestmark = pytest.mark.aws

REF = ObjectRef("Bucket", "team-a", "data", 1)
NAME = "team-a-data"
BUDGET_SPEC = {"versioning": "Enabled", "encryption": {"algorithm": "AES256"}, "tags": {"team": "a"}}


def spec(**fields: object) -> BucketSpec:
    return BucketSpec.model_validate(fields)


def tags_of(s3, bucket: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    try:
        tag_set = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except s3.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchTagSet"
        return {}
    return {t["Key"]: t["Value"] for t in tag_set}


def honour_tags_at_create(clients: AwsClients, s3) -> None:  # type: ignore[no-untyped-def]
    """Make the emulator behave like AWS: moto 5.2.5 ignores CreateBucketConfiguration.Tags, so the
    tags of a successful CreateBucket are written out of band (not in the call log)."""
    sent: dict[str, Any] = {}

    def before(params: dict[str, Any], **_: Any) -> None:
        sent.clear()
        tags = (params.get("CreateBucketConfiguration") or {}).get("Tags")
        if tags:
            sent.update(Bucket=params["Bucket"], Tags=tags)

    def after(parsed: dict[str, Any], **_: Any) -> None:
        if sent and parsed.get("ResponseMetadata", {}).get("HTTPStatusCode") == 200:
            s3.put_bucket_tagging(Bucket=sent["Bucket"], Tagging={"TagSet": sent["Tags"]})

    events = clients.client("s3").meta.events
    events.register("provide-client-params.s3.CreateBucket", before)
    events.register("after-call.s3.CreateBucket", after)


def test_bucket_create_calls(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    """Against moto, which ignores tags at create: the read-back finds no owner tag, so the tags are
    written and read again before any other facet is written."""
    outcome = engine.reconcile(buckets, REF, spec(**BUDGET_SPEC))
    assert outcome.state is State.READY, outcome.message
    assert outcome.calls == [
        "s3:HeadBucket",
        "s3:CreateBucket",
        "s3:GetBucketTagging",  # the create answered: only the owner is in question (no HeadBucket)
        "s3:PutBucketTagging",
        "s3:GetBucketTagging",
        "s3:PutBucketVersioning",
        "s3:PutBucketEncryption",
    ]
    assert tags_of(s3, NAME) == {
        OWNER_TAG: "test-cluster/team-a/data",
        "awsop.io/kind": "Bucket",
        "managed-by": "awsop",
        "team": "a",
    }
    assert s3.get_bucket_versioning(Bucket=NAME)["Status"] == "Enabled"


def test_bucket_create_calls_where_tags_at_create_are_honoured(
    engine: Engine, buckets: BucketClient, s3
) -> None:  # type: ignore[no-untyped-def]
    """As on AWS: the owner tag exists from the first moment, the read-back confirms it, no tag write."""
    honour_tags_at_create(engine.clients, s3)
    outcome = engine.reconcile(buckets, REF, spec(**BUDGET_SPEC))
    assert outcome.state is State.READY and outcome.reason == "Created", outcome.message
    assert outcome.calls == [
        "s3:HeadBucket",
        "s3:CreateBucket",
        "s3:GetBucketTagging",
        "s3:PutBucketVersioning",
        "s3:PutBucketEncryption",
    ]
    assert tags_of(s3, NAME)[OWNER_TAG] == "test-cluster/team-a/data"


def test_bucket_created_but_not_visible_yet_is_read_again(
    engine: Engine, buckets: BucketClient, s3, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The confirming read right after CreateBucket reads the tags alone; a bucket S3 does not show yet
    (NoSuchBucket) is read again after a short wait instead of failing the create."""
    monkeypatch.setattr(engine_module, "CONFIRM_DELAY", 0.01)
    unseen = {"left": 1}

    def not_yet(**_: Any) -> None:
        if unseen["left"]:
            unseen["left"] -= 1
            raise s3.exceptions.NoSuchBucket({"Error": {"Code": "NoSuchBucket"}}, "GetBucketTagging")

    engine.clients.client("s3").meta.events.register_first("before-call.s3.GetBucketTagging", not_yet)
    outcome = engine.reconcile(buckets, REF, spec(**BUDGET_SPEC))
    assert outcome.state is State.READY and outcome.reason == "Created", outcome.message
    assert unseen["left"] == 0
    assert tags_of(s3, NAME)[OWNER_TAG] == "test-cluster/team-a/data"


def test_bucket_noop_resync_within_budget(engine: Engine, buckets: BucketClient) -> None:
    """The budget of the foundation issue: versioning + encryption + tags cost at most 4 reads."""
    engine.reconcile(buckets, REF, spec(**BUDGET_SPEC))
    outcome = engine.reconcile(buckets, REF, spec(**BUDGET_SPEC), spec_changed=False)
    assert outcome.state is State.READY and outcome.reason == "UpToDate"
    assert outcome.calls == [
        "s3:HeadBucket",
        "s3:GetBucketTagging",
        "s3:GetBucketVersioning",
        "s3:GetBucketEncryption",
    ]


def test_bucket_minimal_spec_reads_only_head_and_tags(engine: Engine, buckets: BucketClient) -> None:
    engine.reconcile(buckets, REF, spec())
    outcome = engine.reconcile(buckets, REF, spec(), spec_changed=False)
    assert outcome.calls == ["s3:HeadBucket", "s3:GetBucketTagging"]


def test_bucket_versioning_change_calls(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(buckets, REF, spec(**BUDGET_SPEC))
    outcome = engine.reconcile(buckets, REF, spec(**{**BUDGET_SPEC, "versioning": "Suspended"}))
    assert outcome.state is State.READY and outcome.reason == "Updated"
    assert outcome.message == "versioning: Enabled -> Suspended"
    assert outcome.calls == [
        "s3:HeadBucket",
        "s3:GetBucketTagging",
        "s3:GetBucketVersioning",
        "s3:GetBucketEncryption",
        "s3:PutBucketVersioning",
    ]
    assert s3.get_bucket_versioning(Bucket=NAME)["Status"] == "Suspended"


def test_bucket_drift_corrected(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(buckets, REF, spec(**BUDGET_SPEC))
    s3.put_bucket_versioning(Bucket=NAME, VersioningConfiguration={"Status": "Suspended"})
    outcome = engine.reconcile(buckets, REF, spec(**BUDGET_SPEC), spec_changed=False)
    assert outcome.reason == "DriftCorrected"
    assert [c.explain() for c in outcome.drift] == ["versioning: Suspended -> Enabled"]
    assert [e.reason for e in outcome.events] == ["DriftDetected", "DriftCorrected"]
    assert outcome.calls[-1] == "s3:PutBucketVersioning"
    assert s3.get_bucket_versioning(Bucket=NAME)["Status"] == "Enabled"


def test_bucket_drift_only_reported_under_report_policy(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    desired = spec(**BUDGET_SPEC, driftPolicy="Report")
    engine.reconcile(buckets, REF, desired)
    s3.put_bucket_versioning(Bucket=NAME, VersioningConfiguration={"Status": "Suspended"})
    outcome = engine.reconcile(buckets, REF, desired, spec_changed=False)
    assert outcome.state is State.DRIFTED
    assert "versioning: Suspended -> Enabled" in outcome.message
    assert not any(call.startswith("s3:Put") for call in outcome.calls)
    assert s3.get_bucket_versioning(Bucket=NAME)["Status"] == "Suspended"


def test_bucket_tag_drift_corrected_keeps_aws_and_unmanaged_tags_when_tags_omitted(
    engine: Engine,
    buckets: BucketClient,
    s3,  # type: ignore[no-untyped-def]
) -> None:
    engine.reconcile(buckets, REF, spec())
    s3.put_bucket_tagging(
        Bucket=NAME,
        Tagging={
            "TagSet": [
                {"Key": "cost-center", "Value": "42"},
                {"Key": OWNER_TAG, "Value": "test-cluster/team-a/data"},
            ]
        },
    )
    outcome = engine.reconcile(buckets, REF, spec(), spec_changed=False)
    assert outcome.reason == "DriftCorrected"
    tags = tags_of(s3, NAME)
    assert tags["cost-center"] == "42"  # someone else's tag survives: spec.tags is omitted
    assert tags["awsop.io/kind"] == "Bucket" and tags["managed-by"] == "awsop"


def test_bucket_plan_only_never_writes(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    outcome = engine.reconcile(buckets, REF, spec(**BUDGET_SPEC), plan_only=True)
    assert outcome.state is State.PLANNED and outcome.plan.verb == "create"
    assert outcome.calls == ["s3:HeadBucket"]
    assert outcome.plan.calls() == [
        "s3:CreateBucket",  # with the tags
        "s3:PutBucketVersioning",
        "s3:PutBucketEncryption",
    ]
    assert NAME not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_paused_makes_no_calls(engine: Engine, buckets: BucketClient) -> None:
    outcome = engine.reconcile(buckets, REF, spec(**BUDGET_SPEC), paused=True)
    assert outcome.state is State.PAUSED and outcome.calls == []


def test_bucket_unowned_existing_is_terminal_conflict(
    engine: Engine, buckets: BucketClient, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.create_bucket(Bucket=NAME)  # someone else's, created longer ago than the create window
    monkeypatch.setattr(engine_module, "_now", lambda: time.time() + engine.config.create_window)
    outcome = engine.reconcile(buckets, REF, spec(**BUDGET_SPEC))
    assert outcome.state is State.STALLED and outcome.error_class is ErrorClass.TERMINAL
    assert outcome.reason == "AlreadyExists" and "adoptionPolicy: Adopt" in outcome.message
    assert outcome.calls == [
        "s3:HeadBucket",
        "s3:GetBucketTagging",
        "s3:GetBucketVersioning",
        "s3:GetBucketEncryption",
        "s3:ListBuckets",  # its creation time: older than the window, so not a create in flight
    ]


def test_bucket_owned_by_another_object_is_never_adopted(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    s3.create_bucket(Bucket=NAME)
    s3.put_bucket_tagging(Bucket=NAME, Tagging={"TagSet": [{"Key": OWNER_TAG, "Value": "other/ns/x"}]})
    outcome = engine.reconcile(buckets, REF, spec(adoptionPolicy="Adopt"))
    assert outcome.state is State.STALLED and outcome.reason == "OwnedByAnother"
    assert tags_of(s3, NAME) == {OWNER_TAG: "other/ns/x"}


def test_bucket_adopted_when_asked(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    s3.create_bucket(Bucket=NAME)
    outcome = engine.reconcile(buckets, REF, spec(adoptionPolicy="Adopt", versioning="Enabled"))
    assert outcome.state is State.READY and outcome.reason == "Adopted"
    assert tags_of(s3, NAME)[OWNER_TAG] == "test-cluster/team-a/data"


def test_bucket_create_pending_recovers_untagged_bucket_without_duplicate(
    engine: Engine,
    buckets: BucketClient,
    s3,  # type: ignore[no-untyped-def]
) -> None:
    """A crash between CreateBucket and PutBucketTagging leaves an untagged bucket: it is ours."""
    since = time.time() - 1  # the mark recorded before the create
    s3.create_bucket(Bucket=NAME)
    outcome = engine.reconcile(buckets, REF, spec(**BUDGET_SPEC), create_pending=since)
    assert outcome.state is State.READY
    assert "s3:CreateBucket" not in outcome.calls
    assert tags_of(s3, NAME)[OWNER_TAG] == "test-cluster/team-a/data"


def test_bucket_observe_only_reports_and_never_writes(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    s3.create_bucket(Bucket=NAME)
    watched = spec(managementPolicy="ObserveOnly", adoptionPolicy="Adopt", versioning="Enabled")
    outcome = engine.reconcile(buckets, REF, watched)
    assert outcome.state is State.DRIFTED
    assert not any(":Put" in call or ":Create" in call for call in outcome.calls)
    assert tags_of(s3, NAME) == {}
    assert "versioning: (none) -> Enabled" in outcome.message


def test_bucket_observe_only_watches_a_bucket_owned_by_another_object(
    engine: Engine,
    buckets: BucketClient,
    s3,  # type: ignore[no-untyped-def]
) -> None:
    engine.reconcile(buckets, REF, spec(versioning="Enabled"))
    watcher = ObjectRef("Bucket", "audit", "watch", 1)
    watched = spec(name=NAME, managementPolicy="ObserveOnly", adoptionPolicy="Adopt", versioning="Enabled")
    assert engine.reconcile(buckets, watcher, watched).reason == "UpToDate"
    s3.put_bucket_versioning(Bucket=NAME, VersioningConfiguration={"Status": "Suspended"})
    outcome = engine.reconcile(buckets, watcher, watched, spec_changed=False)
    assert outcome.state is State.DRIFTED
    assert outcome.calls == ["s3:HeadBucket", "s3:GetBucketTagging", "s3:GetBucketVersioning"]
    planned = engine.reconcile(buckets, watcher, watched, plan_only=True)
    assert planned.plan.verb == "drifted" and not planned.plan.has_changes, "observing never plans a write"
    deleted = engine.delete(buckets, watcher, watched)
    assert deleted.reason == "ObserveOnly" and deleted.calls == []
    assert tags_of(s3, NAME)["awsop.io/owner"] == "test-cluster/team-a/data"


def test_bucket_observe_only_missing_is_not_found(engine: Engine, buckets: BucketClient) -> None:
    outcome = engine.reconcile(buckets, REF, spec(managementPolicy="ObserveOnly"))
    assert outcome.state is State.NOT_FOUND and outcome.calls == ["s3:HeadBucket"]


def test_bucket_retained_on_delete_by_default(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(buckets, REF, spec(tags={"team": "a"}))
    outcome = engine.delete(buckets, REF, spec(tags={"team": "a"}))
    assert outcome.state is State.DELETED and outcome.reason == "Retained"
    assert outcome.calls == ["s3:HeadBucket", "s3:GetBucketTagging", "s3:PutBucketTagging"]
    tags = tags_of(s3, NAME)
    assert OWNER_TAG not in tags and tags["team"] == "a"
    # released: a new object may adopt it
    adopted = engine.reconcile(
        buckets, ObjectRef("Bucket", "team-b", "x", 1), spec(name=NAME, adoptionPolicy="Adopt")
    )
    assert adopted.reason == "Adopted"


def test_bucket_deleted_when_empty(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(buckets, REF, spec(deletionPolicy="Delete"))
    outcome = engine.delete(buckets, REF, spec(deletionPolicy="Delete"))
    assert outcome.state is State.DELETED and outcome.reason == "Deleted"
    assert outcome.calls == ["s3:HeadBucket", "s3:GetBucketTagging", "s3:DeleteBucket"]
    assert NAME not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_nonempty_delete_refused_without_empty_on_delete(
    engine: Engine, buckets: BucketClient, s3
) -> None:  # type: ignore[no-untyped-def]
    engine.reconcile(buckets, REF, spec(deletionPolicy="Delete"))
    s3.put_object(Bucket=NAME, Key="keep-me", Body=b"data")
    outcome = engine.delete(buckets, REF, spec(deletionPolicy="Delete"))
    assert outcome.state is State.DELETE_BLOCKED and outcome.reason == "BucketNotEmpty"
    assert "emptyOnDelete" in outcome.message
    assert outcome.calls == ["s3:HeadBucket", "s3:GetBucketTagging", "s3:DeleteBucket"]
    assert s3.get_object(Bucket=NAME, Key="keep-me")["Body"].read() == b"data"


def test_bucket_empty_on_delete_removes_versions_and_markers(
    engine: Engine, buckets: BucketClient, s3
) -> None:  # type: ignore[no-untyped-def]
    desired = spec(deletionPolicy="Delete", emptyOnDelete=True, versioning="Enabled")
    engine.reconcile(buckets, REF, desired)
    for body in (b"1", b"2"):
        s3.put_object(Bucket=NAME, Key="k", Body=body)
    s3.delete_object(Bucket=NAME, Key="k")  # a delete marker on top of two versions
    outcome = engine.delete(buckets, REF, desired)
    assert outcome.state is State.DELETED, outcome.message
    assert outcome.calls == [
        "s3:HeadBucket",
        "s3:GetBucketTagging",
        "s3:ListObjectVersions",
        "s3:DeleteObjects",
        "s3:DeleteBucket",
    ]
    assert NAME not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_not_owned_is_never_deleted(engine: Engine, buckets: BucketClient, s3) -> None:  # type: ignore[no-untyped-def]
    s3.create_bucket(Bucket=NAME)
    outcome = engine.delete(buckets, REF, spec(deletionPolicy="Delete"))
    assert outcome.state is State.DELETED and outcome.reason == "NotOwned"
    assert NAME in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_invalid_name_from_aws_is_terminal(engine: Engine, buckets: BucketClient) -> None:
    """A name that passes awsop's checks is still judged by AWS; its validation error stalls the object."""
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "InvalidBucketName", "Message": "bad"}}, "CreateBucket")
    assert buckets.classify(error) is ErrorClass.TERMINAL


def test_bucket_other_region_is_created_with_location_constraint(
    engine: Engine, buckets: BucketClient, s3
) -> None:  # type: ignore[no-untyped-def]
    outcome = engine.reconcile(buckets, REF, spec(region="eu-west-1"))
    assert outcome.state is State.READY, outcome.message
    assert s3.get_bucket_location(Bucket=NAME)["LocationConstraint"] == "eu-west-1"
    again = engine.reconcile(buckets, REF, spec(region="eu-west-1"), spec_changed=False)
    assert again.reason == "UpToDate"
