"""The Bucket kind: one S3 bucket, s3.awsop.io/v1alpha1.

Reading this module tells the whole story of a bucket: its spec model, how it is observed (HeadBucket,
then only the facets the spec declares, plus tags for ownership), how it differs (normalised on both
sides: policy JSON, tag maps, AWS defaults), how it is changed (one facet = one call, in a safe order),
how it is deleted (never emptied unless `emptyOnDelete: true`), and which S3 errors are terminal.

It must never: read or write a facet the spec leaves out, write `aws:` tags, delete a bucket that still
holds objects unless the manifest asked for that, or treat AWS defaults (SSE-S3, Block Public Access)
as drift.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, JsonValue, field_validator, model_validator

from .aws import AwsClients, RetryingClient
from .changes import Action, Change
from .engine import DeleteOutcome, DeleteResult, ObjectRef, Target
from .errors import (
    AccessError,
    AlreadyCreatedError,
    ErrorClass,
    RecoverableError,
    TerminalError,
    classify,
    error_code,
)
from .model import IMMUTABLE, AwsObjectSpec, Model
from .policies import DeletionPolicy
from .policy_doc import check_policy_document, normalize_policy
from .refs import NamedDependency
from .tags import OWNER_TAG, SYSTEM_TAGS, tag_drift, tags_to_write

KIND = "Bucket"

# S3 error codes that only a manifest change can fix. Everything else is retried.
TERMINAL_CODES = frozenset(
    {
        "InvalidBucketName",
        "BucketAlreadyExists",
        "InvalidArgument",
        "InvalidRequest",
        "MalformedPolicy",
        "MalformedXML",
        "InvalidLocationConstraint",
        "IllegalLocationConstraintException",
        "InvalidStorageClass",
        "InvalidBucketState",
        "UnresolvableGrantByEmailAddress",
        "KeyTooLongError",
        "InvalidTag",
    }
)
# S3's answer to PutBucketLogging while the target bucket does not exist (yet): the target is waited for
LOGGING_TARGET_MISSING = frozenset({"InvalidTargetBucketForLogging"})
# Every S3 operation this module calls, and the IAM actions AWS authorizes it with. The shipped policy is
# generated from this table (awsop iam-policy), and a test fails if an operation is called that is not here.
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "HeadBucket": ("s3:ListBucket",),
    # tags given to CreateBucket (CreateBucketConfiguration.Tags) are authorized by s3:TagResource
    "CreateBucket": ("s3:CreateBucket", "s3:TagResource"),
    "ListBuckets": ("s3:ListAllMyBuckets",),
    "DeleteBucket": ("s3:DeleteBucket",),
    "GetBucketTagging": ("s3:GetBucketTagging",),
    "PutBucketTagging": ("s3:PutBucketTagging",),
    "DeleteBucketTagging": ("s3:PutBucketTagging",),
    "GetBucketVersioning": ("s3:GetBucketVersioning",),
    "PutBucketVersioning": ("s3:PutBucketVersioning",),
    "GetBucketEncryption": ("s3:GetEncryptionConfiguration",),
    "PutBucketEncryption": ("s3:PutEncryptionConfiguration",),
    "GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock",),
    "PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock",),
    "GetBucketOwnershipControls": ("s3:GetBucketOwnershipControls",),
    "PutBucketOwnershipControls": ("s3:PutBucketOwnershipControls",),
    "GetBucketLifecycleConfiguration": ("s3:GetLifecycleConfiguration",),
    "PutBucketLifecycleConfiguration": ("s3:PutLifecycleConfiguration",),
    "DeleteBucketLifecycle": ("s3:PutLifecycleConfiguration",),
    "GetBucketCors": ("s3:GetBucketCORS",),
    "PutBucketCors": ("s3:PutBucketCORS",),
    "DeleteBucketCors": ("s3:PutBucketCORS",),
    "GetBucketPolicy": ("s3:GetBucketPolicy",),
    "PutBucketPolicy": ("s3:PutBucketPolicy",),
    "DeleteBucketPolicy": ("s3:DeleteBucketPolicy",),
    "GetBucketLogging": ("s3:GetBucketLogging",),
    "PutBucketLogging": ("s3:PutBucketLogging",),
    "ListObjectVersions": ("s3:ListBucketVersions",),
    "DeleteObjects": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
}
NOT_FOUND_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})
MISSING_CONFIG_CODES = frozenset(
    {
        "NoSuchTagSet",
        "NoSuchTagSetError",
        "ServerSideEncryptionConfigurationNotFoundError",
        "NoSuchPublicAccessBlockConfiguration",
        "OwnershipControlsNotFoundError",
        "NoSuchLifecycleConfiguration",
        "NoSuchCORSConfiguration",
        "NoSuchBucketPolicy",
    }
)

# -- spec ------------------------------------------------------------------------------------------

NAME_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
NAME_RULES: list[JsonValue] = [
    {"rule": "!self.contains('..')", "message": "bucket names must not contain two adjacent periods"},
    {"rule": "!self.startsWith('xn--')", "message": "bucket names must not start with xn--"},
    {"rule": "!self.startsWith('sthree-')", "message": "bucket names must not start with sthree-"},
    {"rule": "!self.endsWith('-s3alias')", "message": "bucket names must not end with -s3alias"},
    {"rule": "!self.endsWith('--ol-s3')", "message": "bucket names must not end with --ol-s3"},
    {"rule": "!self.endsWith('.mrap')", "message": "bucket names must not end with .mrap"},
    {"rule": "!self.endsWith('--x-s3')", "message": "bucket names must not end with --x-s3"},
    {
        "rule": "!self.matches('^[0-9]+\\\\.[0-9]+\\\\.[0-9]+\\\\.[0-9]+$')",
        "message": "bucket names must not be formatted as an IP address",
    },
]


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a valid S3 bucket name, or None. Mirrors the CRD's pattern and CEL rules."""
    if not 3 <= len(name) <= 63:
        return f"bucket name {name!r} must be 3-63 characters long (has {len(name)})"
    if not re.fullmatch(NAME_PATTERN, name):
        return (
            f"bucket name {name!r} may contain only lowercase letters, digits, hyphens and dots, and must "
            "start and end with a letter or digit"
        )
    if ".." in name:
        return f"bucket name {name!r} must not contain two adjacent periods"
    if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", name):  # the CRD's CEL rule, exactly
        return f"bucket name {name!r} must not be formatted as an IP address"
    for prefix in ("xn--", "sthree-"):
        if name.startswith(prefix):
            return f"bucket name {name!r} must not start with {prefix}"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3"):
        if name.endswith(suffix):
            return f"bucket name {name!r} must not end with {suffix}"
    return None


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


