"""Data protection facets: versioning and default encryption.

Never treats SSE-S3 (the AWS default since 2023) as drift when the spec asks for it and AWS reports no
configuration.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, model_validator

from ..model import Model
from .facet import S3, Facet, missing, opt

MISSING_CODES = frozenset({"ServerSideEncryptionConfigurationNotFoundError"})


class Encryption(Model):
    """Default encryption of new objects."""

    algorithm: Literal["AES256", "aws:kms", "aws:kms:dsse"] = Field(
        description="AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (dual-layer SSE-KMS)."
    )
    kms_key_id: str | None = Field(
        None,
        description="KMS key ID, alias or ARN for aws:kms; omitted = the AWS managed key.",
        max_length=2048,
    )
    bucket_key_enabled: bool | None = Field(None, description="Use an S3 Bucket Key to cut KMS requests.")

    @model_validator(mode="after")
    def _kms_only(self) -> Encryption:
        if self.kms_key_id and self.algorithm == "AES256":
            raise ValueError("kmsKeyId requires algorithm aws:kms or aws:kms:dsse")
        return self


def _encryption_desired(enc: Encryption) -> dict[str, Any]:
    out: dict[str, Any] = {"algorithm": enc.algorithm}
    if enc.kms_key_id:
        out["kmsKeyId"] = enc.kms_key_id
    if enc.bucket_key_enabled is not None:
        out["bucketKeyEnabled"] = enc.bucket_key_enabled
    return out


def _read_versioning(s3: S3, bucket: str) -> Any:
    return s3.get_bucket_versioning(Bucket=bucket).get("Status")


def _write_versioning(s3: S3, bucket: str, value: Any) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": value})


def _read_encryption(s3: S3, bucket: str) -> Any:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if missing(exc, MISSING_CODES):
            return {"algorithm": "AES256"}  # SSE-S3 is the AWS default since 2023: not drift
        raise
    rule = rules[0] if rules else {}
    default = rule.get("ApplyServerSideEncryptionByDefault", {})
    out: dict[str, Any] = {"algorithm": default.get("SSEAlgorithm", "AES256")}
    if default.get("KMSMasterKeyID"):
        out["kmsKeyId"] = default["KMSMasterKeyID"]
    out["bucketKeyEnabled"] = bool(rule.get("BucketKeyEnabled", False))
    return out


def _write_encryption(s3: S3, bucket: str, value: Any) -> None:
    default: dict[str, Any] = {"SSEAlgorithm": value["algorithm"]}
    if value.get("kmsKeyId"):
        default["KMSMasterKeyID"] = value["kmsKeyId"]
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
    if "bucketKeyEnabled" in value:
        rule["BucketKeyEnabled"] = value["bucketKeyEnabled"]
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})


def _encryption_matches(desired: Any, actual: Any) -> bool:
    """Only the declared keys count: AWS fills the rest (a bucket key reported disabled)."""
    if isinstance(desired, dict) and isinstance(actual, dict):
        return all(actual.get(k, False if k == "bucketKeyEnabled" else None) == v for k, v in desired.items())
    return bool(desired == actual)


VERSIONING = Facet(
    "versioning",
    lambda t: opt(t.spec.versioning),
    _read_versioning,
    _write_versioning,
    "GetBucketVersioning",
    "PutBucketVersioning",
    iam={
        "GetBucketVersioning": ("s3:GetBucketVersioning",),
        "PutBucketVersioning": ("s3:PutBucketVersioning",),
    },
)
ENCRYPTION = Facet(
    "encryption",
    lambda t: opt(t.spec.encryption, _encryption_desired),
    _read_encryption,
    _write_encryption,
    "GetBucketEncryption",
    "PutBucketEncryption",
    iam={
        "GetBucketEncryption": ("s3:GetEncryptionConfiguration",),
        "PutBucketEncryption": ("s3:PutEncryptionConfiguration",),
    },
    matches=_encryption_matches,
)
