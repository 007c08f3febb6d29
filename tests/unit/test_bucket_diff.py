"""BucketClient.diff and plan_create are pure: hand-built observations, no AWS calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from awsop.reconcilers.aws import AwsClients, AwsConfig
from awsop.reconcilers.bucket import FACETS, BucketClient, BucketObserved, BucketSpec
from awsop.reconcilers.changes import Action, Change
from awsop.reconcilers.engine import Engine, EngineConfig, ObjectRef, Target
from awsop.reconcilers.errors import TerminalError
from awsop.reconcilers.policy_doc import normalize_policy

REGION = "us-east-1"
OWNER = "test-cluster/default/data"
SYSTEM = {"awsop.io/owner": OWNER, "awsop.io/kind": "Bucket", "managed-by": "awsop"}


@pytest.fixture
def client() -> BucketClient:
    return BucketClient(AwsClients(AwsConfig(default_region=REGION)))


@pytest.fixture
def engine() -> Engine:
    clients = AwsClients(AwsConfig(default_region=REGION))
    return Engine(clients, EngineConfig(cluster_id="test-cluster", default_tags={"managed-by": "awsop"}))


def make_target(engine: Engine, client: BucketClient, **spec: Any) -> Target[BucketSpec]:
    ref = ObjectRef("Bucket", "default", "data", 1)
    return engine.target(client, ref, BucketSpec.model_validate({"name": "data-bucket", **spec}))


def observed(tags: dict[str, str] | None = None, region: str = REGION, **facets: Any) -> BucketObserved:
    return BucketObserved("data-bucket", region, dict(SYSTEM if tags is None else tags), facets)


POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecure",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": ["arn:aws:s3:::data-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def _reordered(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _reordered(doc[k]) for k in reversed(list(doc))}
    if isinstance(doc, list):
        return [_reordered(v) for v in reversed(doc)]
    return doc


@pytest.mark.parametrize(
    "aws_policy",
    [
        pytest.param(json.dumps(_reordered(POLICY)), id="key-and-list-order"),
        pytest.param(json.dumps(POLICY, indent=4), id="whitespace"),
        pytest.param(
            json.dumps(
                {
                    **POLICY,
                    "Statement": [{**POLICY["Statement"][0], "Resource": "arn:aws:s3:::data-bucket/*"}],
                }
            ),
            id="single-element-list-vs-scalar",
        ),
        pytest.param(
            json.dumps({**POLICY, "Statement": POLICY["Statement"][0]}), id="statement-object-vs-list"
        ),
    ],
)
def test_policy_that_means_the_same_is_not_a_change(
    engine: Engine, client: BucketClient, aws_policy: str
) -> None:
    target = make_target(engine, client, policy=json.dumps(POLICY))
    assert client.diff(target, observed(policy=normalize_policy(aws_policy))) == []


def test_policy_with_another_effect_is_one_policy_change(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, policy=json.dumps(POLICY))
    allow = {**POLICY, "Statement": [{**POLICY["Statement"][0], "Effect": "Allow"}]}
    changes = client.diff(target, observed(policy=normalize_policy(json.dumps(allow))))
    assert [c.path for c in changes] == ["policy"]
    assert changes[0].calls == ("s3:PutBucketPolicy",)
    assert changes[0].desired["Statement"][0]["Effect"] == "Deny"


def test_empty_policy_removes_an_existing_policy(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, policy="")
    changes = client.diff(target, observed(policy=normalize_policy(json.dumps(POLICY))))
    assert [(c.path, c.desired, c.calls) for c in changes] == [("policy", None, ("s3:DeleteBucketPolicy",))]


def test_aes256_matches_aws_reporting_bucket_key_disabled(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, encryption={"algorithm": "AES256"})
    assert client.diff(target, observed(encryption={"algorithm": "AES256", "bucketKeyEnabled": False})) == []


def test_kms_without_key_id_matches_the_aws_managed_key(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, encryption={"algorithm": "aws:kms"})
    actual = {
        "algorithm": "aws:kms",
        "kmsKeyId": "arn:aws:kms:us-east-1:123:key/abc",
        "bucketKeyEnabled": False,
    }
    assert client.diff(target, observed(encryption=actual)) == []


def test_kms_bucket_key_enabled_but_disabled_in_aws_is_a_change(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, encryption={"algorithm": "aws:kms", "bucketKeyEnabled": True})
    changes = client.diff(target, observed(encryption={"algorithm": "aws:kms", "bucketKeyEnabled": False}))
    assert [(c.path, c.calls) for c in changes] == [("encryption", ("s3:PutBucketEncryption",))]
    assert changes[0].desired == {"algorithm": "aws:kms", "bucketKeyEnabled": True}


def test_kms_desired_but_aws_uses_sse_s3_is_a_change(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, encryption={"algorithm": "aws:kms"})
    changes = client.diff(target, observed(encryption={"algorithm": "AES256", "bucketKeyEnabled": False}))
    assert [c.path for c in changes] == ["encryption"]


def test_authoritative_tags_flag_a_tag_added_outside_awsop(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, tags={"team": "data"})
    changes = client.diff(target, observed({**SYSTEM, "team": "data", "cost-center": "42"}))
    assert len(changes) == 1
    assert changes[0].path == "tags"
    assert changes[0].actual["cost-center"] == "42"
    assert "cost-center" not in changes[0].desired
    assert changes[0].calls == ("s3:PutBucketTagging",)


def test_tags_omitted_from_spec_keep_tags_added_outside_awsop(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client)
    assert client.diff(target, observed({**SYSTEM, "cost-center": "42"})) == []


def test_changed_value_of_a_declared_tag_is_a_change(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, tags={"team": "data"})
    changes = client.diff(target, observed({**SYSTEM, "team": "web"}))
    assert [c.path for c in changes] == ["tags"]
    assert changes[0].explain().startswith("tags: ")
    assert "team: web -> data" in changes[0].explain()  # only the differing key is shown


@pytest.mark.parametrize("authoritative", [True, False], ids=["authoritative", "not-authoritative"])
def test_aws_tags_are_never_drift(engine: Engine, client: BucketClient, authoritative: bool) -> None:
    spec = {"tags": {"team": "data"}} if authoritative else {}
    target = make_target(engine, client, **spec)
    tags = {**SYSTEM, **spec.get("tags", {}), "aws:cloudformation:stack-name": "s", "AWS:Other": "x"}
    assert client.diff(target, observed(tags)) == []


def test_missing_ownership_tags_are_a_tag_change(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client)
    changes = client.diff(target, observed({"managed-by": "awsop"}))
    assert [c.path for c in changes] == ["tags"]
    assert changes[0].desired["awsop.io/owner"] == OWNER


def test_undeclared_facets_never_produce_changes(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client)
    facets = {
        "versioning": "Suspended",
        "encryption": {"algorithm": "aws:kms", "bucketKeyEnabled": True},
        "publicAccessBlock": dict.fromkeys(("blockPublicAcls", "ignorePublicAcls"), False),
        "objectOwnership": "ObjectWriter",
        "lifecycleRules": [{"id": "x"}],
        "cors": [{"id": "c"}],
        "policy": {"Statement": []},
        "logging": {"enabled": True, "targetBucket": "other", "targetPrefix": ""},
    }
    assert client.diff(target, observed(**facets)) == []


def test_versioning_change_explains_itself(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, versioning="Enabled")
    changes = client.diff(target, observed(versioning="Suspended"))
    assert changes == [
        Change("versioning", "Suspended", "Enabled", Action.UPDATE, ("s3:PutBucketVersioning",))
    ]
    assert changes[0].explain() == "versioning: Suspended -> Enabled"


def test_never_versioned_bucket_explains_none(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, versioning="Enabled")
    (change,) = client.diff(target, observed(versioning=None))
    assert change.explain() == "versioning: (none) -> Enabled"


def test_public_access_block_omitted_flags_mean_true(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, publicAccessBlock={"blockPublicPolicy": False})
    aws = {
        "blockPublicAcls": True,
        "ignorePublicAcls": True,
        "blockPublicPolicy": False,
        "restrictPublicBuckets": True,
    }
    assert client.diff(target, observed(publicAccessBlock=aws)) == []
    changes = client.diff(target, observed(publicAccessBlock={**aws, "restrictPublicBuckets": False}))
    assert [c.path for c in changes] == ["publicAccessBlock"]


def test_lifecycle_and_cors_in_another_order_in_spec(engine: Engine, client: BucketClient) -> None:
    rules = [{"id": "b", "expirationDays": 30}, {"id": "a", "abortIncompleteMultipartUploadDays": 7}]
    target = make_target(engine, client, lifecycleRules=rules, cors=[])
    desired = make_target(engine, client, lifecycleRules=list(reversed(rules)))
    facet = next(f for f in FACETS if f.path == "lifecycleRules")
    aws_rules = facet.desired(desired)
    assert client.diff(target, observed(lifecycleRules=aws_rules, cors=[])) == []


def test_changes_follow_the_safe_apply_order(engine: Engine, client: BucketClient) -> None:
    target = make_target(
        engine,
        client,
        tags={"team": "x"},
        policy=json.dumps(POLICY),
        objectOwnership="BucketOwnerEnforced",
        versioning="Enabled",
    )
    changes = client.diff(target, observed({}, versioning=None, objectOwnership="ObjectWriter", policy=None))
    assert [c.path for c in changes] == ["tags", "objectOwnership", "versioning", "policy"]


def test_bucket_in_another_region_is_terminal(engine: Engine, client: BucketClient) -> None:
    target = make_target(engine, client, region="eu-west-1")
    with pytest.raises(TerminalError) as info:
        client.diff(target, observed(region="us-east-1"))
    assert info.value.reason == "RegionMismatch"
    assert "us-east-1" in info.value.message and "eu-west-1" in info.value.message
    assert "immutable" in info.value.message


def test_plan_create_starts_with_create_bucket_carrying_the_tags(
    engine: Engine, client: BucketClient
) -> None:
    target = make_target(
        engine, client, versioning="Enabled", encryption={"algorithm": "AES256"}, cors=[], policy=""
    )
    changes = client.plan_create(target)
    assert [c.calls for c in changes] == [
        ("s3:CreateBucket",),
        (),  # the tags travel with CreateBucket
        ("s3:PutBucketVersioning",),
        ("s3:PutBucketEncryption",),
    ]
    assert all(c.action is Action.CREATE for c in changes)
    assert changes[0].explain() == "create data-bucket"
    assert changes[1].desired == {**SYSTEM}


def test_target_resolves_default_name_region_and_tags(engine: Engine, client: BucketClient) -> None:
    ref = ObjectRef("Bucket", "team-a", "logs", 1)
    target = engine.target(
        client, ref, BucketSpec.model_validate({"tags": {"team": "a", "managed-by": "me"}})
    )
    assert target.aws_name == "team-a-logs"
    assert target.region == REGION
    assert target.owner == "test-cluster/team-a/logs"
    assert target.tags == {
        "managed-by": "me",  # the user's tags override the operator's defaults
        "team": "a",
        "awsop.io/owner": "test-cluster/team-a/logs",
        "awsop.io/kind": "Bucket",
    }
    assert target.deletion_policy == "Retain"


def test_target_makes_no_aws_calls(engine: Engine, client: BucketClient) -> None:
    make_target(engine, client, versioning="Enabled")
    assert engine.clients.log.calls == []
    assert client.clients.log.calls == []


@pytest.mark.parametrize(
    ("field", "aws_key", "day_key"),
    [
        ("transitions", "Transitions", "Days"),
        ("noncurrentVersionTransitions", "NoncurrentVersionTransitions", "NoncurrentDays"),
    ],
    ids=["transitions", "noncurrent-transitions"],
)
def test_lifecycle_transitions_in_another_order_than_aws_returns_are_not_drift(
    engine: Engine, client: BucketClient, field: str, aws_key: str, day_key: str
) -> None:
    from awsop.reconcilers.bucket.lifecycle import _lifecycle_from_aws

    spec_key = "days" if day_key == "Days" else "noncurrentDays"
    listed = [{spec_key: 365, "storageClass": "DEEP_ARCHIVE"}, {spec_key: 30, "storageClass": "STANDARD_IA"}]
    target = make_target(engine, client, lifecycleRules=[{"id": "age", field: listed}])
    aws_rule = {  # S3 returns transitions ordered by age
        "ID": "age",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        aws_key: [
            {day_key: 30, "StorageClass": "STANDARD_IA"},
            {day_key: 365, "StorageClass": "DEEP_ARCHIVE"},
        ],
    }
    assert client.diff(target, observed(lifecycleRules=[_lifecycle_from_aws(aws_rule)])) == []
    aws_rule[aws_key][0]["StorageClass"] = "GLACIER"
    changes = client.diff(target, observed(lifecycleRules=[_lifecycle_from_aws(aws_rule)]))
    assert [c.path for c in changes] == ["lifecycleRules"]