class PublicAccessBlock(Model):
    """S3 Block Public Access for this bucket. All four flags default to true (the AWS default)."""

    block_public_acls: bool = Field(True, description="Reject PUTs with public ACLs.")
    ignore_public_acls: bool = Field(True, description="Ignore public ACLs on the bucket and its objects.")
    block_public_policy: bool = Field(True, description="Reject bucket policies that grant public access.")
    restrict_public_buckets: bool = Field(
        True, description="Restrict access to buckets with public policies."
    )


class Transition(Model):
    days: int = Field(ge=0, le=36500, description="Days after creation.")
    storage_class: Literal[
        "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"
    ] = Field(description="Target storage class.")


class NoncurrentTransition(Model):
    noncurrent_days: int = Field(ge=1, le=36500, description="Days after the version became noncurrent.")
    storage_class: Literal[
        "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"
    ] = Field(description="Target storage class.")


class LifecycleRule(Model):
    """One lifecycle rule. Prefer a rule that aborts incomplete multipart uploads."""

    id: str = Field(min_length=1, max_length=255, description="Unique rule ID.")
    enabled: bool = Field(True, description="Whether the rule is applied.")
    prefix: str = Field(
        "", max_length=1024, description="Object key prefix the rule applies to; empty = all."
    )
    expiration_days: int | None = Field(
        None, ge=1, le=36500, description="Expire current versions after N days."
    )
    expired_object_delete_marker: bool | None = Field(
        None, description="Remove delete markers with no noncurrent versions."
    )
    transitions: list[Transition] = Field(
        default_factory=list, max_length=10, description="Storage class transitions."
    )
    noncurrent_version_expiration_days: int | None = Field(
        None, ge=1, le=36500, description="Expire noncurrent versions N days after they become noncurrent."
    )
    noncurrent_version_transitions: list[NoncurrentTransition] = Field(
        default_factory=list, max_length=10, description="Noncurrent version transitions."
    )
    abort_incomplete_multipart_upload_days: int | None = Field(
        None, ge=1, le=36500, description="Abort multipart uploads not completed within N days."
    )

    @model_validator(mode="after")
    def _has_action(self) -> LifecycleRule:
        if not (
            self.expiration_days
            or self.expired_object_delete_marker
            or self.transitions
            or self.noncurrent_version_expiration_days
            or self.noncurrent_version_transitions
            or self.abort_incomplete_multipart_upload_days
        ):
            raise ValueError(f"lifecycle rule {self.id!r} has no action (expiration, transition or abort)")
        if self.expiration_days and self.expired_object_delete_marker:
            raise ValueError(
                f"lifecycle rule {self.id!r}: expirationDays and expiredObjectDeleteMarker exclude each other"
            )
        return self


