"""Data protection facets: versioning, default encryption and Object Lock.

Never treats SSE-S3 (the AWS default since 2023) as drift when the spec asks for it and AWS reports no
configuration. Object Lock is enabled by CreateBucket only (awsop never turns it on for an existing
bucket); a declared lock that AWS does not show is a terminal problem, never Ready.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, JsonValue, model_validator

from ..model import Model
from .facet import S3, Facet, missing, opt

MISSING_CODES = frozenset({"ServerSideEncryptionConfigurationNotFoundError"})
LOCK_MISSING_CODES = frozenset({"ObjectLockConfigurationNotFoundError"})


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


# -- Object Lock ----------------------------------------------------------------------------------------

RETENTION_RULES: list[JsonValue] = [
    {"rule": "has(self.days) != has(self.years)", "message": "set exactly one of days or years"}
]


class DefaultRetention(Model):
    """The retention every new object version gets unless it sets its own."""

    model_config = {**Model.model_config, "json_schema_extra": {"x-kubernetes-validations": RETENTION_RULES}}

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = Field(
        description="GOVERNANCE (users with s3:BypassGovernanceRetention may shorten it) or COMPLIANCE "
        "(nobody can, not even the root user)."
    )
    days: int | None = Field(None, ge=1, le=36500, description="Retention in days (or years).")
    years: int | None = Field(None, ge=1, le=100, description="Retention in years (or days).")

    @model_validator(mode="after")
    def _one_period(self) -> DefaultRetention:
        if (self.days is None) == (self.years is None):
            raise ValueError("objectLock.defaultRetention: set exactly one of days or years")
        return self


class ObjectLock(Model):
    """S3 Object Lock (WORM). Enabled when the bucket is created, never afterwards by awsop; it cannot be
    turned off. Removing this field stops managing the default retention and leaves the lock as it is."""

    default_retention: DefaultRetention | None = Field(
        None, description="Default retention of new object versions; omitted = not managed."
    )


def _lock_desired(lock: ObjectLock) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": True}
    if lock.default_retention is not None:
        retention = lock.default_retention
        out["defaultRetention"] = {"mode": retention.mode, "days": retention.days, "years": retention.years}
    return out


def _read_lock(s3: S3, bucket: str) -> Any:
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
    except ClientError as exc:
        if missing(exc, LOCK_MISSING_CODES):
            return {"enabled": False, "defaultRetention": None}
        raise
    retention = (config.get("Rule") or {}).get("DefaultRetention")
    return {
        "enabled": config.get("ObjectLockEnabled") == "Enabled",
        "defaultRetention": None
        if not retention
        else {
            "mode": retention.get("Mode"),
            "days": retention.get("Days") or None,  # an unset period may come back as 0
            "years": retention.get("Years") or None,
        },
    }


def _write_lock(s3: S3, bucket: str, value: Any) -> None:
    config: dict[str, Any] = {"ObjectLockEnabled": "Enabled"}
    retention = value.get("defaultRetention")
    if retention:
        period = {"Days": retention["days"]} if retention["days"] else {"Years": retention["years"]}
        config["Rule"] = {"DefaultRetention": {"Mode": retention["mode"], **period}}
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)


def _lock_matches(desired: Any, actual: Any) -> bool:
    """The default retention counts only where the spec declares it."""
    if not isinstance(actual, dict) or actual.get("enabled") != desired["enabled"]:
        return False
    return "defaultRetention" not in desired or desired["defaultRetention"] == actual.get("defaultRetention")


def _lock_problem(desired: Any, actual: Any) -> str | None:
    if isinstance(actual, dict) and not actual.get("enabled"):
        return (
            "the spec declares objectLock but AWS shows Object Lock disabled on this bucket (it was created "
            "without it). awsop enables Object Lock only when it creates a bucket: remove objectLock from "
            "the spec, or enable it on the bucket outside awsop (PutObjectLockConfiguration, versioning on)"
        )
    return None


OBJECT_LOCK = Facet(
    "objectLock",
    lambda t: opt(t.spec.object_lock, _lock_desired),
    _read_lock,
    _write_lock,
    "GetObjectLockConfiguration",
    "PutObjectLockConfiguration",
    iam={
        "GetObjectLockConfiguration": ("s3:GetBucketObjectLockConfiguration",),
        "PutObjectLockConfiguration": ("s3:PutBucketObjectLockConfiguration",),
    },
    matches=_lock_matches,
    problem=_lock_problem,
    written_at_create=lambda desired: "defaultRetention" in desired,
)
