"""BucketSpec validation: what a user sees when a manifest is wrong, and what is accepted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from awsop.reconcilers.bucket import NAME_PATTERN, BucketSpec, bucket_name_problem, default_bucket_name


def error_text(spec: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        BucketSpec.model_validate(spec)
    return str(info.value)


# -- bucket names ----------------------------------------------------------------------------------

VALID_NAMES = [
    pytest.param("abc", id="three-chars"),
    pytest.param("a" * 63, id="sixty-three-chars"),
    pytest.param("my-bucket", id="hyphen"),
    pytest.param("logs.example.com", id="dots"),
    pytest.param("0123-bucket", id="leading-digit"),
    pytest.param("192.168.1.1a", id="ip-like-with-letter"),
    pytest.param("xn-single-hyphen", id="xn-single-hyphen"),
    pytest.param("my-s3alias-bucket", id="s3alias-not-suffix"),
]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_bucket_name_is_accepted(name: str) -> None:
    assert BucketSpec.model_validate({"name": name}).name == name
    assert bucket_name_problem(name) is None


INVALID_NAMES = [
    # (name, fragment of the model's message, fragment of bucket_name_problem's message)
    pytest.param("ab", "at least 3 characters", "3-63 characters", id="too-short"),
    pytest.param("a" * 64, "at most 63 characters", "3-63 characters", id="too-long"),
    pytest.param("My-Bucket", NAME_PATTERN, "lowercase letters", id="uppercase"),
    pytest.param("my_bucket", NAME_PATTERN, "lowercase letters", id="underscore"),
    pytest.param("-bucket", NAME_PATTERN, "start and end with a letter or digit", id="leading-hyphen"),
    pytest.param("bucket-", NAME_PATTERN, "start and end with a letter or digit", id="trailing-hyphen"),
    pytest.param("192.168.1.1", "formatted as an IP address", "formatted as an IP address", id="ip-address"),
    pytest.param("xn--bucket", "must not start with xn--", "must not start with xn--", id="xn-prefix"),
    pytest.param(
        "sthree-bucket", "must not start with sthree-", "must not start with sthree-", id="sthree-prefix"
    ),
    pytest.param(
        "data-s3alias", "must not end with -s3alias", "must not end with -s3alias", id="s3alias-suffix"
    ),
    pytest.param("data--ol-s3", "must not end with --ol-s3", "must not end with --ol-s3", id="ol-s3-suffix"),
    pytest.param("data.mrap", "must not end with .mrap", "must not end with .mrap", id="mrap-suffix"),
    pytest.param("data--x-s3", "must not end with --x-s3", "must not end with --x-s3", id="x-s3-suffix"),
    pytest.param("my..bucket", "two adjacent periods", "two adjacent periods", id="double-dot"),
]


@pytest.mark.parametrize(("name", "model_message", "problem_message"), INVALID_NAMES)
def test_invalid_bucket_name_is_rejected_naming_the_rule(
    name: str, model_message: str, problem_message: str
) -> None:
    text = error_text({"name": name})
    assert "name" in text
    assert model_message in text
    problem = bucket_name_problem(name)
    assert problem is not None
    assert problem_message in problem
    assert repr(name) in problem


# -- region ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-central-1",
        "ap-southeast-2",
        "us-gov-west-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "il-central-1",
    ],
)
def test_real_region_names_are_accepted(region: str) -> None:
    assert BucketSpec.model_validate({"region": region}).region == region


@pytest.mark.parametrize(
    "region",
    [
        pytest.param("US-EAST-1", id="uppercase"),
        pytest.param("us-east", id="no-number"),
        pytest.param("useast1", id="no-hyphens"),
        pytest.param("us-east-1a", id="availability-zone"),
        pytest.param("us-east-123", id="three-digit-number"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_region_is_rejected(region: str) -> None:
    text = error_text({"region": region})
    assert "region" in text
    assert "pattern" in text


# -- tags ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        pytest.param({"aws:cloudformation:stack": "x"}, "aws: prefix is reserved", id="aws-prefix"),
        pytest.param({"AWS:Team": "x"}, "aws: prefix is reserved", id="aws-prefix-uppercase"),
        pytest.param({"awsop.io/owner": "someone"}, "set by awsop itself", id="owner-tag"),
        pytest.param({"awsop.io/kind": "Bucket"}, "set by awsop itself", id="kind-tag"),
        pytest.param({"k" * 129: "v"}, "must be 1-128 characters", id="key-129-chars"),
        pytest.param({"": "v"}, "must be 1-128 characters", id="empty-key"),
        pytest.param({"team": "v" * 257}, "longer than 256 characters", id="value-257-chars"),
        pytest.param({f"key{i}": "v" for i in range(49)}, "at most 48 tags", id="49-tags"),
    ],
)
def test_invalid_tags_are_rejected(tags: dict[str, str], message: str) -> None:
    text = error_text({"tags": tags})
    assert "tags" in text
    assert message in text


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param({"k" * 128: "v" * 256}, id="key-128-value-256"),
        pytest.param({f"key{i}": "v" for i in range(48)}, id="48-tags"),
        pytest.param({"team": ""}, id="empty-value"),
        pytest.param({"awsop.io/team": "x"}, id="awsop-prefix-not-system"),
        pytest.param({}, id="empty-map"),
    ],
)
def test_tags_at_the_limits_are_accepted(tags: dict[str, str]) -> None:
    assert BucketSpec.model_validate({"tags": tags}).tags == tags


# -- encryption, lifecycle, policy -----------------------------------------------------------------


def test_kms_key_with_aes256_is_rejected() -> None:
    text = error_text({"encryption": {"algorithm": "AES256", "kmsKeyId": "alias/mine"}})
    assert "kmsKeyId requires algorithm aws:kms" in text


@pytest.mark.parametrize("algorithm", ["aws:kms", "aws:kms:dsse"])
def test_kms_key_with_kms_algorithm_is_accepted(algorithm: str) -> None:
    spec = BucketSpec.model_validate({"encryption": {"algorithm": algorithm, "kmsKeyId": "alias/mine"}})
    assert spec.encryption is not None and spec.encryption.kms_key_id == "alias/mine"


def test_unknown_encryption_algorithm_is_rejected() -> None:
    text = error_text({"encryption": {"algorithm": "DES"}})
    assert "algorithm" in text


def test_lifecycle_rule_without_action_is_rejected() -> None:
    text = error_text({"lifecycleRules": [{"id": "nothing", "prefix": "logs/"}]})
    assert "lifecycle rule 'nothing' has no action" in text


def test_lifecycle_rule_with_delete_marker_false_only_has_no_action() -> None:
    text = error_text({"lifecycleRules": [{"id": "markers", "expiredObjectDeleteMarker": False}]})
    assert "has no action" in text


def test_lifecycle_expiration_and_delete_marker_together_are_rejected() -> None:
    rule = {"id": "both", "expirationDays": 30, "expiredObjectDeleteMarker": True}
    assert "exclude each other" in error_text({"lifecycleRules": [rule]})


def test_duplicate_lifecycle_rule_ids_are_rejected() -> None:
    rules = [{"id": "same", "expirationDays": 30}, {"id": "same", "abortIncompleteMultipartUploadDays": 7}]
    assert "lifecycleRules ids must be unique" in error_text({"lifecycleRules": rules})


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        pytest.param("{not json", "policy is not valid JSON", id="not-json"),
        pytest.param(
            '{"Version": "2012-10-17"}', "must be a JSON object with a Statement", id="no-statement"
        ),
        pytest.param('[{"Statement": []}]', "must be a JSON object with a Statement", id="array"),
        pytest.param('"Statement"', "must be a JSON object with a Statement", id="string"),
    ],
)
def test_invalid_policy_is_rejected(policy: str, message: str) -> None:
    text = error_text({"policy": policy})
    assert "policy" in text
    assert message in text


def test_empty_policy_is_accepted_as_remove() -> None:
    assert BucketSpec.model_validate({"policy": ""}).policy == ""


# -- field names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"bogus": 1}, id="top-level"),
        pytest.param({"encryption": {"algorithm": "AES256", "keyId": "x"}}, id="nested-encryption"),
        pytest.param(
            {"lifecycleRules": [{"id": "a", "expirationDays": 1, "days": 2}]}, id="nested-lifecycle"
        ),
        pytest.param({"publicAccessBlock": {"blockPublicAcl": True}}, id="typo-in-pab"),
    ],
)
def test_unknown_field_is_rejected(spec: dict[str, Any]) -> None:
    assert "Extra inputs are not permitted" in error_text(spec)


def test_camel_case_fields_are_accepted() -> None:
    spec = BucketSpec.model_validate(
        {
            "deletionPolicy": "Delete",
            "managementPolicy": "ObserveOnly",
            "driftPolicy": "Report",
            "adoptionPolicy": "Adopt",
            "objectOwnership": "BucketOwnerEnforced",
            "publicAccessBlock": {"blockPublicAcls": False, "restrictPublicBuckets": False},
            "encryption": {"algorithm": "aws:kms", "kmsKeyId": "alias/k", "bucketKeyEnabled": True},
            "lifecycleRules": [
                {
                    "id": "r",
                    "expirationDays": 30,
                    "noncurrentVersionExpirationDays": 5,
                    "noncurrentVersionTransitions": [{"noncurrentDays": 1, "storageClass": "GLACIER"}],
                    "abortIncompleteMultipartUploadDays": 2,
                    "transitions": [{"days": 10, "storageClass": "STANDARD_IA"}],
                }
            ],
            "cors": [
                {
                    "allowedMethods": ["GET"],
                    "allowedOrigins": ["*"],
                    "exposeHeaders": ["ETag"],
                    "maxAgeSeconds": 5,
                }
            ],
            "emptyOnDelete": True,
        }
    )
    assert spec.deletion_policy == "Delete"
    assert spec.drift_policy == "Report"
    assert spec.public_access_block is not None
    assert spec.public_access_block.block_public_acls is False
    assert spec.public_access_block.ignore_public_acls is True  # omitted flags default to the AWS default
    assert spec.encryption is not None and spec.encryption.bucket_key_enabled is True
    assert spec.lifecycle_rules is not None
    assert spec.lifecycle_rules[0].noncurrent_version_transitions[0].noncurrent_days == 1
    assert spec.cors is not None and spec.cors[0].max_age_seconds == 5
    assert spec.empty_on_delete is True


def test_camel_case_round_trip_uses_aliases() -> None:
    spec = BucketSpec.model_validate({"objectOwnership": "ObjectWriter", "emptyOnDelete": True})
    dumped = spec.model_dump(by_alias=True, exclude_none=True)
    assert dumped["objectOwnership"] == "ObjectWriter"
    assert dumped["emptyOnDelete"] is True
    assert BucketSpec.model_validate(dumped) == spec


# -- default names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "namespace", "name", "expected"),
    [
        pytest.param("", "default", "app-data", "default-app-data", id="plain"),
        pytest.param("acme-", "team-a", "logs", "acme-team-a-logs", id="prefix"),
        pytest.param("", "default", "web.assets", "default-web-assets", id="dots-become-hyphens"),
        pytest.param("", "Default", "App", "default-app", id="lowercased"),
    ],
)
def test_default_bucket_name(prefix: str, namespace: str, name: str, expected: str) -> None:
    assert default_bucket_name(prefix, namespace, name) == expected


def test_long_default_names_are_hashed_to_63_and_stay_unique() -> None:
    first = default_bucket_name("", "namespace-" + "x" * 40, "object-" + "y" * 40 + "-one")
    second = default_bucket_name("", "namespace-" + "x" * 40, "object-" + "y" * 40 + "-two")
    assert len(first) == len(second) == 63
    assert first != second
    assert first[:54] == second[:54]
    assert bucket_name_problem(first) is None


@pytest.mark.parametrize(
    ("namespace", "name"),
    [("sthree", "data"), ("team", "s3alias"), ("xn", "-data"), ("10", "0.0.1")],
    ids=["sthree-prefix", "s3alias-suffix", "xn-prefix", "ip-like"],
)
def test_default_name_from_reserved_words_is_still_valid(namespace: str, name: str) -> None:
    generated = default_bucket_name("", namespace, name)
    assert bucket_name_problem(generated) is None, generated


DNS_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)
DNS_SUBDOMAIN = st.lists(DNS_LABEL, min_size=1, max_size=4).map(".".join).filter(lambda s: len(s) <= 253)
PREFIX = st.from_regex(r"[a-z0-9-]{0,12}", fullmatch=True)


@given(prefix=PREFIX, namespace=DNS_LABEL, name=DNS_SUBDOMAIN)
def test_default_bucket_name_is_always_a_valid_bucket_name(prefix: str, namespace: str, name: str) -> None:
    generated = default_bucket_name(prefix, namespace, name)
    assert bucket_name_problem(generated) is None, generated
    assert len(generated) <= 63
    assert default_bucket_name(prefix, namespace, name) == generated  # stable across reconciles
    BucketSpec.model_validate({"name": generated})


def test_policy_json_with_statement_object_is_accepted() -> None:
    doc = {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:*"}}
    assert BucketSpec.model_validate({"policy": json.dumps(doc)}).policy == json.dumps(doc)
