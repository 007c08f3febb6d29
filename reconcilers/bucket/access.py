"""Access control facets: object ownership, Block Public Access and the bucket policy.

The policy is compared semantically (key order, whitespace and one-element lists are not drift).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from ..model import Model
from ..policy_doc import normalize_policy
from .facet import S3, Facet, missing, opt

MISSING_CODES = frozenset(
    {"NoSuchPublicAccessBlockConfiguration", "OwnershipControlsNotFoundError", "NoSuchBucketPolicy"}
)
ObjectOwnership = Literal["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"]


class PublicAccessBlock(Model):
    """S3 Block Public Access for this bucket. All four flags default to true (the AWS default)."""

    block_public_acls: bool = Field(True, description="Reject PUTs with public ACLs.")
    ignore_public_acls: bool = Field(True, description="Ignore public ACLs on the bucket and its objects.")
    block_public_policy: bool = Field(True, description="Reject bucket policies that grant public access.")
    restrict_public_buckets: bool = Field(
        True, description="Restrict access to buckets with public policies."
    )


def _pab_desired(pab: PublicAccessBlock) -> dict[str, bool]:
    return {
        "blockPublicAcls": pab.block_public_acls,
        "ignorePublicAcls": pab.ignore_public_acls,
        "blockPublicPolicy": pab.block_public_policy,
        "restrictPublicBuckets": pab.restrict_public_buckets,
    }


_PAB_KEYS = {
    "blockPublicAcls": "BlockPublicAcls",
    "ignorePublicAcls": "IgnorePublicAcls",
    "blockPublicPolicy": "BlockPublicPolicy",
    "restrictPublicBuckets": "RestrictPublicBuckets",
}


def _read_pab(s3: S3, bucket: str) -> Any:
    try:
        conf = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if missing(exc, MISSING_CODES):
            conf = {}
        else:
            raise
    return {ours: bool(conf.get(theirs, False)) for ours, theirs in _PAB_KEYS.items()}


def _write_pab(s3: S3, bucket: str, value: Any) -> None:
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={theirs: value[ours] for ours, theirs in _PAB_KEYS.items()},
    )


def _read_ownership(s3: S3, bucket: str) -> Any:
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    except ClientError as exc:
        if missing(exc, MISSING_CODES):
            return "ObjectWriter"  # no ownership controls behave as ObjectWriter
        raise
    return rules[0]["ObjectOwnership"] if rules else "ObjectWriter"


def _write_ownership(s3: S3, bucket: str, value: Any) -> None:
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": value}]})


def _read_policy(s3: S3, bucket: str) -> Any:
    try:
        return normalize_policy(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if missing(exc, MISSING_CODES):
            return None
        raise


def _write_policy(s3: S3, bucket: str, value: Any) -> None:
    if value is None:
        s3.delete_bucket_policy(Bucket=bucket)
    else:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(value, sort_keys=True))


OBJECT_OWNERSHIP = Facet(
    "objectOwnership",
    lambda t: opt(t.spec.object_ownership),
    _read_ownership,
    _write_ownership,
    "GetBucketOwnershipControls",
    "PutBucketOwnershipControls",
    iam={
        "GetBucketOwnershipControls": ("s3:GetBucketOwnershipControls",),
        "PutBucketOwnershipControls": ("s3:PutBucketOwnershipControls",),
    },
)
PUBLIC_ACCESS_BLOCK = Facet(
    "publicAccessBlock",
    lambda t: opt(t.spec.public_access_block, _pab_desired),
    _read_pab,
    _write_pab,
    "GetPublicAccessBlock",
    "PutPublicAccessBlock",
    iam={
        "GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock",),
        "PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock",),
    },
)
POLICY = Facet(
    "policy",
    lambda t: opt(t.spec.policy, normalize_policy),
    _read_policy,
    _write_policy,
    "GetBucketPolicy",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    iam={
        "GetBucketPolicy": ("s3:GetBucketPolicy",),
        "PutBucketPolicy": ("s3:PutBucketPolicy",),
        "DeleteBucketPolicy": ("s3:DeleteBucketPolicy",),
    },
)