class CorsRule(Model):
    id: str | None = Field(None, max_length=255, description="Optional rule ID.")
    allowed_methods: list[Literal["GET", "PUT", "POST", "DELETE", "HEAD"]] = Field(
        min_length=1, description="HTTP methods allowed from the origins."
    )
    allowed_origins: list[str] = Field(min_length=1, description="Origins, e.g. https://example.com or *.")
    allowed_headers: list[str] = Field(
        default_factory=list, description="Headers allowed in preflight requests."
    )
    expose_headers: list[str] = Field(
        default_factory=list, description="Response headers exposed to the browser."
    )
    max_age_seconds: int | None = Field(None, ge=0, description="Preflight cache time in seconds.")


class Logging(Model):
    """Server access logging to another bucket."""

    enabled: bool = Field(True, description="false turns access logging off.")
    target_bucket: str = Field("", max_length=63, description="Bucket that receives the logs (not this one).")
    target_prefix: str = Field("", max_length=1024, description="Key prefix for log objects.")

    @model_validator(mode="after")
    def _target(self) -> Logging:
        if self.enabled and not self.target_bucket:
            raise ValueError("logging.targetBucket is required when logging is enabled")
        return self


class BucketSpec(AwsObjectSpec):
    """Desired state of an S3 bucket. Facets left out are neither read nor written."""

    name: str | None = Field(
        None,
        description="S3 bucket name (global): 3-63 lowercase letters, digits, hyphens, dots. Defaults to "
        "<prefix><namespace>-<metadata.name>. Immutable.",
        min_length=3,
        max_length=63,
        pattern=NAME_PATTERN,
        json_schema_extra={**IMMUTABLE, "x-kubernetes-validations": NAME_RULES},
    )
    versioning: Literal["Enabled", "Suspended"] | None = Field(
        None, description="Enabled or Suspended. A versioned bucket can never return to unversioned."
    )
    encryption: Encryption | None = Field(None, description="Default encryption (AWS default: SSE-S3).")
    public_access_block: PublicAccessBlock | None = Field(None, description="Block Public Access settings.")
    object_ownership: Literal["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"] | None = Field(
        None, description="Object ownership; BucketOwnerEnforced disables ACLs (the AWS default)."
    )
    lifecycle_rules: list[LifecycleRule] | None = Field(
        None, max_length=1000, description="Lifecycle rules; an empty list removes all rules."
    )
    cors: list[CorsRule] | None = Field(
        None, max_length=100, description="CORS rules; an empty list removes them."
    )
    policy: str | None = Field(
        None,
        description="Bucket policy as a JSON document; compared semantically (key order and whitespace "
        "are not drift). An empty string removes the policy.",
        max_length=20480,
    )
    logging: Logging | None = Field(None, description="Server access logging.")
    empty_on_delete: bool = Field(
        False,
        description="With deletionPolicy Delete, remove every object version and delete marker before "
        "deleting the bucket. Without it a non-empty bucket is never deleted.",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        if value is not None and (problem := bucket_name_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("policy")
    @classmethod
    def _policy_json(cls, value: str | None) -> str | None:
        return check_policy_document(value)

    @model_validator(mode="after")
    def _logging_target(self) -> BucketSpec:
        if self.lifecycle_rules is not None:
            ids = [rule.id for rule in self.lifecycle_rules]
            if len(ids) != len(set(ids)):
                raise ValueError("lifecycleRules ids must be unique")
        return self

    def named_dependencies(self) -> list[NamedDependency]:
        if self.logging is None or not self.logging.enabled:
            return []
        return [
            NamedDependency(KIND, self.logging.target_bucket, "logging.targetBucket", LOGGING_TARGET_MISSING)
        ]


# -- normalisation (pure) ---------------------------------------------------------------------------


def _by_days(transitions: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Transitions as S3 returns them, ordered by age: the order a spec lists them in is not drift."""
    return sorted(transitions, key=lambda t: (t[key] or 0, t["storageClass"] or ""))


def _lifecycle_desired(rule: LifecycleRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "enabled": rule.enabled,
        "prefix": rule.prefix,
        "expirationDays": rule.expiration_days,
        "expiredObjectDeleteMarker": rule.expired_object_delete_marker or None,  # false == absent in S3
        "transitions": _by_days(
            [{"days": t.days, "storageClass": t.storage_class} for t in rule.transitions], "days"
        ),
        "noncurrentVersionExpirationDays": rule.noncurrent_version_expiration_days,
        "noncurrentVersionTransitions": _by_days(
            [
                {"noncurrentDays": t.noncurrent_days, "storageClass": t.storage_class}
                for t in rule.noncurrent_version_transitions
            ],
            "noncurrentDays",
        ),
        "abortIncompleteMultipartUploadDays": rule.abort_incomplete_multipart_upload_days,
    }


def _lifecycle_from_aws(rule: dict[str, Any]) -> dict[str, Any]:
    filt = rule.get("Filter") or {}
    prefix = filt.get("Prefix", rule.get("Prefix", "")) or ""
    if "And" in filt:
        prefix = filt["And"].get("Prefix", "") or ""
    expiration = rule.get("Expiration") or {}
    noncurrent = rule.get("NoncurrentVersionExpiration") or {}
    abort = rule.get("AbortIncompleteMultipartUpload") or {}
    return {
        "id": rule.get("ID", ""),
        "enabled": rule.get("Status") == "Enabled",
        "prefix": prefix,
        "expirationDays": expiration.get("Days"),
        "expiredObjectDeleteMarker": expiration.get("ExpiredObjectDeleteMarker") or None,
        "transitions": _by_days(
            [
                {"days": t.get("Days"), "storageClass": t.get("StorageClass")}
                for t in rule.get("Transitions", [])
            ],
            "days",
        ),
        "noncurrentVersionExpirationDays": noncurrent.get("NoncurrentDays"),
        "noncurrentVersionTransitions": _by_days(
            [
                {"noncurrentDays": t.get("NoncurrentDays"), "storageClass": t.get("StorageClass")}
                for t in rule.get("NoncurrentVersionTransitions", [])
            ],
            "noncurrentDays",
        ),
        "abortIncompleteMultipartUploadDays": abort.get("DaysAfterInitiation"),
    }


def _lifecycle_to_aws(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ID": rule["id"],
        "Status": "Enabled" if rule["enabled"] else "Disabled",
        "Filter": {"Prefix": rule["prefix"]},
    }
    if rule["expirationDays"]:
        out["Expiration"] = {"Days": rule["expirationDays"]}
    elif rule["expiredObjectDeleteMarker"]:
        out["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    if rule["transitions"]:
        out["Transitions"] = [
            {"Days": t["days"], "StorageClass": t["storageClass"]} for t in rule["transitions"]
        ]
    if rule["noncurrentVersionExpirationDays"]:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["noncurrentVersionExpirationDays"]}
    if rule["noncurrentVersionTransitions"]:
        out["NoncurrentVersionTransitions"] = [
            {"NoncurrentDays": t["noncurrentDays"], "StorageClass": t["storageClass"]}
            for t in rule["noncurrentVersionTransitions"]
        ]
    if rule["abortIncompleteMultipartUploadDays"]:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": rule["abortIncompleteMultipartUploadDays"]
        }
    return out


def _cors_desired(rule: CorsRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "allowedMethods": sorted(rule.allowed_methods),
        "allowedOrigins": sorted(rule.allowed_origins),
        "allowedHeaders": sorted(rule.allowed_headers),
        "exposeHeaders": sorted(rule.expose_headers),
        "maxAgeSeconds": rule.max_age_seconds,
    }


def _cors_from_aws(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rule.get("ID"),
        "allowedMethods": sorted(rule.get("AllowedMethods", [])),
        "allowedOrigins": sorted(rule.get("AllowedOrigins", [])),
        "allowedHeaders": sorted(rule.get("AllowedHeaders", [])),
        "exposeHeaders": sorted(rule.get("ExposeHeaders", [])),
        "maxAgeSeconds": rule.get("MaxAgeSeconds"),
    }


def _cors_to_aws(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"AllowedMethods": rule["allowedMethods"], "AllowedOrigins": rule["allowedOrigins"]}
    if rule["id"]:
        out["ID"] = rule["id"]
    if rule["allowedHeaders"]:
        out["AllowedHeaders"] = rule["allowedHeaders"]
    if rule["exposeHeaders"]:
        out["ExposeHeaders"] = rule["exposeHeaders"]
    if rule["maxAgeSeconds"] is not None:
        out["MaxAgeSeconds"] = rule["maxAgeSeconds"]
    return out


def _encryption_desired(enc: Encryption) -> dict[str, Any]:
    out: dict[str, Any] = {"algorithm": enc.algorithm}
    if enc.kms_key_id:
        out["kmsKeyId"] = enc.kms_key_id
    if enc.bucket_key_enabled is not None:
        out["bucketKeyEnabled"] = enc.bucket_key_enabled
    return out


def _pab_desired(pab: PublicAccessBlock) -> dict[str, bool]:
    return {
        "blockPublicAcls": pab.block_public_acls,
        "ignorePublicAcls": pab.ignore_public_acls,
        "blockPublicPolicy": pab.block_public_policy,
        "restrictPublicBuckets": pab.restrict_public_buckets,
    }


def _logging_desired(log: Logging) -> dict[str, Any]:
    if not log.enabled:
        return {"enabled": False}
    return {"enabled": True, "targetBucket": log.target_bucket, "targetPrefix": log.target_prefix}


# -- facets -----------------------------------------------------------------------------------------

S3 = RetryingClient


def _missing(exc: ClientError) -> bool:
    return error_code(exc) in MISSING_CONFIG_CODES


def _read_versioning(s3: S3, bucket: str) -> Any:
    return s3.get_bucket_versioning(Bucket=bucket).get("Status")


def _write_versioning(s3: S3, bucket: str, value: Any) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": value})


def _read_encryption(s3: S3, bucket: str) -> Any:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if _missing(exc):
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
        if _missing(exc):
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
        if _missing(exc):
            return "ObjectWriter"  # no ownership controls behave as ObjectWriter
        raise
    return rules[0]["ObjectOwnership"] if rules else "ObjectWriter"


def _write_ownership(s3: S3, bucket: str, value: Any) -> None:
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": value}]})


def _read_lifecycle(s3: S3, bucket: str) -> Any:
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as exc:
        if _missing(exc):
            return []
        raise
    return sorted((_lifecycle_from_aws(r) for r in rules), key=lambda r: r["id"])


def _write_lifecycle(s3: S3, bucket: str, value: Any) -> None:
    if value:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [_lifecycle_to_aws(r) for r in value]}
        )
    else:
        s3.delete_bucket_lifecycle(Bucket=bucket)


def _read_cors(s3: S3, bucket: str) -> Any:
    try:
        rules = s3.get_bucket_cors(Bucket=bucket).get("CORSRules", [])
    except ClientError as exc:
        if _missing(exc):
            return []
        raise
    return [_cors_from_aws(r) for r in rules]


def _write_cors(s3: S3, bucket: str, value: Any) -> None:
    if value:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [_cors_to_aws(r) for r in value]})
    else:
        s3.delete_bucket_cors(Bucket=bucket)


def _read_policy(s3: S3, bucket: str) -> Any:
    try:
        return normalize_policy(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if _missing(exc):
            return None
        raise


def _write_policy(s3: S3, bucket: str, value: Any) -> None:
    if value is None:
        s3.delete_bucket_policy(Bucket=bucket)
    else:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(value, sort_keys=True))


def _read_logging(s3: S3, bucket: str) -> Any:
    enabled = s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled")
    if not enabled:
        return {"enabled": False}
    return {
        "enabled": True,
        "targetBucket": enabled.get("TargetBucket", ""),
        "targetPrefix": enabled.get("TargetPrefix", ""),
    }


def _write_logging(s3: S3, bucket: str, value: Any) -> None:
    status: dict[str, Any] = {}
    if value.get("enabled"):
        status["LoggingEnabled"] = {
            "TargetBucket": value["targetBucket"],
            "TargetPrefix": value["targetPrefix"],
        }
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus=status)


_UNSET = object()


@dataclass(frozen=True)
class Facet:
    """One independently readable and writable part of a bucket's configuration.

    `desired` returns the normalised desired value, or `_UNSET` when the spec leaves the facet out.
    Facets are listed in the order they must be applied (ownership before policy, versioning before
    anything that depends on it).
    """

    path: str
    desired: Callable[[BucketSpec], Any]
    read: Callable[[S3, str], Any]
    write: Callable[[S3, str, Any], None]
    read_call: str
    write_call: str
    delete_call: str = ""

    def calls_for(self, value: Any) -> tuple[str, ...]:
        empty = value is None or value == []
        return (f"s3:{self.delete_call if (empty and self.delete_call) else self.write_call}",)


def _opt(value: Any, convert: Callable[[Any], Any] = lambda v: v) -> Any:
    return _UNSET if value is None else convert(value)


FACETS: tuple[Facet, ...] = (
    Facet(
        "objectOwnership",
        lambda s: _opt(s.object_ownership),
        _read_ownership,
        _write_ownership,
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
    ),
    Facet(
        "publicAccessBlock",
        lambda s: _opt(s.public_access_block, _pab_desired),
        _read_pab,
        _write_pab,
        "GetPublicAccessBlock",
        "PutPublicAccessBlock",
    ),
    Facet(
        "versioning",
        lambda s: _opt(s.versioning),
        _read_versioning,
        _write_versioning,
        "GetBucketVersioning",
        "PutBucketVersioning",
    ),
    Facet(
        "encryption",
        lambda s: _opt(s.encryption, _encryption_desired),
        _read_encryption,
        _write_encryption,
        "GetBucketEncryption",
        "PutBucketEncryption",
    ),
    Facet(
        "lifecycleRules",
        lambda s: _opt(
            s.lifecycle_rules,
            lambda rules: sorted((_lifecycle_desired(r) for r in rules), key=lambda r: r["id"]),
        ),
        _read_lifecycle,
        _write_lifecycle,
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "DeleteBucketLifecycle",
    ),
    Facet(
        "cors",
        lambda s: _opt(s.cors, lambda rules: [_cors_desired(r) for r in rules]),
        _read_cors,
        _write_cors,
        "GetBucketCors",
        "PutBucketCors",
        "DeleteBucketCors",
    ),
    Facet(
        "logging",
        lambda s: _opt(s.logging, _logging_desired),
        _read_logging,
        _write_logging,
        "GetBucketLogging",
        "PutBucketLogging",
    ),
    Facet(
        "policy",
        lambda s: _opt(s.policy, normalize_policy),
        _read_policy,
        _write_policy,
        "GetBucketPolicy",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
    ),
)


def _matches(path: str, desired: Any, actual: Any) -> bool:
    """Equality after normalisation; for encryption only the declared keys count (AWS fills the rest)."""
    if path == "encryption" and isinstance(desired, dict) and isinstance(actual, dict):
        return all(actual.get(k, False if k == "bucketKeyEnabled" else None) == v for k, v in desired.items())
    return bool(desired == actual)


# -- the client -------------------------------------------------------------------------------------


@dataclass
class BucketObserved:
    name: str
    region: str
    tags: dict[str, str]
    facets: dict[str, Any] = field(default_factory=dict)


class BucketClient:
    """ResourceClient for S3 buckets."""

    kind = KIND
    default_deletion_policy = DeletionPolicy.RETAIN
    global_names = True  # one namespace for every region and account

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def _s3(self, region: str) -> S3:
        return self.clients.client("s3", region)

    def aws_name(self, ref: ObjectRef, spec: BucketSpec, prefix: str) -> str:
        if spec.name:
            return spec.name
        return default_bucket_name(prefix, ref.namespace, ref.name)

    def observe(self, target: Target[BucketSpec], facets: bool = True) -> BucketObserved | None:
        s3 = self._s3(target.region)
        try:
            head = s3.head_bucket(Bucket=target.aws_name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            if error_code(exc) == "403":
                raise _access_denied_on_head(exc, target.aws_name) from exc
            raise
        region = head.get("BucketRegion") or _region_header(head) or target.region
        observed = BucketObserved(target.aws_name, region, self._read_tags(s3, target.aws_name))
        if region != target.region or not facets:
            return observed  # a region conflict is reported by diff (region is immutable)
        for facet in FACETS:
            if facet.desired(target.spec) is not _UNSET:
                observed.facets[facet.path] = facet.read(s3, target.aws_name)
        return observed

    @staticmethod
    def _read_tags(s3: S3, bucket: str) -> dict[str, str]:
        try:
            tag_set = s3.get_bucket_tagging(Bucket=bucket).get("TagSet", [])
        except ClientError as exc:
            if _missing(exc):
                return {}
            raise
        return {t["Key"]: t.get("Value", "") for t in tag_set}  # an empty value may be omitted

    def owner_of(self, observed: BucketObserved) -> str | None:
        return observed.tags.get(OWNER_TAG)

    def observed_tags(self, observed: BucketObserved) -> dict[str, str]:
        return dict(observed.tags)

    def diff(self, target: Target[BucketSpec], observed: BucketObserved) -> list[Change]:
        if observed.region != target.region:
            raise TerminalError(
                "RegionMismatch",
                f"bucket {target.aws_name} is in {observed.region}, the spec asks for {target.region}; "
                "region is immutable",
            )
        changes = []
        for facet in FACETS:
            desired = facet.desired(target.spec)
            if desired is _UNSET:
                continue
            actual = observed.facets.get(facet.path)
            if not _matches(facet.path, desired, actual):
                changes.append(Change(facet.path, actual, desired, Action.UPDATE, facet.calls_for(desired)))
        authoritative = target.spec.tags is not None
        actual_tags = tag_drift(target.tags, observed.tags, authoritative)
        if actual_tags != target.tags:
            desired_set = tags_to_write(target.tags, observed.tags, authoritative)
            call = "s3:PutBucketTagging" if desired_set else "s3:DeleteBucketTagging"
            changes.insert(0, Change("tags", actual_tags, target.tags, Action.UPDATE, (call,)))
        return changes

    def plan_create(self, target: Target[BucketSpec]) -> list[Change]:
        changes = [Change("", None, target.aws_name, Action.CREATE, ("s3:CreateBucket",))]
        # the tags travel with CreateBucket; PutBucketTagging only follows where they were ignored
        changes.append(Change("tags", None, target.tags, Action.CREATE))
        for facet in FACETS:
            desired = facet.desired(target.spec)
            if desired is _UNSET or (desired in (None, []) and facet.delete_call):
                continue  # nothing to remove on a new bucket
            changes.append(Change(facet.path, None, desired, Action.CREATE, facet.calls_for(desired)))
        return changes

    def create(self, target: Target[BucketSpec]) -> BucketObserved:
        """CreateBucket with the tags, so on AWS the bucket is recognisably ours from its first moment.
        The engine confirms ownership by reading the tags back before `finish_create` writes the rest."""
        s3 = self._s3(target.region)
        config: dict[str, Any] = {"Tags": _tagging(target.tags)["TagSet"]}
        if target.region != "us-east-1":
            config["LocationConstraint"] = target.region
        try:
            s3.create_bucket(Bucket=target.aws_name, CreateBucketConfiguration=config)
        except ClientError as exc:
            if error_code(exc) == "BucketAlreadyOwnedByYou":
                raise AlreadyCreatedError(
                    "BucketAlreadyOwnedByYou", f"bucket {target.aws_name} is already owned by this account"
                ) from exc
            raise
        return BucketObserved(target.aws_name, target.region, dict(target.tags))

    def tag_owner(self, target: Target[BucketSpec], observed: BucketObserved) -> None:
        """The tag write after CreateBucket, for APIs that ignored the tags given at create."""
        tags = tags_to_write(target.tags, observed.tags, target.spec.tags is not None)
        s3 = self._s3(target.region)
        s3.put_bucket_tagging(Bucket=target.aws_name, Tagging=_tagging(tags))

    def finish_create(self, target: Target[BucketSpec], observed: BucketObserved) -> BucketObserved:
        s3 = self._s3(target.region)
        for facet in FACETS:
            desired = facet.desired(target.spec)
            if desired is _UNSET or (desired in (None, []) and facet.delete_call):
                continue
            facet.write(s3, target.aws_name, desired)
            observed.facets[facet.path] = desired
        return observed

    def discard(self, target: Target[BucketSpec], observed: BucketObserved) -> None:
        """Delete the bucket this reconcile just created and could not tag. Never empties it: a bucket
        that already holds objects is refused by S3 (BucketNotEmpty) and stays."""
        self._s3(target.region).delete_bucket(Bucket=target.aws_name)

    def created_at(self, target: Target[BucketSpec], observed: BucketObserved) -> float | None:
        """CreationDate from ListBuckets narrowed by prefix (the name itself sorts first)."""
        page = self._s3(target.region).list_buckets(Prefix=target.aws_name, MaxBuckets=1)
        for bucket in page.get("Buckets", []):
            if bucket.get("Name") == target.aws_name and bucket.get("CreationDate") is not None:
                return float(bucket["CreationDate"].timestamp())
        return None

    def apply(self, target: Target[BucketSpec], observed: BucketObserved, changes: list[Change]) -> None:
        s3 = self._s3(target.region)
        by_path = {facet.path: facet for facet in FACETS}
        for change in changes:
            if change.path == "tags":
                tags = tags_to_write(target.tags, observed.tags, target.spec.tags is not None)
                _put_tags(s3, target.aws_name, tags)
            else:
                by_path[change.path].write(s3, target.aws_name, change.desired)

    def release(self, target: Target[BucketSpec], observed: BucketObserved) -> None:
        remaining = {
            k: v for k, v in observed.tags.items() if k not in SYSTEM_TAGS and not k.startswith("aws:")
        }
        _put_tags(self._s3(target.region), target.aws_name, remaining)

    def delete(self, target: Target[BucketSpec], observed: BucketObserved) -> DeleteOutcome:
        s3 = self._s3(target.region)
        # Objects can arrive while emptying (access logs are delivered to log buckets continuously):
        # empty and delete a few times before handing back to the retry schedule.
        attempts = 3 if target.spec.empty_on_delete else 1
        for _ in range(attempts):
            if target.spec.empty_on_delete:
                _empty_bucket(s3, target.aws_name)
            try:
                s3.delete_bucket(Bucket=target.aws_name)
                return DeleteOutcome(DeleteResult.DELETED)
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    return DeleteOutcome(DeleteResult.DELETED)
                if error_code(exc) != "BucketNotEmpty":
                    raise
        if target.spec.empty_on_delete:
            return DeleteOutcome(
                DeleteResult.IN_PROGRESS,
                "Emptying",
                f"objects keep arriving in bucket {target.aws_name} while it is emptied; trying again",
            )
        return DeleteOutcome(
            DeleteResult.BLOCKED,
            "BucketNotEmpty",
            f"bucket {target.aws_name} still holds objects and emptyOnDelete is false: it was not "
            "deleted. Set emptyOnDelete: true to delete its contents, or deletionPolicy: Retain.",
        )

    def status(self, target: Target[BucketSpec], observed: BucketObserved | None) -> dict[str, Any]:
        out: dict[str, Any] = {"awsName": target.aws_name, "region": target.region}
        if observed is not None:
            out["arn"] = f"arn:aws:s3:::{target.aws_name}"
        return out

    def classify(self, exc: BaseException) -> ErrorClass:
        return classify(exc, TERMINAL_CODES)


def _region_header(head: dict[str, Any]) -> str | None:
    headers = head.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    value = headers.get("x-amz-bucket-region")
    return str(value) if value else None


def _access_denied_on_head(exc: ClientError, bucket: str) -> Exception:
    # HeadBucket answers 403 both when IAM denies us and when another account owns the name.
    return AccessError(
        "AccessDeniedOrTaken",
        f"HeadBucket {bucket}: 403 Forbidden. Either the bucket name belongs to another AWS account "
        "(S3 names "
        "are global: choose another name) or the operator's IAM policy lacks s3:ListBucket on it.",
    )


def _tagging(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


def _put_tags(s3: S3, bucket: str, tags: dict[str, str]) -> None:
    if tags:
        s3.put_bucket_tagging(Bucket=bucket, Tagging=_tagging(tags))
    else:
        s3.delete_bucket_tagging(Bucket=bucket)


def _empty_bucket(s3: S3, bucket: str) -> int:
    """Delete every object version and delete marker (1,000 per call). Returns how many were deleted."""
    deleted = 0
    kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": 1000}
    while True:
        page = s3.list_object_versions(**kwargs)
        keys = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if keys:
            result = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            # DeleteObjects answers 200 even when keys were refused: the refusals are in Errors
            if errors := result.get("Errors"):
                codes = sorted({e.get("Code", "") for e in errors})
                detail = (
                    f"DeleteObjects: {len(errors)} of {len(keys)} object versions not deleted "
                    f"({', '.join(codes)})"
                )
                if any(code in ("AccessDenied", "403") for code in codes):
                    raise AccessError("AccessDenied", detail)
                raise RecoverableError("DeleteObjectsFailed", detail)
            deleted += len(keys)
        if not page.get("IsTruncated"):
            return deleted
        kwargs["KeyMarker"] = page.get("NextKeyMarker")
        kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")


def default_bucket_name(prefix: str, namespace: str, name: str) -> str:
    """`<prefix><namespace>-<name>` made S3-safe; long names keep a hash suffix so they stay unique."""
    raw = f"{prefix}{namespace}-{name}".lower()
    cleaned = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    if len(cleaned) > 63:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
        cleaned = cleaned[:54].rstrip("-") + "-" + digest
    if len(cleaned) < 3:
        cleaned = (cleaned + "-bucket")[:63]
    if cleaned.startswith(("xn--", "sthree-")) or re.fullmatch(r"[0-9]+(\.[0-9]+){3}", cleaned):
        cleaned = ("b-" + cleaned)[:63].rstrip("-")
    if cleaned.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        cleaned = cleaned[:61].rstrip("-") + "-b"
    return cleaned
